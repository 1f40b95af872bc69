"""Drawing the paper's heatmap: one panel per quantity, rows L, columns K or method.

Each cell is the mean over seeds of one quantity of the latest evaluation rows
(:mod:`maq.evaluation.rows`); a missing combination is left blank. Distances are drawn as
likeness scores when the task's Random and Human rows exist (higher is more human-like), raw
otherwise (then lower is more human-like, and the colour map is reversed so that "better" keeps
its colour).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maq.evaluation.rows import DISTANCE_LABELS, References, Row, row_values


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _axis_values(rows: Sequence[Row], columns: str) -> tuple[list[str], list[str]]:
    def by_number(text: str) -> float:
        return float(text) if text != "" else float("inf")

    ls = sorted({r.get("seq_len", "") for r in rows}, key=by_number)
    if columns == "method":
        cols = sorted({r["agent_type"] for r in rows})
    else:
        cols = sorted({r["codebook_size"] for r in rows}, key=by_number)
    return ls, cols


def cell_means(
    rows: Sequence[Row], refs: References, quantity: str, columns: str
) -> tuple[list[str], list[str], np.ndarray]:
    """Row labels (L), column labels and the (L, columns) grid of means over seeds (NaN: none)."""
    ls, cols = _axis_values(rows, columns)
    grid = np.full((len(ls), len(cols)), np.nan)
    column_of = "agent_type" if columns == "method" else "codebook_size"
    for i, seq_len in enumerate(ls):
        for j, col in enumerate(cols):
            values = [
                row_values(r, refs)[quantity]
                for r in rows
                if r.get("seq_len", "") == seq_len and r[column_of] == col
            ]
            values = [v for v in values if np.isfinite(v)]
            if values:
                grid[i, j] = float(np.mean(values))
    return [s or "–" for s in ls], cols, grid


def _panel(ax, fig, labels, grid: np.ndarray, panel: tuple, columns: str) -> None:
    ls, cols = labels
    _, title, cmap, limits = panel
    vmin, vmax = limits or (None, None)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(cols)), cols, rotation=30 if columns == "method" else 0, ha="right")
    ax.set_yticks(range(len(ls)), ls)
    ax.set_xlabel("method" if columns == "method" else "K (codebook size)")
    ax.set_ylabel("L (macro length)")
    ax.set_title(title, fontsize=10)
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            r, g, b, _ = image.cmap(image.norm(value))
            ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"  # luminance
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8, color=ink)


def draw_heatmaps(
    rows: Sequence[Row], refs: References, distances: Sequence[str], columns: str, title: str
):
    """A figure with success and ``distances`` (scores if the task has references, else raw)."""
    plt = pyplot()
    env_id = rows[0]["env_id"]
    scored = bool(refs.seeds(env_id, "Random") and refs.seeds(env_id, "Human"))
    # (quantity, title, colormap, colour limits): success and scores on a fixed 0-1 scale (a score
    # above 1, closer than the human demos, takes the top colour), so maps compare across figures
    panels = [("success_rate", "success rate", "viridis", (0.0, 1.0))]
    for name in distances:
        if scored:
            label = f"{DISTANCE_LABELS[name]} score"
            panels.append((f"{name}_score", label, "viridis", (0.0, 1.0)))
        else:
            panels.append((name, f"{DISTANCE_LABELS[name]} (raw)", "viridis_r", None))
    width = max(3.2, 0.9 * len(_axis_values(rows, columns)[1]) + 2)
    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels), 3.8), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        ls, cols, grid = cell_means(rows, refs, panel[0], columns)
        _panel(ax, fig, (ls, cols), grid, panel, columns)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
