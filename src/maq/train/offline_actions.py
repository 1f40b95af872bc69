"""What the offline loop acts in: primitive actions (IQL) or the codes of a distilled VQ-VAE
(MAQ+IQL). The preset's ``macro`` flag picks one; the loop only sees :class:`ActionInterface`.

* Primitive: the human transitions as they are; the env is the task's; the evaluation policy is the
  learner's mean action (with the train split's state statistics, inside the learner).
* Macro: the human trajectories relabelled into real L-step macro transitions with the frozen
  encoder's codes (maq.macro.relabel, decisions.md); the env executes a code as up to L decoded
  actions (maq.macro.env); the evaluation policy plays the argmax code's decoded actions one by one
  (maq.macro.adapter), so the evaluator's rollout and training-time evaluation are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from maq.buffers import ReplayBuffer
from maq.data.format import Trajectory
from maq.envs import TaskSpec, make_env
from maq.policy import Policy
from maq.seeding import derive_seed
from maq.spec import RunSpec


class DeterministicPolicy:
    """A learner's deterministic decision: its mean action (a :class:`~maq.policy.Policy` of
    primitive actions) or its argmax code (wrapped by MacroPolicyAdapter)."""

    def __init__(self, agent):
        self.agent = agent

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        state = torch.as_tensor(obs, dtype=torch.float32, device=self.agent.device)[None]
        return self.agent.act(state, deterministic=True)[0].cpu().numpy()


@dataclass
class ActionInterface:
    """Everything action-specific the loop needs."""

    action_dim: int
    """A (primitive) or K (codes): the learner's action input/output size."""
    action_shape: tuple[int, ...]
    action_dtype: type
    make_env: Callable[[], gym.Env]
    offline_buffer: Callable[[list[Trajectory], int], ReplayBuffer]
    """(train trajectories, run seed) → a buffer holding exactly the human transitions."""
    eval_policy: Callable[[object], Policy]
    """Learner → its deterministic evaluation policy in primitive actions."""
    prior: torch.nn.Module | None = None
    """The frozen code prior of MAQ+IQL's KL term."""

    def empty_buffer(self, capacity: int, obs_dim: int, seed: int) -> ReplayBuffer:
        """The online transitions' FIFO buffer."""
        return ReplayBuffer(
            capacity, obs_dim, self.action_shape, self.action_dtype, derive_seed(seed, 2)
        )


def ensure_distillation(macro: bool, spec: RunSpec, train_path: Path, test_path: Path):
    """The VQ-VAE/prior folder of ``spec`` (distilled first if missing), or None if not macro."""
    if not macro:
        return None
    from maq.macro.distill import ensure_distilled

    return ensure_distilled(spec, train_path, test_path)


def make_action_interface(
    task: TaskSpec, device: torch.device, distillation: Path | None, with_prior: bool = True
) -> ActionInterface:
    """Primitive actions, or the codes of the distillation in ``distillation``."""
    if distillation is None:
        return ActionInterface(
            task.act_dim,
            (task.act_dim,),
            np.float32,
            lambda: make_env(task),
            lambda trajs, seed: ReplayBuffer.from_trajectories(trajs, derive_seed(seed, 1)),
            DeterministicPolicy,
        )
    from maq.macro.adapter import MacroPolicyAdapter
    from maq.macro.distill import load_prior, load_vqvae
    from maq.macro.env import MacroActionWrapper
    from maq.macro.relabel import relabel_trajectories

    vqvae = load_vqvae(distillation, device)

    def offline_buffer(trajs: list[Trajectory], seed: int) -> ReplayBuffer:
        data = relabel_trajectories(trajs, vqvae)  # real L-step transitions (decisions.md)
        buffer = ReplayBuffer(len(data.rewards), task.obs_dim, (), np.int64, derive_seed(seed, 1))
        buffer.add_transitions(data, action_field="codes")
        return buffer

    def eval_policy(agent) -> Policy:
        argmax = DeterministicPolicy(agent)  # deterministic act = the argmax code
        return MacroPolicyAdapter(lambda obs: int(argmax.act(obs)), vqvae, device)

    return ActionInterface(
        vqvae.codebook_size,
        (),
        np.int64,
        lambda: MacroActionWrapper(make_env(task), vqvae, device),
        offline_buffer,
        eval_policy,
        prior=load_prior(distillation, device) if with_prior else None,
    )
