"""Explicit randomness: one ``seed_everything`` call per run, and RNG state for checkpoints; the
CPU thread settings training runs with (``torch_threads``, ``configure_cpu_process``)."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy's legacy global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def derive_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed for stream ``keys`` of a run seeded with ``seed`` (numpy SeedSequence), so
    samplers, training episodes and evaluation never share a seed by accident."""
    return int(np.random.SeedSequence([seed % 2**64, *keys]).generate_state(1)[0])


def get_rng_state() -> dict[str, Any]:
    """Every global RNG's state, for a checkpoint that resumes bit-for-bit."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU. ``cpu``, ``cuda``, ``cuda:N`` (and ``mps``) are
    checked against this machine, so a device it lacks or a misspelt name stops the run at once
    with one line saying what to pass instead, not deep inside training."""
    from maq.errors import MaqError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise MaqError(
            f"--device {name!r} is not a device: use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda":
        if torch.version.cuda is None:
            raise MaqError(
                f"--device {name}: this torch {torch.__version__} is a CPU-only build; use "
                "--device cpu (or auto), or install torch's CUDA build on a GPU machine"
            )
        count = torch.cuda.device_count()
        if count == 0:
            raise MaqError(
                f"--device {name}: no CUDA GPU is visible (driver, CUDA_VISIBLE_DEVICES); "
                "use --device cpu (or auto)"
            )
        if device.index is not None and device.index >= count:
            raise MaqError(
                f"--device {name}: this machine has {count} CUDA device(s), cuda:0 to "
                f"cuda:{count - 1}"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise MaqError(f"--device {name}: MPS is not available here; use --device cpu (or auto)")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise MaqError(f"--device {name}: maq runs on auto, cpu, cuda or cuda:N")
    return device


_configured: dict[str, bool] = {}


def configure_cpu_process() -> dict[str, bool]:
    """Process-wide CPU settings for maq's own commands and benchmarks, called first thing.

    Denormals are flushed in the main thread *before* torch's OpenMP pool starts: the flag is per
    thread, and pool threads copy it from the main thread when they are created, so a later
    ``torch.set_flush_denormal`` (as in :func:`torch_threads`) reaches only the main thread.
    Adam's second moments decay into the denormal range, where CPU float arithmetic is several
    times slower (docs/benchmarks.md). Idempotent; returns what took effect. A library user's
    process is left alone unless it calls this.
    """
    if not _configured:
        _configured["flush_denormal"] = bool(torch.set_flush_denormal(True))
    return dict(_configured)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a training loop with ``n`` torch CPU threads and denormals flushed to zero.

    * Threads: small MLPs run fastest on one thread, and two threads collapse when another job
      shares the cores (docs/human-data.md, docs/benchmarks.md), so every loop picks its count
      explicitly.
    * Denormals: Adam's second-moment estimates decay into the denormal range, where CPU float
      arithmetic is several times slower (docs/benchmarks.md). Flushing changes only values
      below ~1e-38. This reaches the main thread only; :func:`configure_cpu_process` at process
      start reaches torch's pool threads.

    ``MAQ_NUM_THREADS`` overrides ``n`` (the presets' 1 suits a shared machine; a lone run on a
    free multi-core machine is faster with more, and a sweep sets it to each run's CPU share).
    Both settings are restored afterwards (flushing stays on where :func:`configure_cpu_process`
    turned it on).
    """
    before = torch.get_num_threads()
    override = os.environ.get("MAQ_NUM_THREADS", "")
    if override:
        if not override.isdigit() or int(override) < 1:
            from maq.errors import MaqError

            raise MaqError(f"MAQ_NUM_THREADS={override!r} must be a positive integer")
        n = int(override)
    torch.set_num_threads(n)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:  # a process configured by configure_cpu_process keeps flushing
        torch.set_flush_denormal(_configured.get("flush_denormal", False))
        torch.set_num_threads(before)
