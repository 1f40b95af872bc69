"""Human trajectories → macro transitions labelled with the frozen encoder's codes.

Each transition is a real L-step one (docs/decisions.md; docs/reference-spec.md §12 items 1-2
describe the
release's inconsistent one-step versions): ``(s_t, code(s_t, a_{t:t+L}), Σ_{j<L} r_{t+j}, s_{t+L},
terminated, truncated)``. Windows come from :func:`maq.data.windows.make_windows`, so they never
cross a trajectory boundary and one that would run past a trajectory's end is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from maq.data.format import Trajectory
from maq.data.windows import make_windows
from maq.errors import MaqError
from maq.macro.vqvae import VQVAE


class MacroTransitions(NamedTuple):
    """N offline macro transitions (numpy arrays)."""

    observations: np.ndarray
    """(N, S) float32: s_t."""
    codes: np.ndarray
    """(N,) int64: the frozen encoder's code of (s_t, a_{t:t+L})."""
    rewards: np.ndarray
    """(N,) float32: Σ_{j<L} r_{t+j}, undiscounted."""
    next_observations: np.ndarray
    """(N, S) float32: s_{t+L}."""
    terminals: np.ndarray
    """(N,) float32: the episode really terminates inside the window."""
    truncations: np.ndarray
    """(N,) float32: the window ends at the trajectory's truncated end."""


@torch.no_grad()
def encode_windows(
    vqvae: VQVAE, observations: np.ndarray, actions: np.ndarray, batch_size: int = 4096
) -> np.ndarray:
    """Codes (N,) int64 of states (N, S) and windows (N, L, A), in batches."""
    device = next(vqvae.parameters()).device
    dtype = next(vqvae.parameters()).dtype
    codes = []
    for i in range(0, len(observations), batch_size):
        s = torch.as_tensor(observations[i : i + batch_size], dtype=dtype, device=device)
        a = torch.as_tensor(actions[i : i + batch_size], dtype=dtype, device=device)
        codes.append(vqvae.encode(s, a).cpu().numpy())
    return np.concatenate(codes).astype(np.int64) if codes else np.zeros(0, np.int64)


def relabel_trajectories(
    trajs: Sequence[Trajectory], vqvae: VQVAE, seq_len: int | None = None
) -> MacroTransitions:
    """The macro transitions of ``trajs``; ``seq_len`` must match the VQ-VAE's L if given."""
    seq_len = vqvae.seq_len if seq_len is None else int(seq_len)
    if seq_len != vqvae.seq_len:
        raise MaqError(
            f"seq_len {seq_len} does not match the VQ-VAE's L={vqvae.seq_len}; "
            "use the distillation made with the same --sequence_length"
        )
    w = make_windows(trajs, seq_len)
    if len(w.observations) == 0:
        raise MaqError(
            f"no trajectory has {seq_len} steps, so there are no macro transitions; "
            "use a smaller --sequence_length"
        )
    codes = encode_windows(vqvae, w.observations, w.actions)
    return MacroTransitions(
        w.observations, codes, w.rewards, w.next_observations, w.terminals, w.truncations
    )
