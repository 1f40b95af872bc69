"""End to end: ``maq evaluate`` (and ``maq train --auto_evaluate``) with a fake method on door.

The fake method's run folder holds an eval table and checkpoints that each store a gain; its
policy is ``gain · tanh(W obs)``, so the test can tell which checkpoint was evaluated.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from maq.cli import main
from maq.data.format import save_trajectories
from maq.evaluation.evaluate import evaluate
from maq.evaluation.metrics import METRIC_KEYS
from maq.evaluation.report import COLUMNS, results_path
from maq.methods import METHODS, Method
from maq.spec import RunSpec
from tests.conftest import make_fake_trajectories
from tests.evaluation.test_select import write_eval_table

FAKE = "FAKE"


class GainPolicy:
    """A deterministic primitive-action policy: ``gain · tanh(W obs)`` with a fixed W."""

    def __init__(self, gain: float):
        self.gain = gain
        self.weights = np.random.default_rng(0).standard_normal((28, 39)) * 0.1

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.gain * np.tanh(self.weights @ np.asarray(obs, np.float64))


def load_fake_policy(checkpoint: Path, run) -> GainPolicy:
    return GainPolicy(float(Path(checkpoint).read_text()))


def _fake_run_dir(spec: RunSpec) -> Path:
    return spec.root / "FAKE" / "log" / spec.env_id / f"fake_seed{spec.seed}{spec.tag_suffix}"


def train_fake(run) -> Path:
    run_dir = run.run_dir if hasattr(run, "run_dir") else _fake_run_dir(run)
    write_eval_table(run_dir, [(100, 1.0, "online"), (200, 8.0, "online"), (300, 2.0, "online")])
    for ckpt, gain in (
        ("model_100_1.0.pth", 0.0),
        ("model_200_8.0.pth", 0.5),
        ("model_300_2.0.pth", 1.0),
    ):
        (run_dir / ckpt).write_text(str(gain))
    return run_dir


@pytest.fixture
def fake_method(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Register FAKE, make MAQ_ROOT a temp folder with fake (non-human) train/test files."""
    monkeypatch.setitem(
        METHODS,
        FAKE,
        Method(
            FAKE,
            _fake_run_dir,
            train_fake,
            load_fake_policy,
            METHODS["SAC"].presets,
            uses_codes=False,
        ),
    )
    monkeypatch.setenv("MAQ_ROOT", str(tmp_path))
    data = tmp_path / "offline_data"
    save_trajectories(make_fake_trajectories(n=3, length=40, seed=1), data / "fake_train.pkl")
    save_trajectories(make_fake_trajectories(n=3, length=50, seed=2), data / "fake_test.pkl")
    return tmp_path


RUN_FLAGS = [
    "--method",
    FAKE,
    "-env",
    "door-human-v1",
    "-s",
    "1",
    "-trs",
    "fake_train.pkl",
    "-tes",
    "fake_test.pkl",
]


def _rows(root: Path) -> list[dict[str, str]]:
    with results_path(root, "door-human-v1").open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def test_evaluate_appends_one_row_for_the_best_checkpoint(fake_method: Path, capsys) -> None:
    train_fake(RunSpec(method=FAKE, root=fake_method))
    assert main(["evaluate", *RUN_FLAGS, "--episodes", "2", "--workers", "1"]) == 0
    assert "appended a row" in capsys.readouterr().out
    (row,) = _rows(fake_method)
    assert row["method"] == FAKE and row["env_id"] == "door-human-v1"
    assert row["model_path"].endswith("model_200_8.0.pth")  # the best eval, not the last
    assert row["eval_episodes"] == "2" and row["base_seed"] == "1" and row["seq_len"] == ""
    assert row["default_horizon"] == "200" and float(row["length_mean"]) == 200.0
    for key in METRIC_KEYS:
        assert float(row[f"{key}_agg_mean"]) > 0
    assert float(row["min_dtw_state_dtw_min_agg_mean"]) <= float(row["dtw_state_dtw_mean_agg_mean"])


def test_train_auto_evaluate_then_model_path(fake_method: Path, monkeypatch) -> None:
    monkeypatch.setattr("maq.evaluation.evaluate.DEFAULT_EPISODES", 1)  # the --episodes default
    assert main(["train", *RUN_FLAGS, "--auto_evaluate"]) == 0
    assert _rows(fake_method)[-1]["model_path"].endswith("model_200_8.0.pth")
    last = _fake_run_dir(RunSpec(method=FAKE, root=fake_method)) / "model_300_2.0.pth"
    assert (
        main(["evaluate", *RUN_FLAGS, "--episodes", "1", "--workers", "1", "-path", str(last)]) == 0
    )
    rows = _rows(fake_method)
    assert len(rows) == 2 and rows[-1]["model_path"].endswith("model_300_2.0.pth")
    assert rows[0]["raw_reward_mean"] != rows[1]["raw_reward_mean"]  # a different policy ran


def test_results_do_not_depend_on_the_number_of_workers(fake_method: Path) -> None:
    train_fake(RunSpec(method=FAKE, root=fake_method))
    spec = RunSpec(
        method=FAKE,
        root=fake_method,
        training_source="fake_train.pkl",
        testing_source="fake_test.pkl",
    )
    one = evaluate(spec, episodes=3, workers=1, write=False)
    two = evaluate(spec, episodes=3, workers=2, write=False)
    assert [r.seed for r in one.records] == [200, 201, 202] == [r.seed for r in two.records]
    for a, b in zip(one.records, two.records, strict=True):
        assert (a.episode_return, a.length, a.success, a.metrics) == (
            b.episode_return,
            b.length,
            b.success,
            b.metrics,
        )
    assert one.records[0].episode_return != one.records[1].episode_return  # seeds differ


def test_missing_run_or_dataset_is_one_line_with_the_fix(fake_method: Path, capsys) -> None:
    assert main(["evaluate", *RUN_FLAGS, "--episodes", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no run folder" in err and "./scripts/train.sh --method FAKE" in err
    train_fake(RunSpec(method=FAKE, root=fake_method))
    assert main(["evaluate", "--method", FAKE, "--episodes", "1"]) == 2  # no default split files
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "maq gen-data --env door-human-v1 --seed 1" in err
    assert main(["evaluate", *RUN_FLAGS, "-path", "nope.pth", "--episodes", "1"]) == 2
    assert "--model_path nope.pth does not exist" in capsys.readouterr().err


@pytest.mark.door
def test_real_door_test_split_as_human_reference(door_split: tuple[Path, Path]) -> None:
    from maq.envs import get_task
    from maq.evaluation.evaluate import EpisodeRunner, load_human_reference, run_episodes

    train, test = door_split
    spec = RunSpec(training_source=str(train), testing_source=str(test))
    path, human = load_human_reference(spec)
    assert path == test and len(human.states) == 3  # seed 1 → demos 12, 11, 5
    assert human.pooled_states.shape == (797, 39) and human.pooled_actions.shape == (797, 28)
    (record,) = run_episodes(
        EpisodeRunner(get_task("door-human-v1"), GainPolicy(0.5), human), [200]
    )
    assert record.length == 200 and not record.success
    m = record.metrics
    assert all(np.isfinite(v) and v > 0 for v in m.values())
    assert m["min_dtw_state_dtw_min"] < m["dtw_state_dtw_mean"]
    assert m["min_dtw_action_dtw_min"] < m["dtw_action_dtw_mean"]
