"""How many IQL updates per second this CPU's matrix products alone allow.

    .venv/bin/python benchmarks/matmul_ceiling.py [--threads 2] [--family iql] [--repeats 300]

Profiles one eager IQL update with the paper preset (``torch.profiler``, input shapes recorded),
then times only its matrix products (every ``aten::mm``/``addmm``/``bmm``/``baddbmm`` of the
forward and backward pass, replayed on random tensors of the recorded shapes, back to back). No
implementation that runs these products through the CPU's BLAS can update faster than the
printed ceiling: it leaves out the optimizer, the element-wise work, batch sampling and every
framework overhead. The FLOPs per update come from ``torch.utils.flop_counter``. Run it on an idle
machine (it prints the load average).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from bench_offline import make_agent, make_buffer
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from maq.buffers import batch_to_torch
from maq.presets import PRESETS
from maq.seeding import configure_cpu_process, torch_threads

MATMULS = {"aten::mm": 0, "aten::bmm": 0, "aten::addmm": 1, "aten::baddbmm": 1}
"""The matrix-product ops, with the index of their first matrix among the recorded inputs."""


def recorded_matmuls(family: str) -> tuple[list[tuple[str, list[list[int]]]], int]:
    """Every matrix product of one eager update (op name, input shapes), and its FLOPs."""
    agent, buf = make_agent(family, "default"), make_buffer(family)
    batch_size = PRESETS[family]["paper"].loop.batch_size
    agent.update(batch_to_torch(buf.sample(batch_size)))  # first-call work out of the way
    batch = batch_to_torch(buf.sample(batch_size))
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        agent.update(batch)
    ops = [(e.name, e.input_shapes) for e in prof.events() if e.name in MATMULS]
    with FlopCounterMode(display=False) as counter:
        agent.update(batch_to_torch(buf.sample(batch_size)))
    return ops, counter.get_total_flops()


def replay(ops: list[tuple[str, list[list[int]]]], repeats: int) -> float:
    """Seconds per update of the matrix products alone (the median of 3 timings)."""
    fns = {"aten::mm": torch.mm, "aten::bmm": torch.bmm,
           "aten::addmm": torch.addmm, "aten::baddbmm": torch.baddbmm}  # fmt: skip
    calls = []
    for name, shapes in ops:
        first = MATMULS[name]
        args = [torch.randn(s) for s in shapes[: first + 2]]
        calls.append((fns[name], args))
    for fn, args in calls:  # warm-up
        fn(*args)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            for fn, args in calls:
                fn(*args)
        times.append((time.perf_counter() - start) / repeats)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--family", default="iql", choices=["iql", "maq_iql"])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    configure_cpu_process()  # as maq's commands do (maq.cli)
    print(f"load average before: {os.getloadavg()}")
    with torch_threads(args.threads):
        ops, flops = recorded_matmuls(args.family)
        seconds = replay(ops, args.repeats)
    matmul_flops = sum(
        2 * np.prod(shapes[MATMULS[name]]) * shapes[MATMULS[name] + 1][-1] for name, shapes in ops
    )
    gflop = matmul_flops / 1e9
    print(
        f"{args.family}, {args.threads} threads: {len(ops)} matrix products per update, "
        f"{gflop:.3f} GFLOP (all ops: {flops / 1e9:.3f} GFLOP)"
    )
    print(
        f"matrix products alone: {seconds * 1e3:.2f} ms per update = "
        f"{gflop / seconds:.0f} GFLOP/s; ceiling {1 / seconds:.0f} updates/s"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
