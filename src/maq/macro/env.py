"""Macro-action execution: a gymnasium wrapper whose action is a code (docs/reference-spec.md §4).

``step(code)`` decodes L actions from the current observation, steps them open-loop, sums their
rewards undiscounted, and stops early at termination or truncation, so an episode's last macro may
be partial. ``info`` reports what happened inside the macro (the evaluator and the learners' logs
need the primitive steps): ``primitive_steps``, ``primitive_actions (n, A)``, ``primitive_states
(n, S)`` (the state each action was taken in), ``primitive_rewards (n,)``, plus the last primitive
step's own info (``success``/``goal_achieved``, ...).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from maq.macro.vqvae import VQVAE, decode_actions


class MacroActionWrapper(gym.Wrapper):
    """``Discrete(K)`` actions, each executed as up to L primitive actions of the wrapped env."""

    def __init__(self, env: gym.Env, vqvae: VQVAE, device: str | torch.device = "cpu"):
        super().__init__(env)
        self.vqvae = vqvae
        self.device = device
        self.seq_len = vqvae.seq_len
        self.action_space = gym.spaces.Discrete(vqvae.codebook_size)
        self._obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = obs
        return obs, info

    def step(self, action):
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        code = int(action)
        if not 0 <= code < self.vqvae.codebook_size:
            raise ValueError(f"code {code} is outside [0, {self.vqvae.codebook_size})")
        actions = decode_actions(self.vqvae, self._obs, code, self.device)  # (L, A)
        states, rewards = [], []
        obs, terminated, truncated, info = self._obs, False, False, {}
        for primitive in actions:
            states.append(np.asarray(obs, np.float32))
            obs, reward, terminated, truncated, info = self.env.step(primitive)
            rewards.append(float(reward))
            if terminated or truncated:
                break
        self._obs = obs
        n = len(rewards)
        info = {
            **info,
            "primitive_steps": n,
            "primitive_actions": actions[:n],
            "primitive_states": np.asarray(states),
            "primitive_rewards": np.asarray(rewards),
        }
        return obs, float(sum(rewards)), bool(terminated), bool(truncated), info
