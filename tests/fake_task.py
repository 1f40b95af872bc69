"""A tiny fake task for loop tests without MuJoCo: a point that the actions push toward a goal.

Not an Adroit env and not human data: it exists so every method of the table can train, resume
and be evaluated end to end in CI in seconds (SB3's ``IdentityEnvBox`` tests are the model).
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from maq.data.format import save_trajectories
from maq.envs import TaskSpec

OBS_DIM, ACT_DIM, HORIZON = 4, 2, 30

FAKE_TASK = TaskSpec(
    name="fake-point-v0",
    gym_id="FakePoint-v0",
    obs_dim=OBS_DIM,
    act_dim=ACT_DIM,
    horizon=HORIZON,
    ref_min_score=-60.0,
    ref_max_score=0.0,
    state_keys=(),
)


class FakePointEnv(gym.Env):
    """State (x, y, goal x, goal y); an action moves the point by 0.1·a; reward −distance;
    success within 0.1 of the goal; terminated when the point leaves the [−3, 3] box."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float32)
        self._state = np.zeros(OBS_DIM, np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._state = self.np_random.uniform(-1, 1, OBS_DIM).astype(np.float32)
        return self._state.copy(), {}

    def step(self, action):
        action = np.clip(np.asarray(action, np.float32), -1, 1)
        self._state[:2] += 0.1 * action
        distance = float(np.linalg.norm(self._state[:2] - self._state[2:]))
        terminated = bool(np.abs(self._state[:2]).max() > 3.0)
        info = {"success": distance < 0.1}
        return self._state.copy(), -distance, terminated, False, info


def make_fake_env() -> gym.Env:
    return gym.wrappers.TimeLimit(FakePointEnv(), max_episode_steps=HORIZON)


def write_fake_split(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Train (6) and test (3) trajectories of a noisy goal-seeking controller (not human)."""
    rng = np.random.default_rng(seed)
    env = make_fake_env()
    trajs = []
    for i in range(9):
        obs, _ = env.reset(seed=1000 + i)
        rows: dict[str, list] = {
            k: []
            for k in (
                "observations",
                "actions",
                "rewards",
                "next_observations",
                "terminals",
                "timeouts",
            )
        }
        done = False
        while not done:
            action = np.clip(3 * (obs[2:] - obs[:2]) + 0.3 * rng.standard_normal(2), -1, 1)
            next_obs, reward, terminated, truncated, _ = env.step(action.astype(np.float32))
            for key, value in zip(
                rows, (obs, action, reward, next_obs, terminated, truncated), strict=True
            ):
                rows[key].append(value)
            obs, done = next_obs, terminated or truncated
        trajs.append({k: np.asarray(v, np.float32) for k, v in rows.items()})
    folder.mkdir(parents=True, exist_ok=True)
    train, test = folder / "fake_train.pkl", folder / "fake_test.pkl"
    save_trajectories(trajs[:6], train)
    save_trajectories(trajs[6:], test)
    return train, test
