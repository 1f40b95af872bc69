"""results/publish.py keeps every published evaluation row when a fresh run root adds its own."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "publish", Path(__file__).resolve().parents[1] / "results" / "publish.py"
)
publish = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(publish)


def test_merge_rows_adds_only_what_is_missing(tmp_path):
    dst, src = tmp_path / "published.csv", tmp_path / "root.csv"
    dst.write_text("agent_type,score\nRandom,0.1\nMAQ+RLPD,29.9\n")
    src.write_text("agent_type,score,success\nRandom,0.1,\nRLPD,12.5,0.4\n")
    assert publish.merge_rows(src, dst) == 1
    assert publish.merge_rows(src, dst) == 0  # publishing twice adds nothing
    with dst.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["agent_type"] for r in rows] == ["Random", "MAQ+RLPD", "RLPD"]
    assert rows[2]["success"] == "0.4" and rows[0]["success"] == ""
