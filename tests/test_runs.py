"""Run folders: atomic writes, eval CSV, logger resume, checkpoints, RunContext, CLI errors."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from maq.cli import main
from maq.errors import MaqError
from maq.io import atomic_write_text
from maq.rollout import episode_seed, evaluate_policy
from maq.runs import EVAL_COLUMNS, EvalCsv, load_checkpoint, save_checkpoint
from maq.train.common import RunContext


@dataclass(frozen=True)
class _Cfg:
    lr: float = 3e-4


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    path = atomic_write_text(tmp_path / "a" / "x.txt", "hello")
    assert path.read_text() == "hello"
    assert [p.name for p in path.parent.iterdir()] == ["x.txt"]


def test_eval_csv_rejects_a_foreign_header(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(MaqError, match="has columns"):
        EvalCsv(path, EVAL_COLUMNS)


def test_checkpoint_round_trip_and_errors(tmp_path: Path) -> None:
    state = {"w": torch.arange(3.0), "n": 5}
    path = save_checkpoint(tmp_path / "c.pt", method="X", config=_Cfg(), step=7, state=state)
    payload = load_checkpoint(path)
    assert payload["step"] == 7 and payload["config"] == {"lr": 3e-4} and payload["method"] == "X"
    assert torch.equal(payload["state"]["w"], state["w"])
    with pytest.raises(MaqError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(MaqError, match="corrupt or not a maq checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def _summary(r: float) -> dict[str, float]:
    return {"episode_reward": r, "norm_episode_reward": r / 10, "success_rate": 0.0}


def test_run_context_resume_drops_rows_after_the_resume_point(tmp_path: Path) -> None:
    run = tmp_path / "run"
    ctx = RunContext(run, method="X", config=_Cfg())
    assert ctx.start() is None
    ctx.record_eval(100, _summary(1.0), "online", "m100.pth")
    ctx.save_resume(100, {"k": 1})
    ctx.record_eval(200, _summary(2.0), "online", "m200.pth")  # then the run is killed
    ctx2 = RunContext(run, method="X", config=_Cfg())
    payload = ctx2.start()
    assert payload["step"] == 100 and payload["state"] == {"k": 1}
    assert [r["training_step"] for r in ctx2.eval_csv.rows()] == ["100"]
    ctx2.record_eval(200, _summary(2.5), "online", "m200.pth")
    ctx2.finish({"steps": 200})
    assert ctx2.finished and not ctx2.resume_path.exists()
    assert (run / "config.json").exists() and (run / "progress.csv").exists()
    assert [r["episode_reward"] for r in ctx2.eval_csv.rows()] == ["1.0", "2.5"]
    assert not RunContext(run, method="X", config=_Cfg(), overwrite=True).finished


class _ZeroPolicy:
    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros(24, np.float32)


def test_evaluate_policy_is_seeded() -> None:
    a, eps = evaluate_policy("pen-human-v1", _ZeroPolicy(), 2, base_seed=3)
    b, _ = evaluate_policy("pen-human-v1", _ZeroPolicy(), 2, base_seed=3)
    assert a == b and [e.seed for e in eps] == [episode_seed(3, 0), episode_seed(3, 1)] == [
        600,
        601,
    ]
    assert eps[0].states.shape == (eps[0].length, 45) and eps[0].actions.shape[1] == 24


def test_cli_user_errors_are_one_line(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "maq.cli",
        "gen-data",
        "--env",
        "hammer-human-v1",
        "--data_dir",
        str(tmp_path),
        "--out_dir",
        str(tmp_path),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("error: no human data for hammer-human-v1")
    assert res.stderr.count("\n") == 1
    res = subprocess.run(
        [sys.executable, "-m", "maq.cli", "gen-data", "--env", "drawer"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "unknown task 'drawer'" in res.stderr
    with pytest.raises(SystemExit):
        main(["train", "--no_such_flag"])


def test_torch_threads_restores_and_honours_the_override(monkeypatch) -> None:
    from maq.seeding import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    monkeypatch.setenv("MAQ_NUM_THREADS", "2")
    with torch_threads(1):
        assert torch.get_num_threads() == 2
    monkeypatch.setenv("MAQ_NUM_THREADS", "two")
    with pytest.raises(MaqError, match="MAQ_NUM_THREADS"), torch_threads(1):
        pass
    assert torch.get_num_threads() == before


def test_configure_cpu_process_reaches_torch_pool_threads() -> None:
    # A fresh process, as maq's commands start: after configure_cpu_process, the flush-denormal
    # flag of torch_threads holds in every OpenMP thread, not only the main one (with two
    # threads and no configure, the worker's half of y * 2 keeps its denormal bits).
    import subprocess
    import sys

    code = """
import torch
from maq.seeding import configure_cpu_process, torch_threads
done = configure_cpu_process()
torch.ones(4_000_000).mul_(2)  # the pool starts here
with torch_threads(2):
    y = torch.full((1_000_000,), 1 << 20, dtype=torch.int32).view(torch.float32)  # denormals
    print(done["flush_denormal"], int(((y * 2.0).view(torch.int32) != 0).sum()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    flushed, left = out.stdout.split()
    assert flushed == "True" and left == "0"
