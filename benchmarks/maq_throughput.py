"""MAQ+RLPD training throughput at the paper preset on door, against bare env stepping.

    MAQ_DATA_DIR=../shared/data/adroit_human MUJOCO_GL=egl .venv/bin/python \
        benchmarks/maq_throughput.py --transitions 24000

Runs the real online loop (``maq.train.online.train``) with the ``maq_rlpd`` paper preset (8 envs,
batch 128, UTD 1/8, eval every 10k macro transitions, 10 episodes; ``--env_workers`` processes
step the envs, by default one per available core as in the preset) on the door seed-1 split and its
paper-preset distillation, both made in a temporary root (or in ``--root``, where they are kept
and reused), with the budget cut to the 8000 warm-up transitions plus ``--transitions``. It prints
the loop's rate in primitive env steps per second after the warm-up (updates and evaluations
included, read from ``progress.csv``) and the bare environment's single-process rate (random
actions, no learner) measured in the same process before and after the run.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from maq.seeding import configure_cpu_process


def bare_rate(steps: int) -> float:
    from maq.envs import make_env

    env = make_env("door-human-v1")
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 28).astype(np.float32))
        if terminated or truncated:
            env.reset()
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--transitions", type=int, default=24_000, help="macro transitions after the warm-up"
    )
    parser.add_argument("--bare_steps", type=int, default=20_000)
    parser.add_argument("--root", default="", help="keep data and distillation here (reused)")
    parser.add_argument(
        "--env_workers",
        type=int,
        default=0,
        help="processes stepping the 8 envs (0: the preset's default, one per available core)",
    )
    args = parser.parse_args()
    configure_cpu_process()  # as maq's commands do (maq.cli)
    torch.set_num_threads(1)

    from maq.methods import train
    from maq.presets import get_preset
    from maq.spec import RunSpec

    loop = get_preset("maq_rlpd", "paper").loop
    total = loop.warmup_transitions + args.transitions

    bare_before = bare_rate(args.bare_steps)
    with tempfile.TemporaryDirectory() as tmp:
        spec = RunSpec(
            method="MAQ+RLPD",
            env_id="door-human-v1",
            seed=1,
            root=Path(args.root or tmp),
            device="cpu",
            tag="bench",
            overwrite=True,  # retrains the run; a finished distillation in --root is reused
            sets=(("total_transitions", str(total)), ("env_workers", str(args.env_workers))),
        )
        start = time.perf_counter()
        run_dir = train(spec)  # distills first (paper preset), then trains
        total_s = time.perf_counter() - start
        with (run_dir / "progress.csv").open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("time/elapsed_s")]
    bare_after = bare_rate(args.bare_steps)
    first = next(r for r in rows if float(r["time/transitions"]) >= loop.warmup_transitions)
    last = rows[-1]
    steps = float(last["step"]) - float(first["step"])
    seconds = float(last["time/elapsed_s"]) - float(first["time/elapsed_s"])
    loop_rate = steps / seconds
    bare = (bare_before + bare_after) / 2
    print(f"load (1 min): {os.getloadavg()[0]:.1f}; wall incl. distillation: {total_s:.0f} s")
    print(f"bare door env, 1 process: {bare_before:.0f} / {bare_after:.0f} steps/s (before/after)")
    print(
        f"MAQ+RLPD loop after warm-up: {steps:.0f} primitive steps in {seconds:.1f} s = "
        f"{loop_rate:.0f} steps/s = {loop_rate / bare:.2f} × bare"
    )


if __name__ == "__main__":
    main()
