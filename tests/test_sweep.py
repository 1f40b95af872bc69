"""``maq sweep``: the plan, the skip rule, one job's subprocesses, and a small grid on local Ray.

The jobs here run a fake ``maq`` (a stdlib-only script that writes ``done.json`` and an evaluation
row, or fails for seed 13), so the Ray machinery is tested in seconds; the real training end to end
is in tests/test_scripts.py.
"""

from __future__ import annotations

import csv
import json
import sys
import textwrap
from pathlib import Path

import pytest

from maq.cli import main
from maq.errors import MaqError
from maq.methods import METHODS, get_method
from maq.runs import is_done
from maq.spec import RunSpec
from maq.sweep import GRID, Job, evaluated, finished, job_key, plan, summary_table
from maq.sweep_runner import execute, gpu_share, job_env, prepare_data, run_job

FAKE_MAQ = """
import fcntl, json, sys
from pathlib import Path

info = json.loads(Path({info!r}).read_text())
cmd, *flags = sys.argv[1:]
opts = dict(f[2:].split("=", 1) for f in flags)
key = "|".join(opts[k] for k in ("method", "environment", "seed", "sequence_length"))
print("fake", cmd, key, "threads", __import__("os").environ.get("OMP_NUM_THREADS"))
if opts["seed"] == "13":
    print("boom", file=sys.stderr)
    sys.exit(3)
if cmd == "train":
    run_dir = Path(info["run_dirs"][key])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "done.json").write_text("{{}}")
else:
    codes = opts["method"] in info["codes"]
    row = [opts["method"], opts["environment"], opts["seed"],
           opts["sequence_length"] if codes else "", opts["codebook_size"] if codes else "",
           opts.get("tag", ""), opts["preset"]]
    path = Path(info["csv"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        if f.tell() == 0:
            f.write("method,env_id,seed,seq_len,codebook_size,tag,preset\\n")
        f.write(",".join(row) + "\\n")
"""


def fake_maq(tmp_path: Path, jobs: list[Job]) -> list[str]:
    """A fake ``maq`` program for these jobs (run folders and results CSV under tmp_path)."""
    run_dirs = {}
    for job in jobs:
        s = job.spec
        key = f"{s.method}|{s.env_id}|{s.seed}|{s.seq_len}"
        run_dirs[key] = str(get_method(s.method).run_dir(s))
    info = tmp_path / "fake_info.json"
    info.write_text(
        json.dumps(
            {
                "run_dirs": run_dirs,
                "codes": [m for m in METHODS if METHODS[m].uses_codes],
                "csv": str(tmp_path / "evaluation_results" / "agent_performance_door-human-v1.csv"),
            }
        )
    )
    script = tmp_path / "fake_maq.py"
    script.write_text(textwrap.dedent(FAKE_MAQ.format(info=str(info))))
    return [sys.executable, str(script)]


def test_default_plan_is_the_seed_grid(tmp_path):
    jobs = plan(**{k: list(v) for k, v in GRID.items()}, root=tmp_path)
    runs = [j for j in jobs if not j.prerequisite]
    prereqs = [j for j in jobs if j.prerequisite]
    assert len(runs) == 108 and len(prereqs) == 108
    assert len({j.key for j in jobs}) == len(jobs)
    assert all(j.spec.method == "MAQ+RLPD" and j.evaluate for j in runs)
    # every run waits for its own distillation, which comes earlier in the plan
    position = {j.key: i for i, j in enumerate(jobs)}
    for job in runs:
        dist = jobs[position[job.needs]]
        assert (
            dist.spec.method == "MAQ"
            and not dist.evaluate
            and position[job.needs] < position[job.key]
        )
        assert (dist.spec.seq_len, dist.spec.seed) == (job.spec.seq_len, job.spec.seed)
    assert runs[0].key == "door-human-v1_MAQ+RLPD_sq1_k16_seed1"
    assert runs[0].log == tmp_path / "sweep_logs" / "door-human-v1_MAQ+RLPD_sq1_k16_seed1.log"


def test_plan_dedups_baselines_and_reuses_listed_distillations(tmp_path):
    jobs = plan(
        ["door-human-v1"],
        ["MAQ", "MAQ+RLPD", "MAQ+DSAC", "IQL"],
        [1, 2],
        [16],
        [1],
        tag="x",
        root=tmp_path,
    )
    keys = [j.key for j in jobs]
    assert keys == [
        "door-human-v1_MAQ_sq1_k16_seed1_x",
        "door-human-v1_MAQ_sq2_k16_seed1_x",
        "door-human-v1_MAQ+RLPD_sq1_k16_seed1_x",
        "door-human-v1_MAQ+RLPD_sq2_k16_seed1_x",
        "door-human-v1_MAQ+DSAC_sq1_k16_seed1_x",
        "door-human-v1_MAQ+DSAC_sq2_k16_seed1_x",
        "door-human-v1_IQL_seed1_x",
    ]
    # MAQ is in the grid: evaluated like any run, and shared by MAQ+RLPD and MAQ+DSAC
    assert not any(j.prerequisite for j in jobs) and jobs[0].evaluate
    assert jobs[2].needs == jobs[4].needs == jobs[0].key and jobs[6].needs is None


@pytest.mark.parametrize(
    "kwargs", [dict(methods=["MAQ+XYZ"]), dict(envs=["door-v9"]), dict(seqs=[0])]
)
def test_plan_rejects_bad_grids(tmp_path, kwargs):
    grid = dict(envs=["door-human-v1"], methods=["MAQ+RLPD"], seqs=[1], ks=[16], seeds=[1])
    with pytest.raises(MaqError):
        plan(**{**grid, **kwargs}, root=tmp_path)


def test_gpu_share():
    assert gpu_share("auto", 1, {"CPU": 16.0}) == 0.0
    assert gpu_share("auto", 1, {"CPU": 16.0, "GPU": 1.0}) == pytest.approx(1 / 16)
    assert gpu_share("auto", 4, {"CPU": 16.0, "GPU": 8.0}) == 1.0
    assert gpu_share("0.25", 1, {}) == 0.25 and gpu_share("2", 1, {}) == 2.0
    for bad in ("-1", "1.5", "lots"):
        with pytest.raises(MaqError):
            gpu_share(bad, 1, {"GPU": 1.0})


def test_job_env_limits_threads(monkeypatch):
    monkeypatch.setenv("MAQ_DATA_DIR", "/data/here")
    env = job_env(2.5)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert env["MAQ_DATA_DIR"] == "/data/here" and job_env(0.5)["OMP_NUM_THREADS"] == "1"


def test_evaluated_reads_the_evaluators_identity_columns(tmp_path):
    from maq.evaluation.evaluate import _identity
    from maq.evaluation.report import results_path

    spec = RunSpec(method="MAQ+RLPD", seed=10, seq_len=3, tag="t", preset="smoke", root=tmp_path)
    iql = RunSpec(method="IQL", seed=10, seq_len=3, preset="smoke", root=tmp_path)
    assert not evaluated(spec)
    path = results_path(tmp_path, spec.env_id)
    path.parent.mkdir(parents=True)
    rows = [_identity(s, tmp_path / "model.pth") for s in (spec, iql)]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert evaluated(spec) and evaluated(iql)
    assert evaluated(RunSpec(method="IQL", seed=10, seq_len=7, preset="smoke", root=tmp_path))
    for other in (
        dict(seed=1),
        dict(seq_len=4),
        dict(tag=""),
        dict(preset="paper"),
        dict(method="MAQ+DSAC"),
    ):
        assert not evaluated(RunSpec(**{**spec.__dict__, **other}))


def test_run_job_runs_logs_skips_and_fails(tmp_path):
    good, bad = plan(["door-human-v1"], ["IQL"], [1], [16], [1, 13], preset="smoke", root=tmp_path)
    program = fake_maq(tmp_path, [good, bad])
    env = job_env(1)
    result = run_job(good, env, program, workers=1)
    assert result["status"] == "done", good.log.read_text()
    assert is_done(get_method("IQL").run_dir(good.spec)) and finished(good)
    log = good.log.read_text()
    assert "maq train --method=IQL" in log and "maq evaluate" in log and "--workers=1" in log
    assert "fake evaluate IQL|door-human-v1|1|1 threads 1" in log
    assert run_job(good, env, program)["status"] == "skipped"

    failed = run_job(bad, env, program)
    assert failed["status"] == "failed" and "exited with status 3" in failed["note"]
    assert "boom" in bad.log.read_text()
    upstream = {"status": "failed", "seconds": 0.0, "note": ""}
    assert "distillation" in run_job(good, env, program, needs=upstream)["note"]

    from filelock import FileLock

    with FileLock(str(bad.log.parent / ".locks" / f"{bad.key}.lock")):
        assert run_job(bad, env, program)["status"] == "busy"


def test_prepare_data_stops_on_a_missing_given_file(tmp_path):
    jobs = plan(
        ["door-human-v1"],
        ["IQL", "SAC"],
        [1],
        [16],
        [1],
        training_source="nope.pkl",
        testing_source="nope.pkl",
        root=tmp_path,
    )
    with pytest.raises(MaqError, match="nope.pkl"):
        prepare_data(jobs)


def test_small_grid_on_local_ray_then_all_skipped(tmp_path, monkeypatch):
    import maq.sweep_runner

    monkeypatch.setattr(maq.sweep_runner, "prepare_data", lambda jobs: None)  # data: e2e tests
    jobs = plan(
        ["door-human-v1"], ["MAQ+RLPD"], [1, 2], [16], [1, 13], preset="smoke", root=tmp_path
    )
    program = fake_maq(tmp_path, jobs)
    lines: list[str] = []
    results = execute(jobs, num_cpus=2, program=program, echo=lines.append)
    status = {k: r["status"] for k, r in results.items()}
    assert status == {
        "door-human-v1_MAQ_sq1_k16_seed1": "done",
        "door-human-v1_MAQ_sq2_k16_seed1": "done",
        "door-human-v1_MAQ_sq1_k16_seed13": "failed",
        "door-human-v1_MAQ_sq2_k16_seed13": "failed",
        "door-human-v1_MAQ+RLPD_sq1_k16_seed1": "done",
        "door-human-v1_MAQ+RLPD_sq2_k16_seed1": "done",
        "door-human-v1_MAQ+RLPD_sq1_k16_seed13": "failed",
        "door-human-v1_MAQ+RLPD_sq2_k16_seed13": "failed",
    }
    assert (
        "distillation door-human-v1_MAQ_sq1_k16_seed13"
        in results["door-human-v1_MAQ+RLPD_sq1_k16_seed13"]["note"]
    )
    assert len(lines) == 9 and lines[-1].startswith("[8/8]")
    table = summary_table(jobs, results)
    assert table.splitlines()[0] == "sweep: 4 runs: 2 done, 0 skipped, 2 failed"
    assert str(jobs[2].log) in table  # the failed distillation's log is shown

    ok = [j for j in jobs if j.spec.seed == 1]
    again = execute(ok, program=["false"], echo=lines.append)  # nothing runs, Ray not started
    assert {r["status"] for r in again.values()} == {"skipped"} and len(lines) == 9
    assert summary_table(ok, again).splitlines()[0] == "sweep: 2 runs: 0 done, 2 skipped, 0 failed"


def test_sweep_dry_run_prints_the_plan(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAQ_ROOT", str(tmp_path))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    done = RunSpec(method="SAC", seed=10, root=tmp_path)
    (get_method("SAC").run_dir(done)).mkdir(parents=True)
    (get_method("SAC").run_dir(done) / "done.json").write_text("{}")
    argv = [
        "sweep",
        "--dry-run",
        "--envs",
        "door-human-v1",
        "--methods",
        "SAC",
        "MAQ+IQL",
        "--seqs",
        "3",
        "--seeds",
        "1",
        "10",
        "--no_auto_evaluate",
        "--cpus_per_run",
        "2",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("sweep plan: 4 runs (+2 distillations) on a local Ray")
    assert "skip door-human-v1_SAC_seed10" in out and "run  door-human-v1_SAC_seed1" in out
    assert "maq train --method=MAQ+IQL --environment=door-human-v1 --sequence_length=3" in out
    assert "maq evaluate" not in out
    assert job_key(done) == "door-human-v1_SAC_seed10"


def test_a_run_dies_with_its_worker(tmp_path):
    """Ray kills a stopped sweep's workers, not their children: the run must not outlive them.
    The run (here a stand-in that starts as ``maq`` does) watches ``MAQ_PARENT_PID``."""
    import os
    import signal
    import subprocess
    import time

    pid_file = tmp_path / "child.pid"
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text(
        "import os, time\nfrom maq.cli import _exit_with_parent\n_exit_with_parent()\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    )
    worker = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from maq.sweep import plan
        from maq.sweep_runner import run_job
        (job,) = plan(["door-human-v1"], ["SAC"], [1], [16], [1], evaluate=False,
                      root=Path({str(tmp_path)!r}))
        run_job(job, {{}}, [sys.executable, {str(sleeper)!r}])
    """)
    parent = subprocess.Popen([sys.executable, "-c", worker])
    try:
        for _ in range(300):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        child = int(pid_file.read_text())
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the run outlived its worker")
