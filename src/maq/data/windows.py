"""L-step windows of human trajectories: the one place that turns trajectories into macro samples.

A window at step t of a trajectory of length T is ``(s_t, a_{t:t+L})`` with everything a macro
transition needs: the L rewards summed undiscounted, ``s_{t+L}`` (the ``next_observations`` of step
t+L−1), and whether the window ends in a termination or in the trajectory's truncated end.

Windows never cross a trajectory boundary, and a window that would run past a trajectory's end is
dropped (docs/decisions.md; the release concatenates all trajectories, docs/reference-spec.md §3.2,
§12 item
3), so a trajectory of length T gives ``max(T − L + 1, 0)`` windows. A ``terminals``/``timeouts``
flag *inside* a window (not on its last step) also ends it, so a file whose trajectories hold
several episodes is still cut correctly. The VQ-VAE's training data and the relabeller share this
module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from maq.data.format import Trajectory


class Windows(NamedTuple):
    """N windows of length L from a list of trajectories (arrays in trajectory order)."""

    observations: np.ndarray
    """(N, S) float32: s_t, the state the window starts in."""
    actions: np.ndarray
    """(N, L, A) float32: a_t … a_{t+L−1}, time-major (docs/reference-spec.md §12 item 25)."""
    rewards: np.ndarray
    """(N,) float32: Σ_{j<L} r_{t+j}, undiscounted."""
    next_observations: np.ndarray
    """(N, S) float32: s_{t+L}."""
    terminals: np.ndarray
    """(N,) float32: 1 if the episode terminates on the window's last step."""
    truncations: np.ndarray
    """(N,) float32: 1 if the window ends at the trajectory's truncated end."""
    trajectory_index: np.ndarray
    """(N,) int64: which trajectory of the input list the window comes from."""
    start: np.ndarray
    """(N,) int64: t, the window's first step inside its trajectory."""


def _flag(traj: Trajectory, key: str) -> np.ndarray:
    n = len(traj["actions"])
    return np.asarray(traj[key], np.float32) if key in traj else np.zeros(n, np.float32)


def trajectory_window_starts(traj: Trajectory, seq_len: int) -> np.ndarray:
    """The steps t at which a full L-step window fits without crossing an episode end."""
    n = len(traj["actions"])
    if n < seq_len:
        return np.zeros(0, np.int64)
    ends = np.maximum(_flag(traj, "terminals"), _flag(traj, "timeouts")) > 0
    # An end flag at step j < t+L−1 inside [t, t+L−1) means the window crosses a boundary.
    ends_before = np.concatenate([[0], np.cumsum(ends[:-1], dtype=np.int64)])  # ends in [0, j)
    starts = np.arange(n - seq_len + 1)
    crossing = ends_before[starts + seq_len - 1] - ends_before[starts]
    return starts[crossing == 0]


def make_windows(trajs: Sequence[Trajectory], seq_len: int) -> Windows:
    """All valid L-step windows of ``trajs``; an empty :class:`Windows` if none fits."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    parts: list[tuple[np.ndarray, ...]] = []
    for i, traj in enumerate(trajs):
        starts = trajectory_window_starts(traj, seq_len)
        obs = np.asarray(traj["observations"], np.float32)
        acts = np.asarray(traj["actions"], np.float32)
        rewards = np.asarray(traj["rewards"], np.float64)
        last = starts + seq_len - 1
        cum = np.concatenate([[0.0], np.cumsum(rewards)])
        window_idx = starts[:, None] + np.arange(seq_len)[None, :]  # (n, L)
        parts.append(
            (
                obs[starts],
                acts[window_idx],
                (cum[last + 1] - cum[starts]).astype(np.float32),
                np.asarray(traj["next_observations"], np.float32)[last],
                _flag(traj, "terminals")[last],
                _flag(traj, "timeouts")[last],
                np.full(len(starts), i, np.int64),
                starts.astype(np.int64),
            )
        )
    if not parts:
        raise ValueError("no trajectories given")
    return Windows(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))
