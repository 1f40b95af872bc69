"""The results CSV read back: rows grouped per task and method, and scored against references.

Shared by the Markdown report (:mod:`maq.evaluation.results`) and the plots (:mod:`maq.viz.plots`):

* rows of any number of ``agent_performance_<env>.csv`` files; for each method (agent type, L, K,
  tag, preset) and seed the **latest** row counts, so re-evaluating a run replaces its numbers;
* **references**: the ``Random`` and ``Human`` rows (:mod:`maq.evaluation.reference`) of the same
  task and seed give each distance its human-likeness score
  (:func:`maq.evaluation.metrics.likeness_score`); a seed without its own reference rows uses the
  mean of the task's other seeds' references, and the report says which seeds have them;
* each table cell is the mean ± std (ddof 0) over seeds of the per-seed values.

Groups are sorted (agents by name, L and K, then the references) so that everything drawn or
written from them comes out in the same order on every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from maq.evaluation.metrics import LIKENESS_KEYS, likeness_score
from maq.evaluation.report import COLUMNS, read_rows

Row = dict[str, str]

GROUP_KEYS = ("env_id", "agent_type", "seq_len", "codebook_size", "tag", "preset")
"""What makes one line of the report (one method); rows differing only in ``seed`` are seeds."""

DISTANCE_COLUMNS = {name: f"{key}_agg_mean" for name, key in LIKENESS_KEYS.items()}
"""The six scored distances (short names as in the training-time CSV) -> results CSV columns."""

DISTANCE_LABELS = {
    "dtw_state": "DTW state",
    "dtw_action": "DTW action",
    "dtw_state_norm": "DTW/step state",
    "dtw_action_norm": "DTW/step action",
    "w_state": "W1 state",
    "w_action": "W1 action",
}

REFERENCES = ("Random", "Human")


def number(value: str | float | None) -> float:
    """A CSV cell as a float; NaN for an empty or missing cell."""
    if value is None or value == "":
        return float("nan")
    return float(value)


def _complete(row: Row) -> Row:
    """Every column present ('' when the file predates it); ``seed`` from ``base_seed`` in the
    release's files, which have no ``seed`` column."""
    full = {column: "" for column in COLUMNS} | row
    if full["seed"] == "":
        full["seed"] = full["base_seed"]
    return full


def load_results(paths: Iterable[Path]) -> list[Row]:
    """The rows of every file, latest per method and seed (files read in the order given)."""
    latest: dict[tuple[str, ...], Row] = {}
    for path in paths:
        for row in map(_complete, read_rows(Path(path))):
            key = tuple(row[k] for k in (*GROUP_KEYS, "seed"))
            latest.pop(key, None)  # a re-evaluation moves to the end
            latest[key] = row
    return list(latest.values())


def _sort_key(key: tuple[str, ...]) -> tuple:
    def as_number(text: str) -> float:
        return float(text) if text not in ("", None) else -1.0

    env, agent, seq_len, codebook, tag, preset = key
    return (env, agent in REFERENCES, agent, as_number(seq_len), as_number(codebook), tag, preset)


@dataclass
class References:
    """Random and Human distances per (task, seed); a missing seed uses the task's mean."""

    by_seed: dict[tuple[str, str], dict[str, dict[str, float]]] = field(default_factory=dict)
    """(env_id, seed) -> reference name -> distance name -> value."""

    @classmethod
    def from_rows(cls, rows: Iterable[Row]) -> References:
        refs = cls()
        for row in rows:
            if row["agent_type"] in REFERENCES:
                slot = refs.by_seed.setdefault((row["env_id"], row["seed"]), {})
                slot[row["agent_type"]] = {
                    name: number(row.get(col)) for name, col in DISTANCE_COLUMNS.items()
                }
        return refs

    def seeds(self, env_id: str, kind: str) -> list[str]:
        found = [s for (e, s), refs in self.by_seed.items() if e == env_id and kind in refs]
        return sorted(found, key=float)

    def lookup(self, env_id: str, seed: str, kind: str, name: str) -> float:
        """The ``kind`` reference distance ``name`` for a task and seed (NaN if none)."""
        own = self.by_seed.get((env_id, seed), {})
        if kind in own:
            return own[kind][name]
        values = [self.by_seed[(env_id, s)][kind][name] for s in self.seeds(env_id, kind)]
        return float(np.mean(values)) if values else float("nan")

    def score(self, env_id: str, seed: str, name: str, distance: float) -> float:
        """The human-likeness score of ``distance`` (a distance ``name``) for a task and seed."""
        random = self.lookup(env_id, seed, "Random", name)
        human = self.lookup(env_id, seed, "Human", name)
        return likeness_score(distance, random, human)


def row_values(row: Row, refs: References) -> dict[str, float]:
    """One row's report quantities: score, success, the distances raw and as scores."""
    values = {
        "normalized_score": number(row.get("normalized_score_mean")),
        "success_rate": number(row.get("success_rate")),
    }
    for name, col in DISTANCE_COLUMNS.items():
        values[name] = number(row.get(col))
        values[f"{name}_score"] = refs.score(row["env_id"], row["seed"], name, values[name])
    return values


@dataclass
class Group:
    """One method of one task: its per-seed rows and their values."""

    key: tuple[str, ...]
    """The :data:`GROUP_KEYS` values."""
    rows: list[Row]
    values: list[dict[str, float]]

    def field(self, name: str) -> str:
        return self.key[GROUP_KEYS.index(name)]

    @property
    def episodes(self) -> int:
        return int(sum(number(r.get("eval_episodes")) for r in self.rows))

    def stat(self, name: str) -> tuple[float, float]:
        """Mean and std (ddof 0) over seeds of a quantity, finite values only (NaN if none)."""
        x = np.array([v[name] for v in self.values], dtype=np.float64)
        x = x[np.isfinite(x)]
        return (float(x.mean()), float(x.std())) if x.size else (float("nan"), float("nan"))


def group_rows(rows: Sequence[Row]) -> list[Group]:
    """Rows grouped by method, sorted (agents first, then the references), seeds in order."""
    refs = References.from_rows(rows)
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k, "") for k in GROUP_KEYS), []).append(row)
    out = []
    for key in sorted(groups, key=_sort_key):
        members = sorted(groups[key], key=lambda r: float(r["seed"]))
        out.append(Group(key, members, [row_values(r, refs) for r in members]))
    return out
