"""Sweeps: a grid of experiments run once each on Ray (``maq sweep``, ``scripts/lazy_rerun.sh``).

A sweep is *lazy*: a run whose folder holds ``done.json`` (and, with auto-evaluation, whose
evaluation row exists) is skipped, so re-running a sweep after a failure only does what is missing.
Each run is a subprocess (``maq train``, then ``maq evaluate``) with its own log file under
``sweep_logs/`` and its threads limited to the CPUs Ray gave it. Runs that need codes wait for
their distillation (``maq train --method MAQ``), which is scheduled once per (env, seed, L, K, tag),
so MAQ+RLPD and MAQ+DSAC never train the same VQ-VAE twice at the same time.

By default the runs share a local Ray instance on this machine (``--cpus_per_run``,
``--gpus_per_run``, fractional allowed); with ``--address`` (or ``RAY_ADDRESS``) the same sweep
runs on an existing Ray cluster whose nodes share the repository's filesystem (docs/sweeps.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path

from maq.errors import MaqError
from maq.methods import DISTILL, get_method, settings_changes
from maq.runs import is_done, repo_root
from maq.spec import RunSpec

GRID: dict[str, tuple] = {
    "envs": ("door-human-v1", "pen-human-v1", "hammer-human-v1", "relocate-human-v1"),
    "methods": ("MAQ+RLPD",),
    "seqs": tuple(range(1, 10)),
    "ks": (16,),
    "seeds": (1, 10, 100),
}
"""The seed README's ``lazy_rerun.sh`` grid: 4 envs × MAQ+RLPD × L 1..9 × K 16 × 3 seeds = 108."""

LOG_DIR = "sweep_logs"


@dataclass(frozen=True)
class Job:
    """One run of the sweep: train (and evaluate) one RunSpec, logging to ``log``."""

    key: str
    spec: RunSpec
    evaluate: bool
    log: Path
    needs: str | None = None
    """Key of the distillation job this run waits for."""
    prerequisite: bool = False
    """A distillation the grid does not list itself (shown in the summary, not counted)."""


def job_key(spec: RunSpec) -> str:
    """``<env>_<method>_sq<L>_k<K>_seed<s>[_<tag>]`` (the release's lockfile names)."""
    grid = f"_sq{spec.seq_len}_k{spec.codebook_size}" if get_method(spec.method).uses_codes else ""
    return f"{spec.env_id}_{spec.method}{grid}_seed{spec.seed}{spec.tag_suffix}"


def run_flags(spec: RunSpec) -> list[str]:
    """The ``maq train``/``maq evaluate`` flags that name ``spec``."""
    flags = [
        f"--method={spec.method}",
        f"--environment={spec.env_id}",
        f"--sequence_length={spec.seq_len}",
        f"--codebook_size={spec.codebook_size}",
        f"--seed={spec.seed}",
        f"--preset={spec.preset}",
        f"--device={spec.device}",
    ]
    for name, value in (
        ("tag", spec.tag),
        ("training_source", spec.training_source),
        ("testing_source", spec.testing_source),
    ):
        if value:
            flags.append(f"--{name}={value}")
    flags += [f"--set={name}={value}" for name, value in spec.sets]
    return flags


def commands(job: Job, episodes: int | None = None, workers: int = 1) -> list[list[str]]:
    """The ``maq`` command lines a job runs, in order (evaluation plays on ``workers`` cores)."""
    cmds = [["train", *run_flags(job.spec)]]
    if job.evaluate:
        extra = [f"--episodes={episodes}"] if episodes else []
        cmds.append(["evaluate", *run_flags(job.spec), f"--workers={workers}", *extra])
    return cmds


def grid_specs(base: RunSpec, envs, methods, seqs, ks, seeds) -> Iterator[RunSpec]:
    """Each distinct RunSpec of the grid: methods without codes ignore L and K."""
    from maq.envs import get_task

    if min(seqs) < 1 or min(ks) < 2:
        raise MaqError("sequence lengths must be >= 1 and codebook sizes >= 2")
    for env in envs:
        env_id = get_task(env).name
        for method in methods:
            codes = get_method(method).uses_codes  # a clear error for an unknown method
            for seed in seeds:
                for seq_len, k in product(seqs if codes else seqs[:1], ks if codes else ks[:1]):
                    yield replace(
                        base,
                        method=method,
                        env_id=env_id,
                        seed=seed,
                        seq_len=seq_len,
                        codebook_size=k,
                    )


def plan(
    envs,
    methods,
    seqs,
    ks,
    seeds,
    *,
    tag: str = "",
    preset: str = "paper",
    device: str = "auto",
    training_source: str = "",
    testing_source: str = "",
    evaluate: bool = True,
    root: Path | None = None,
    sets: tuple[tuple[str, str], ...] = (),
) -> list[Job]:
    """Every distinct run of the grid, each code-using one after its distillation.

    Distillations come first, so that a run's ``needs`` always names an earlier job. A
    distillation the grid lists itself (method ``MAQ``) is that grid run, evaluated if asked.
    """
    root = repo_root() if root is None else Path(root)
    base = RunSpec(
        tag=tag,
        preset=preset,
        device=device,
        training_source=training_source,
        testing_source=testing_source,
        root=root,
        sets=tuple(sets),
    )
    log_dir = root / LOG_DIR
    runs: dict[str, Job] = {}
    distills: dict[str, Job] = {}
    for spec in grid_specs(base, envs, methods, seqs, ks, seeds):
        key, needs = job_key(spec), None
        if get_method(spec.method).uses_codes and spec.method != DISTILL:
            dspec = replace(spec, method=DISTILL, sets=())
            needs = job_key(dspec)
            distills.setdefault(
                needs, Job(needs, dspec, False, log_dir / f"{needs}.log", prerequisite=True)
            )
        runs.setdefault(key, Job(key, spec, evaluate, log_dir / f"{key}.log", needs))
    firsts = [runs.pop(k) if k in runs else d for k, d in distills.items()]
    return firsts + list(runs.values())


def evaluated(spec: RunSpec) -> bool:
    """Whether ``evaluation_results/agent_performance_<env>.csv`` has a row for this run."""
    import csv

    from maq.evaluation.report import results_path

    path = results_path(spec.root, spec.env_id)
    if not path.exists():
        return False
    codes = get_method(spec.method).uses_codes
    want = {
        "method": spec.method,
        "env_id": spec.env_id,
        "seed": str(spec.seed),
        "seq_len": str(spec.seq_len) if codes else "",
        "codebook_size": str(spec.codebook_size) if codes else "",
        "tag": spec.tag,
        "preset": spec.preset,
    }
    with path.open(newline="") as f:
        return any(all(row.get(k) == v for k, v in want.items()) for row in csv.DictReader(f))


def finished(job: Job) -> bool:
    """Trained with the job's settings, and evaluated if the job evaluates: nothing left to do.

    A finished run folder whose recorded settings differ is not skipped: its ``maq train`` then
    stops with the difference, and the sweep reports it as failed.
    """
    if not is_done(get_method(job.spec.method).run_dir(job.spec)):
        return False
    if settings_changes(job.spec):
        return False
    return not job.evaluate or evaluated(job.spec)


def threads(cpus_per_run: float) -> int:
    """A run's thread budget (torch threads, evaluation workers): its whole CPUs, at least 1."""
    return max(1, int(cpus_per_run))


def fmt_time(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def summary_table(jobs: list[Job], results: dict[str, dict]) -> str:
    """The end-of-sweep table: done / skipped / failed, with the log of each failure."""
    grid = [j for j in jobs if not j.prerequisite]
    counts = {
        s: sum(results[j.key]["status"] == s for j in grid)
        for s in ("done", "skipped", "busy", "failed")
    }
    head = (
        f"sweep: {len(grid)} runs: {counts['done']} done, {counts['skipped']} skipped, "
        f"{counts['failed']} failed"
        + (f", {counts['busy']} busy elsewhere" if counts["busy"] else "")
    )
    rows = [("status", "method", "env", "L", "K", "seed", "tag", "time", "log / note")]
    for job in jobs:
        r, s = results[job.key], job.spec
        codes = get_method(s.method).uses_codes
        note = f"{job.log}" if r["status"] == "failed" else ""
        if r.get("note"):
            note = f"{note} ({r['note']})" if note else r["note"]
        rows.append(
            (
                r["status"],
                s.method + (" (prereq)" if job.prerequisite else ""),
                s.env_id,
                str(s.seq_len) if codes else "-",
                str(s.codebook_size) if codes else "-",
                str(s.seed),
                s.tag or "-",
                fmt_time(r.get("seconds", 0.0)),
                note,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    return "\n".join([head, *(line.rstrip() for line in lines)])
