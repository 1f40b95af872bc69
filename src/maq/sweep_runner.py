"""Running a sweep's jobs on Ray: one task per job, each a logged ``maq`` subprocess.

Used by :mod:`maq.sweep` (``maq sweep``). A job's subprocess gets the CPUs Ray gave the task as its
thread budget (``OMP_NUM_THREADS``) and, with a GPU share, the GPU Ray picked
(``CUDA_VISIBLE_DEVICES``); runs that need codes receive their distillation's result first.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from maq.errors import MaqError
from maq.methods import get_method
from maq.sweep import Job, commands, evaluated, finished, fmt_time, threads


def gpu_share(gpus_per_run: str, cpus_per_run: float, cluster: dict[str, float]) -> float:
    """``--gpus_per_run``: a number, or ``auto``: the GPUs spread over the runs the CPUs allow."""
    if gpus_per_run != "auto":
        try:
            share = float(gpus_per_run)
        except ValueError:
            share = -1.0
        if share < 0 or (share > 1 and share != int(share)):
            raise MaqError(
                f"--gpus_per_run {gpus_per_run}: give a fraction in [0, 1] or a whole "
                "number of GPUs"
            )
        return share
    n_gpus = cluster.get("GPU", 0.0)
    if n_gpus <= 0:
        return 0.0
    concurrent = max(1, int(cluster.get("CPU", 1.0) // cpus_per_run))
    return min(1.0, n_gpus / concurrent)


def run_job(
    job: Job,
    env: dict[str, str],
    program: list[str],
    episodes: int | None = None,
    workers: int = 1,
    needs: dict | None = None,
) -> dict:
    """Run one job's ``maq`` commands as subprocesses, logged to ``job.log``; return its result.

    ``needs`` is the result of the distillation it waits for. A lock next to the logs keeps two
    sweeps sharing a root from running the same job at once (the second reports it as busy).
    """
    import shlex
    import subprocess

    from filelock import FileLock, Timeout

    start = time.monotonic()

    def result(status: str, note: str = "") -> dict:
        return {"status": status, "seconds": time.monotonic() - start, "note": note}

    if needs is not None and needs["status"] == "failed":
        return result("failed", f"its distillation {job.needs} failed")
    if needs is not None and needs["status"] == "busy":
        return result("busy", f"its distillation {job.needs} is running elsewhere")
    job.log.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(job.log.parent / ".locks" / f"{job.key}.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return result("busy", "another sweep is running it")
    try:
        if finished(job):
            return result("skipped")
        with job.log.open("a") as log:
            for argv in commands(job, episodes, workers):
                # `maq train` runs even for a finished folder: it skips it only when the
                # folder's recorded settings are the job's, and says so otherwise.
                if argv[0] == "evaluate" and evaluated(job.spec):
                    continue
                log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} maq {shlex.join(argv)}\n")
                log.flush()
                rc = subprocess.run(
                    [*program, *argv],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    # the run stops when this Ray worker dies (maq.cli watches MAQ_PARENT_PID)
                    env={**os.environ, **env, "MAQ_PARENT_PID": str(os.getpid())},
                    cwd=job.spec.root,
                ).returncode
                if rc != 0:
                    return result("failed", f"maq {argv[0]} exited with status {rc}")
        return result("done")
    finally:
        lock.release()


def job_env(cpus_per_run: float) -> dict[str, str]:
    """What every run's subprocess sees: its thread budget and the driver's maq settings."""
    n = str(threads(cpus_per_run))
    env = {
        "OMP_NUM_THREADS": n,
        "MAQ_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
    }
    for name in ("MAQ_DATA_DIR", "MAQ_ROOT"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def prepare_data(jobs: list[Job]) -> None:
    """Make (or check) each dataset once, before the runs that share it (a bad file stops here)."""
    from maq.data.resolve import resolve_datasets

    seen = set()
    for job in jobs:
        s = job.spec
        key = (s.env_id, s.seed, s.training_source, s.testing_source)
        if get_method(s.method).uses_dataset and key not in seen:
            seen.add(key)
            resolve_datasets(s.env_id, s.seed, s.root, s.training_source, s.testing_source)


def _init_ray(address: str | None, num_cpus: int | None, num_gpus: int | None) -> None:
    import ray

    if address:
        if num_cpus is not None or num_gpus is not None:
            raise MaqError(
                "--num_cpus/--num_gpus size a local Ray instance; a cluster at "
                "--address has its own resources"
            )
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=128 * 1024**2,
        )


def _largest_node(resource: str) -> float:
    import ray

    return max((n["Resources"].get(resource, 0.0) for n in ray.nodes() if n["Alive"]), default=0)


def execute(
    jobs: list[Job],
    *,
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: str = "auto",
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    episodes: int | None = None,
    program: list[str] | None = None,
    echo=print,
) -> dict[str, dict]:
    """Run the jobs that are not finished on Ray; return every job's result by key."""
    import sys

    import ray

    program = program or [sys.executable, "-m", "maq.cli"]
    results = {j.key: {"status": "skipped", "seconds": 0.0, "note": ""} for j in jobs}
    todo = [j for j in jobs if not finished(j)]
    if not todo:
        return results
    prepare_data(todo)
    _init_ray(address, num_cpus, num_gpus)
    try:
        gpus = gpu_share(gpus_per_run, cpus_per_run, ray.cluster_resources())
        for name, want in (("CPU", cpus_per_run), ("GPU", gpus)):
            if want > _largest_node(name):
                raise MaqError(
                    f"each run asks for {want:g} {name}(s) but no Ray node has that "
                    f"many; lower --{name.lower()}s_per_run"
                )
        echo(
            f"sweep: {len(todo)} of {len(jobs)} jobs to run, {cpus_per_run:g} CPU and "
            f"{gpus:g} GPU each, on {ray.cluster_resources().get('CPU', 0):g} CPUs / "
            f"{ray.cluster_resources().get('GPU', 0):g} GPUs; logs in {todo[0].log.parent}"
        )
        task = ray.remote(run_job).options(num_cpus=cpus_per_run, num_gpus=gpus, max_retries=1)
        env = job_env(cpus_per_run)
        refs: dict[str, ray.ObjectRef] = {}
        for job in todo:  # distillations come first in the plan
            if gpus == 0 and job.spec.device == "auto":
                job = replace(job, spec=replace(job.spec, device="cpu"))
            refs[job.key] = task.remote(
                job, env, program, episodes, threads(cpus_per_run), refs.get(job.needs)
            )
        pending = {ref: key for key, ref in refs.items()}
        by_key = {j.key: j for j in todo}
        try:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                key = pending.pop(ref)
                try:
                    results[key] = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                    results[key] = {
                        "status": "failed",
                        "seconds": 0.0,
                        "note": f"{type(exc).__name__}: {reason}",
                    }
                r = results[key]
                where = f"  log: {by_key[key].log}" if r["status"] == "failed" else ""
                echo(
                    f"[{len(todo) - len(pending)}/{len(todo)}] {r['status']:<7} {key} "
                    f"({fmt_time(r['seconds'])}){where}"
                )
        except KeyboardInterrupt:
            # Stop the runs now (their subprocesses get SIGTERM); they resume next time.
            echo("sweep interrupted: stopping the runs in progress; run the sweep again to resume")
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    finally:
        ray.shutdown()
    return results
