"""Aggregates and the agent_performance CSV (maq.evaluation.report)."""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest

from maq.errors import MaqError
from maq.evaluation.metrics import METRIC_KEYS
from maq.evaluation.report import (
    COLUMNS,
    EXTRA_COLUMNS,
    RELEASE_COLUMNS,
    EpisodeRecord,
    append_row,
    summarize,
)


def _record(
    seed: int, ret: float, length: int, success: bool, metric: float, ever: bool | None = None
) -> EpisodeRecord:
    return EpisodeRecord(
        seed=seed,
        episode_return=ret,
        normalized_score=ret / 10,
        length=length,
        success=success,
        ever_success=success if ever is None else ever,
        metrics={k: metric + i for i, k in enumerate(METRIC_KEYS)},
    )


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_columns_hold_the_release_columns_then_ours() -> None:
    assert len(RELEASE_COLUMNS) == 89 == len(set(RELEASE_COLUMNS))
    assert RELEASE_COLUMNS == sorted(RELEASE_COLUMNS)
    for name in (
        "agent_type",
        "base_seed",
        "dtw_action_dtw_mean_agg_mean",
        "model_path",
        "min_dtw_state_dtw_min_agg_std",
        "non_success_exceed_default_pct",
        "success_wasserstein_state_w2_dist_min",
        "total_non_success_episodes",
        "wasserstein_action_w2_dist_agg_std",
        "non_success_length_max",
        "horizon",
    ):
        assert name in RELEASE_COLUMNS
    assert COLUMNS[: len(RELEASE_COLUMNS)] == RELEASE_COLUMNS
    for name in ("seq_len", "codebook_size", "tag", "seed", "method", "ever_success_rate"):
        assert name in EXTRA_COLUMNS


def test_summarize_hand_built_episodes() -> None:
    records = [
        _record(200, 10.0, 200, True, 1.0),
        _record(201, 30.0, 200, True, 3.0),
        _record(202, -4.0, 200, False, 5.0, ever=True),
        _record(203, 0.0, 150, False, float("nan")),  # NaN metrics are filtered out
    ]
    row = summarize(records, default_horizon=200)
    assert set(row) | {"agent_type", "base_seed", "env_id", "model_path"} >= set(RELEASE_COLUMNS)
    assert set(row) <= set(COLUMNS)
    assert row["raw_reward_mean"] == pytest.approx(9.0)
    assert row["raw_reward_std"] == pytest.approx(np.std([10, 30, -4, 0]))
    assert row["normalized_score_mean"] == pytest.approx(0.9)
    assert row["length_mean"] == pytest.approx(187.5)
    assert row["success_rate"] == 0.5 and row["ever_success_rate"] == 0.75
    assert (row["total_success_episodes"], row["total_non_success_episodes"]) == (2, 2)
    assert row["eval_episodes"] == 4 and row["default_horizon"] == 200
    key = "dtw_state_dtw_mean"
    assert row[f"{key}_agg_mean"] == pytest.approx(3.0)  # mean of 1, 3, 5 (NaN dropped)
    assert row[f"{key}_agg_std"] == pytest.approx(np.std([1.0, 3.0, 5.0]))
    assert (row[f"success_{key}_min"], row[f"success_{key}_max"]) == (1.0, 3.0)
    assert row[f"success_{key}_mean"] == 2.0 and row[f"success_{key}_std"] == 1.0
    # non-success: one finite value → std 0
    assert row[f"non_success_{key}_mean"] == 5.0 and row[f"non_success_{key}_std"] == 0.0
    assert row["non_success_length_min"] == 150 and row["non_success_length_max"] == 200
    assert row["success_exceed_default_count"] == 0 and row["success_exceed_default_pct"] == 0.0
    assert row["min_dtw_action_dtw_min_agg_mean"] == pytest.approx(3.0 + 5)


def test_empty_success_group_gives_nan() -> None:
    row = summarize([_record(0, 1.0, 200, False, 2.0)], default_horizon=200)
    assert row["success_rate"] == 0.0 and row["total_success_episodes"] == 0
    assert math.isnan(row["success_length_mean"])
    assert math.isnan(row["success_dtw_state_dtw_mean_std"])
    assert row["non_success_dtw_state_dtw_mean_std"] == 0.0


def test_append_writes_header_and_rows(tmp_path: Path) -> None:
    path = tmp_path / "evaluation_results" / "agent_performance_door-human-v1.csv"
    row = summarize([_record(0, 1.0, 200, True, 2.0)], 200)
    append_row(path, {**row, "method": "SAC", "tag": "a,b"})
    append_row(path, {**row, "method": "IQL"})
    header, rows = _read(path)
    assert header == COLUMNS
    assert [r["method"] for r in rows] == ["SAC", "IQL"]
    assert rows[0]["tag"] == "a,b" and float(rows[1]["success_rate"]) == 1.0
    with pytest.raises(ValueError, match="unknown columns"):
        append_row(path, {"not_a_column": 1})


def test_release_header_is_extended_and_a_foreign_header_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent_performance_door-human-v1.csv"
    path.write_text(",".join(RELEASE_COLUMNS) + "\n" + ",".join(["7"] * 89) + "\n")
    append_row(path, {"method": "RLPD", "success_rate": 0.25})
    header, rows = _read(path)
    assert header == COLUMNS
    assert rows[0]["agent_type"] == "7" and rows[0]["method"] == ""
    assert rows[1]["method"] == "RLPD" and rows[1]["success_rate"] == "0.25"

    other = tmp_path / "other.csv"
    other.write_text("agent_type,success_rate\nx,1\n")
    with pytest.raises(MaqError, match="does not match") as exc:
        append_row(other, {"method": "RLPD"})
    assert "\n" not in str(exc.value)
    assert other.read_text() == "agent_type,success_rate\nx,1\n"  # untouched


def _append_in_child(path: str, i: int) -> None:
    append_row(Path(path), {"method": f"m{i}", "seed": i, "raw_reward_mean": i * 1.5})


def test_concurrent_appends_keep_every_row(tmp_path: Path) -> None:
    path = tmp_path / "agent_performance_door-human-v1.csv"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_append_in_child, args=(str(path), i)) for i in range(20)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    header, rows = _read(path)
    assert header == COLUMNS
    assert len(rows) == 20
    assert sorted(int(r["seed"]) for r in rows) == list(range(20))
    for r in rows:
        assert r["method"] == f"m{r['seed']}"
        assert float(r["raw_reward_mean"]) == int(r["seed"]) * 1.5
        assert len(r) == len(COLUMNS) and None not in r  # no interleaved or torn line
