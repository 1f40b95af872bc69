"""Held-out quality of paper-preset distillations over (L, K): the docs/distillation.md table.

    MAQ_DATA_DIR=../shared/data/adroit_human MAQ_ROOT=/tmp/maqroot \
        .venv/bin/python benchmarks/distill_table.py --env door-human-v1 --seed 1 \
        --grid 9,16 9,8 9,32 3,16 1,16

Runs (one at a time, reusing finished ones) what ``maq train --method MAQ --sequence_length L
--codebook_size K`` runs, under ``$MAQ_ROOT`` (default: the current directory), then prints a
markdown table of each run's ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json

import torch

from maq.methods import train as train_run
from maq.seeding import configure_cpu_process
from maq.spec import RunSpec

COLUMNS = (
    ("L", None),
    ("K", None),
    ("test MSE", "reconstruction_mse"),
    ("test Var", "action_variance"),
    ("MSE/Var", "mse_over_var"),
    ("baseline MSE/Var", "baseline_mse_over_var"),
    ("codes used", "codes_used"),
    ("perplexity", "perplexity"),
    ("prior acc.", "prior_accuracy"),
    ("prior-decode MSE/Var", "prior_decode_mse_over_var"),
    ("train MSE/Var", None),
    ("time (s)", None),
)


def fmt(x: float | int) -> str:
    return str(x) if isinstance(x, int) else f"{x:.4f}"


def row(seq_len: int, k: int, metrics: dict) -> str:
    test, cells = metrics["test"], []
    for name, key in COLUMNS:
        if key is not None:
            cells.append(fmt(test[key]))
        elif name == "L":
            cells.append(str(seq_len))
        elif name == "K":
            cells.append(str(k))
        elif name == "train MSE/Var":
            cells.append(fmt(metrics["train"]["mse_over_var"]))
        else:
            cells.append(f"{sum(metrics['time'].values()):.0f}")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="door-human-v1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--grid", nargs="+", default=["9,16", "9,8", "9,32", "3,16", "1,16"])
    args = parser.parse_args()
    configure_cpu_process()  # as maq's commands do (maq.cli)
    torch.set_num_threads(1)
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for cell in args.grid:
        seq_len, k = (int(v) for v in cell.split(","))
        spec = RunSpec(
            method="MAQ",
            env_id=args.env,
            seed=args.seed,
            seq_len=seq_len,
            codebook_size=k,
            preset=args.preset,
            device="cpu",
        )
        run_dir = train_run(spec)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        lines.append(row(seq_len, k, metrics))
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
