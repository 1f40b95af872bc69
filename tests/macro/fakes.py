"""A tiny deterministic env and VQ-VAE for macro-action tests (not an Adroit task)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from maq.macro.vqvae import VQVAE

S, A = 4, 2


class CounterEnv(gym.Env):
    """obs = [t, t, ...]; reward of step t = t + 1; terminates after ``terminate_at`` steps."""

    def __init__(self, terminate_at: int | None = None):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (S,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (A,), np.float32)
        self.terminate_at = terminate_at
        self.t = 0
        self.actions: list[np.ndarray] = []

    def _obs(self) -> np.ndarray:
        return np.full(S, self.t, np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.actions = 0, []
        return self._obs(), {}

    def step(self, action):
        self.actions.append(np.asarray(action).copy())
        reward = float(self.t + 1)
        self.t += 1
        terminated = self.terminate_at is not None and self.t >= self.terminate_at
        return self._obs(), reward, terminated, False, {"success": self.t == 3}


def make_env(horizon: int = 100, terminate_at: int | None = None) -> gym.Env:
    return gym.wrappers.TimeLimit(CounterEnv(terminate_at), max_episode_steps=horizon)


def tiny_vqvae(seq_len: int = 3, codebook_size: int = 4) -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(S, A, seq_len, codebook_size, hidden_size=8).eval()
