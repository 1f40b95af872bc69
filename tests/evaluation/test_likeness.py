"""Length-normalized DTW, human_likeness of episodes and the likeness score formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maq.evaluation.metrics import (
    EXTRA_METRIC_KEYS,
    LIKENESS_KEYS,
    HumanReference,
    dtw_cost_and_length,
    dtw_distance,
    dtw_normalized,
    episode_metrics,
    human_likeness,
    likeness_score,
)
from maq.evaluation.report import EXTRA_COLUMNS, EpisodeRecord, summarize
from maq.rollout import Episode


def brute_force_dtw_path(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """O(NM) programme keeping, per cell, the least cost and the fewest cells among its paths."""
    n, m = len(x), len(y)
    acc = np.full((n + 1, m + 1), np.inf)
    cells = np.zeros((n + 1, m + 1), int)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            options = [(acc[i - 1, j - 1], cells[i - 1, j - 1]), (acc[i - 1, j], cells[i - 1, j]),
                       (acc[i, j - 1], cells[i, j - 1])]  # fmt: skip
            best, count = min(options)
            acc[i, j] = float(np.linalg.norm(x[i - 1] - y[j - 1])) + best
            cells[i, j] = count + 1
    return float(acc[n, m]), int(cells[n, m])


@pytest.mark.parametrize("seed", range(6))
def test_dtw_cost_and_path_length_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dim = int(rng.integers(1, 6))
    x = rng.standard_normal((int(rng.integers(1, 30)), dim))
    y = rng.standard_normal((int(rng.integers(1, 30)), dim)) * 1.5 + 0.3
    cost, length = dtw_cost_and_length(x, y)
    want_cost, want_length = brute_force_dtw_path(x, y)
    assert cost == pytest.approx(want_cost, rel=1e-9, abs=1e-9)
    assert cost == pytest.approx(dtw_distance(x, y), rel=1e-9, abs=1e-9)
    assert length == want_length
    assert max(len(x), len(y)) <= length <= len(x) + len(y) - 1
    assert dtw_cost_and_length(y, x) == pytest.approx((cost, length))  # symmetric


def test_normalized_dtw_is_the_mean_cost_per_aligned_pair() -> None:
    x = np.zeros((10, 2))
    y = x + np.array([3.0, 4.0])  # every pair costs 5; the diagonal path has 10 cells
    assert dtw_cost_and_length(x, y) == (pytest.approx(50.0), 10)
    assert dtw_normalized(x, y) == pytest.approx(5.0)
    # The raw DTW of a short episode is small; per step it is the same distance.
    assert dtw_distance(x[:3], y[:3]) < dtw_distance(x, y)
    assert dtw_normalized(x[:3], y[:3]) == pytest.approx(5.0)
    assert math.isnan(dtw_normalized(np.zeros((0, 2)), y))


def _human(seed: int = 0) -> HumanReference:
    rng = np.random.default_rng(seed)
    trajectories = [
        {
            "observations": rng.standard_normal((12 + i, 5)),
            "actions": rng.uniform(-1, 1, (12 + i, 3)),
        }
        for i in range(3)
    ]
    return HumanReference.from_trajectories(trajectories)


def _episode(seed: int, length: int) -> Episode:
    rng = np.random.default_rng(seed)
    return Episode(rng.standard_normal((length, 5)), rng.uniform(-1, 1, (length, 3)),
                   np.zeros(length), False, False, False, seed)  # fmt: skip


def test_episode_metrics_add_the_normalized_dtw() -> None:
    human, episode = _human(), _episode(1, 15)
    metrics = episode_metrics(episode.states, episode.actions, human)
    assert set(EXTRA_METRIC_KEYS) <= set(metrics)
    want = np.mean([dtw_normalized(episode.states, h) for h in human.states])
    assert metrics["dtw_state_norm_dtw_mean"] == pytest.approx(want)


def test_human_likeness_averages_the_episodes() -> None:
    human = _human()
    episodes = [_episode(1, 15), _episode(2, 9)]
    out = human_likeness(episodes, human)
    assert list(out) == list(LIKENESS_KEYS)
    per = [episode_metrics(e.states, e.actions, human) for e in episodes]
    for name, key in LIKENESS_KEYS.items():
        assert out[name] == pytest.approx(np.mean([m[key] for m in per]))
    with pytest.raises(ValueError):
        human_likeness([], human)


def test_summary_has_the_normalized_dtw_columns_and_tolerates_old_records() -> None:
    human = _human()
    ep = _episode(3, 10)
    new = EpisodeRecord(
        0, 1.0, 0.1, 10, False, False, episode_metrics(ep.states, ep.actions, human)
    )
    kept = {k: v for k, v in new.metrics.items() if k not in EXTRA_METRIC_KEYS}
    old = EpisodeRecord(1, 1.0, 0.1, 10, False, False, kept)
    row = summarize([new, old], 200)
    for key in EXTRA_METRIC_KEYS:
        assert f"{key}_agg_mean" in EXTRA_COLUMNS
        assert row[f"{key}_agg_mean"] == pytest.approx(new.metrics[key])  # the old one is skipped
    assert math.isnan(summarize([old], 200)["dtw_state_norm_dtw_mean_agg_mean"])


@pytest.mark.parametrize(
    ("agent", "want"), [(10.0, 0.0), (2.0, 1.0), (6.0, 0.5), (14.0, -0.5), (1.0, 1.125)]
)
def test_likeness_score_on_hand_made_numbers(agent: float, want: float) -> None:
    assert likeness_score(agent, d_random=10.0, d_human=2.0) == pytest.approx(want)


def test_likeness_score_is_nan_when_undefined() -> None:
    assert math.isnan(likeness_score(5.0, 3.0, 3.0))  # references coincide
    assert math.isnan(likeness_score(float("nan"), 10.0, 2.0))
    assert math.isnan(likeness_score(5.0, float("nan"), 2.0))
