"""Which device a run uses, said in one line, and CUDA running out of memory said in one line.

:func:`~maq.seeding.resolve_device` turns ``--device`` into a ``torch.device`` (re-exported here);
:func:`describe_device` is what training and evaluation print first, so a log shows where a run
ran; :func:`cuda_oom_as_error` turns ``torch.OutOfMemoryError`` into a :class:`~maq.errors.MaqError`
whose one line says how to fit, instead of a page of allocator statistics.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import torch

from maq.errors import MaqError
from maq.seeding import resolve_device

__all__ = ["cuda_oom_as_error", "describe_device", "oom_message", "resolve_device"]


def describe_device(device: torch.device | str, threads: int | None = None) -> str:
    """``cpu (2 threads)``, ``cuda:0 (NVIDIA H200, 139 GiB)``: the device and what it has.

    The CPU thread count is ``threads`` when given (what a loop will run with), else torch's at
    the time of the call.
    """
    device = torch.device(device)
    if device.type == "cpu":
        n = torch.get_num_threads() if threads is None else threads
        return f"cpu ({n} thread{'s' if n != 1 else ''})"
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    return str(device)


def oom_message(exc: BaseException, device: torch.device | str | None = None) -> str:
    """One line for a CUDA out-of-memory error: where, how much was asked for, what to change."""
    text = str(exc)
    if device is not None:
        where = str(torch.device(device))
    else:
        gpu = re.search(r"GPU (\d+)", text)
        where = f"cuda:{gpu.group(1)}" if gpu else "the GPU"
    asked = re.search(r"Tried to allocate ([\d.]+ [KMGT]?i?B)", text)
    size = f" (tried to allocate {asked.group(1)})" if asked else ""
    return (
        f"CUDA out of memory on {where}{size}: lower batch_size, run fewer jobs on this GPU "
        "(a larger --gpus_per_run), or use --device cpu"
    )


@contextlib.contextmanager
def cuda_oom_as_error(device: torch.device | str | None = None) -> Iterator[None]:
    """Run a block (or, as a decorator, a function) whose CUDA OOM becomes a one-line
    :class:`MaqError` (:func:`oom_message`), chained to the original error for a debugger."""
    try:
        yield
    except torch.OutOfMemoryError as exc:
        raise MaqError(oom_message(exc, device)) from exc
