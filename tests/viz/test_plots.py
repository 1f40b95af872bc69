"""Learning curves, heatmaps and the report from tiny synthetic run folders and CSVs."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from maq.errors import MaqError
from maq.evaluation.metrics import LIKENESS_KEYS
from maq.evaluation.rows import References
from maq.runs import EVAL_COLUMNS
from maq.viz.heatmap import cell_means
from maq.viz.plots import make_report, plot_heatmap, plot_learning_curves
from maq.viz.runs import read_run, seed_mean_std
from tests.evaluation.results_fixtures import standard_rows, write_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run(root: Path, method: str, seed: int, *, likeness: bool = True, offline: int = 0,
             seq_len: int = 9, steps: tuple[int, ...] = (100, 200, 300)) -> Path:  # fmt: skip
    """A run folder: config.json and an evaluation table (offline rows first if ``offline``)."""
    run = root / f"{method.replace('+', '_')}_seed{seed}_sq{seq_len}"
    run.mkdir(parents=True)
    config = {"method": method, "env_id": "door-human-v1", "seed": seed, "seq_len": seq_len,
              "codebook_size": 16, "tag": "", "loop": {"offline_steps": offline}}  # fmt: skip
    (run / "config.json").write_text(json.dumps(config))
    columns = EVAL_COLUMNS + (list(LIKENESS_KEYS) if likeness else [])
    rows = []
    if offline:
        rows.append({"training_step": offline, "phase": "offline", "norm_episode_reward": 1.0})
    for i, step in enumerate(steps):
        row = {"training_step": offline + step, "episode_reward": 10.0 * i, "phase": "online",
               "norm_episode_reward": 10.0 * i + seed, "success_rate": 0.1 * i}  # fmt: skip
        if likeness:
            row.update({name: 8.0 - i - 0.5 * seed for name in LIKENESS_KEYS})
        rows.append(row)
    with (run / "experiment_data.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return run


def assert_figures(paths: list[Path]) -> None:
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert paths[0].read_bytes().startswith(PNG_MAGIC) and paths[0].stat().st_size > 5000
    assert ET.parse(paths[1]).getroot().tag.endswith("svg")


def test_run_folders_read_as_curves(tmp_path: Path) -> None:
    run = read_run(make_run(tmp_path, "IQL", 1, offline=1000, likeness=False))
    assert run.series("norm_episode_reward") == {100: 1.0, 200: 11.0, 300: 21.0}  # online only
    assert run.series("dtw_state") == {} and run.x_label == "primitive env steps"
    steps, mean, std = seed_mean_std([{1: 1.0, 2: 3.0}, {1: 3.0, 2: 5.0, 3: 9.0}, {}])
    assert steps.tolist() == [1, 2] and mean.tolist() == [2.0, 4.0] and std.tolist() == [1.0, 1.0]
    with pytest.raises(MaqError, match="no config.json"):
        read_run(tmp_path)


def test_learning_curves_png_and_svg(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / "runs", m, s) for m in ("MAQ+RLPD", "RLPD") for s in (1, 2)]
    runs.append(make_run(tmp_path / "runs", "IQL", 1, likeness=False, offline=500))  # an old run
    csv_path = write_results(tmp_path / "r.csv", standard_rows())
    paths = plot_learning_curves(run_dirs=runs, out=tmp_path / "fig" / "curves",
                                 results_csvs=[csv_path])  # fmt: skip
    assert_figures(paths)
    svg = paths[1].read_text()
    assert "MAQ+RLPD L9 K16 (2 seeds)" in svg and "IQL (1 seed)" in svg
    assert "score (random 0, human 1)" in svg
    again = plot_learning_curves(run_dirs=runs, out=tmp_path / "again", results_csvs=[csv_path])
    assert again[1].read_bytes() == svg.encode()  # reproducible SVG (no date, fixed ids)
    raw = plot_learning_curves(run_dirs=runs[:1], out=tmp_path / "raw", formats=("svg",))
    assert "raw, lower is more human-like" in raw[0].read_text()
    with pytest.raises(MaqError, match="--likeness"):
        plot_learning_curves(run_dirs=runs, out=tmp_path / "x", likeness="dtw")


def test_heatmap_over_l_by_k_and_l_by_method(tmp_path: Path) -> None:
    csv_path = write_results(tmp_path / "r.csv", standard_rows())
    assert_figures(plot_heatmap(csv_paths=[csv_path], out=tmp_path / "lk"))
    paths = plot_heatmap(csv_paths=[csv_path], out=tmp_path / "lm", columns="method",
                         codebook_size=16, dtw="norm")  # fmt: skip
    assert_figures(paths)
    assert "DTW/step state score" in paths[1].read_text()
    with pytest.raises(MaqError, match="one K"):
        plot_heatmap(csv_paths=[csv_path], out=tmp_path / "x", columns="method")
    agents_only = [r for r in standard_rows() if r["agent_type"] not in ("Random", "Human")]
    raw_csv = write_results(tmp_path / "raw.csv", agents_only)
    (svg,) = plot_heatmap(csv_paths=[raw_csv], out=tmp_path / "raw", formats=("svg",))
    assert "DTW state (raw)" in svg.read_text()  # no references: raw distances, not scores


def test_heatmap_cells_are_means_over_seeds() -> None:
    rows = [{k: str(v) for k, v in r.items()} for r in standard_rows()]
    refs = References.from_rows(rows)
    agents = [r for r in rows if r["agent_type"] == "MAQ+RLPD"]
    ls, ks, grid = cell_means(agents, refs, "dtw_state_score", "codebook_size")
    assert ls == ["3", "9"] and ks == ["8", "16"]
    # L3 K16: d = 5.33 and 5.83 over the seeds -> scores 0.583, 0.521.
    assert grid[0, 1] == pytest.approx((0.583333 + 0.520833) / 2, abs=1e-5)


def test_heatmap_of_chosen_seeds(tmp_path: Path) -> None:
    csv_path = write_results(tmp_path / "r.csv", standard_rows())
    (svg,) = plot_heatmap(csv_paths=[csv_path], out=tmp_path / "s1", seeds=[1], formats=("svg",))
    text = svg.read_text()
    assert "seed 1" in text and "0.58" in text  # L3 K16 seed 1 alone: score 0.583, not 0.552
    with pytest.raises(MaqError, match="no evaluated runs"):
        plot_heatmap(csv_paths=[csv_path], out=tmp_path / "s7", seeds=[7], formats=("svg",))


def test_make_report_embeds_its_figures(tmp_path: Path) -> None:
    csv_path = write_results(tmp_path / "r.csv", standard_rows())
    runs = [make_run(tmp_path / "runs", "MAQ+RLPD", s) for s in (1, 2)]
    out = make_report(csv_paths=[csv_path], out=tmp_path / "docs" / "results.md", run_dirs=runs)
    text = out.read_text()
    for name in ("door-human-v1_curves.png", "door-human-v1_heatmap.png"):
        assert f"(figures/{name})" in text
        assert (tmp_path / "docs" / "figures" / name).read_bytes().startswith(PNG_MAGIC)
