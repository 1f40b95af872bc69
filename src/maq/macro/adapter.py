"""Any code-choosing agent as a primitive-action :class:`maq.policy.Policy` (for evaluation).

At each decision the adapter asks ``choose_code(obs)`` for a code, decodes L actions from that
observation and plays them one by one from a queue; it decides again when the queue is empty or at
the next ``reset()``. So a macro agent is evaluated by the same rollout as every other method and
its metrics see its primitive actions (docs/style.md, "The evaluator knows one Policy protocol").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
import torch

from maq.macro.vqvae import VQVAE, decode_actions


class MacroPolicyAdapter:
    """A :class:`~maq.policy.Policy` that plays decoded macros open-loop."""

    def __init__(
        self,
        choose_code: Callable[[np.ndarray], int],
        vqvae: VQVAE,
        device: str | torch.device = "cpu",
    ):
        self.choose_code = choose_code
        self.vqvae = vqvae
        self.device = device
        self._queue: deque[np.ndarray] = deque()
        self.codes: list[int] = []
        """Codes chosen since the last reset (for logging and tests)."""

    def reset(self) -> None:
        self._queue.clear()
        self.codes = []

    def act(self, obs: np.ndarray) -> np.ndarray:
        if not self._queue:
            code = int(self.choose_code(obs))
            self.codes.append(code)
            self._queue.extend(decode_actions(self.vqvae, obs, code, self.device))
        return self._queue.popleft()
