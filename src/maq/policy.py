"""The one acting interface the evaluator knows: a policy that outputs primitive actions, and the
one adapter that turns a learner (or a code prior) into such a policy."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Policy(Protocol):
    """Acts one primitive step at a time. Macro agents are wrapped so they fit (maq.macro)."""

    def reset(self) -> None:
        """Called at the start of every episode (clears e.g. a queue of decoded actions)."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The next primitive action, shape ``(act_dim,)``, deterministic for evaluation."""
        ...


class LearnerPolicy:
    """A learner's deterministic decision for one observation: its mean action, or its argmax
    code (which :class:`maq.macro.adapter.MacroPolicyAdapter` decodes into actions).

    ``learner`` has ``act(states (B, S), deterministic=True) -> (B, ...)`` (SAC, DiscreteSAC,
    IQL and the code prior all do).
    """

    def __init__(self, learner: Any, device: str | torch.device = "cpu"):
        self.learner = learner
        self.device = torch.device(device)

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        state = torch.as_tensor(obs, dtype=torch.float32, device=self.device).reshape(1, -1)
        return self.learner.act(state, deterministic=True)[0].cpu().numpy()
