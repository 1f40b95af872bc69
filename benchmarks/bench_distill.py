"""Speed of MAQ stage 1 on door: per-step costs and the whole paper-preset distillation.

    MAQ_DATA_DIR=../shared/data/adroit_human .venv/bin/python benchmarks/bench_distill.py \
        [--threads 1] [--steps 300] [--no-full]

Per-step: one training step (batch 32, width 256, L=9, K=16) of the VQ-VAE in float32 and float64,
of the prior and of the no-quantization baseline. Full: ``maq.methods.train`` of method MAQ with
the paper preset (VQ-VAE 100 epochs + prior 100 epochs + baseline 100 epochs + held-out
metrics) on the door seed-1 split, in a temporary folder. Prints the load average before and
after, since other processes sharing the CPU slow everything down.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from maq.data.format import load_trajectories
from maq.data.generate import generate_dataset
from maq.data.sources import data_dir_from_env
from maq.macro.distill import window_data
from maq.macro.fit import WindowData
from maq.macro.prior import CodePrior, prior_loss
from maq.macro.vqvae import VQVAE, ActionDecoder, vqvae_loss
from maq.methods import train as train_run
from maq.seeding import configure_cpu_process
from maq.spec import RunSpec


def time_steps(model: torch.nn.Module, loss_fn, n: int, steps: int) -> float:
    """Milliseconds per Adam step on random minibatches of 32 (after 20 warm-up steps)."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-4, fused=True)
    g = torch.Generator().manual_seed(0)
    for i in range(steps + 20):
        if i == 20:
            start = time.perf_counter()
        idx = torch.randint(n, (32,), generator=g)
        loss, _ = loss_fn(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps * 1000


def per_step(train_trajs: list, steps: int) -> dict[str, float]:
    out = {}
    for name, dtype in (("vqvae_float32_ms", torch.float32), ("vqvae_float64_ms", torch.float64)):
        data = window_data(train_trajs, 9, dtype, torch.device("cpu"), "train")
        torch.manual_seed(0)
        model = VQVAE(39, 28, 9, 16).to(dtype)
        out[name] = time_steps(
            model,
            lambda i, m=model, d=data: vqvae_loss(m(d.states[i], d.windows[i]), d.windows[i], 0.25),
            len(data.states),
            steps,
        )
    data: WindowData = window_data(train_trajs, 9, torch.float32, torch.device("cpu"), "train")
    codes = torch.randint(16, (len(data.states),))
    prior = CodePrior(39, 16)
    out["prior_ms"] = time_steps(
        prior, lambda i: prior_loss(prior(data.states[i]), codes[i]), len(codes), steps
    )
    base = ActionDecoder(39, 28, 9)
    out["baseline_ms"] = time_steps(
        base,
        lambda i: (torch.nn.functional.mse_loss(base(data.states[i]), data.windows[i]), {}),
        len(codes),
        steps,
    )
    out["windows_per_epoch"] = len(data.states)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per model")
    parser.add_argument("--no-full", action="store_true", help="skip the full distillation")
    args = parser.parse_args()
    configure_cpu_process()  # as maq's commands do (maq.cli)
    torch.set_num_threads(args.threads)
    results: dict = {"threads": args.threads, "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train, test = generate_dataset(
            "door-human-v1", 1, root / "offline_data", "dapg", data_dir_from_env()
        )
        results.update(per_step(load_trajectories(train), args.steps))
        if not args.no_full:
            spec = RunSpec(
                method="MAQ",
                root=root,
                device="cpu",
                training_source=str(train),
                testing_source=str(test),
            )
            start = time.perf_counter()
            run_dir = train_run(spec)
            results["full_distillation_s"] = time.perf_counter() - start
            metrics = json.loads((run_dir / "metrics.json").read_text())
            results["full_phases_s"] = metrics["time"]
            results["test_mse_over_var"] = metrics["test"]["mse_over_var"]
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
