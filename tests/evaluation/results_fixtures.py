"""Hand-made rows of the results CSV, for the report and plot tests (not real results)."""

from __future__ import annotations

from pathlib import Path

from maq.evaluation.report import append_row
from maq.evaluation.rows import DISTANCE_COLUMNS


def result_row(
    agent: str, seed: int, distance: float, *, env_id: str = "door-human-v1", seq_len: object = "",
    codebook_size: object = "", score: float = 10.0, success: float = 0.5, tag: str = "",
    command: str = "",
) -> dict:  # fmt: skip
    """A row whose six distances all equal ``distance`` (scores are then easy to check)."""
    row = {
        "agent_type": agent, "method": agent, "env_id": env_id, "seed": seed, "base_seed": seed,
        "seq_len": seq_len, "codebook_size": codebook_size, "tag": tag, "preset": "paper",
        "eval_episodes": 4, "normalized_score_mean": score, "success_rate": success,
        "commit": "0123456789abcdef0123", "command": command or f"maq evaluate --method {agent}",
    }  # fmt: skip
    return {**row, **{col: distance for col in DISTANCE_COLUMNS.values()}}


def write_results(path: Path, rows: list[dict]) -> Path:
    for row in rows:
        append_row(path, row)
    return path


def standard_rows() -> list[dict]:
    """Random (d = 10) and Human (d = 2) for seeds 1 and 2; MAQ+RLPD over L in {3, 9} x K in
    {8, 16}; RLPD (no codes). An agent's score is (10 - d) / 8."""
    rows = []
    for seed in (1, 2):
        rows += [result_row("Random", seed, 10.0, success=0.0), result_row("Human", seed, 2.0)]
        for seq_len in (3, 9):
            for k in (8, 16):
                d = 6.0 + seq_len / 9 - k / 16 + 0.5 * (seed - 1)
                rows.append(result_row("MAQ+RLPD", seed, d, seq_len=seq_len, codebook_size=k))
        rows.append(result_row("RLPD", seed, 9.0, score=50.0 + seed, success=0.25 * seed))
    return rows
