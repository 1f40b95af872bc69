"""Updates per second of the IQL learner: IQL (batch 256) and MAQ+IQL (batch 32), paper widths.

    .venv/bin/python benchmarks/bench_offline.py [--threads 1 2] [--updates 300] [--variants]
        [--compile]

One "update" is what an offline iteration of maq.train.offline costs: a uniform minibatch from a
ReplayBuffer of door-sized transitions (S=39, A=28, K=16), ``batch_to_torch`` and
``IQL.update``, with the paper learner configs. The ``default`` variant is eager
(``compile="off"``); ``--compile`` adds the compiled gradient (``IQLConfig.compile``, the paper
presets' ``auto``; compiled on the first update, so the compile time shows in the warm-up
column); ``--variants`` adds the twin Q as two separate MLPs (instead of the fused
maq.nn.EnsembleMLP) and Adam without ``fused=True``. Prints the load average before and after:
other processes on the CPU slow everything down. "updates per CPU-s" divides by the process's
CPU time (with one thread, the speed of a core of one's own; with two it sums both threads').
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import time

import numpy as np
import torch

from maq.agents.iql import IQL
from maq.buffers import ReplayBuffer, batch_to_torch
from maq.nn import Gradients, mlp
from maq.presets import PRESETS
from maq.seeding import configure_cpu_process, torch_threads

S, A, K = 39, 28, 16  # door-human-v1, (L, K) = (9, 16)


class TwinQ(torch.nn.Module):
    """The unfused alternative: two MLPs, stacked to the EnsembleMLP's (2, B, 1) output."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.q1, self.q2 = mlp(in_dim, hidden, 1), mlp(in_dim, hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.q1(x), self.q2(x)])


def make_agent(family: str, variant: str) -> IQL:
    cfg = dataclasses.replace(
        PRESETS[family]["paper"].learner, compile="on" if variant == "compile" else "off"
    )
    torch.manual_seed(0)
    agent = IQL(S, A if cfg.actor == "gaussian" else K, cfg, prior=torch.nn.Linear(S, K))
    if variant in ("separate_q", "unfused_adam"):
        n = agent.nets
        if variant == "separate_q":
            n.critic = TwinQ(S + agent.action_dim, cfg.hidden_dims)
            agent.critic_target = copy.deepcopy(n.critic).requires_grad_(False)
        groups = [
            list(n.critic.parameters()),
            list(n.value.parameters()),
            [*n.actor.parameters(), *([n.log_std] if n.log_std.numel() else [])],
        ]
        agent.optimizer = torch.optim.Adam(
            [{"params": g, "lr": 3e-4} for g in groups], fused=variant == "separate_q"
        )
        agent.params = [p for g in groups for p in g]
        agent._gradients = Gradients(n, agent.losses, agent.compiled)  # over the new modules
    return agent


def make_buffer(family: str) -> ReplayBuffer:
    g = np.random.default_rng(0)
    n = 7000  # about the door train split
    codes = PRESETS[family]["paper"].learner.actor == "categorical"
    buf = ReplayBuffer(n, S, () if codes else (A,), np.int64 if codes else np.float32, seed=0)
    actions = g.integers(0, K, n) if codes else g.uniform(-1, 1, (n, A)).astype(np.float32)
    obs = g.standard_normal((n, S)).astype(np.float32)
    buf.add(obs, actions, g.standard_normal(n), obs[::-1], np.zeros(n), np.zeros(n))
    return buf


def time_updates(family: str, variant: str, updates: int) -> tuple[float, float, float]:
    agent, buf = make_agent(family, variant), make_buffer(family)
    batch_size = PRESETS[family]["paper"].loop.batch_size
    start = time.perf_counter()
    for _ in range(5):  # warm-up (and compilation, on the first update)
        agent.update(batch_to_torch(buf.sample(batch_size)))
    warmup = time.perf_counter() - start
    rates, cpu_rates = [], []
    for _ in range(3):
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(updates):
            agent.update(batch_to_torch(buf.sample(batch_size)))
        rates.append(updates / (time.perf_counter() - start))
        cpu_rates.append(updates / (time.process_time() - cpu))
    return float(np.median(rates)), float(np.median(cpu_rates)), warmup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--families", nargs="+", default=["iql", "maq_iql"])
    parser.add_argument("--variants", action="store_true", help="also unfused twin Q / Adam")
    parser.add_argument("--compile", action="store_true", help="also the compiled gradient")
    args = parser.parse_args()
    configure_cpu_process()  # as maq's commands do (maq.cli)
    variants = ["default"] + (["separate_q", "unfused_adam"] if args.variants else [])
    variants += ["compile"] if args.compile else []
    print(f"load average before: {os.getloadavg()}")
    print(
        "| learner | batch | threads | variant | updates/s (wall) | updates per CPU-s | warm-up s |"
    )
    print("|---|---|---|---|---|---|---|")
    for family in args.families:
        batch = PRESETS[family]["paper"].loop.batch_size
        for threads in args.threads:
            for variant in variants:
                with torch_threads(threads):  # as the training loop: also flushes denormals
                    rate, cpu_rate, warmup = time_updates(family, variant, args.updates)
                row = (
                    f"| {family} | {batch} | {threads} | {variant} | {rate:.0f} | {cpu_rate:.0f} |"
                )
                print(f"{row} {warmup:.1f} |", flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
