"""The ``maq`` command: one entry point for the data tools, training, evaluation and sweeps.

Subcommands register themselves in :data:`COMMANDS`. A :class:`~maq.errors.MaqError` becomes one
line on stderr and exit status 2 (no traceback); unknown flags are rejected by argparse.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from maq.errors import DatasetError, MaqError
from maq.evaluation.evaluate import _add_evaluate
from maq.seeding import configure_cpu_process
from maq.sweep import _add_sweep


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


def add_run_args(p: argparse.ArgumentParser) -> None:
    """The seed README's experiment flags, short and long forms (shared by train and evaluate)."""
    from maq.methods import METHODS
    from maq.spec import PRESETS

    p.add_argument(
        "--method",
        default="MAQ+RLPD",
        choices=list(METHODS),
        metavar="METHOD",
        help=f"one of {', '.join(METHODS)} (default MAQ+RLPD)",
    )
    p.add_argument(
        "-env", "--environment", default="door-human-v1", help="task (default door-human-v1)"
    )
    p.add_argument("-seqlen", "--sequence_length", type=int, default=9, help="macro length L (9)")
    p.add_argument("-cbsz", "--codebook_size", type=int, default=16, help="codebook size K (16)")
    p.add_argument("-s", "--seed", type=int, default=1, help="seed (1)")
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


def spec_from_args(args: argparse.Namespace, **overrides: object):
    """The RunSpec named by :func:`add_run_args` flags, validated."""
    from maq.envs import get_task
    from maq.spec import RunSpec

    task = get_task(args.environment)
    if args.sequence_length < 1 or args.codebook_size < 2:
        raise MaqError("--sequence_length must be >= 1 and --codebook_size >= 2")
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
    )
    fields.update(overrides)
    return RunSpec(**fields)


def _cmd_train(args: argparse.Namespace) -> int:
    from maq.methods import get_method, resolve

    spec = spec_from_args(args, overwrite=args.overwrite)
    run_dir = resolve(get_method(spec.method).train)(spec)
    print(f"run folder: {run_dir}")
    if args.auto_evaluate:
        return main(["evaluate", *args.raw_run_args])
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one experiment",
        allow_abbrev=False,
        description="Train one experiment (resumes an interrupted run; skips a "
        "finished one unless --overwrite).",
    )
    add_run_args(p)
    p.add_argument("--overwrite", action="store_true", help="retrain even if the run finished")
    p.add_argument(
        "--auto_evaluate",
        action="store_true",
        help="evaluate the best checkpoint afterwards (maq evaluate)",
    )
    p.add_argument(
        "--episodes",
        type=int,
        default=100,
        help="with --auto_evaluate: evaluation episodes (default 100)",
    )
    p.set_defaults(func=_cmd_train)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_check_dataset,
    _add_gen_data,
    _add_train,
    _add_evaluate,
    _add_sweep,
]
"""Functions that add one subcommand each; higher layers append theirs (train, evaluate, sweep)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="maq", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    configure_cpu_process()  # before any torch work starts its thread pool
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # report it with the subcommand's usage, not the top-level one
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    # train --auto_evaluate re-uses the run flags for evaluate (minus train-only flags).
    args.raw_run_args = [a for a in argv[1:] if a not in ("--auto_evaluate", "--overwrite")]
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
