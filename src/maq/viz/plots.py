"""``maq plot``: learning curves from run folders, the paper's heatmap from evaluation CSVs.

* **Learning curves** (:func:`plot_learning_curves`): normalized score, success and a
  human-likeness distance against primitive env steps, one line per method (method, L, K, tag)
  with the mean over seeds and a ±1 std band, one row of panels per task. The distance is drawn as
  its likeness score when the task's Random and Human rows are in the given evaluation CSVs, raw
  otherwise; run folders written before the likeness columns existed simply have no such line.
* **Heatmap** (:func:`plot_heatmap`): success and the four distances as scores over L × K (one
  method) or L × method (one K), each cell the mean over seeds of the latest evaluations.

Figures are written as PNG and SVG with matplotlib's Agg backend; SVGs carry no date and fixed ids,
so the same inputs give the same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from maq.errors import MaqError
from maq.evaluation.metrics import LIKENESS_KEYS
from maq.evaluation.results import DEFAULT_REPORT
from maq.evaluation.rows import DISTANCE_LABELS, REFERENCES, References, load_results
from maq.viz.heatmap import draw_heatmaps, pyplot
from maq.viz.runs import RunCurves, line_label, read_run, seed_mean_std

FIGURE_FORMATS = ("png", "svg")
CURVE_METRICS = (("norm_episode_reward", "normalized score"), ("success_rate", "success rate"))


def save_figure(fig, out: Path, formats: Sequence[str]) -> list[Path]:
    """Write ``fig`` as ``out.<fmt>`` for each format, without dates (reproducible files)."""
    import matplotlib

    unknown = sorted(set(formats) - set(FIGURE_FORMATS))
    if unknown or not formats:
        raise MaqError(f"--formats {' '.join(formats)}: choose from {' '.join(FIGURE_FORMATS)}")
    out = Path(out)
    out = out.with_suffix("") if out.suffix in (".png", ".svg") else out
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "maq", "svg.fonttype": "none"}):
        for fmt in formats:
            path = out.with_name(f"{out.name}.{fmt}")
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            fig.savefig(path, format=fmt, dpi=120, bbox_inches="tight", metadata=metadata)
            paths.append(path)
    pyplot().close(fig)
    return paths


def _check_likeness(name: str) -> None:
    if name not in LIKENESS_KEYS:
        raise MaqError(f"--likeness {name}: choose one of {', '.join(LIKENESS_KEYS)}")


def _likeness_curve(run: RunCurves, name: str, refs: References) -> dict[int, float]:
    """The run's distance ``name`` per step, as a score when the task has references."""
    raw = run.series(name)
    if not refs.seeds(run.env_id, "Random") or not refs.seeds(run.env_id, "Human"):
        return raw
    return {step: refs.score(run.env_id, str(run.seed), name, d) for step, d in raw.items()}


def _draw_curves(ax, runs: Sequence[RunCurves], metric, refs: References | None) -> None:
    plt = pyplot()
    labels = sorted({line_label(r) for r in runs})
    colors = plt.get_cmap("tab10")
    for i, label in enumerate(labels):
        mine = [r for r in runs if line_label(r) == label]
        series = [_likeness_curve(r, metric, refs) if refs else r.series(metric) for r in mine]
        steps, mean, std = seed_mean_std(series)
        if not steps.size:
            continue
        color = colors(i % 10)
        seeds = f"{len(mine)} seed{'s' if len(mine) > 1 else ''}"
        ax.plot(steps, mean, color=color, label=f"{label} ({seeds})", marker=".")
        ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
    if not ax.lines:
        ax.text(0.5, 0.5, "not recorded in these runs", ha="center", transform=ax.transAxes)


def plot_learning_curves(
    *,
    run_dirs: Sequence[Path],
    out: Path,
    results_csvs: Sequence[Path] = (),
    likeness: str = "dtw_state_norm",
    formats: Sequence[str] = FIGURE_FORMATS,
) -> list[Path]:
    """Learning curves of ``run_dirs`` (one row of panels per task); the files written."""
    _check_likeness(likeness)
    if not run_dirs:
        raise MaqError("name at least one run folder (the one holding experiment_data.csv)")
    runs = [read_run(Path(d)) for d in run_dirs]
    refs = References.from_rows(load_results(results_csvs)) if results_csvs else References()
    envs = sorted({r.env_id for r in runs})
    plt = pyplot()
    fig, axes = plt.subplots(len(envs), 3, figsize=(15, 3.6 * len(envs)), squeeze=False)
    for row, env_id in zip(axes, envs, strict=True):
        mine = [r for r in runs if r.env_id == env_id]
        scored = bool(refs.seeds(env_id, "Random") and refs.seeds(env_id, "Human"))
        for ax, (metric, title) in zip(row[:2], CURVE_METRICS, strict=True):
            _draw_curves(ax, mine, metric, None)
            ax.set_title(f"{env_id}: {title}")
        _draw_curves(row[2], mine, likeness, refs)
        kind = "score (random 0, human 1)" if scored else "raw, lower is more human-like"
        row[2].set_title(f"{env_id}: {DISTANCE_LABELS[likeness]} {kind}")
        for ax in row:
            ax.set_xlabel(mine[0].x_label)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, formats)


def _heatmap_rows(rows, env_id: str | None, columns: str, method: str | None, codebook: int | None):
    """The rows one heatmap shows, and the name of the fixed method or K (for the title)."""
    envs = sorted({r["env_id"] for r in rows})
    env_id = env_id or (envs[0] if len(envs) == 1 else None)
    if env_id is None or env_id not in envs:
        raise MaqError(f"pass --environment, one of: {', '.join(envs)}")
    rows = [r for r in rows if r["env_id"] == env_id and r["agent_type"] not in REFERENCES]
    coded = [r for r in rows if r.get("seq_len", "") != ""]
    if columns == "codebook_size":
        methods = sorted({r["agent_type"] for r in coded})
        method = method or (methods[0] if len(methods) == 1 else None)
        if method not in methods:
            raise MaqError(f"an L × K heatmap shows one method: pass one of {', '.join(methods)}")
        return env_id, [r for r in coded if r["agent_type"] == method], method
    if columns != "method":
        raise MaqError(f"--columns {columns}: choose codebook_size (L × K) or method (L × method)")
    sizes = sorted({int(r["codebook_size"]) for r in coded})
    codebook = codebook or (sizes[0] if len(sizes) == 1 else None)
    if coded and codebook not in sizes:
        raise MaqError(f"an L × method heatmap shows one K: pass one of {sizes}")
    keep = [r for r in rows if r.get("seq_len", "") == "" or int(r["codebook_size"]) == codebook]
    return env_id, keep, f"K = {codebook}"


def plot_heatmap(
    *,
    csv_paths: Sequence[Path],
    out: Path,
    env_id: str | None = None,
    columns: str = "codebook_size",
    method: str | None = None,
    codebook_size: int | None = None,
    dtw: str = "raw",
    seeds: Sequence[int] = (),
    formats: Sequence[str] = FIGURE_FORMATS,
) -> list[Path]:
    """The paper's heatmap: success and four distance scores over L × K or L × method, each cell
    the mean over the runs' seeds (only ``seeds`` when given, so that every cell has the same)."""
    if dtw not in ("raw", "norm"):
        raise MaqError(f"--dtw {dtw}: choose raw (the release's DTW) or norm (DTW per path step)")
    rows = load_results(csv_paths)
    refs = References.from_rows(rows)
    env_id, shown, fixed = _heatmap_rows(rows, env_id, columns, method, codebook_size)
    if seeds:
        shown = [r for r in shown if int(r["seed"]) in set(seeds)]
        fixed += f", seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, sorted(seeds)))}"
    if not shown:
        raise MaqError(f"no evaluated runs of {env_id} to draw ({fixed})")
    suffix = "_norm" if dtw == "norm" else ""
    names = [f"dtw_state{suffix}", f"dtw_action{suffix}", "w_state", "w_action"]
    fig = draw_heatmaps(shown, refs, names, columns, f"{env_id}, {fixed}")
    return save_figure(fig, out, formats)


def default_figure_paths(env_id: str, figures_dir: Path) -> tuple[Path, Path]:
    """``<dir>/<env>_curves`` and ``<dir>/<env>_heatmap`` (suffixes added per format)."""
    return figures_dir / f"{env_id}_curves", figures_dir / f"{env_id}_heatmap"


def _heatmap_if_any(csv_paths, env_id: str, out: Path) -> list[Path]:
    rows = [r for r in load_results(csv_paths) if r["env_id"] == env_id]
    methods = sorted({r["agent_type"] for r in rows if r.get("seq_len", "") != ""})
    if len(methods) == 1:
        return plot_heatmap(csv_paths=csv_paths, out=out, env_id=env_id, formats=("png",))
    if len(methods) > 1 and len({r["codebook_size"] for r in rows if r["seq_len"] != ""}) == 1:
        return plot_heatmap(
            csv_paths=csv_paths, out=out, env_id=env_id, columns="method", formats=("png",)
        )
    return []


def make_report(
    *,
    csv_paths: Sequence[Path],
    out: Path = DEFAULT_REPORT,
    run_dirs: Sequence[Path] = (),
    figures_dir: Path | None = None,
    extra_figures: Sequence[Path] = (),
    command: str = "maq report",
) -> Path:
    """``maq report``: per task the heatmap (and learning curves of ``run_dirs``) as PNG under
    ``figures_dir`` (default ``<out dir>/figures``), then the Markdown report embedding them."""
    from maq.evaluation.results import write_report

    figures_dir = Path(figures_dir) if figures_dir is not None else Path(out).parent / "figures"
    envs = sorted({r["env_id"] for r in load_results(csv_paths)})
    runs = {Path(d): read_run(Path(d)).env_id for d in run_dirs}
    figures: list[Path] = []
    for env_id in envs:
        curves_out, heatmap_out = default_figure_paths(env_id, figures_dir)
        mine = [d for d, env in runs.items() if env == env_id]
        if mine:
            figures += plot_learning_curves(
                run_dirs=mine, out=curves_out, results_csvs=csv_paths, formats=("png",)
            )
        figures += _heatmap_if_any(csv_paths, env_id, heatmap_out)
    figures += [Path(f) for f in extra_figures]
    return write_report(csv_paths=csv_paths, out=out, figures=figures, command=command)
