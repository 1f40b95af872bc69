"""Several training environments stepped in turn, each reset in the same step it ends.

gymnasium 1.x vector envs reset a finished sub-env on the *next* step and return a bogus
transition for it (reference-spec §13); here the transition stored is always the real one (its
``next_obs`` is the true final observation) and the reset happens right away, as gym 0.21 did.
Macro envs (maq.macro.env) report ``info["primitive_steps"]``; primitive envs count one step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from maq.envs import is_success


@dataclass
class StepResult:
    """One step of every env (leading dim = number of envs)."""

    next_observations: np.ndarray
    """(n, S): the state each transition ended in (the final state when the episode ended)."""
    rewards: np.ndarray
    terminals: np.ndarray
    truncations: np.ndarray
    primitive_steps: np.ndarray
    """(n,) primitive env steps each transition took (L or fewer for a macro, 1 otherwise)."""


@dataclass
class EpisodeStats:
    """Finished training episodes since the last :meth:`EnvGroup.pop_episodes`."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    """Primitive steps per episode."""
    successes: list[bool] = field(default_factory=list)


class EnvGroup:
    """``n`` environments; ``observations`` (n, S) is where each of them is now."""

    def __init__(self, make_env: Callable[[], gym.Env], num_envs: int):
        self.envs = [make_env() for _ in range(num_envs)]
        self.observations = np.zeros(0, np.float32)
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, np.int64)
        self.episodes = EpisodeStats()

    def reset(self, seeds: list[int]) -> np.ndarray:
        """Start a new episode in every env, env i with ``seeds[i]`` (cuts running episodes)."""
        self.observations = np.stack(
            [
                np.asarray(env.reset(seed=int(s))[0], np.float32)
                for env, s in zip(self.envs, seeds, strict=True)
            ]
        )
        self._returns[:] = 0
        self._lengths[:] = 0
        return self.observations

    def step(self, actions: np.ndarray) -> StepResult:
        n = len(self.envs)
        self.observations = self.observations.copy()  # callers may keep the previous array
        out = StepResult(
            np.zeros_like(self.observations),
            np.zeros(n, np.float32),
            np.zeros(n, np.float32),
            np.zeros(n, np.float32),
            np.ones(n, np.int64),
        )
        for i, env in enumerate(self.envs):
            obs, reward, terminated, truncated, info = env.step(actions[i])
            out.next_observations[i] = obs
            out.rewards[i] = reward
            out.terminals[i] = terminated
            out.truncations[i] = truncated
            out.primitive_steps[i] = info.get("primitive_steps", 1)
            self._returns[i] += reward
            self._lengths[i] += out.primitive_steps[i]
            if terminated or truncated:
                self.episodes.returns.append(float(self._returns[i]))
                self.episodes.lengths.append(int(self._lengths[i]))
                self.episodes.successes.append(is_success(info))
                self._returns[i], self._lengths[i] = 0.0, 0
                obs, _ = env.reset()  # the env's own generator continues from its last seed
            self.observations[i] = obs
        return out

    def pop_episodes(self) -> EpisodeStats:
        episodes, self.episodes = self.episodes, EpisodeStats()
        return episodes

    def close(self) -> None:
        for env in self.envs:
            env.close()
