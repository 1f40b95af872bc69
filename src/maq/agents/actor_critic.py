"""What the soft actor-critic learners share: the UTD update schedule, the target critics'
Polyak step and checkpoints (continuous SAC/RLPD in maq.agents.sac, discrete SAC over codes in
maq.agents.discrete_sac)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from maq.buffers import Batch
from maq.nn import polyak_update


class SoftActorCritic:
    """The UTD schedule and checkpoints shared by :class:`SAC` and ``DiscreteSAC``.

    Subclasses build ``cfg``, ``actor``, ``critic``, ``target_critic``, the optimizers named in
    ``_optimizers``, ``generator`` and ``device``, and implement ``next_policy``,
    ``update_critic`` and ``update_actor``.
    """

    _optimizers: tuple[str, ...] = ("actor_opt", "critic_opt")
    _tensors: tuple[str, ...] = ()
    num_updates = 0
    """Critic steps so far (the Polyak schedule counts them)."""

    def update(self, batch: Batch) -> dict[str, Tensor]:
        """``utd_ratio`` critic steps on consecutive minibatches of ``batch`` (its size is a
        multiple of utd_ratio), then one actor (and temperature) step on the last minibatch.

        The actor does not change during the critic steps, so its next-state outputs for all
        the TD targets come from one pass over ``batch``. Metrics stay 0-d tensors on the
        learner's device (no host synchronisation); loops read them at log intervals.
        """
        n = len(batch.rewards) // self.cfg.utd_ratio
        with torch.no_grad():
            next_policy = self.next_policy(batch.next_observations)
        for i in range(self.cfg.utd_ratio):
            rows = slice(i * n, (i + 1) * n)
            mini = Batch(*(x[rows] for x in batch))
            metrics = self.update_critic(mini, tuple(x[rows] for x in next_policy))
        return {**metrics, **self.update_actor(mini)}

    def target_subset(self) -> Tensor:
        """The ``num_min_qs`` target critics, drawn at random, the TD target takes the min over."""
        perm = torch.randperm(self.cfg.num_qs, generator=self.generator, device=self.device)
        return perm[: self.cfg.num_min_qs]

    def step_critics(self) -> None:
        """Adam on the critics' gradients, then Polyak every ``target_update_period`` steps."""
        self.critic_opt.step()
        self.num_updates += 1
        if self.num_updates % self.cfg.target_update_period == 0:
            polyak_update(self.target_critic, self.critic, self.cfg.polyak_tau)

    def policy_state_dict(self) -> dict[str, Any]:
        """What acting needs (model checkpoints): the actor's weights."""
        return {"actor": self.actor.state_dict()}

    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs, deep-copied (optimizers load state tensors without
        copying, so a live state shared by two learners would be stepped twice)."""
        names = ("actor", "critic", "target_critic", *self._optimizers)
        state = {name: getattr(self, name).state_dict() for name in names}
        state.update({name: getattr(self, name) for name in self._tensors})
        state = copy.deepcopy(state)
        return {**state, "generator": self.generator.get_state(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load :meth:`state_dict` or a policy-only :meth:`policy_state_dict`."""
        self.actor.load_state_dict(state["actor"])
        if "critic" not in state:
            return
        for name in ("critic", "target_critic", *self._optimizers):
            getattr(self, name).load_state_dict(state[name])
        with torch.no_grad():
            for name in self._tensors:
                getattr(self, name).copy_(state[name])
        self.generator.set_state(state["generator"])
        self.num_updates = int(state["num_updates"])
