"""scripts/train.sh, evaluate.sh and lazy_rerun.sh: help, flags, translation, and end to end.

The scripts only translate: they exec ``maq <command>`` with the project's Python, outputs under
the repository (``MAQ_ROOT``). The end-to-end tests train smoke presets on the real door demos
(``MAQ_DATA_DIR``) in a temporary root.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from maq.cli import build_parser
from maq.methods import METHODS, get_method
from maq.runs import is_done
from maq.spec import RunSpec
from maq.sweep import GRID

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def _script(name: str, *args: str, cwd: Path = ROOT, timeout: float = 120, **env: str):
    return subprocess.run(
        ["bash", str(SCRIPTS / name), *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


HELP_FLAGS = {
    "train.sh": ["--method", "-env", "--environment", "-seqlen", "--sequence_length", "-cbsz",
                 "--codebook_size", "-s", "--seed", "-trs", "--training_source", "-tes",
                 "--testing_source", "-t", "--tag", "--auto_evaluate", "--preset", "--device"],
    "evaluate.sh": ["--method", "-env", "-seqlen", "-cbsz", "-s", "-trs", "-tes", "-t", "--tag",
                    "-path", "--model_path", "--episodes", "--preset"],
    "lazy_rerun.sh": ["--envs", "--methods", "--seqs", "--ks", "--seeds", "-t", "-trs", "-tes",
                      "--preset", "--no_auto_evaluate", "--address", "--cpus_per_run",
                      "--gpus_per_run", "--dry-run"],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HELP_FLAGS))
def test_help_lists_the_flags(name):
    out = _script(name, "-h")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: maq ")
    words = set(re.findall(r"(?<![\w-])-{1,2}[a-z_-]+", out.stdout))
    assert set(HELP_FLAGS[name]) <= words, set(HELP_FLAGS[name]) - words


@pytest.mark.parametrize(
    "name,args",
    [("train.sh", ["--bogus"]), ("train.sh", ["--method", "MAQ+FOO"]),
     ("lazy_rerun.sh", ["--seqs", "1", "--bogus", "--dry-run"])],
)  # fmt: skip
def test_unknown_flag_or_method_prints_usage_and_fails(name, args):
    out = _script(name, *args)
    assert out.returncode == 2 and out.stderr.startswith("usage: maq")
    assert ("unrecognized arguments" in out.stderr) or ("invalid choice: 'MAQ+FOO'" in out.stderr)


def test_short_and_long_forms_parse_alike():
    short = ["-env", "pen-human-v1", "-seqlen", "3", "-cbsz", "8", "-s", "10", "-trs", "a.pkl",
             "-tes", "b.pkl", "-t", "v2", "--method", "MAQ+DSAC"]  # fmt: skip
    long = ["--environment", "pen-human-v1", "--sequence_length", "3", "--codebook_size", "8",
            "--seed", "10", "--training_source", "a.pkl", "--testing_source", "b.pkl", "--tag",
            "v2", "--method=MAQ+DSAC"]  # fmt: skip
    parser = build_parser()
    for cmd, extra_short, extra_long in (
        ("train", ["--auto_evaluate"], ["--auto_evaluate"]),
        ("evaluate", ["-path", "m.pth", "--episodes", "5"], ["--model_path=m.pth", "--episodes=5"]),
    ):
        a = vars(parser.parse_args([cmd, *short, *extra_short]))
        b = vars(parser.parse_args([cmd, *long, *extra_long]))
        assert a == b
        assert (a["environment"], a["sequence_length"], a["codebook_size"], a["seed"]) == (
            "pen-human-v1", 3, 8, 10)  # fmt: skip
        assert (a["training_source"], a["testing_source"], a["tag"]) == ("a.pkl", "b.pkl", "v2")
    defaults = vars(parser.parse_args(["train"]))
    assert (defaults["method"], defaults["environment"], defaults["sequence_length"]) == (
        "MAQ+RLPD", "door-human-v1", 9)  # fmt: skip
    assert (defaults["codebook_size"], defaults["seed"], defaults["auto_evaluate"]) == (
        16,
        1,
        False,
    )


@pytest.fixture
def echo_python(tmp_path):
    """A fake MAQ_PYTHON that records its argv, cwd and MAQ_ROOT instead of running maq."""
    fake = tmp_path / "python"
    fake.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "print(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd(),"
        " 'root': os.environ.get('MAQ_ROOT')}))\n"
    )
    fake.chmod(0o755)
    return str(fake)


def test_scripts_exec_maq_with_the_flags_verbatim(echo_python, tmp_path, monkeypatch):
    monkeypatch.delenv("MAQ_ROOT", raising=False)
    args = ["-env", "door-human-v1", "-t", "a tag", "-trs", "my data.pkl", "--auto_evaluate"]
    out = _script("train.sh", *args, cwd=tmp_path, MAQ_PYTHON=echo_python)
    got = json.loads(out.stdout)
    assert got == {"argv": ["-m", "maq.cli", "train", *args], "cwd": str(tmp_path),
                   "root": str(ROOT)}  # fmt: skip
    out = _script("evaluate.sh", "-path", "x.pth", MAQ_PYTHON=echo_python, MAQ_ROOT="/elsewhere")
    assert json.loads(out.stdout)["argv"][2:] == ["evaluate", "-path", "x.pth"]
    assert json.loads(out.stdout)["root"] == "/elsewhere"


def test_lazy_rerun_grid_is_the_seed_grid_and_flags_override_it(echo_python):
    text = (SCRIPTS / "lazy_rerun.sh").read_text()
    arrays = dict(re.findall(r"^([A-Z]+)=\(([^)]*)\)", text, re.M))
    grid = {name: tuple(arrays[name.upper()].split()) for name in GRID}
    assert grid == {k: tuple(str(x) for x in v) for k, v in GRID.items()}
    out = _script("lazy_rerun.sh", "--seeds", "7", "--dry-run", MAQ_PYTHON=echo_python)
    argv = json.loads(out.stdout)["argv"]
    assert argv[2:4] == ["sweep", "--envs"] and argv[-3:] == ["--seeds", "7", "--dry-run"]
    assert build_parser().parse_args(argv[2:]).seeds == [7]


def test_lazy_rerun_dry_run_plans_the_runs(tmp_path):
    out = _script("lazy_rerun.sh", "--envs", "door-human-v1", "--seqs", "2", "3", "--seeds", "1",
                  "-t", "mine", "--dry-run", MAQ_ROOT=str(tmp_path))  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("sweep plan: 2 runs (+2 distillations)")
    assert (
        f"run  door-human-v1_MAQ+RLPD_sq3_k16_seed1_mine  log: {tmp_path}/sweep_logs/" in out.stdout
    )
    assert not (tmp_path / "sweep_logs").exists()  # a dry run writes nothing


# ---- end to end on the door demos (smoke presets) --------------------------------------------


def _rows(root: Path, env_id: str = "door-human-v1") -> list[dict[str, str]]:
    path = root / "evaluation_results" / f"agent_performance_{env_id}.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


E2E_METHODS = ["MAQ+RLPD", "IQL"]
"""One MAQ method and one baseline."""
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.door
@pytest.mark.slow
@pytest.mark.parametrize("method", E2E_METHODS)
def test_train_sh_smoke_auto_evaluate_writes_a_row(method, data_dir, tmp_path):
    out = _script("train.sh", "--method", method, "-seqlen", "3", "-cbsz", "8", "-s", "1",
                  "-t", "e2e", "--preset", "smoke", "--device", "cpu", "--auto_evaluate",
                  timeout=600, MAQ_ROOT=str(tmp_path), MAQ_DATA_DIR=str(data_dir))  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    spec = RunSpec(method=method, seq_len=3, codebook_size=8, tag="e2e", preset="smoke",
                   root=tmp_path)  # fmt: skip
    assert is_done(get_method(method).run_dir(spec))
    assert (tmp_path / "offline_data" / "door-human-v1_train_seed1_ratio0.9.pkl").exists()
    rows = _rows(tmp_path)
    assert [(r["method"], r["seed"], r["tag"], r["preset"]) for r in rows] == [
        (method, "1", "e2e", "smoke")
    ]
    if METHODS[method].uses_codes:
        assert (rows[0]["seq_len"], rows[0]["codebook_size"]) == ("3", "8")
    # same seed, same outputs: the training-time table recorded before the redesign (b536e8b).
    # Bit-identical on the machine that recorded it; a CPU with other vector units takes other
    # BLAS kernels, which round differently (CI's differs by ~1e-8 relative), so numbers
    # compare to 1e-6 relative and everything else exactly.
    golden = GOLDEN / (f"door_smoke_{method}_sq3_k8_seed1.csv" if METHODS[method].uses_codes
                       else f"door_smoke_{method}_seed1.csv")  # fmt: skip
    with golden.open(newline="") as f:
        expected = list(csv.DictReader(f))
    with (get_method(method).run_dir(spec) / "experiment_data.csv").open(newline="") as f:
        got = [{k: r[k] for k in expected[0]} for r in csv.DictReader(f)]
    assert [_numbers(r) for r in got] == [_numbers(r, rel=1e-6) for r in expected]


def _numbers(row: dict[str, str], rel: float | None = None) -> dict[str, object]:
    """A table row without its checkpoint path, its floats read (to `rel` relative if given)."""
    out: dict[str, object] = {}
    for key, value in row.items():
        try:
            number = float(value)
        except ValueError:
            out[key] = value
            continue
        out[key] = (
            value
            if value.isdigit()
            else (number if rel is None else pytest.approx(number, rel=rel))
        )
    out["checkpoint"] = ""
    return out


@pytest.mark.door
def test_train_sh_stops_on_a_missing_given_dataset(data_dir, tmp_path):
    out = _script("train.sh", "--method", "IQL", "-trs", "no_such.pkl", "--preset", "smoke",
                  MAQ_ROOT=str(tmp_path), MAQ_DATA_DIR=str(data_dir))  # fmt: skip
    assert out.returncode == 2 and "no_such.pkl" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "offline_data").exists() or not any(
        (tmp_path / "offline_data").iterdir()
    )


LAZY_GRID = ["--envs", "door-human-v1", "--methods", "MAQ+RLPD", "IQL", "--seqs", "3",
             "--ks", "8", "--seeds", "1", "2"]  # fmt: skip
"""A 2×2 grid (two methods × two seeds): 4 runs, plus the 2 MAQ+RLPD distillations."""


@pytest.mark.door
@pytest.mark.slow
def test_lazy_rerun_smoke_grid_on_local_ray_then_skips_all(data_dir, tmp_path):

    common = [*LAZY_GRID, "--preset", "smoke", "--episodes", "1", "--num_cpus", "2"]
    env = dict(MAQ_ROOT=str(tmp_path), MAQ_DATA_DIR=str(data_dir), RAY_ADDRESS="")
    out = _script("lazy_rerun.sh", *common, timeout=900, **env)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "sweep: 4 runs: 4 done, 0 skipped, 0 failed" in out.stdout
    rows = _rows(tmp_path)
    assert sorted((r["method"], r["seed"]) for r in rows) == [
        ("IQL", "1"), ("IQL", "2"), ("MAQ+RLPD", "1"), ("MAQ+RLPD", "2")
    ]  # fmt: skip
    logs = sorted(p.name for p in (tmp_path / "sweep_logs").glob("*.log"))
    assert len(logs) == 6 and "door-human-v1_MAQ+RLPD_sq3_k8_seed2.log" in logs

    again = _script("lazy_rerun.sh", *common, timeout=300, **env)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert "sweep: 4 runs: 0 done, 4 skipped, 0 failed" in again.stdout
    assert len(_rows(tmp_path)) == 4
