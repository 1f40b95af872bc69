"""Which checkpoint of a run gets evaluated (docs/reference-spec.md §10.2, docs/decisions.md).

The row of the run's training-time evaluation table (columns :data:`maq.runs.EVAL_COLUMNS`) with the
largest ``episode_reward``, the first one on ties. When the table has ``online`` rows only those
compete, so an offline-to-online method (IQL, MAQ+IQL) is judged on its online phase, as in the
release. The checkpoint is the row's ``checkpoint`` file, relative to the run folder.
"""

from __future__ import annotations

import csv
import shlex
from pathlib import Path

from maq.errors import MaqError
from maq.spec import RunSpec


def train_command(spec: RunSpec) -> str:
    """The command that trains ``spec``'s run (quoted for a shell)."""
    args = [
        "./scripts/train.sh",
        "--method",
        spec.method,
        "--environment",
        spec.env_id,
        "--seed",
        str(spec.seed),
        "--sequence_length",
        str(spec.seq_len),
        "--codebook_size",
        str(spec.codebook_size),
    ]
    if spec.tag:
        args += ["--tag", spec.tag]
    if spec.preset != "paper":
        args += ["--preset", spec.preset]
    return shlex.join(args)


def _read_rows(table: Path) -> list[dict[str, str]]:
    with table.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"episode_reward", "checkpoint"} - set(reader.fieldnames or [])
        if missing:
            raise MaqError(
                f"{table} has no {sorted(missing)} column; it is not a maq "
                "evaluation table (pass the checkpoint with --model_path)"
            )
        return list(reader)


def best_row(rows: list[dict[str, str]]) -> dict[str, str]:
    """The row with the top ``episode_reward`` (online rows only when any exist); first on ties."""
    online = [r for r in rows if r.get("phase", "") == "online"]
    candidates = online or rows
    best = candidates[0]
    for row in candidates[1:]:
        if float(row["episode_reward"]) > float(best["episode_reward"]):
            best = row
    return best


def select_checkpoint(run_dir: Path, eval_table: str, spec: RunSpec) -> Path:
    """The best checkpoint of the run in ``run_dir`` by its training-time evaluation table."""
    run_dir = Path(run_dir)
    train = train_command(spec)
    if not run_dir.is_dir():
        raise MaqError(f"no run folder {run_dir}; train it with `{train}` or pass --model_path")
    table = run_dir / eval_table
    if table.suffix != ".csv":
        raise MaqError(
            f"{spec.method} keeps no training-time evaluation table to pick a "
            "checkpoint from; pass the checkpoint with --model_path"
        )
    if not table.exists():
        raise MaqError(
            f"{table} is missing (the run has not evaluated yet); train it with "
            f"`{train}` or pass --model_path"
        )
    rows = [r for r in _read_rows(table) if r["checkpoint"]]
    if not rows:
        raise MaqError(
            f"{table} names no checkpoint yet; train longer with `{train}` or pass --model_path"
        )
    row = best_row(rows)
    checkpoint = run_dir / row["checkpoint"]
    if not checkpoint.exists():
        raise MaqError(
            f"checkpoint {checkpoint} (best row of {table.name}) is missing; retrain "
            f"with `{train} --overwrite` or pass --model_path"
        )
    return checkpoint
