"""Human-likeness metrics of one agent episode against the held-out human trajectories.

Definitions (reference-spec §10.5, made exact by decisions.md "Metrics"):

* **DTW** between an agent sequence ``x (n, d)`` and a human sequence ``y (m, d)`` is the minimum,
  over monotone warping paths from (0, 0) to (n−1, m−1), of the *sum of Euclidean distances*
  ``‖x_i − y_j‖`` along the path, on raw (unnormalized) vectors. The release used fastdtw
  (radius 1), an approximation; this is the exact value. ``tslearn.metrics.dtw`` and dtaidistance's
  default compute a different quantity (the square root of the summed *squared* distances); the
  ``inner_dist="euclidean"`` option of dtaidistance's n-dimensional C kernel computes this one.
* Per episode: the mean over human trajectories (``dtw_*_dtw_mean``) and the minimum
  (``min_dtw_*_dtw_min``), for states and for actions.
* **W1** (named ``w2`` in the release's columns): exact optimal-transport cost with a Euclidean
  (not squared) ground cost and uniform weights, between the episode's vectors and *all* human test
  vectors pooled, after z-scoring both with a ``StandardScaler`` fitted on their union (refit for
  every episode), computed by POT's network simplex.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np

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


def preload() -> None:
    """Import the metric libraries now (POT takes ~1.5 s), e.g. once before forking workers."""
    import dtaidistance.dtw_ndim  # noqa: F401
    import ot  # noqa: F401
    import scipy.spatial.distance  # noqa: F401
    import sklearn.preprocessing  # noqa: F401


def _as_f64(x: np.ndarray) -> np.ndarray:
    """A C-contiguous float64 2-D copy (the C DTW kernel accepts nothing else)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def dtw_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Exact DTW: least sum of Euclidean costs along a warping path between ``x`` and ``y``."""
    from dtaidistance import dtw_ndim

    x, y = _as_f64(x), _as_f64(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"DTW of sequences with {x.shape[1]} and {y.shape[1]} features")
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    return float(dtw_ndim.distance(x, y, use_c=True, inner_dist="euclidean"))


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
    """The six per-episode metrics (:data:`METRIC_KEYS`) of one agent episode."""
    state_dtw = [dtw_distance(states, h) for h in human.states]
    action_dtw = [dtw_distance(actions, h) for h in human.actions]
    return {
        "dtw_state_dtw_mean": float(np.mean(state_dtw)),
        "dtw_action_dtw_mean": float(np.mean(action_dtw)),
        "wasserstein_state_w2_dist": wasserstein1_standardized(states, human.pooled_states),
        "wasserstein_action_w2_dist": wasserstein1_standardized(actions, human.pooled_actions),
        "min_dtw_state_dtw_min": float(np.min(state_dtw)),
        "min_dtw_action_dtw_min": float(np.min(action_dtw)),
    }
