"""RLPD update cost per environment step on door-sized networks, eager vs torch.compile.

    .venv/bin/python benchmarks/online_update.py --utd 20 1 --threads 1 2 --compile off on

One env step of RLPD costs one mixed sample (``utd·256`` transitions, half human) and one
``SAC.update``: ``utd`` critic steps on 10 LayerNorm critics (S = 39, A = 28, batch 256) and one
actor and temperature step, with the ``rlpd`` paper preset's learner. Each configuration runs in a
fresh process (so thread counts and compile caches do not leak); it prints the median of
``--repeats`` timed env steps after ``--warmup`` untimed ones (which include compiling), and the
1-minute load average, since the CPU is shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from maq.seeding import configure_cpu_process


def measure(
    utd: int, threads: int, compile_mode: str, warmup: int, repeats: int, device: str = "cpu"
) -> dict:
    from maq.agents.sac import SAC
    from maq.buffers import ReplayBuffer, batch_to_torch
    from maq.presets import get_preset
    from maq.seeding import torch_threads
    from maq.train.online import mixed_batch

    preset = get_preset("rlpd", "paper")
    cfg = dataclasses.replace(preset.learner, utd_ratio=utd, compile=compile_mode)
    agent = SAC(39, 28, cfg, device=device, seed=0)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rng = np.random.default_rng(0)
    buffers = []
    for n in (100_000, 6_704):  # online replay mid-run; the door train split's size
        b = ReplayBuffer(n, 39, (28,), seed=int(rng.integers(1 << 31)))
        b.add(
            rng.standard_normal((n, 39)),
            rng.uniform(-1, 1, (n, 28)),
            rng.standard_normal(n),
            rng.standard_normal((n, 39)),
            np.zeros(n),
            np.zeros(n),
        )
        buffers.append(b)

    def env_step_update() -> None:
        batch = mixed_batch(buffers[0], buffers[1], preset.loop, utd)
        agent.update(batch_to_torch(batch, device))

    times = []
    with torch_threads(threads):  # as the training loop: the thread count, denormals flushed
        start = time.perf_counter()
        for _ in range(warmup):
            env_step_update()
        warm_s = time.perf_counter() - start
        for _ in range(repeats):
            sync()
            t = time.perf_counter()
            env_step_update()
            sync()
            times.append(time.perf_counter() - t)
    return {
        "utd": utd,
        "threads": threads,
        "compile": compile_mode,
        "compiled": agent.compiled,
        "device": device,
        "ms_per_env_step": 1000 * statistics.median(times),
        "ms_min": 1000 * min(times),
        "warmup_s": warm_s,
        "load1": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utd", type=int, nargs="+", default=[20, 1])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--compile", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    configure_cpu_process()  # as maq's commands do (maq.cli)
    if args.one:
        utd, threads, mode, *device = args.one.split(",")
        r = measure(int(utd), int(threads), mode, args.warmup, args.repeats, *device)
        print(json.dumps(r))
        return
    print("| UTD | threads | compile | ms per env step (median) | min | warm-up s | load |")
    print("|---|---|---|---|---|---|---|")
    configs = [(u, t, m) for u in args.utd for t in args.threads for m in args.compile]
    for utd, threads, mode in configs:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                f"{utd},{threads},{mode}",
                "--warmup",
                str(args.warmup),
                "--repeats",
                str(args.repeats),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"| {r['utd']} | {r['threads']} | {r['compile']} | "
            f"{r['ms_per_env_step']:.1f} | {r['ms_min']:.1f} | {r['warmup_s']:.1f} | "
            f"{r['load1']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
