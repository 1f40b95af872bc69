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

import argparse
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path

from maq.errors import MaqError
from maq.methods import METHODS, get_method
from maq.runs import is_done, repo_root
from maq.spec import PRESETS, RunSpec

GRID: dict[str, tuple] = {
    "envs": ("door-human-v1", "pen-human-v1", "hammer-human-v1", "relocate-human-v1"),
    "methods": ("MAQ+RLPD",),
    "seqs": tuple(range(1, 10)),
    "ks": (16,),
    "seeds": (1, 10, 100),
}
"""The seed README's ``lazy_rerun.sh`` grid: 4 envs × MAQ+RLPD × L 1..9 × K 16 × 3 seeds = 108."""

LOG_DIR = "sweep_logs"
DISTILL = "MAQ"
"""The method whose run (VQ-VAE, and prior) the code-using methods need first."""


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
                    yield replace(base, method=method, env_id=env_id, seed=seed, seq_len=seq_len,
                                  codebook_size=k)  # fmt: skip


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
) -> list[Job]:
    """Every distinct run of the grid, each code-using one after its distillation.

    Distillations come first, so that a run's ``needs`` always names an earlier job. A
    distillation the grid lists itself (method ``MAQ``) is that grid run, evaluated if asked.
    """
    root = repo_root() if root is None else Path(root)
    base = RunSpec(tag=tag, preset=preset, device=device, training_source=training_source,
                   testing_source=testing_source, root=root)  # fmt: skip
    log_dir = root / LOG_DIR
    runs: dict[str, Job] = {}
    distills: dict[str, Job] = {}
    for spec in grid_specs(base, envs, methods, seqs, ks, seeds):
        key, needs = job_key(spec), None
        if get_method(spec.method).uses_codes and spec.method != DISTILL:
            dspec = replace(spec, method=DISTILL)
            needs = job_key(dspec)
            distills.setdefault(needs, Job(needs, dspec, False, log_dir / f"{needs}.log",
                                           prerequisite=True))  # fmt: skip
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
    """Trained, and evaluated if the job evaluates: nothing left to do."""
    if not is_done(get_method(job.spec.method).run_dir(job.spec)):
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


# ---- the command ------------------------------------------------------------------------------


def _cmd_sweep(args: argparse.Namespace) -> int:
    import shlex

    from maq.sweep_runner import execute

    jobs = plan(
        args.envs,
        args.methods,
        args.seqs,
        args.ks,
        args.seeds,
        tag=args.tag,
        preset=args.preset,
        device=args.device,
        training_source=args.training_source,
        testing_source=args.testing_source,
        evaluate=args.auto_evaluate,
    )
    address = args.address or os.environ.get("RAY_ADDRESS") or None
    if args.dry_run:
        where = f"Ray cluster at {address}" if address else "a local Ray instance"
        print(
            f"sweep plan: {sum(not j.prerequisite for j in jobs)} runs "
            f"(+{sum(j.prerequisite for j in jobs)} distillations) on {where}, "
            f"{args.cpus_per_run:g} CPU and {args.gpus_per_run} GPU per run"
        )
        for job in jobs:
            state = "skip" if finished(job) else "run"
            extra = " (prerequisite)" if job.prerequisite else ""
            print(f"{state:<4} {job.key}{extra}  log: {job.log}")
            if state == "run":
                for argv in commands(job, args.episodes, threads(args.cpus_per_run)):
                    print(f"       maq {shlex.join(argv)}")
        return 0
    results = execute(
        jobs,
        address=address,
        cpus_per_run=args.cpus_per_run,
        gpus_per_run=args.gpus_per_run,
        num_cpus=args.num_cpus,
        num_gpus=args.num_gpus,
        episodes=args.episodes,
    )
    print(summary_table(jobs, results))
    return 1 if any(r["status"] == "failed" for r in results.values()) else 0


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a grid of experiments on Ray, each once (scripts/lazy_rerun.sh)",
        allow_abbrev=False,
        description="Train (and evaluate) every combination of the grid once, on a local Ray "
        "instance or a Ray cluster. Finished runs are skipped, so running the same "
        "sweep again only does what is missing. Logs go to sweep_logs/.",
    )
    g = p.add_argument_group("grid (default: the seed README's 108 runs)")
    g.add_argument(
        "--envs",
        nargs="+",
        default=list(GRID["envs"]),
        metavar="ENV",
        help=f"tasks (default: {' '.join(GRID['envs'])})",
    )
    g.add_argument(
        "--methods",
        nargs="+",
        default=list(GRID["methods"]),
        choices=list(METHODS),
        metavar="METHOD",
        help=f"from {', '.join(METHODS)} (default: MAQ+RLPD)",
    )
    g.add_argument(
        "--seqs",
        nargs="+",
        type=int,
        default=list(GRID["seqs"]),
        metavar="L",
        help="macro lengths (default: 1 .. 9)",
    )
    g.add_argument(
        "--ks",
        nargs="+",
        type=int,
        default=list(GRID["ks"]),
        metavar="K",
        help="codebook sizes (default: 16)",
    )
    g.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=list(GRID["seeds"]),
        metavar="SEED",
        help="seeds (default: 1 10 100)",
    )
    r = p.add_argument_group("every run")
    r.add_argument("-t", "--tag", default="", help="suffix that keeps these runs' outputs apart")
    r.add_argument("-trs", "--training_source", default="", help="train .pkl for every run")
    r.add_argument("-tes", "--testing_source", default="", help="test .pkl for every run")
    r.add_argument("--preset", default="paper", choices=PRESETS, help="paper (default) or smoke")
    r.add_argument(
        "--device",
        default="auto",
        help="auto (cuda when the run has a GPU share, else cpu), cpu, cuda",
    )
    r.add_argument(
        "--no_auto_evaluate",
        dest="auto_evaluate",
        action="store_false",
        help="train only (default: evaluate each run after training)",
    )
    r.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="evaluation episodes per run (default: maq evaluate's)",
    )
    x = p.add_argument_group("where it runs")
    x.add_argument(
        "--address",
        default=None,
        help="an existing Ray cluster (default $RAY_ADDRESS, else a local instance)",
    )
    x.add_argument(
        "--cpus_per_run",
        type=float,
        default=1.0,
        help="CPUs per run, also its torch thread count (default 1)",
    )
    x.add_argument(
        "--gpus_per_run",
        default="auto",
        help="GPU share per run, e.g. 0.25; auto = the GPUs spread over the runs that "
        "fit on the CPUs (0 without GPUs)",
    )
    x.add_argument("--num_cpus", type=int, default=None, help="local Ray: CPUs to use (all)")
    x.add_argument("--num_gpus", type=int, default=None, help="local Ray: GPUs to use (all)")
    x.add_argument(
        "--dry-run",
        "--dry_run",
        dest="dry_run",
        action="store_true",
        help="print the plan (which runs would run or be skipped) and exit",
    )
    p.set_defaults(func=_cmd_sweep)
