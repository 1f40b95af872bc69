"""Every method of the table end to end on a fake env with synthetic data (no MuJoCo, no human
data): train, reload the best policy, play it; same seed twice; settings and folder ownership."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from maq import methods
from maq.errors import MaqError, RunStopped
from maq.rollout import run_episode
from maq.runs import EVAL_COLUMNS, RunOwner, load_checkpoint
from maq.spec import RunSpec
from tests.fake_task import FAKE_TASK, make_fake_env, write_fake_split

TRAINED = [m for m in methods.METHODS if m != methods.DISTILL]


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> tuple[Path, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("fake_runs")
    return root, write_fake_split(root / "offline_data")


def fake_spec(fake_root, method: str, **kw) -> RunSpec:
    root, (train, test) = fake_root
    fields = dict(
        method=method,
        env_id=FAKE_TASK.name,
        preset="smoke",
        root=root,
        device="cpu",
        seq_len=3,
        codebook_size=4,
        training_source=str(train),
        testing_source=str(test),
    )
    return RunSpec(**{**fields, **kw})


def train(spec: RunSpec) -> Path:
    return methods.train(spec, task=FAKE_TASK, env_factory=make_fake_env)


def rows(spec: RunSpec) -> list[dict[str, str]]:
    method = methods.get_method(spec.method)
    with (method.run_dir(spec) / method.eval_csv).open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("method", TRAINED)
def test_method_trains_reloads_and_plays_on_a_fake_env(fake_root, method):
    spec = fake_spec(fake_root, method)
    run_dir = train(spec)
    assert (run_dir / "done.json").exists() and not (run_dir / "resume.pt").exists()
    table = rows(spec)
    assert table and list(table[0]) == EVAL_COLUMNS
    assert all(np.isfinite(float(r["episode_reward"])) for r in table)
    assert all(float(r["dtw_state"]) > 0 and float(r["w_action"]) >= 0 for r in table)
    best = max(table, key=lambda r: float(r["episode_reward"]))
    policy = methods.load_policy(
        spec, run_dir / best["checkpoint"], task=FAKE_TASK, env_factory=make_fake_env
    )
    episode = run_episode(make_fake_env(), policy, seed=7)
    assert episode.actions.shape[1] == FAKE_TASK.act_dim and np.isfinite(episode.actions).all()


@pytest.mark.parametrize("method", TRAINED)
def test_same_seed_twice_same_table(fake_root, method):
    first = train(fake_spec(fake_root, method, tag="twin_a"))
    second = train(fake_spec(fake_root, method, tag="twin_b"))
    assert first != second
    strip = [
        {k: v for k, v in r.items() if k != "checkpoint"}
        for r in rows(fake_spec(fake_root, method, tag="twin_a"))
    ]
    again = [
        {k: v for k, v in r.items() if k != "checkpoint"}
        for r in rows(fake_spec(fake_root, method, tag="twin_b"))
    ]
    assert strip == again


def test_results_do_not_depend_on_env_workers(fake_root):
    one = fake_spec(fake_root, "MAQ+RLPD", tag="w1", sets=(("env_workers", "1"),))
    two = fake_spec(fake_root, "MAQ+RLPD", tag="w2", sets=(("env_workers", "2"),))
    train(one), train(two)
    assert rows(one) == [{**r, "checkpoint": r["checkpoint"]} for r in rows(two)]
    config = json.loads((methods.get_method("MAQ+RLPD").run_dir(two) / "config.json").read_text())
    assert config["loop"]["env_workers"] == 2 and config["overrides"] == {"env_workers": "2"}


def test_set_overrides_reach_config_and_bad_ones_are_one_line(fake_root):
    spec = fake_spec(
        fake_root, "RLPD", tag="set", sets=(("utd_ratio", "1"), ("hidden_dims", "8,8"))
    )
    run_dir = train(spec)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["learner"]["utd_ratio"] == 1 and config["learner"]["hidden_dims"] == [8, 8]
    with pytest.raises(MaqError, match="no such setting; valid names: .*utd_ratio"):
        train(dataclasses.replace(spec, sets=(("utd", "1"),)))
    with pytest.raises(MaqError, match="expected a value of type int"):
        train(dataclasses.replace(spec, sets=(("utd_ratio", "ten"),)))
    with pytest.raises(MaqError, match="compile='fast': choose one of auto, on, off"):
        train(dataclasses.replace(spec, sets=(("compile", "fast"),)))
    # the folder records utd_ratio 1: another value is refused, never resumed or skipped
    with pytest.raises(MaqError, match=r"other settings \(utd_ratio: 1 → 2\).*--overwrite"):
        train(dataclasses.replace(spec, sets=(("utd_ratio", "2"), ("hidden_dims", "8,8"))))
    again = train(
        dataclasses.replace(spec, sets=(("utd_ratio", "2"), ("hidden_dims", "8,8")), overwrite=True)
    )
    assert json.loads((again / "config.json").read_text())["learner"]["utd_ratio"] == 2


def test_a_run_folder_has_one_owner(fake_root, tmp_path):
    spec = fake_spec(fake_root, "IQL", tag="owned")
    run_dir = methods.get_method("IQL").run_dir(spec)
    with RunOwner(run_dir):
        with pytest.raises(MaqError, match=f"run folder {run_dir} is in use by pid {os.getpid()}"):
            train(spec)
        assert not run_dir.exists()  # nothing was written
    # a lock left by a killed process is taken over
    code = f"import os, maq.runs as r; o = r.RunOwner({str(run_dir)!r}); o.__enter__(); os._exit(9)"
    subprocess.run([sys.executable, "-c", code], check=False)
    assert (train(spec) / "done.json").exists()


@pytest.mark.parametrize("method", ["MAQ+IQL", "MAQ+RLPD"])
def test_a_moved_run_decodes_with_the_distillation_beside_it(fake_root, tmp_path, method):
    """A published or moved run root (results/) loads the VQ-VAE under its own root, not the
    absolute path recorded at training time, even where a file still exists there."""
    import shutil

    spec = fake_spec(fake_root, method, tag="moved")
    run_dir = train(spec)
    best = max(rows(spec), key=lambda r: float(r["episode_reward"]))
    moved_root = tmp_path / "published"
    shutil.copytree(fake_root[0], moved_root)
    distilled = (fake_root[0] / methods.DISTILL).rglob("*moved/*.pth")
    original = {p: p.read_bytes() for p in distilled}
    assert original
    try:
        for p in original:  # the recorded distillation is now garbage
            p.write_bytes(b"not a checkpoint")
        moved = dataclasses.replace(spec, root=moved_root)
        checkpoint = moved_root / run_dir.relative_to(fake_root[0]) / best["checkpoint"]
        policy = methods.load_policy(moved, checkpoint, task=FAKE_TASK, env_factory=make_fake_env)
        episode = run_episode(make_fake_env(), policy, seed=7)
        assert np.isfinite(episode.actions).all()
    finally:
        for p, data in original.items():
            p.write_bytes(data)


def test_status_lists_each_run_with_its_state(fake_root, tmp_path, capsys):
    import shutil

    from maq import cli
    from maq.status import run_status, status_table

    run_dir = train(fake_spec(fake_root, "IQL", tag="status"))
    best = max(
        rows(fake_spec(fake_root, "IQL", tag="status")), key=lambda r: float(r["episode_reward"])
    )
    line = next(x for x in status_table(fake_root[0]).splitlines() if "[status]" in x)
    assert line.startswith("| IQL seed 1 [status] (smoke) | done |")
    assert f"{float(best['norm_episode_reward']):.1f} ({float(best['success_rate']):.2f})" in line

    other = tmp_path / "root" / "IQL" / "copy"  # the same run, not finished
    shutil.copytree(run_dir, other)
    (other / "done.json").unlink()
    (other / "resume.pt").write_bytes(b"")
    assert run_status(other).state == "stopped, resumable"
    (other / "resume.pt").unlink()
    assert run_status(other).state == "stopped, restarts"
    with RunOwner(other):
        assert run_status(other).state == f"training (pid {os.getpid()})"
    assert run_status(other).state == "stopped, restarts"

    assert cli.main(["status", "--root", str(tmp_path / "root")]) == 0
    assert "| IQL seed 1 [status] (smoke) | stopped, restarts |" in capsys.readouterr().out
    assert cli.main(["status", "--root", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a folder" in err


@pytest.mark.parametrize("method", TRAINED)
def test_stop_after_then_the_same_command_finishes_as_one_run(fake_root, method):
    """``--stop_after``: the run stops at its first resume point at or past the step (nothing
    finished), and the same spec without it ends with the uninterrupted run's table."""
    stopped = fake_spec(fake_root, method, tag="stop", stop_after=1)
    with pytest.raises(RunStopped) as stop:
        train(stopped)
    run_dir = methods.get_method(method).run_dir(stopped)
    assert stop.value.step >= 1 and (run_dir / "resume.pt").exists()
    assert not (run_dir / "done.json").exists()
    with pytest.raises(RunStopped):  # already past the step: stops before training any further
        train(stopped)
    train(dataclasses.replace(stopped, stop_after=None))
    whole = fake_spec(fake_root, method, tag="nostop")
    train(whole)
    assert [dict(r, checkpoint="") for r in rows(stopped)] == [
        dict(r, checkpoint="") for r in rows(whole)
    ]


def test_stop_after_the_offline_phase_keeps_a_small_resume_point(fake_root):
    """IQL stopped at the end of its offline phase: the resume point holds no online data."""
    spec = fake_spec(fake_root, "IQL", tag="boundary", stop_after=50)  # smoke offline_steps 50
    with pytest.raises(RunStopped) as stop:
        train(spec)
    assert stop.value.step == 50
    payload = load_checkpoint(stop.value.run_dir / "resume.pt")
    assert payload["state"]["loop"]["iteration"] == 50
    assert payload["state"]["loop"]["env_steps"] == 0


def test_cli_stop_after_exits_3_with_a_line(fake_root, capsys, monkeypatch):
    from maq import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--method", "IQL", "--stop_after", "0"])
    assert exc.value.code == 2 and "--stop_after" in capsys.readouterr().err
    assert cli._run_args(["--method", "IQL", "--stop_after", "5", "--overwrite", "-s", "2"]) == [
        "--method",
        "IQL",
        "-s",
        "2",
    ]
