"""Checkpoint selection from a run's training-time evaluation table (maq.evaluation.select)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from maq.errors import MaqError
from maq.evaluation.select import best_row, select_checkpoint, train_command
from maq.runs import EVAL_COLUMNS
from maq.spec import RunSpec


def write_eval_table(
    run_dir: Path,
    rows: list[tuple[int, float, str]],
    touch: bool = True,
    name: str = "experiment_data.csv",
) -> None:
    """A fake eval table with rows (step, episode_reward, phase) and, if asked, the checkpoints."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / name).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=EVAL_COLUMNS)
        writer.writeheader()
        for step, reward, phase in rows:
            ckpt = f"model_{step}_{reward:.1f}.pth"
            writer.writerow(
                {
                    "training_step": step,
                    "episode_reward": reward,
                    "norm_episode_reward": reward / 30,
                    "success_rate": 0.0,
                    "phase": phase,
                    "checkpoint": ckpt,
                }
            )
            if touch:
                (run_dir / ckpt).write_bytes(b"x")


def test_picks_max_episode_reward_first_on_ties(tmp_path: Path) -> None:
    spec = RunSpec(method="RLPD", root=tmp_path)
    write_eval_table(
        tmp_path / "run",
        [
            (1000, 5.0, "online"),
            (2000, 9.0, "online"),
            (3000, 9.0, "online"),
            (4000, -1.0, "online"),
        ],
    )
    assert select_checkpoint(tmp_path / "run", "experiment_data.csv", spec).name == (
        "model_2000_9.0.pth"
    )


def test_offline_rows_are_not_selectable_when_online_rows_exist() -> None:
    rows = [
        {"episode_reward": "100", "phase": "offline", "checkpoint": "a"},
        {"episode_reward": "3", "phase": "online", "checkpoint": "b"},
        {"episode_reward": "7", "phase": "online", "checkpoint": "c"},
    ]
    assert best_row(rows)["checkpoint"] == "c"
    assert best_row(rows[:1])["checkpoint"] == "a"  # an offline-only table still has a best row


def test_missing_checkpoint_is_a_one_line_error_with_the_train_command(tmp_path: Path) -> None:
    spec = RunSpec(method="MAQ+RLPD", seed=10, seq_len=3, codebook_size=8, tag="x", root=tmp_path)
    write_eval_table(tmp_path / "run", [(1000, 5.0, "online")], touch=False)
    with pytest.raises(MaqError) as exc:
        select_checkpoint(tmp_path / "run", "experiment_data.csv", spec)
    message = str(exc.value)
    assert "\n" not in message
    assert "model_1000_5.0.pth" in message and train_command(spec) in message
    assert train_command(spec) == (
        "./scripts/train.sh --method MAQ+RLPD --environment "
        "door-human-v1 --seed 10 --sequence_length 3 "
        "--codebook_size 8 --tag x"
    )


def test_missing_run_or_table_names_what_is_missing(tmp_path: Path) -> None:
    spec = RunSpec(method="SAC", root=tmp_path)
    with pytest.raises(MaqError, match="no run folder .*train.sh --method SAC"):
        select_checkpoint(tmp_path / "nope", "SAC.csv", spec)
    (tmp_path / "run").mkdir()
    with pytest.raises(MaqError, match="SAC.csv is missing"):
        select_checkpoint(tmp_path / "run", "SAC.csv", spec)
    write_eval_table(tmp_path / "run", [], name="SAC.csv")
    with pytest.raises(MaqError, match="names no checkpoint"):
        select_checkpoint(tmp_path / "run", "SAC.csv", spec)
