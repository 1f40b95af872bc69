"""Run folders: config, logging (CSV + TensorBoard), checkpoints, resume and the done marker.

Shared by every learner's loop (online, offline, distillation). All files are written atomically.

* :class:`Logger`: ``log(step, {"train/loss": ...})`` goes to TensorBoard and to ``progress.csv``;
  the x-axis is primitive environment steps for every method.
* :class:`EvalCsv`: the evaluation table (``experiment_data.csv`` and friends) with a fixed header;
  rows after a resume point are dropped so a resumed run never duplicates rows.
* :func:`save_checkpoint` / :func:`load_checkpoint`: self-describing torch files (format version,
  method, config, step, state).
* ``done.json`` marks a finished run; a finished run is not retrained unless asked.
* :class:`RunOwner`: one process owns a run folder at a time (a lock the OS drops when its
  process dies, so a killed run's folder is taken over by the next try).
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch

from maq.errors import MaqError
from maq.io import atomic_write_bytes, atomic_write_json, atomic_write_text

CHECKPOINT_FORMAT_VERSION = 1
DONE_FILE = "done.json"
RESUME_FILE = "resume.pt"
EVAL_TABLES = ("experiment_data.csv", "SAC.csv")
"""A run folder's table of training-time evaluations (``SAC.csv`` for SB3 SAC, as released)."""


def repo_root() -> Path:
    """Where run outputs go: ``$MAQ_ROOT`` if set, else the current directory."""
    return Path(os.environ.get("MAQ_ROOT", ".")).resolve()


def config_dict(cfg: Any) -> dict[str, Any]:
    return asdict(cfg) if is_dataclass(cfg) else dict(cfg)


def write_config(run_dir: Path, cfg: Any, name: str = "config.json") -> Path:
    """Write the resolved config as JSON (or YAML when ``name`` ends in .yaml)."""
    data = config_dict(cfg)
    if name.endswith((".yaml", ".yml")):
        import yaml

        return atomic_write_text(
            run_dir / name,
            yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False),
        )
    return atomic_write_json(run_dir / name, data)


CONFIG_FILES = ("config.json", "config.yaml", "config.yml")
RESULT_INDEPENDENT = frozenset(("num_threads", "env_workers", "device", "overrides"))
"""Settings that may differ between a run folder and a later command that resumes or skips it."""


def eval_table(run_dir: Path) -> Path | None:
    """A run folder's training-time evaluation table (:data:`EVAL_TABLES`), None before one."""
    return next((Path(run_dir) / n for n in EVAL_TABLES if (Path(run_dir) / n).exists()), None)


def eval_rows(table: Path) -> list[dict[str, str]]:
    """The rows of a CSV with a header (an evaluation table, ``progress.csv``), as strings."""
    with Path(table).open(newline="") as f:
        return list(csv.DictReader(f))


def stored_config(run_dir: Path) -> dict[str, Any] | None:
    """The resolved config a run folder records, None when it has none."""
    for name in CONFIG_FILES:
        path = Path(run_dir) / name
        if path.exists():
            if name.endswith(".json"):
                return json.loads(path.read_text())
            import yaml

            return yaml.safe_load(path.read_text())
    return None


def _normal(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def settings_diff(
    stored: dict[str, Any], new: dict[str, Any], ignore: frozenset[str] = frozenset()
) -> list[str]:
    """``key: old → new`` for every result-deciding setting both configs record and that
    differs (the loop and learner fields, the training data). A field only one of them has (one
    added or removed since the folder was written) does not count, nor do ``ignore``'s."""
    out = []
    pairs = [("", stored, new)]
    for part in ("loop", "learner"):
        if isinstance(new.get(part), dict):
            pairs.append(
                (f"{part}.", stored.get(part, stored if part == "loop" else {}), new[part])
            )
    for prefix, old_part, new_part in pairs:
        for key, value in new_part.items():
            if key in RESULT_INDEPENDENT | ignore or isinstance(value, dict) or key not in old_part:
                continue
            if prefix == "" and key not in ("training_dataset", "seed", "env_id", "method"):
                continue
            if _normal(old_part[key]) != _normal(value):
                out.append(f"{key}: {old_part[key]!r} → {value!r}")
    return out


class RunOwner:
    """Exclusive ownership of a run folder for one process (``with RunOwner(run_dir): ...``).

    The lock is ``flock`` on ``<parent>/.<name>.pid``, which holds the owner's pid: the OS drops
    it when the owning process exits or is killed, so a stale lock is taken over. A second owner
    gets ``run folder … is in use by pid N`` before anything is written.
    """

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir.parent / f".{self.run_dir.name}.pid"
        self._fd: int | None = None

    def __enter__(self) -> RunOwner:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise MaqError(f"run folder {self.run_dir} is in use by pid {pid}") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def holder(self) -> int | None:
        """The pid of the process that owns the folder now (-1 if unreadable), or None."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def is_done(run_dir: Path) -> bool:
    return (run_dir / DONE_FILE).exists()


def mark_done(run_dir: Path, summary: dict[str, Any]) -> Path:
    return atomic_write_json(run_dir / DONE_FILE, summary)


class EvalCsv:
    """A CSV with a fixed header, rewritten atomically on every append (files stay small)."""

    def __init__(self, path: Path, columns: list[str]):
        self.path = Path(path)
        self.columns = list(columns)
        if self.path.exists():
            header = self.read_header()
            if header != self.columns[: len(header)]:  # an older maq's prefix is extended
                raise MaqError(
                    f"{self.path} has columns {header}, expected {self.columns}; "
                    "move it away or use a new --tag"
                )

    def read_header(self) -> list[str]:
        with self.path.open(newline="") as f:
            return next(csv.reader(f), [])

    def rows(self) -> list[dict[str, str]]:
        return eval_rows(self.path) if self.path.exists() else []

    def _write(self, rows: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, buf.getvalue())

    def append(self, row: dict[str, Any]) -> None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)} for {self.path}")
        self._write([*self.rows(), row])

    def truncate_after(self, step: int, step_column: str) -> None:
        """Drop rows logged after ``step`` (called when resuming from a checkpoint at ``step``)."""
        if self.path.exists():
            self._write([r for r in self.rows() if int(float(r[step_column])) <= step])


class Logger:
    """One logger per run: namespaced scalars to TensorBoard and ``progress.csv``."""

    def __init__(self, run_dir: Path, resume_step: int | None = None, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run_dir), purge_step=resume_step)
        self._csv_path = self.run_dir / "progress.csv"
        self._keys: list[str] = []
        if self._csv_path.exists():
            rows = eval_rows(self._csv_path)
            if rows:
                self._keys = [k for k in rows[0] if k != "step"]
            if resume_step is not None:
                rows = [r for r in rows if int(float(r["step"])) <= resume_step]
            self._rows = rows
        else:
            self._rows = []

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            if self._writer is not None:
                self._writer.add_scalar(key, float(value), step)
            if key not in self._keys:
                self._keys.append(key)
        self._rows.append({"step": step, **{k: float(v) for k, v in metrics.items()}})

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()
        buf = io.StringIO()
        writer = csv.DictWriter(
            buf, fieldnames=["step", *self._keys], lineterminator="\n", restval=""
        )
        writer.writeheader()
        writer.writerows(self._rows)
        atomic_write_text(self._csv_path, buf.getvalue())

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.close()


def save_checkpoint(
    path: Path, *, method: str, config: Any, step: int, state: dict[str, Any], **extra: Any
) -> Path:
    """Save a self-describing checkpoint atomically."""
    payload = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "method": method,
        "config": config_dict(config),
        "step": int(step),
        "state": state,
        **extra,
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; a clear error if it is not one."""
    path = Path(path)
    if not path.exists():
        raise MaqError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises many types for corrupt files
        raise MaqError(
            f"checkpoint {path} cannot be read ({exc.__class__.__name__}): "
            "the file is corrupt or not a maq checkpoint"
        ) from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise MaqError(f"{path} is not a maq checkpoint (no format_version)")
    if payload["format_version"] > CHECKPOINT_FORMAT_VERSION:
        raise MaqError(f"{path} was written by a newer maq (format {payload['format_version']})")
    return payload


EVAL_COLUMNS = [
    "training_step",
    "episode_reward",
    "norm_episode_reward",
    "success_rate",
    "phase",
    "checkpoint",
    *("dtw_state", "dtw_action", "dtw_state_norm", "dtw_action_norm", "w_state", "w_action"),
]
"""The training-time evaluation table every method writes (``experiment_data.csv``, ``SAC.csv``).

``training_step`` is in primitive env steps; ``episode_reward`` is the mean raw return of the eval
episodes; ``norm_episode_reward`` the D4RL normalized score of that mean; ``phase`` is ``offline``
or ``online``; ``checkpoint`` is the file name (in the run folder) saved at that evaluation.
The last six columns measure the episodes' human-likeness against the held-out human demos (the
evaluator's metrics: DTW of states and actions, raw and divided by the warping path's length, and
the Wasserstein distances); they are empty when the run has no test split.
The evaluator picks the row with the highest ``episode_reward`` (online rows when there are any).
"""
