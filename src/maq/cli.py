"""The ``maq`` command: one entry point for the data tools, training, evaluation and sweeps.

All argparse lives here; each subcommand is an ``_add_<name>`` function in :data:`COMMANDS` and a
``_cmd_<name>`` that calls the library. A :class:`~maq.errors.MaqError` becomes one line on
stderr and exit status 2 (no traceback); unknown flags and out-of-range values are rejected by
argparse with one line.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from maq.errors import DatasetError, MaqError
from maq.seeding import configure_cpu_process


def _int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low`` (one line otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below {low}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _cmd_check_dataset(args: argparse.Namespace) -> int:
    from maq.data.format import load_trajectories
    from maq.envs import get_task

    dims = (None, None)
    if args.env:
        task = get_task(args.env)
        dims = (task.obs_dim, task.act_dim)
    try:
        load_trajectories(args.dataset_path, *dims)
    except DatasetError as exc:
        # The reason already names the file when it comes from load_trajectories.
        reason = str(exc).removeprefix(f"{args.dataset_path}: ")
        print(f"{args.dataset_path} is illegal: {reason}")
        return 1
    print(f"{args.dataset_path} is legal")
    return 0


def _add_check_dataset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check-dataset",
        help="check a .pkl dataset file",
        description="Say whether a dataset file is legal (exit 0) or not (exit 1).",
    )
    p.add_argument("--dataset_path", required=True, help="the .pkl file to check")
    p.add_argument("--env", default=None, help="also check dims against this task")
    p.set_defaults(func=_cmd_check_dataset)


def _cmd_gen_data(args: argparse.Namespace) -> int:
    from maq.data.generate import generate_dataset
    from maq.data.sources import data_dir_from_env

    data_dir = Path(args.data_dir) if args.data_dir else data_dir_from_env()
    train, test = generate_dataset(
        args.env,
        args.seed,
        Path(args.out_dir),
        args.source,
        data_dir,
        args.train_ratio,
        rebuild_qpos=args.rebuild_qpos,
    )
    print(f"wrote {train}\nwrote {test}")
    return 0


def _add_gen_data(sub: argparse._SubParsersAction) -> None:
    from maq.data.sources import SOURCES

    p = sub.add_parser(
        "gen-data",
        help="make the train/test .pkl files of a task",
        description="Write offline_data/<env>_{train,test}_seed<S>_ratio0.9.pkl.",
    )
    p.add_argument("--env", required=True, help="task, e.g. door-human-v1")
    p.add_argument("--seed", type=int, default=1, help="split seed (1 → door test demos 12, 11, 5)")
    p.add_argument(
        "--source",
        choices=SOURCES,
        default=None,
        help="default: the first of minari, d4rl, dapg available locally",
    )
    p.add_argument(
        "--data_dir", default=None, help="folder with the raw data (default $MAQ_DATA_DIR)"
    )
    p.add_argument("--train_ratio", type=float, default=0.9)
    p.add_argument("--out_dir", default="offline_data", help="where the .pkl files go")
    p.add_argument(
        "--rebuild_qpos",
        action="store_true",
        help="DAPG replay only: set the joints from each demo's first recorded observation "
        "(tracks the recording closely; not D4RL's recipe) and write <env>_rebuiltqpos_… files",
    )
    p.set_defaults(func=_cmd_gen_data)


def add_run_args(
    p: argparse.ArgumentParser, methods: list[str] | None = None, panels: bool = False
) -> None:
    """The seed README's experiment flags, short and long forms (shared by train, evaluate and
    clip; ``panels``: ``--method`` takes several, left to right)."""
    from maq.methods import METHODS
    from maq.spec import PRESETS

    methods = methods or list(METHODS)
    if panels:
        p.add_argument(
            "--method",
            nargs="+",
            default=["Human", "MAQ+RLPD"],
            choices=methods,
            metavar="METHOD",
            help=f"panels, left to right, from {', '.join(methods)} (default Human MAQ+RLPD)",
        )
    else:
        p.add_argument(
            "--method",
            default="MAQ+RLPD",
            choices=methods,
            metavar="METHOD",
            help=f"one of {', '.join(methods)} (default MAQ+RLPD)",
        )
    p.add_argument(
        "-env", "--environment", default="door-human-v1", help="task (default door-human-v1)"
    )
    p.add_argument(
        "-seqlen", "--sequence_length", type=_int_at_least(1), default=9, help="macro length L (9)"
    )
    p.add_argument(
        "-cbsz", "--codebook_size", type=_int_at_least(2), default=16, help="codebook size K (16)"
    )
    p.add_argument("-s", "--seed", type=_int_at_least(0), default=1, help="seed (1)")
    p.add_argument(
        "-trs",
        "--training_source",
        default="",
        help="train .pkl (path, or name in offline_data/); default: generated split",
    )
    p.add_argument("-tes", "--testing_source", default="", help="test .pkl, as --training_source")
    p.add_argument("-t", "--tag", default="", help="suffix that keeps this run's outputs apart")
    p.add_argument(
        "--preset",
        default="paper",
        choices=PRESETS,
        help="paper (the release's settings, default) or smoke (seconds, for tests)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")


def add_set_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a field of the method's preset, e.g. --set utd_ratio=10 "
        "--set total_transitions=200000 (repeatable; maq.presets lists the fields)",
    )


def spec_from_args(args: argparse.Namespace, **overrides: object):
    """The RunSpec named by :func:`add_run_args` flags (and ``--set``), validated."""
    from maq.envs import get_task
    from maq.presets import parse_sets
    from maq.spec import RunSpec

    task = get_task(args.environment)
    fields = dict(
        method=args.method,
        env_id=task.name,
        seed=args.seed,
        seq_len=args.sequence_length,
        codebook_size=args.codebook_size,
        tag=args.tag,
        preset=args.preset,
        device=args.device,
        training_source=args.training_source,
        testing_source=args.testing_source,
        sets=tuple(parse_sets(getattr(args, "sets", []) or []).items()),
    )
    fields.update(overrides)
    return RunSpec(**fields)


def _cmd_train(args: argparse.Namespace) -> int:
    from maq import methods
    from maq.device import cuda_oom_as_error, describe_device, resolve_device
    from maq.errors import RunStopped
    from maq.presets import with_overrides

    spec = spec_from_args(args, overwrite=args.overwrite, stop_after=args.stop_after)
    method = methods.get_method(spec.method)
    preset = with_overrides(method.presets[spec.preset], dict(spec.sets))  # bad --set: now
    device = resolve_device(spec.device)
    budget = os.environ.get("MAQ_NUM_THREADS", "")
    where = describe_device(device, int(budget) if budget.isdigit() else preset.loop.num_threads)
    print(f"maq train {spec.method} {spec.env_id} seed {spec.seed} on {where}")
    start = time.perf_counter()
    try:
        with cuda_oom_as_error(device):
            run_dir = methods.train(spec)
    except RunStopped as stop:
        print(
            f"stopped at training step {stop.step} (--stop_after {spec.stop_after}); its resume "
            f"point is in {stop.run_dir}: the same command without --stop_after continues"
        )
        return 3
    print(_train_summary(run_dir, method.eval_csv, time.perf_counter() - start))
    if args.auto_evaluate:
        return main(["evaluate", *args.raw_run_args])
    return 0


def _train_summary(run_dir: Path, eval_csv: str, seconds: float) -> str:
    """A few closing lines: where the files are, the best evaluation, the speed."""
    import json

    lines = [f"run folder: {run_dir}"]
    done = run_dir / "done.json"
    if done.exists():
        info = json.loads(done.read_text())
        steps = info.get("primitive_steps") or info.get("training_step") or info.get("timesteps")
        if steps and seconds > 1:
            lines.append(f"  {steps} primitive env steps; this command ran {seconds:.0f} s")
    rate = _last_rate(run_dir / "progress.csv")
    if rate:
        lines.append(f"  speed at the end: {rate}")
    table = run_dir / eval_csv
    if table.exists() and table.suffix == ".csv":
        import csv

        with table.open(newline="") as f:
            rows = list(csv.DictReader(f))
        if rows:
            from maq.evaluation.select import best_row

            best = best_row(rows)  # the checkpoint maq evaluate picks
            lines.append(
                f"  best evaluation: normalized score {float(best['norm_episode_reward']):.1f}, "
                f"success {float(best['success_rate']):.2f} at step {best['training_step']} "
                f"({best['checkpoint']})"
            )
    return "\n".join(lines)


def _last_rate(progress: Path) -> str:
    """The loop's last logged speed (``time/…_per_s`` or ``…per_second``), '' if none."""
    import csv

    if not progress.exists():
        return ""
    with progress.open(newline="") as f:
        rows = [r for r in csv.DictReader(f)]
    for row in reversed(rows):
        for key, value in row.items():
            if key.startswith("time/") and key.endswith(("_per_s", "per_second")) and value:
                return f"{float(value):.0f} {key.removeprefix('time/').replace('_', ' ')}"
    return ""


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one experiment",
        allow_abbrev=False,
        description="Train one experiment (resumes an interrupted run; skips a finished one "
        "unless --overwrite; refuses a folder made with other settings).",
    )
    add_run_args(p)
    add_set_arg(p)
    p.add_argument("--overwrite", action="store_true", help="retrain even if the run finished")
    p.add_argument(
        "--stop_after",
        type=_int_at_least(1),
        default=None,
        metavar="STEP",
        help="stop (exit status 3) at the first resume point at or past this training step, "
        "for a time-limited job or to carry the run to another machine; the same command "
        "without it continues",
    )
    p.add_argument(
        "--auto_evaluate",
        action="store_true",
        help="evaluate the best checkpoint afterwards (maq evaluate)",
    )
    p.add_argument(
        "--episodes",
        type=_int_at_least(1),
        default=100,
        help="with --auto_evaluate: evaluation episodes (default 100)",
    )
    p.set_defaults(func=_cmd_train)


# ---- evaluate ---------------------------------------------------------------------------------


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from maq.device import describe_device, resolve_device
    from maq.evaluation.evaluate import evaluate, summary_lines
    from maq.evaluation.reference import REFERENCE_METHODS, evaluate_reference

    torch.set_num_threads(1)
    spec = spec_from_args(args)
    device = resolve_device("cpu" if spec.device == "auto" else spec.device)
    print(f"maq evaluate {spec.method} {spec.env_id} seed {spec.seed} on {describe_device(device)}")
    if spec.method in REFERENCE_METHODS:
        result = evaluate_reference(spec, episodes=args.episodes, workers=args.workers)
    else:
        result = evaluate(
            spec, model_path=args.model_path, episodes=args.episodes, workers=args.workers
        )
    print("\n".join(summary_lines(result)))
    if args.clip and spec.method not in REFERENCE_METHODS:
        from maq.viz.clip import make_clip

        clip = make_clip(
            spec=spec,
            methods=["Human", spec.method],
            model_paths=["", str(result.checkpoint)],
            episode=0,
        )
        print("\n".join(clip.summary_lines()))
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    from maq.evaluation.evaluate import DEFAULT_EPISODES, default_workers
    from maq.evaluation.reference import REFERENCE_METHODS
    from maq.methods import METHODS

    p = sub.add_parser(
        "evaluate",
        help="evaluate a run's best checkpoint (human-likeness metrics)",
        allow_abbrev=False,
        description="Evaluate the best checkpoint of a run (or --model_path) over seeded episodes "
        "and append one row to evaluation_results/agent_performance_<env>.csv. --method Random "
        "(uniform random actions) and --method Human (the training demos against the held-out "
        "ones) append the reference rows the human-likeness scores are measured between.",
    )
    add_run_args(p, [*METHODS, *REFERENCE_METHODS])
    add_set_arg(p)  # accepted so train --auto_evaluate can pass its flags on; not used here
    p.add_argument(
        "-path",
        "--model_path",
        default="",
        help="checkpoint to evaluate (default: the run's best by training-time eval)",
    )
    p.add_argument(
        "--episodes",
        type=_int_at_least(1),
        default=DEFAULT_EPISODES,
        help=f"evaluation episodes, seeds seed·200+i ({DEFAULT_EPISODES})",
    )
    p.add_argument(
        "--workers",
        type=_int_at_least(1),
        default=default_workers(),
        help="processes that play episodes (default: the usable CPU cores)",
    )
    p.add_argument(
        "--clip",
        action="store_true",
        help="also film the agent beside a held-out human demo (maq clip)",
    )
    p.set_defaults(func=_cmd_evaluate)


# ---- sweep ------------------------------------------------------------------------------------


def _cmd_sweep(args: argparse.Namespace) -> int:
    import shlex

    from maq import methods
    from maq.presets import parse_sets, with_overrides
    from maq.sweep import commands, finished, plan, summary_table, threads

    sets = tuple(parse_sets(args.sets).items())
    for name in args.methods:  # a bad --set fails before Ray starts
        method = methods.get_method(name)
        with_overrides(method.presets[args.preset], dict(sets))
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
        sets=sets,
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
    from maq.sweep_runner import execute

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
    from maq.methods import METHODS
    from maq.spec import PRESETS
    from maq.sweep import GRID

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
        type=_int_at_least(1),
        default=list(GRID["seqs"]),
        metavar="L",
        help="macro lengths (default: 1 .. 9)",
    )
    g.add_argument(
        "--ks",
        nargs="+",
        type=_int_at_least(2),
        default=list(GRID["ks"]),
        metavar="K",
        help="codebook sizes (default: 16)",
    )
    g.add_argument(
        "--seeds",
        nargs="+",
        type=_int_at_least(0),
        default=list(GRID["seeds"]),
        metavar="SEED",
        help="seeds (default: 1 10 100)",
    )
    r = p.add_argument_group("every run")
    r.add_argument("-t", "--tag", default="", help="suffix that keeps these runs' outputs apart")
    r.add_argument("-trs", "--training_source", default="", help="train .pkl for every run")
    r.add_argument("-tes", "--testing_source", default="", help="test .pkl for every run")
    r.add_argument("--preset", default="paper", choices=PRESETS, help="paper (default) or smoke")
    add_set_arg(r)
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
        type=_int_at_least(1),
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


# ---- clip, plot, report ----------------------------------------------------------------------


def _cmd_clip(args: argparse.Namespace) -> int:
    from maq.viz.clip import make_clip

    spec = spec_from_args(args, method=args.method[0])
    result = make_clip(
        spec=spec,
        methods=args.method,
        model_paths=args.model_path,
        episode=args.episode,
        width=args.width,
        height=args.height,
        fps=args.fps,
        max_steps=args.max_steps,
        smooth=args.smooth,
        formats=args.formats,
        out=Path(args.out) if args.out else None,
        data_dir=Path(args.data_dir) if args.data_dir else None,
    )
    print("\n".join(result.summary_lines()))
    return 0


def _add_clip(sub: argparse._SubParsersAction) -> None:
    from maq.evaluation.reference import REFERENCE_METHODS
    from maq.methods import METHODS

    p = sub.add_parser(
        "clip",
        help="render episodes side by side to GIF and MP4",
        allow_abbrev=False,
        description="Film one or more agents (and a held-out human demo) side by side, every "
        "panel from the same initial state: the demo's recorded one with a Human panel, else "
        "the same seed. Each panel shows the method, the step, success so far and the DTW.",
    )
    add_run_args(p, [*METHODS, *REFERENCE_METHODS], panels=True)
    p.add_argument(
        "-path",
        "--model_path",
        nargs="+",
        default=[],
        help="one checkpoint per --method ('' = the run's best)",
    )
    p.add_argument(
        "--episode",
        type=_int_at_least(0),
        default=0,
        help="evaluation episode i (seed·200+i); with a Human panel, also held-out "
        "demo i, whose recorded start every panel uses",
    )
    p.add_argument("--width", type=_int_at_least(16), default=320, help="pixels per panel (320)")
    p.add_argument("--height", type=_int_at_least(16), default=240, help="pixels per panel (240)")
    p.add_argument("--fps", type=_int_at_least(1), default=25, help="frames per second (25)")
    p.add_argument(
        "--max_steps",
        type=_int_at_least(1),
        default=None,
        help="steps per panel (default: the horizon; Human: its whole demo)",
    )
    p.add_argument(
        "--smooth",
        action="store_true",
        help="anti-aliased frames (about 3x slower in software rendering)",
    )
    p.add_argument(
        "--formats",
        nargs="+",
        default=["gif", "mp4"],
        choices=["gif", "mp4"],
        help="files to write (gif mp4)",
    )
    p.add_argument(
        "--out",
        default="",
        help="file path without suffix (default clips/<env>_seed<S>_ep<E>_<methods>)",
    )
    p.add_argument(
        "--data_dir", default="", help="folder of the DAPG demos (default $MAQ_DATA_DIR)"
    )
    p.set_defaults(func=_cmd_clip)


def _cmd_plot(args: argparse.Namespace) -> int:
    from maq.viz.plots import plot_heatmap, plot_learning_curves

    if args.kind == "curves":
        if not args.runs:
            raise MaqError("maq plot curves needs --runs DIR [DIR ...]")
        paths = plot_learning_curves(
            run_dirs=[Path(d) for d in args.runs],
            out=Path(args.out),
            results_csvs=[Path(c) for c in args.results],
            likeness=args.likeness,
            formats=args.formats,
        )
    else:
        if not args.results:
            raise MaqError("maq plot heatmap needs --results CSV [CSV ...]")
        paths = plot_heatmap(
            csv_paths=[Path(c) for c in args.results],
            out=Path(args.out),
            env_id=args.environment,
            columns=args.columns,
            method=args.heatmap_method,
            codebook_size=args.codebook_size,
            dtw=args.dtw,
            seeds=args.seeds,
            formats=args.formats,
        )
    print("\n".join(f"wrote {p}" for p in paths))
    return 0


def _add_plot(sub: argparse._SubParsersAction) -> None:
    from maq.evaluation.metrics import LIKENESS_KEYS

    p = sub.add_parser(
        "plot",
        help="learning curves or the paper's heatmap (PNG, SVG)",
        allow_abbrev=False,
        description="curves: normalized score, success and a human-likeness distance against "
        "primitive env steps (mean and spread over seeds, a line per method) from run folders. "
        "heatmap: success and the four distances as human-likeness scores over L x K or "
        "L x method, from evaluation CSVs (their Random and Human rows give the scores).",
    )
    p.add_argument("kind", choices=["curves", "heatmap"], help="what to draw")
    p.add_argument("--runs", nargs="+", default=[], metavar="DIR", help="run folders (curves)")
    p.add_argument(
        "--results",
        nargs="+",
        default=[],
        metavar="CSV",
        help="evaluation CSVs: Random/Human rows turn distances into scores",
    )
    p.add_argument(
        "--likeness",
        default="dtw_state_norm",
        choices=list(LIKENESS_KEYS),
        help="distance of the curves' third panel (dtw_state_norm)",
    )
    p.add_argument("-env", "--environment", default=None, help="heatmap: the task (if several)")
    p.add_argument(
        "--columns",
        default="codebook_size",
        choices=["codebook_size", "method"],
        help="heatmap: L x K (codebook_size) or L x method",
    )
    p.add_argument("--heatmap_method", default=None, help="heatmap: the method of an L x K map")
    p.add_argument(
        "-cbsz",
        "--codebook_size",
        type=_int_at_least(2),
        default=None,
        help="heatmap: the K of an L x method map",
    )
    p.add_argument(
        "--dtw",
        default="raw",
        choices=["raw", "norm"],
        help="heatmap: the release's DTW or DTW per warping-path step",
    )
    p.add_argument(
        "-s",
        "--seeds",
        nargs="+",
        type=_int_at_least(0),
        default=[],
        metavar="N",
        help="heatmap: only these seeds' rows (default: every seed, each cell their mean)",
    )
    p.add_argument("--out", required=True, help="file path without suffix")
    p.add_argument(
        "--formats",
        nargs="+",
        default=["png", "svg"],
        choices=["png", "svg"],
        help="files to write (png svg)",
    )
    p.set_defaults(func=_cmd_plot)


def _cmd_report(args: argparse.Namespace) -> int:
    import shlex

    from maq.runs import repo_root
    from maq.viz.plots import make_report

    root = repo_root()
    csvs = [Path(c) for c in args.results] or sorted(
        (root / "evaluation_results").glob("agent_performance_*.csv")
    )
    if not csvs:
        raise MaqError(f"no evaluation CSVs in {root / 'evaluation_results'}; pass --results")
    out = make_report(
        csv_paths=csvs,
        out=Path(args.out) if args.out else root / "docs" / "results.md",
        run_dirs=[Path(d) for d in args.runs],
        figures_dir=Path(args.figures_dir) if args.figures_dir else None,
        extra_figures=[Path(c) for c in args.clips],
        command=shlex.join(["maq", *args.raw_argv]),
    )
    print(f"wrote {out}")
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write the Markdown results report",
        allow_abbrev=False,
        description="Per task, a table of every evaluated method (normalized score, success, "
        "DTW and W raw and as human-likeness scores, mean ± std over seeds, with seeds and "
        "episodes), the figures, and the command and commit behind every number. The same "
        "inputs give the same file.",
    )
    p.add_argument(
        "--results",
        nargs="+",
        default=[],
        metavar="CSV",
        help="evaluation CSVs (default: evaluation_results/agent_performance_*.csv)",
    )
    p.add_argument(
        "--runs",
        nargs="+",
        default=[],
        metavar="DIR",
        help="run folders whose learning curves to embed",
    )
    p.add_argument("--out", default="", help="the report (default $MAQ_ROOT/docs/results.md)")
    p.add_argument("--figures_dir", default="", help="where figures go (default <out>/figures)")
    p.add_argument("--clips", nargs="+", default=[], metavar="FILE", help="GIFs to embed")
    p.set_defaults(func=_cmd_report)


def _cmd_status(args: argparse.Namespace) -> int:
    from maq.runs import repo_root
    from maq.status import status_table

    root = Path(args.root).resolve() if args.root else repo_root()
    if not root.is_dir():
        raise MaqError(f"{root} is not a folder: pass a run root with --root (or set MAQ_ROOT)")
    print(status_table(root))
    return 0


def _add_status(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="list the runs under a run root: state and evaluations so far",
        allow_abbrev=False,
        description="Every run folder under the root (training runs and distillations): "
        "training (with its pid), done, stopped with a resume point, or stopped without one; "
        "how many evaluations it made, the last step, the best and the last score.",
    )
    p.add_argument("--root", default="", help="the run root (default $MAQ_ROOT, else .)")
    p.set_defaults(func=_cmd_status)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_check_dataset,
    _add_gen_data,
    _add_train,
    _add_evaluate,
    _add_sweep,
    _add_clip,
    _add_plot,
    _add_report,
    _add_status,
]
"""Functions that add one subcommand each."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="maq", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def _exit_with_parent() -> None:
    """Under a sweep (``MAQ_PARENT_PID``), stop when the Ray worker that started us is gone, so
    an interrupted sweep leaves no orphaned runs (they resume when the sweep starts again)."""
    parent = os.environ.get("MAQ_PARENT_PID", "")
    if not parent.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(1.0)
        os.kill(os.getpid(), 15)  # SIGTERM: the run's last resume point stays

    threading.Thread(target=watch, daemon=True, name="maq-exit-with-parent").start()


def _run_args(train_argv: list[str]) -> list[str]:
    """The run flags of a ``train`` command line, for ``--auto_evaluate`` (train-only flags out)."""
    out, skip = [], False
    for arg in train_argv:
        if skip:
            skip = False
        elif arg == "--stop_after":
            skip = True
        elif arg not in ("--auto_evaluate", "--overwrite") and not arg.startswith("--stop_after="):
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    _exit_with_parent()
    configure_cpu_process()  # before any torch work starts its thread pool
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # report it with the subcommand's usage, not the top-level one
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    # train --auto_evaluate re-uses the run flags for evaluate (minus train-only flags).
    args.raw_run_args = _run_args(argv[1:])
    args.raw_argv = argv
    try:
        return int(args.func(args) or 0)
    except MaqError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
