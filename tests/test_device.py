"""maq.device and seeding.resolve_device: a wrong --device or a CUDA OOM is one line saying what
to do; the device line printed at the start of a run (all checked on a CPU-only machine)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from maq.device import cuda_oom_as_error, describe_device, oom_message, resolve_device
from maq.errors import MaqError


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n)``: torch reports a CUDA build with ``n`` visible GPUs."""

    def fake(n: int) -> None:
        monkeypatch.setattr(torch.version, "cuda", "12.8")
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return fake


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


def test_auto_takes_cuda_when_present(gpus):
    gpus(0)
    assert resolve_device("auto") == torch.device("cpu")
    gpus(1)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda:0")


def test_cpu_is_taken_as_given():
    assert resolve_device("cpu") == torch.device("cpu")


def test_cuda_on_a_cpu_only_torch_says_what_to_do(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(MaqError) as exc:
        resolve_device("cuda")
    assert "CPU-only build" in _one_line(exc) and "--device cpu" in str(exc.value)


def test_cuda_without_a_visible_gpu_or_with_too_few(gpus):
    gpus(0)
    with pytest.raises(MaqError) as exc:
        resolve_device("cuda")
    assert "no CUDA GPU is visible" in _one_line(exc)
    gpus(2)
    with pytest.raises(MaqError) as exc:
        resolve_device("cuda:2")
    assert "cuda:0 to cuda:1" in _one_line(exc)


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:x", "", "xpu", "meta"])
def test_unknown_device_names_are_one_line(name):
    with pytest.raises(MaqError) as exc:
        resolve_device(name)
    assert "cuda:N" in _one_line(exc)


def test_describe_cpu_reports_torch_threads():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert describe_device("cpu") == "cpu (2 threads)"
        torch.set_num_threads(1)
        assert describe_device(torch.device("cpu")) == "cpu (1 thread)"
    finally:
        torch.set_num_threads(before)


def test_describe_cuda_names_the_gpu_and_its_memory(monkeypatch):
    props = SimpleNamespace(name="NVIDIA H200", total_memory=int(139.8 * 2**30))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert describe_device("cuda") == "cuda:0 (NVIDIA H200, 140 GiB)"
    assert describe_device("cuda:1").startswith("cuda:1 (NVIDIA H200")


OOM = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 1 has a total capacity of 139.81 GiB of "
    "which 1.05 GiB is free. Of the allocated memory 130.2 GiB is allocated by PyTorch, and 2.1 "
    "GiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try "
    "setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation."
)


def test_cuda_oom_becomes_one_line():
    with pytest.raises(MaqError) as exc, cuda_oom_as_error():
        raise torch.OutOfMemoryError(OOM)
    text = _one_line(exc)
    assert text.startswith("CUDA out of memory on cuda:1 (tried to allocate 2.00 GiB): lower ")
    assert "batch_size" in text and "--device cpu" in text
    assert isinstance(exc.value.__cause__, torch.OutOfMemoryError)


def test_cuda_oom_names_the_given_device_and_other_errors_pass():
    assert oom_message(torch.OutOfMemoryError("CUDA out of memory."), "cuda:0").startswith(
        "CUDA out of memory on cuda:0: "
    )

    @cuda_oom_as_error("cuda:0")
    def fails():
        raise ValueError("not memory")

    with pytest.raises(ValueError, match="not memory"):
        fails()
