"""Run folders as learning curves: the config's identity and the training-time evaluation table.

A run folder holds ``config.json`` (or ``config.yaml``) with ``method``, ``env_id``, ``seed``,
``seq_len`` and ``codebook_size``, and its evaluation table ``experiment_data.csv`` (``SAC.csv`` for
SAC) with the columns of :data:`maq.runs.EVAL_COLUMNS` and, in newer runs, the six human-likeness
distances. Runs with an online phase are drawn over it only, against the primitive env steps taken
online (the table's ``training_step`` minus the config's ``offline_steps``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maq.errors import MaqError
from maq.runs import EVAL_TABLES, eval_rows, eval_table, stored_config


@dataclass
class RunCurves:
    """One run's identity and its evaluation rows (online rows only, when it has any)."""

    path: Path
    method: str
    env_id: str
    seed: int
    seq_len: str
    codebook_size: str
    tag: str
    preset: str
    uses_codes: bool
    rows: list[dict[str, str]]
    x_offset: int
    """Subtracted from ``training_step``: the offline updates before the online phase."""
    x_label: str

    def series(self, column: str) -> dict[int, float]:
        """``step -> value`` of a column, finite values only (empty if the table lacks it)."""
        out = {}
        for row in self.rows:
            value = row.get(column, "")
            if value not in ("", None) and math.isfinite(float(value)):
                out[int(float(row["training_step"])) - self.x_offset] = float(value)
        return out


def _read_config(run_dir: Path) -> dict[str, Any]:
    config = stored_config(run_dir)
    if config is None:
        raise MaqError(f"{run_dir} has no config.json or config.yaml: pass a run folder")
    return config


def _find(config: Any, key: str) -> Any:
    """The first value of ``key`` anywhere in a nested config (loops nest their settings)."""
    if isinstance(config, dict):
        if key in config:
            return config[key]
        for value in config.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


def uses_codes(method: str) -> bool:
    """Whether ``method`` acts in codes (False for a method this maq does not know)."""
    from maq.methods import get_method

    try:
        return get_method(method).uses_codes
    except MaqError:  # a method this maq does not know: drawn without L and K
        return False


def read_run(run_dir: Path) -> RunCurves:
    """The curves of one run folder; an error naming the folder when it is not one."""
    run_dir = Path(run_dir)
    config = _read_config(run_dir)
    missing = [k for k in ("method", "env_id", "seed") if k not in config]
    if missing:
        raise MaqError(f"{run_dir}: its config has no {', '.join(missing)}")
    table = eval_table(run_dir)
    if table is None:
        raise MaqError(f"{run_dir} has no {' or '.join(EVAL_TABLES)}: it has not evaluated yet")
    rows = eval_rows(table)
    online = [r for r in rows if r.get("phase") == "online"]
    offset, label = 0, "primitive env steps"
    if online and len(online) < len(rows):  # an offline phase came first
        offline_steps = _find(config, "offline_steps")
        if offline_steps is None:
            label = "training step (offline updates + online env steps)"
        offset = int(offline_steps or 0)
    method = str(config["method"])
    return RunCurves(
        run_dir, method, str(config["env_id"]), int(config["seed"]),
        str(config.get("seq_len", "")), str(config.get("codebook_size", "")),
        str(config.get("tag", "")), str(config.get("preset", "")), uses_codes(method),
        online or rows, offset, label,
    )  # fmt: skip


def line_label(run: RunCurves) -> str:
    """``MAQ+RLPD L9 K16 [tag] (preset)``: one line of a plot (its seeds are averaged)."""
    return run_label(
        run.method, run.uses_codes, run.seq_len, run.codebook_size, run.tag, run.preset
    )


def run_label(
    method: str,
    uses_codes: bool,
    seq_len: object,
    codebook_size: object,
    tag: str,
    preset: str,
    seed: object = None,
) -> str:
    """``MAQ+RLPD L9 K16 [seed 1] [tag] (preset)``: L and K for methods that act in codes, the
    preset only when it is not the paper's."""
    codes = f" L{seq_len} K{codebook_size}" if uses_codes and seq_len not in ("", None) else ""
    seed = f" seed {seed}" if seed is not None else ""
    tag = f" [{tag}]" if tag else ""
    preset = f" ({preset})" if preset not in ("", None, "paper") else ""
    return f"{method}{codes}{seed}{tag}{preset}"


def seed_mean_std(series: Iterable[dict[int, float]]) -> tuple[np.ndarray, ...]:
    """Steps every non-empty series has, and the mean and std (ddof 0) over the series there."""
    present: Sequence[dict[int, float]] = [s for s in series if s]
    if not present:
        return np.array([]), np.array([]), np.array([])
    steps = sorted(set.intersection(*(set(s) for s in present)))
    values = np.array([[s[t] for t in steps] for s in present], dtype=np.float64)
    return np.array(steps), values.mean(axis=0), values.std(axis=0)
