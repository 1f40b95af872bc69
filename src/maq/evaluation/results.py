"""``maq report``'s Markdown: the evaluated methods of every task, scored, with their provenance.

Per task: a table of performance and raw distances, a table of human-likeness scores, the task's
figures, and the command and commit of every row behind the numbers. Everything is sorted and no
clock is read, so the same inputs give the same text.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from maq.errors import MaqError
from maq.evaluation.rows import (
    DISTANCE_LABELS,
    REFERENCES,
    Group,
    References,
    group_rows,
    load_results,
)
from maq.io import atomic_write_text

DEFAULT_REPORT = Path("docs/results.md")
"""Where ``maq report`` writes, relative to the working directory (the repository root)."""

SCORE_DEFINITION = (
    "Human-likeness score of a distance d: (d_random − d) / (d_random − d_human), with the "
    "`Random` and `Human` rows of the same task and seed (`./scripts/evaluate.sh --method Random` "
    "/ `--method Human`): uniform random actions score 0, the training split's human demos score "
    "1 (maq's definition; the paper's normalization is unpublished). DTW/step is the DTW cost "
    "divided by the length of its warping path. Each cell is the mean ± std (ddof 0) over seeds "
    "of the latest evaluation of each seed; `–` marks a value that is missing."
)


def _cell(mean_std: tuple[float, float], digits: int) -> str:
    mean, std = mean_std
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _method(group: Group) -> list[str]:
    """Method (with a preset other than the paper's), L, K and tag cells."""
    preset = group.field("preset")
    name = group.field("agent_type") + (f" ({preset})" if preset not in ("", "paper") else "")
    return [name] + [group.field(k) or "–" for k in ("seq_len", "codebook_size", "tag")]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]


def _performance(groups: Sequence[Group]) -> list[str]:
    header = ["method", "L", "K", "tag", "seeds", "episodes", "normalized score", "success"]
    header += list(DISTANCE_LABELS.values())
    rows = []
    for g in groups:
        cells = _method(g) + [str(len(g.rows)), str(g.episodes)]
        cells += [_cell(g.stat("normalized_score"), 1), _cell(g.stat("success_rate"), 2)]
        for name in DISTANCE_LABELS:
            per_step_or_w1 = name.endswith("_norm") or name.startswith("w_")
            cells.append(_cell(g.stat(name), 3 if per_step_or_w1 else 1))
        rows.append(cells)
    return _table(header, rows)


def _scores(groups: Sequence[Group]) -> list[str]:
    header = ["method", "L", "K", "tag", *DISTANCE_LABELS.values()]
    rows = [
        _method(g) + [_cell(g.stat(f"{name}_score"), 2) for name in DISTANCE_LABELS] for g in groups
    ]
    return _table(header, rows)


def _reference_note(env_id: str, refs: References) -> str:
    found = {kind: refs.seeds(env_id, kind) for kind in REFERENCES}
    if not all(found.values()):
        missing = " and ".join(k for k, seeds in found.items() if not seeds)
        return (
            f"No {missing} rows for {env_id}, so no scores: run `./scripts/evaluate.sh --method "
            f"Random --environment {env_id} --seed S` and `--method Human` for each seed."
        )
    seeds = "; ".join(f"{k}: seeds {', '.join(s)}" for k, s in found.items())
    return f"References ({seeds}); other seeds use the mean of these."


def _provenance(groups: Sequence[Group]) -> list[str]:
    header = ["method", "L", "K", "tag", "seed", "episodes", "commit", "command"]
    rows = []
    for g in groups:
        for r in g.rows:
            commit = r.get("commit", "")
            command = r.get("command", "")
            rows.append(
                _method(g)
                + [r["seed"], r.get("eval_episodes", "") or "–"]
                + [f"`{commit[:12]}{'+dirty' if commit.endswith('+dirty') else ''}`"
                   if commit else "not recorded",
                   f"`{command}`" if command else "not recorded"]
            )  # fmt: skip
    summary = f"Command and commit behind every row ({len(rows)} rows)"
    return [
        "<details>",
        f"<summary>{summary}</summary>",
        "",
        *_table(header, rows),
        "",
        "</details>",
    ]


def _figures(paths: Sequence[str]) -> list[str]:
    lines = []
    for path in paths:
        name = path.rsplit("/", 1)[-1]
        lines += [f"![{name}]({path})", ""]
    return lines


def render_report(
    groups: Sequence[Group],
    refs: References,
    *,
    sources: Sequence[str],
    figures: Sequence[str],
    command: str,
) -> str:
    """The whole report as Markdown text."""
    lines = [
        "# Results",
        "",
        f"Made by `{command}` from {', '.join(f'`{s}`' for s in sources)}; "
        "run it again to update this file.",
        "",
        SCORE_DEFINITION,
        "",
    ]
    placed: set[str] = set()
    for env_id in sorted({g.field("env_id") for g in groups}):
        mine = [g for g in groups if g.field("env_id") == env_id]
        task_figures = [f for f in figures if env_id in f.rsplit("/", 1)[-1]]
        placed.update(task_figures)
        lines += [f"## {env_id}", "", "### Performance and distances (raw)", ""]
        lines += _performance(mine) + ["", "### Human-likeness scores (random = 0, human = 1)", ""]
        lines += _scores(mine) + ["", _reference_note(env_id, refs), ""]
        if task_figures:
            lines += ["### Figures", "", *_figures(task_figures)]
        lines += ["### Provenance", "", *_provenance(mine), ""]
    others = [f for f in figures if f not in placed]
    if others:
        lines += ["## Other figures", "", *_figures(others)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), start.resolve())).as_posix()


def write_report(
    *,
    csv_paths: Sequence[Path],
    out: Path = DEFAULT_REPORT,
    figures: Sequence[Path] = (),
    command: str = "maq report",
) -> Path:
    """Write the Markdown report of every evaluated method in ``csv_paths`` to ``out``.

    ``figures`` (PNG/SVG/GIF files) are embedded under their task when the file name contains
    the task's name, else in a final section; ``command`` is the command that made the report.
    """
    if not csv_paths:
        raise MaqError("name at least one evaluation CSV (evaluation_results/agent_performance_*)")
    rows = load_results(csv_paths)
    if not rows:
        raise MaqError(f"{', '.join(map(str, csv_paths))} hold no evaluation rows")
    out = Path(out)
    start = out.parent if str(out.parent) else Path(".")
    text = render_report(
        group_rows(rows),
        References.from_rows(rows),
        sources=[_relative(p, start) for p in csv_paths],
        figures=[_relative(p, start) for p in figures],
        command=command,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out, text)
