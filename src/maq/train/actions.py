"""What a loop acts in: primitive actions, or the codes of a distilled VQ-VAE. One interface for
the online and the offline loop, chosen by the run (``Run.distillation``), never by a method name.

* Primitive: the human transitions as they are; the env is the task's; the evaluation policy is
  the learner's deterministic action.
* Codes: the human trajectories relabelled into real L-step macro transitions with the frozen
  encoder's codes (maq.macro.relabel, docs/decisions.md); the env executes a code as up to L
  decoded actions (maq.macro.env); the evaluation policy plays the learner's argmax code's decoded
  actions one by one (maq.macro.adapter), so training-time evaluation and the evaluator share one
  rollout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from maq.buffers import ReplayBuffer
from maq.data.format import Trajectory
from maq.policy import LearnerPolicy, Policy
from maq.spec import Run


@dataclass
class Actions:
    """Everything action-specific a loop needs."""

    dim: int
    """A (primitive) or K (codes): the learner's action input/output size."""
    make_env: Callable[[], gym.Env]
    """A training env: the run's, wrapped in MacroActionWrapper for codes."""
    device: torch.device
    vqvae: Any = None
    """The run's frozen VQ-VAE when acting in codes, else None."""

    @property
    def shape(self) -> tuple[int, ...]:
        return () if self.vqvae is not None else (self.dim,)

    @property
    def dtype(self) -> type:
        return np.int64 if self.vqvae is not None else np.float32

    def random(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Warm-up actions for n envs: uniform in [−1, 1]^A, or uniform codes."""
        if self.vqvae is not None:
            return rng.integers(0, self.dim, n)
        return rng.uniform(-1, 1, (n, self.dim)).astype(np.float32)

    def _placed(self, buffer: ReplayBuffer) -> ReplayBuffer:
        """Off the CPU, the buffer's storage is mirrored on the device, where minibatches are
        gathered (maq.buffers)."""
        return buffer.mirror(self.device) if self.device.type != "cpu" else buffer

    def buffer(self, capacity: int, obs_dim: int, seed: int) -> ReplayBuffer:
        """An empty FIFO buffer for online transitions."""
        return self._placed(ReplayBuffer(capacity, obs_dim, self.shape, self.dtype, seed=seed))

    def human_buffer(
        self, trajs: list[Trajectory], seed: int, action_bound: float | None = None
    ) -> ReplayBuffer:
        """A buffer holding exactly the human transitions (relabelled macros for codes)."""
        if self.vqvae is None:
            return self._placed(ReplayBuffer.from_trajectories(trajs, seed, action_bound))
        from maq.macro.relabel import relabel_trajectories

        data = relabel_trajectories(trajs, self.vqvae)  # real L-step transitions
        obs_dim = data.observations.shape[1]
        buffer = ReplayBuffer(len(data.rewards), obs_dim, (), np.int64, seed=seed)
        buffer.add_transitions(data, action_field="codes")
        return self._placed(buffer)

    def policy(self, learner: Any) -> Policy:
        """The learner's deterministic policy in primitive actions (codes decoded, played out)."""
        greedy = LearnerPolicy(learner, self.device)
        if self.vqvae is None:
            return greedy
        from maq.macro.adapter import MacroPolicyAdapter

        return MacroPolicyAdapter(lambda obs: int(greedy.act(obs)), self.vqvae, self.device)


def make_actions(run: Run, device: torch.device) -> Actions:
    """Primitive actions, or the codes of the run's distillation."""
    if run.distillation is None:
        return Actions(run.task.act_dim, run.make_env, device)
    from maq.macro.env import MacroActionWrapper
    from maq.macro.loading import load_vqvae

    vqvae = load_vqvae(run.distillation, device)
    return Actions(
        vqvae.codebook_size,
        lambda: MacroActionWrapper(run.make_env(), vqvae, device),
        device,
        vqvae,
    )
