"""Exact DTW and standardized W1 (maq.evaluation.metrics) against independent references."""

from __future__ import annotations

import numpy as np
import pytest

from maq.evaluation.metrics import (
    EXTRA_METRIC_KEYS,
    METRIC_KEYS,
    HumanReference,
    dtw_distance,
    episode_metrics,
    wasserstein1_standardized,
)


def brute_force_dtw(x: np.ndarray, y: np.ndarray) -> float:
    """O(NM) dynamic programme: least sum of Euclidean costs along a monotone warping path."""
    n, m = len(x), len(y)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = float(np.sqrt(np.sum((x[i - 1] - y[j - 1]) ** 2)))
            acc[i, j] = cost + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    return float(acc[n, m])


@pytest.mark.parametrize("seed", range(6))
def test_dtw_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dim = int(rng.integers(1, 8))
    x = rng.standard_normal((int(rng.integers(1, 40)), dim))
    y = rng.standard_normal((int(rng.integers(1, 40)), dim)) * 2 + 0.5
    assert dtw_distance(x, y) == pytest.approx(brute_force_dtw(x, y), abs=1e-9)


def test_dtw_is_sum_of_euclidean_costs_not_root_of_squares() -> None:
    # Every warping path of these pairs costs ‖(3,4)‖ + ‖(3,4)‖ = 10; the other quantity (tslearn,
    # dtaidistance's default) would be sqrt(5² + 5²) ≈ 7.07.
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    y = np.array([[3.0, 4.0], [0.0, 0.0]])
    assert brute_force_dtw(x, y) == pytest.approx(10.0, abs=1e-12)
    assert dtw_distance(x, y) == pytest.approx(10.0, abs=1e-12)


def test_dtw_of_a_sequence_with_itself_is_zero_and_accepts_float32() -> None:
    x = np.random.default_rng(0).standard_normal((50, 39)).astype(np.float32)
    assert dtw_distance(x, x) == 0.0
    assert dtw_distance(x, x[::-1]) > 0.0


def test_w1_of_a_translated_cloud() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 3))
    shift = np.array([1.0, -2.0, 0.5])
    # Both clouds are z-scored on their union: the union's std per feature is
    # sqrt(var(x) + shift²/4), and the optimal plan of a translated cloud is the translation.
    scale = np.sqrt(x.var(axis=0) + shift**2 / 4)
    expected = float(np.linalg.norm(shift / scale))
    assert wasserstein1_standardized(x, x + shift) == pytest.approx(expected, rel=1e-9)
    assert wasserstein1_standardized(x, x) == pytest.approx(0.0, abs=1e-12)


def test_w1_uses_unequal_sizes_and_uniform_weights() -> None:
    # Two points at 0 and one point at 1 against one point at 1 (1-D): mass 2/3 travels
    # a standardized distance of 1/std; the union {0, 0, 1, 1} has std 0.5.
    x = np.array([[0.0], [0.0], [1.0]])
    y = np.array([[1.0]])
    assert wasserstein1_standardized(x, y) == pytest.approx(2 / 3 * 2.0, rel=1e-12)


def test_episode_metrics_mean_and_min_over_human_trajectories() -> None:
    rng = np.random.default_rng(2)
    human_trajs = [
        {"observations": rng.standard_normal((t, 4)), "actions": rng.uniform(-1, 1, (t, 2))}
        for t in (12, 15, 9)
    ]
    human = HumanReference.from_trajectories(human_trajs)
    states, actions = rng.standard_normal((10, 4)), rng.uniform(-1, 1, (10, 2))
    m = episode_metrics(states, actions, human)
    assert set(m) == set(METRIC_KEYS) | set(EXTRA_METRIC_KEYS)
    per_human = [brute_force_dtw(states, h["observations"]) for h in human_trajs]
    assert m["dtw_state_dtw_mean"] == pytest.approx(np.mean(per_human), abs=1e-9)
    assert m["min_dtw_state_dtw_min"] == pytest.approx(min(per_human), abs=1e-9)
    pooled = np.vstack([h["actions"] for h in human_trajs])
    assert m["wasserstein_action_w2_dist"] == pytest.approx(
        wasserstein1_standardized(actions, pooled), abs=1e-12
    )
