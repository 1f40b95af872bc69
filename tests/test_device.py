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


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _mirrored_buffer(n: int, obs_dim: int, actions, seed: int):
    import numpy as np

    from maq.buffers import ReplayBuffer

    g = np.random.default_rng(seed)
    action_shape, dtype = (actions.shape[1:], np.float32) if actions.ndim > 1 else ((), np.int64)
    buf = ReplayBuffer(n, obs_dim, action_shape, dtype, seed=seed)
    obs = g.standard_normal((n, obs_dim)).astype(np.float32)
    buf.add(obs, actions, g.standard_normal(n), obs[::-1].copy(), np.zeros(n), np.zeros(n))
    return buf.mirror("cuda")


@needs_cuda
@pytest.mark.parametrize("learner", ["rlpd", "maq_rlpd", "iql"])
def test_a_learner_update_on_cuda_never_waits_for_the_host(learner):
    """Sampling from device-mirrored buffers and a whole update (the UTD critic steps, actor and
    temperature) queue their kernels without one host synchronisation; metrics stay on the GPU."""
    import dataclasses

    import numpy as np

    from maq.agents.discrete_sac import DiscreteSAC
    from maq.agents.iql import IQL
    from maq.agents.sac import SAC
    from maq.buffers import batch_to_torch, interleave_minibatches
    from maq.presets import PRESETS

    S, A, K, n = 11, 3, 4, 500
    g = np.random.default_rng(0)
    cfg = dataclasses.replace(PRESETS[learner]["paper"].learner, compile="off")
    if learner == "rlpd":
        agent, acts = SAC(S, A, cfg, "cuda"), g.uniform(-1, 1, (n, A)).astype(np.float32)
    elif learner == "maq_rlpd":
        agent, acts = DiscreteSAC(S, K, cfg, "cuda"), g.integers(0, K, n)
    else:
        agent, acts = IQL(S, A, cfg, "cuda"), g.uniform(-1, 1, (n, A)).astype(np.float32)
    online, human = _mirrored_buffer(n, S, acts, 1), _mirrored_buffer(n, S, acts, 2)
    utd = getattr(cfg, "utd_ratio", 1)

    def one_update():
        batch = interleave_minibatches(online.sample(64 * utd), human.sample(64 * utd), utd)
        return agent.update(batch_to_torch(batch, "cuda"))

    one_update()  # first calls allocate and initialise (cuBLAS handles, optimizer state)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            metrics = one_update()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(v.device.type == "cuda" for k, v in metrics.items() if k != "actor_lr")
    assert all(torch.isfinite(v).all() for v in metrics.values())
