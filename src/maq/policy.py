"""The one acting interface the evaluator knows: a policy that outputs primitive actions."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Acts one primitive step at a time. Macro agents are wrapped so they fit (maq.macro)."""

    def reset(self) -> None:
        """Called at the start of every episode (clears e.g. a queue of decoded actions)."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The next primitive action, shape ``(act_dim,)``, deterministic for evaluation."""
        ...
