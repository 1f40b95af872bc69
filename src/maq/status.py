"""``maq status``: the run folders under a run root, what state each is in, and how far it got.

A training run's folder holds its config (``config.json``/``config.yaml``, with ``method`` and
``seed``); a distillation's (``MAQ/log/…``) holds its config without a method. Each is in one of
these states:

* ``training (pid N)``: a process owns the folder now (:meth:`maq.runs.RunOwner.holder`);
* ``done``: ``done.json`` is there;
* ``stopped, resumable``: a resume point (``resume.pt``) is there, and the same ``maq train``
  command continues from it;
* ``stopped, restarts``: no resume point yet: the same command starts it over.

Evaluation columns come from the run's training-time table (``experiment_data.csv``, ``SAC.csv``):
how many evaluations, the step of the last, the best by return (the checkpoint ``maq evaluate``
takes, :func:`maq.evaluation.select.best_row`) and the last normalized score.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from maq.evaluation.select import best_row
from maq.runs import (
    CONFIG_FILES,
    DONE_FILE,
    RESUME_FILE,
    RunOwner,
    eval_rows,
    eval_table,
    stored_config,
)
from maq.viz.runs import run_label, uses_codes


@dataclass
class RunStatus:
    path: Path
    label: str
    state: str
    evals: int
    last_step: str
    best: str
    last_score: str


def _label(config: dict) -> str:
    """``MAQ+RLPD L9 K16 seed 1 [tag] (preset)``; a distillation is ``MAQ distillation …``."""
    method = config.get("method")
    return run_label(
        str(method or "MAQ distillation"),
        method is None or uses_codes(method),  # no method: a distillation
        config.get("seq_len"),
        config.get("codebook_size"),
        config.get("tag", ""),
        config.get("preset", ""),
        seed=config.get("seed", "?"),
    )


def _state(run_dir: Path) -> str:
    pid = RunOwner(run_dir).holder()
    if pid is not None:
        return f"training (pid {pid})" if pid > 0 else "training"
    if (run_dir / DONE_FILE).exists():
        return "done"
    if (run_dir / RESUME_FILE).exists():
        return "stopped, resumable"
    return "stopped, restarts"


def _steps(value: str) -> str:
    n = int(float(value))
    return f"{n / 1e6:.2f}M" if n >= 1_000_000 else f"{n / 1e3:.0f}k" if n >= 10_000 else str(n)


def run_status(run_dir: Path) -> RunStatus:
    config = stored_config(run_dir) or {}
    table = eval_table(run_dir)
    rows = eval_rows(table) if table is not None else []
    best = last_step = last_score = "–"
    if rows:
        b = best_row(rows)
        best = f"{float(b['norm_episode_reward']):.1f} ({float(b['success_rate']):.2f})"
        last_step = _steps(rows[-1]["training_step"])
        last_score = f"{float(rows[-1]['norm_episode_reward']):.1f}"
    return RunStatus(
        run_dir, _label(config), _state(run_dir), len(rows), last_step, best, last_score
    )


def find_runs(root: Path) -> list[Path]:
    """Every folder under ``root`` with a run config, sorted by path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if any(c in filenames for c in CONFIG_FILES):
            found.append(Path(dirpath))
            dirnames[:] = []  # a run folder's subfolders (checkpoints/, SAC_1/) are its own
    return found


def status_table(root: Path) -> str:
    """A Markdown table of :func:`run_status` for every run under ``root``."""
    runs = [run_status(p) for p in find_runs(root)]
    if not runs:
        return f"no run folders under {root}"
    head = "| run | state | evaluations | last step | best score (success) | last score | folder |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in runs:
        rel = r.path.relative_to(root) if r.path.is_relative_to(root) else r.path
        lines.append(
            f"| {r.label} | {r.state} | {r.evals} | {r.last_step} | {r.best} | "
            f"{r.last_score} | {rel} |"
        )
    return "\n".join(lines)
