"""Human-likeness metrics of one agent episode against the held-out human trajectories.

Definitions (docs/reference-spec.md §10.5, made exact by docs/decisions.md "Metrics"):

* **DTW** between an agent sequence ``x (n, d)`` and a human sequence ``y (m, d)`` is the minimum,
  over monotone warping paths from (0, 0) to (n−1, m−1), of the *sum of Euclidean distances*
  ``‖x_i − y_j‖`` along the path, on raw (unnormalized) vectors. The release used fastdtw
  (radius 1), an approximation; this is the exact value. ``tslearn.metrics.dtw`` and dtaidistance's
  default compute a different quantity (the square root of the summed *squared* distances); the
  ``inner_dist="euclidean"`` option of dtaidistance's n-dimensional C kernel computes this one.
* Per episode: the mean over human trajectories (``dtw_*_dtw_mean``) and the minimum
  (``min_dtw_*_dtw_min``), for states and for actions.
* **Length-normalized DTW** (maq's addition, ``dtw_*_norm_dtw_mean``): the same least cost divided
  by the number of cells on the optimal warping path, a mean cost per aligned pair. The sum above
  grows with the lengths, so a short episode (a dropped pen) looks closer than it is; the mean
  does not. Among equally cheap paths the one with the fewest cells is taken (diagonal moves are
  preferred), so the value is defined and does not depend on a library's tie-breaking.
* **W1** (named ``w2`` in the release's columns): exact optimal-transport cost with a Euclidean
  (not squared) ground cost and uniform weights, between the episode's vectors and *all* human test
  vectors pooled, after z-scoring both with a ``StandardScaler`` fitted on their union (refit for
  every episode), computed by POT's network simplex.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from maq.rollout import Episode

# POT imports every array backend it finds (torch, jax, ...) unless told not to; we use numpy.
for _backend in ("PYTORCH", "JAX", "TENSORFLOW", "CUPY"):
    os.environ.setdefault(f"POT_BACKEND_DISABLE_{_backend}", "1")

OT_MAX_ITER = 10_000_000
"""POT's default (100 000) can stop before optimality on a 200 × 800 problem."""

METRIC_KEYS = (
    "dtw_state_dtw_mean",
    "dtw_action_dtw_mean",
    "wasserstein_state_w2_dist",
    "wasserstein_action_w2_dist",
    "min_dtw_state_dtw_min",
    "min_dtw_action_dtw_min",
)
"""The release's per-episode metric keys (metric name + ``_`` + inner key)."""

EXTRA_METRIC_KEYS = ("dtw_state_norm_dtw_mean", "dtw_action_norm_dtw_mean")
"""maq's per-episode additions: the length-normalized DTW, mean over the human trajectories."""

LIKENESS_KEYS = {
    "dtw_state": "dtw_state_dtw_mean",
    "dtw_action": "dtw_action_dtw_mean",
    "dtw_state_norm": "dtw_state_norm_dtw_mean",
    "dtw_action_norm": "dtw_action_norm_dtw_mean",
    "w_state": "wasserstein_state_w2_dist",
    "w_action": "wasserstein_action_w2_dist",
}
"""Short names of the six scored distances (training-time CSV columns) -> per-episode keys."""


def preload() -> None:
    """Import the metric libraries now (POT's import takes seconds): before forking workers, or
    before a training loop, so the first measurement does not pay for it."""
    import dtaidistance.dtw_ndim  # noqa: F401
    import ot  # noqa: F401
    import scipy.spatial.distance  # noqa: F401
    import sklearn.preprocessing  # noqa: F401


def _as_f64(x: np.ndarray) -> np.ndarray:
    """A C-contiguous float64 2-D copy (the C DTW kernel accepts nothing else)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    return x if x.ndim == 2 else x.reshape(len(x), -1)  # (0, d) stays (0, d)


def dtw_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Exact DTW: least sum of Euclidean costs along a warping path between ``x`` and ``y``."""
    from dtaidistance import dtw_ndim

    x, y = _as_f64(x), _as_f64(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"DTW of sequences with {x.shape[1]} and {y.shape[1]} features")
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    return float(dtw_ndim.distance(x, y, use_c=True, inner_dist="euclidean"))


def dtw_cost_and_length(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Exact DTW cost (as :func:`dtw_distance`) and the number of cells on its warping path.

    Row by row: with ``a_k = min(D[i-1, k-1], D[i-1, k])`` and ``C`` the prefix sums of row i's
    costs, ``D[i, j] = C_j + min_{k<=j} (a_k - C_{k-1})`` (a horizontal run from column k to j), so
    each row is two cumulative scans and the Python loop runs over the shorter sequence only. The
    path entering a row at column k has the length of its predecessor + 1 + (j - k); ties go to the
    latest k and to the diagonal predecessor, i.e. to the path with the fewest cells.
    """
    from scipy.spatial.distance import cdist

    x, y = _as_f64(x), _as_f64(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"DTW of sequences with {x.shape[1]} and {y.shape[1]} features")
    if len(x) == 0 or len(y) == 0:
        return float("nan"), 0
    if len(x) > len(y):
        x, y = y, x  # DTW is symmetric; loop over the shorter sequence
    cost = cdist(x, y, metric="euclidean")  # (n, m)
    m = cost.shape[1]
    cols = np.arange(m)
    acc = np.full(m + 1, np.inf)  # D[i-1, 0..m] (column 0 is the padding)
    acc[0] = 0.0
    cells = np.zeros(m + 1, np.int64)
    for row in cost:
        diag, up = acc[:-1], acc[1:]
        take_up = up < diag  # ties: diagonal
        entry = np.where(take_up, up, diag)  # a_k for k = 0..m-1
        entry_cells = np.where(take_up, cells[1:], cells[:-1]) + 1
        prefix = np.cumsum(row)
        shifted = entry - (prefix - row)  # a_k - C_{k-1}
        best = np.minimum.accumulate(shifted)
        start = np.maximum.accumulate(np.where(shifted <= best, cols, 0))
        acc = np.concatenate(([np.inf], prefix + best))
        cells = np.concatenate(([0], entry_cells[start] + cols - start))
    return float(acc[-1]), int(cells[-1])


def dtw_normalized(x: np.ndarray, y: np.ndarray) -> float:
    """DTW cost divided by its warping path's length (a mean Euclidean cost per aligned pair)."""
    cost, length = dtw_cost_and_length(x, y)
    return cost / length if length else float("nan")


def wasserstein1_standardized(x: np.ndarray, y: np.ndarray) -> float:
    """Exact W1 (Euclidean ground cost, uniform weights) after z-scoring both on their union."""
    import ot
    from scipy.spatial.distance import cdist
    from sklearn.preprocessing import StandardScaler

    x, y = _as_f64(x), _as_f64(y)
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    scaler = StandardScaler().fit(np.vstack([x, y]))  # constant features are left unscaled
    cost = cdist(scaler.transform(x), scaler.transform(y), metric="euclidean")
    a, b = np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y))
    value, log = ot.emd2(a, b, cost, numItermax=OT_MAX_ITER, log=True)
    if log["warning"] is not None:
        raise RuntimeError(f"optimal transport did not converge: {log['warning']}")
    return float(value)


@dataclass(frozen=True)
class HumanReference:
    """The held-out human trajectories (the test split), ready for the metrics."""

    states: tuple[np.ndarray, ...]
    """One float64 (T_h, obs_dim) array per human trajectory."""
    actions: tuple[np.ndarray, ...]
    """One float64 (T_h, act_dim) array per human trajectory."""

    @classmethod
    def from_trajectories(cls, trajectories: list[dict]) -> HumanReference:
        if not trajectories:
            raise ValueError("the human reference set is empty")
        return cls(
            tuple(_as_f64(t["observations"]) for t in trajectories),
            tuple(_as_f64(t["actions"]) for t in trajectories),
        )

    @cached_property
    def pooled_states(self) -> np.ndarray:
        return np.vstack(self.states)

    @cached_property
    def pooled_actions(self) -> np.ndarray:
        return np.vstack(self.actions)


def episode_metrics(
    states: np.ndarray, actions: np.ndarray, human: HumanReference
) -> dict[str, float]:
    """The per-episode metrics (:data:`METRIC_KEYS` and :data:`EXTRA_METRIC_KEYS`) of an episode."""
    state_dtw = [dtw_distance(states, h) for h in human.states]
    action_dtw = [dtw_distance(actions, h) for h in human.actions]
    return {
        "dtw_state_dtw_mean": float(np.mean(state_dtw)),
        "dtw_action_dtw_mean": float(np.mean(action_dtw)),
        "wasserstein_state_w2_dist": wasserstein1_standardized(states, human.pooled_states),
        "wasserstein_action_w2_dist": wasserstein1_standardized(actions, human.pooled_actions),
        "min_dtw_state_dtw_min": float(np.min(state_dtw)),
        "min_dtw_action_dtw_min": float(np.min(action_dtw)),
        "dtw_state_norm_dtw_mean": _mean_normalized_dtw(states, human.states),
        "dtw_action_norm_dtw_mean": _mean_normalized_dtw(actions, human.actions),
    }


def _mean_normalized_dtw(x: np.ndarray, humans: Sequence[np.ndarray]) -> float:
    return float(np.mean([dtw_normalized(x, h) for h in humans]))


def human_likeness(episodes: Sequence[Episode], human: HumanReference) -> dict[str, float]:
    """Mean over ``episodes`` of the six scored distances (:data:`LIKENESS_KEYS`' short names).

    For the training-time evaluation table (``dtw_state``, ``dtw_action``, ``dtw_state_norm``,
    ``dtw_action_norm``, ``w_state``, ``w_action``): the same per-episode metrics as the evaluator,
    averaged over the episodes (non-finite values dropped; NaN when none is left).
    """
    if not episodes:
        raise ValueError("no episodes to measure")
    per_episode = [episode_metrics(e.states, e.actions, human) for e in episodes]
    out = {}
    for name, key in LIKENESS_KEYS.items():
        values = np.array([m[key] for m in per_episode], dtype=np.float64)
        values = values[np.isfinite(values)]
        out[name] = float(values.mean()) if values.size else float("nan")
    return out


def likeness_score(d_agent: float, d_random: float, d_human: float) -> float:
    """maq's human-likeness score of a distance: ``(d_random - d_agent) / (d_random - d_human)``.

    Random actions score 0 and "as close as other humans" scores 1 (above 1: closer to the held-out
    humans than the training humans are). The paper's normalization is unpublished; this is maq's
    documented definition. NaN when an input is not finite or the two references coincide.
    """
    values = (d_agent, d_random, d_human)
    if not all(np.isfinite(v) for v in values) or d_random == d_human:
        return float("nan")
    return float((d_random - d_agent) / (d_random - d_human))
