"""Seeded episodes of a primitive-action :class:`~maq.policy.Policy` (training-time eval and the
evaluator share this one rollout, so every method is measured the same way).

Episode ``i`` of an evaluation with base seed ``b`` resets with ``seed = b·200 + i``
(docs/reference-spec.md §10.3; docs/decisions.md makes any integer base seed work).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from maq.envs import TaskSpec, get_task, is_success, make_env, normalized_score
from maq.policy import Policy


def episode_seed(base_seed: int, index: int) -> int:
    return base_seed * 200 + index


@dataclass
class Episode:
    """One episode: visited states s_0..s_{T-1}, the policy's raw (unclipped) actions, rewards."""

    states: np.ndarray
    """(T, obs_dim): the state each action was taken in (the final state is not included)."""
    actions: np.ndarray
    """(T, act_dim): actions as the policy output them (the env clips; metrics see these)."""
    rewards: np.ndarray
    success: bool
    """Success at the final step (the paper's harness)."""
    ever_success: bool
    terminated: bool
    seed: int

    @property
    def episode_return(self) -> float:
        return float(self.rewards.sum())

    @property
    def length(self) -> int:
        return len(self.rewards)


def run_episode(env: gym.Env, policy: Policy, seed: int) -> Episode:
    """Play one episode until termination or truncation."""
    obs, _ = env.reset(seed=seed)
    policy.reset()
    states, actions, rewards = [], [], []
    success = ever = terminated = False
    while True:
        action = np.asarray(policy.act(obs), dtype=np.float32).reshape(-1)
        states.append(np.asarray(obs, np.float32))
        actions.append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(float(reward))
        success = is_success(info)
        ever = ever or success
        if terminated or truncated:
            break
    return Episode(
        np.asarray(states),
        np.asarray(actions),
        np.asarray(rewards, np.float64),
        success,
        ever,
        bool(terminated),
        seed,
    )


def evaluate_policy(
    task: str | TaskSpec,
    policy: Policy,
    num_episodes: int,
    base_seed: int,
    env: gym.Env | None = None,
) -> tuple[dict[str, float], list[Episode]]:
    """Mean return, normalized score and success rate over seeded episodes."""
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    own_env = env is None
    env = make_env(spec) if env is None else env
    try:
        episodes = [
            run_episode(env, policy, episode_seed(base_seed, i)) for i in range(num_episodes)
        ]
    finally:
        if own_env:
            env.close()
    mean_return = float(np.mean([e.episode_return for e in episodes]))
    summary = {
        "episode_reward": mean_return,
        "norm_episode_reward": normalized_score(spec, mean_return),
        "success_rate": float(np.mean([e.success for e in episodes])),
        "ever_success_rate": float(np.mean([e.ever_success for e in episodes])),
        "episode_length": float(np.mean([e.length for e in episodes])),
    }
    return summary, episodes
