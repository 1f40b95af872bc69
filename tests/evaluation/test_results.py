"""The results report: latest rows, reference scores, and the Markdown file."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from maq.evaluation.report import command_line, read_rows, source_commit
from maq.evaluation.results import write_report
from maq.evaluation.rows import References, group_rows, load_results
from tests.evaluation.results_fixtures import result_row, standard_rows, write_results


def test_scores_from_hand_made_rows(tmp_path: Path) -> None:
    csv = write_results(tmp_path / "r.csv", [
        result_row("Random", 1, 10.0), result_row("Human", 1, 2.0),
        result_row("RLPD", 1, 6.0), result_row("RLPD", 2, 4.0),
    ])  # fmt: skip
    refs = References.from_rows(load_results([csv]))
    assert refs.score("door-human-v1", "1", "dtw_state", 6.0) == pytest.approx(0.5)
    assert refs.score("door-human-v1", "1", "w_action", 10.0) == pytest.approx(0.0)
    # Seed 2 has no reference rows of its own: the mean of the task's other seeds is used.
    assert refs.score("door-human-v1", "2", "dtw_state_norm", 4.0) == pytest.approx(0.75)
    assert math.isnan(refs.score("pen-human-v1", "1", "dtw_state", 4.0))  # no references at all
    (rlpd,) = [g for g in group_rows(load_results([csv])) if g.field("agent_type") == "RLPD"]
    assert rlpd.stat("dtw_state_score") == (pytest.approx(0.625), pytest.approx(0.125))


def test_the_latest_row_of_a_seed_counts(tmp_path: Path) -> None:
    csv = write_results(tmp_path / "r.csv", [
        result_row("RLPD", 1, 6.0, score=10.0), result_row("RLPD", 2, 6.0, score=20.0),
        result_row("RLPD", 1, 6.0, score=30.0),
    ])  # fmt: skip
    (group,) = group_rows(load_results([csv]))
    assert [r["seed"] for r in group.rows] == ["1", "2"]
    assert group.stat("normalized_score") == (pytest.approx(25.0), pytest.approx(5.0))


def test_report_tables_and_reproducibility(tmp_path: Path) -> None:
    csv = write_results(tmp_path / "evaluation_results" / "agent_performance_door.csv",
                        standard_rows())  # fmt: skip
    figure = tmp_path / "docs" / "figures" / "door-human-v1_heatmap.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"png")
    out = tmp_path / "docs" / "results.md"
    write_report(csv_paths=[csv], out=out, figures=[figure], command="maq report --x")
    text = out.read_text()
    first = out.read_bytes()
    write_report(csv_paths=[csv], out=out, figures=[figure], command="maq report --x")
    assert out.read_bytes() == first  # same inputs, same file
    assert "## door-human-v1" in text and "Made by `maq report --x`" in text
    assert "![door-human-v1_heatmap.png](figures/door-human-v1_heatmap.png)" in text
    assert "`../evaluation_results/agent_performance_door.csv`" in text
    # Performance table: RLPD over two seeds (scores 51 and 52), 8 episodes.
    assert "| RLPD | – | – | – | 2 | 8 | 51.5 ± 0.5 | 0.38 ± 0.12 | 9.0 ± 0.0 |" in text
    # Scores: the references score 0 and 1; MAQ L3 K16: d = 5.33, 5.83 → scores 0.583, 0.521.
    assert re.search(r"\| Random \| – \| – \| – \| 0\.00 ± 0\.00 \|", text)
    assert re.search(r"\| Human \| – \| – \| – \| 1\.00 ± 0\.00 \|", text)
    assert "| MAQ+RLPD | 3 | 16 | – | 0.55 ± 0.03 |" in text
    assert "References (Random: seeds 1, 2; Human: seeds 1, 2)" in text
    assert "`0123456789ab`" in text and "`maq evaluate --method RLPD`" in text
    assert text.index("| MAQ+RLPD | 3 | 8 |") < text.index("| MAQ+RLPD | 9 | 8 |")
    assert text.index("| RLPD | – |") < text.index("| Human | – |")  # references last


def test_report_without_references_says_how_to_make_them(tmp_path: Path) -> None:
    row = {**result_row("RLPD", 1, 6.0, command="a | b"), "preset": "smoke"}
    csv = write_results(tmp_path / "r.csv", [row])
    out = write_report(csv_paths=[csv], out=tmp_path / "results.md")
    text = out.read_text()
    assert "| RLPD (smoke) | – | – | – | 1 | 4 |" in text
    assert "No Random and Human rows for door-human-v1" in text
    assert "./scripts/evaluate.sh --method Random --environment door-human-v1" in text
    assert "`a \\| b`" in text  # a pipe in a command does not break the table


def test_read_rows_accepts_an_older_header(tmp_path: Path) -> None:
    csv = write_results(tmp_path / "r.csv", [result_row("RLPD", 1, 6.0)])
    lines = csv.read_text().splitlines()
    header = lines[0].split(",")
    cut = header.index("commit")  # as written before the provenance columns existed
    csv.write_text("\n".join(",".join(line.split(",")[:cut]) for line in lines) + "\n")
    (row,) = read_rows(csv)
    assert "commit" not in row and row["agent_type"] == "RLPD"
    (group,) = group_rows(load_results([csv]))
    assert group.stat("dtw_state") == (6.0, 0.0)


def test_release_rows_without_maq_columns(tmp_path: Path) -> None:
    csv = write_results(tmp_path / "r.csv", [result_row("RLPD", 3, 6.0)])
    lines = csv.read_text().splitlines()
    cut = lines[0].split(",").index("method")  # the release's 89 columns only
    csv.write_text("\n".join(",".join(line.split(",")[:cut]) for line in lines) + "\n")
    (group,) = group_rows(load_results([csv]))
    assert group.field("seq_len") == "" and [r["seed"] for r in group.rows] == ["3"]


def test_provenance_helpers() -> None:
    assert command_line(["/x/.venv/lib/maq/cli.py", "evaluate", "--tag", "a b"]) == (
        "maq evaluate --tag 'a b'"
    )
    assert command_line(["/usr/bin/maq", "report"]) == "maq report"
    commit = source_commit()
    assert commit == "" or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit)
