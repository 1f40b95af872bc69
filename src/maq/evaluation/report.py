"""Aggregates over evaluation episodes and the ``agent_performance_<env>.csv`` table.

The columns are the release's 89 (docs/reference-spec.md §10.6), alphabetically sorted as the
release writes them on creation, followed by :data:`EXTRA_COLUMNS` (identity and ever-success).
Columns are only ever appended to this list, never renamed or reordered, so a file written by the
release, or by an older maq, has a header that is a *prefix* of ours: such a file is extended in
place (old rows get empty cells in the new columns). A file whose header is any other list is
refused with an error rather than written with misaligned columns. A file written by a newer maq
(ours is a prefix of its header) gets rows with empty cells in the columns we do not know.

Appends take a file lock and replace the whole file atomically, so concurrent evaluations of a sweep
lose no row, never interleave lines, and a reader never sees half a row.

Every row records its provenance in ``commit`` (:func:`source_commit`) and ``command``
(:func:`command_line`); :func:`read_rows` reads a file back for the report and the plots.
"""

from __future__ import annotations

import csv
import io
import shlex
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from maq.errors import MaqError
from maq.evaluation.metrics import EXTRA_METRIC_KEYS, METRIC_KEYS
from maq.io import atomic_write_text

STATS = ("max", "mean", "min", "std")
GROUPS = ("success", "non_success")


def _release_columns() -> list[str]:
    cols = [
        "agent_type",
        "base_seed",
        "default_horizon",
        "early_termination_rate",
        "env_id",
        "eval_episodes",
        "horizon",
        "length_mean",
        "length_std",
        "model_path",
        "normalized_score_mean",
        "normalized_score_std",
        "raw_reward_mean",
        "raw_reward_std",
        "success_rate",
        "total_non_success_episodes",
        "total_success_episodes",
    ]
    for key in METRIC_KEYS:
        cols += [f"{key}_agg_mean", f"{key}_agg_std"]
    for group in GROUPS:
        cols += [f"{group}_exceed_default_count", f"{group}_exceed_default_pct"]
        for key in ("length", *METRIC_KEYS):
            cols += [f"{group}_{key}_{stat}" for stat in STATS]
    return sorted(cols)


RELEASE_COLUMNS: list[str] = _release_columns()
"""The release's 89 columns in its (sorted) order."""

EXTRA_COLUMNS: list[str] = [
    "method",
    "seed",
    "seq_len",
    "codebook_size",
    "tag",
    "preset",
    "ever_success_rate",
    *(f"{key}_agg_{stat}" for key in EXTRA_METRIC_KEYS for stat in ("mean", "std")),
    "commit",
    "command",
]
"""maq's additions, in the order they were added (append new ones at the end, never rename)."""

COLUMNS: list[str] = RELEASE_COLUMNS + EXTRA_COLUMNS


@dataclass
class EpisodeRecord:
    """What the report needs from one episode (small enough to send between processes)."""

    seed: int
    episode_return: float
    normalized_score: float
    length: int
    success: bool
    """Success at the final step (the release's definition)."""
    ever_success: bool
    metrics: dict[str, float] = field(default_factory=dict)
    """The per-episode human-likeness metrics (maq.evaluation.metrics.METRIC_KEYS, and
    EXTRA_METRIC_KEYS when measured: a record without them gets NaN in their columns)."""
    rollout_seconds: float = 0.0
    metric_seconds: float = 0.0


def group_stats(values: Iterable[float]) -> dict[str, float]:
    """max/mean/min/std (ddof 0) of the finite values; NaN for all four when there are none."""
    x = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return {stat: float("nan") for stat in STATS}
    return {
        "max": float(x.max()),
        "mean": float(x.mean()),
        "min": float(x.min()),
        "std": float(x.std()),
    }


def _group_columns(
    group: str, records: Sequence[EpisodeRecord], default_horizon: int
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for stat, value in group_stats(r.length for r in records).items():
        row[f"{group}_length_{stat}"] = value
    exceed = sum(r.length > default_horizon for r in records)
    row[f"{group}_exceed_default_count"] = exceed
    row[f"{group}_exceed_default_pct"] = 100.0 * exceed / len(records) if records else float("nan")
    for key in METRIC_KEYS:
        for stat, value in group_stats(r.metrics[key] for r in records).items():
            row[f"{group}_{key}_{stat}"] = value
    return row


def summarize(records: Sequence[EpisodeRecord], default_horizon: int) -> dict[str, Any]:
    """Every aggregate column of §10.6 plus ``ever_success_rate`` (identity columns excluded)."""
    if not records:
        raise ValueError("no episodes to summarize")
    returns = np.array([r.episode_return for r in records])
    scores = np.array([r.normalized_score for r in records])
    lengths = np.array([r.length for r in records], dtype=np.float64)
    success = [r for r in records if r.success]
    non_success = [r for r in records if not r.success]
    row: dict[str, Any] = {
        "raw_reward_mean": float(returns.mean()),
        "raw_reward_std": float(returns.std()),
        "normalized_score_mean": float(scores.mean()),
        "normalized_score_std": float(scores.std()),
        "length_mean": float(lengths.mean()),
        "length_std": float(lengths.std()),
        "success_rate": len(success) / len(records),
        "ever_success_rate": float(np.mean([r.ever_success for r in records])),
        "early_termination_rate": 0.0,  # the release's early stops are disabled (§10.3)
        "total_success_episodes": len(success),
        "total_non_success_episodes": len(non_success),
        "eval_episodes": len(records),
        "default_horizon": default_horizon,
        "horizon": "",  # the release's optional horizon override is not offered
    }
    for key in METRIC_KEYS:
        stats = group_stats(r.metrics[key] for r in records)
        row[f"{key}_agg_mean"], row[f"{key}_agg_std"] = stats["mean"], stats["std"]
    for key in EXTRA_METRIC_KEYS:
        stats = group_stats(r.metrics[key] for r in records if key in r.metrics)
        row[f"{key}_agg_mean"], row[f"{key}_agg_std"] = stats["mean"], stats["std"]
    row.update(_group_columns("success", success, default_horizon))
    row.update(_group_columns("non_success", non_success, default_horizon))
    return row


def _parse(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return (rows[0], rows[1:]) if rows else ([], [])


def _render(header: list[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _merged_text(path: Path, text: str, row: dict[str, Any]) -> str:
    """The file's new content: ``text`` (the old content) with ``row`` appended."""
    header, old_rows = _parse(text)
    if not header:
        return _render(COLUMNS, [[row.get(c, "") for c in COLUMNS]])
    if header == COLUMNS[: len(header)]:
        # Ours or an older prefix of ours: extend the header, pad the old rows.
        padded = [r + [""] * (len(COLUMNS) - len(r)) for r in old_rows]
        return _render(COLUMNS, [*padded, [row.get(c, "") for c in COLUMNS]])
    if header[: len(COLUMNS)] == COLUMNS:
        # Written by a newer maq: keep its header, leave the columns we do not know empty.
        return _render(header, [*old_rows, [row.get(c, "") for c in header]])
    missing = [c for c in COLUMNS if c not in header][:3]
    raise MaqError(
        f"{path} has a header that does not match maq's columns (e.g. missing "
        f"{missing}); move the file away so a new one is started"
    )


def append_row(path: Path, row: dict[str, Any]) -> Path:
    """Append one row to the CSV at ``path`` under a file lock, rewriting it atomically."""
    from filelock import FileLock

    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise ValueError(f"unknown columns {unknown} for {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        atomic_write_text(path, _merged_text(path, text, row))
    return path


def results_path(root: Path, env_id: str) -> Path:
    """``evaluation_results/agent_performance_<env>.csv`` under the repository root."""
    return Path(root) / "evaluation_results" / f"agent_performance_{env_id}.csv"


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of an ``agent_performance`` CSV as dicts, every column of its header present.

    Accepts the headers :func:`append_row` accepts (ours, a prefix of ours, or ours extended), so
    files of the release, an older or a newer maq are read alike; columns a file lacks are absent
    from its rows (callers treat them as empty).
    """
    path = Path(path)
    if not path.exists():
        raise MaqError(f"{path} does not exist; evaluate a run first (maq evaluate)")
    header, rows = _parse(path.read_text(encoding="utf-8"))
    if not header:
        return []
    if header != COLUMNS[: len(header)] and header[: len(COLUMNS)] != COLUMNS:
        raise MaqError(f"{path} is not an agent_performance CSV (its header is not maq's columns)")
    return [dict(zip(header, r + [""] * (len(header) - len(r)), strict=True)) for r in rows]


def source_commit() -> str:
    """The git commit of the source tree maq runs from, ``+dirty`` when it has local changes.

    Empty when it is not a git checkout (an installed wheel) or git is missing: the report then
    says the commit was not recorded rather than guessing.
    """
    where = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        status = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{head}+dirty" if head and status else head


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that is running, as a user would type it (``maq evaluate ...``).

    ``python -m maq.cli`` (what the scripts exec) and the ``maq`` entry point both read ``maq``.
    """
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    program = Path(argv[0]).name
    if program in ("maq", "cli.py"):
        program = "maq"
    return shlex.join([program, *argv[1:]])
