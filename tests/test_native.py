"""maq.native: the C kernels of the LayerNorm critic ensemble against autograd, and their build."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from maq import native
from maq.agents.sac import SAC, SACConfig, polyak_update
from maq.native import AdamStep, EnsembleKernels, NativeUnavailable
from maq.nn import EnsembleMLP, adam
from maq.seeding import torch_threads

try:
    native.library()
except NativeUnavailable as err:  # no compiler or no MKL here: the learners fall back
    pytestmark = pytest.mark.skip(reason=f"maq.native unavailable: {err}")

# (members, input width, hidden widths, batch): depth 1 to 3, widths not multiples of a vector
ARCHS = [(3, 7, (32, 16, 8), 20), (2, 5, (24,), 9), (10, 67, (256, 256), 64)]


def _ensemble(members: int, in_dim: int, hidden: tuple[int, ...], seed: int = 0) -> EnsembleMLP:
    g = torch.Generator().manual_seed(seed)
    ens = EnsembleMLP(members, in_dim, hidden, 1, layer_norm=True, init="xavier", generator=g)
    with torch.no_grad():  # LayerNorm away from its initial identity, biases away from zero
        for p in [*ens.ln_weights, *ens.ln_biases, *ens.biases]:
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return ens


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"E{a[0]}-{'x'.join(map(str, a[2]))}")
def test_mse_gradient_matches_autograd(arch):
    members, in_dim, hidden, batch = arch
    ens = _ensemble(members, in_dim, hidden)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(batch, in_dim, generator=g), torch.randn(batch, generator=g)

    q = ens(x).squeeze(-1)  # (E, B)
    loss = ((q - y) ** 2).mean(dim=1).sum()
    expected = torch.autograd.grad(loss, list(ens.parameters()))

    q_sum, sq_sum = EnsembleKernels(ens).mse_grad(x, y)
    torch.testing.assert_close(q_sum, q.detach().sum(dim=1), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(sq_sum, ((q.detach() - y) ** 2).sum(dim=1), rtol=1e-5, atol=1e-4)
    for (name, p), want in zip(ens.named_parameters(), expected, strict=True):
        assert p.grad is not None and p.grad.shape == p.shape, name
        torch.testing.assert_close(p.grad, want, rtol=1e-4, atol=1e-5, msg=name)


def test_q_of_chosen_members_matches_the_forward_pass():
    ens = _ensemble(4, 6, (16, 16))
    x = torch.randn(11, 6)
    members = torch.tensor([3, 0])
    kernels = EnsembleKernels(ens)
    got = kernels.q(x, members)
    torch.testing.assert_close(got, ens(x, members).squeeze(-1).detach(), rtol=1e-5, atol=1e-5)
    ens.weights[1].data = 2 * ens.weights[1].data  # new storage: the kernels follow it
    moved = kernels.q(x, members)
    assert not torch.allclose(moved, got)
    torch.testing.assert_close(moved, ens(x, members).squeeze(-1).detach(), rtol=1e-5, atol=1e-5)


def test_result_does_not_depend_on_the_thread_count():
    """Each member is one thread's work, so 1 and 2 threads give the same bits."""
    ens = _ensemble(5, 9, (32, 32))
    kernels = EnsembleKernels(ens)
    x, y = torch.randn(33, 9), torch.randn(33)
    runs = []
    for threads in (1, 2):
        with torch_threads(threads):
            sums = kernels.mse_grad(x, y)
            runs.append([*sums, *(p.grad.clone() for p in ens.parameters())])
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


def test_adam_and_polyak_in_the_kernel_match_the_optimizer():
    """The fused update (each member's Adam and Polyak step right after its gradient) equals
    FusedAdam.step() plus polyak_update, and leaves the optimizer's state as step() would."""
    tau = 0.05
    ens = _ensemble(3, 7, (32, 16))
    twin, target = copy.deepcopy(ens), copy.deepcopy(ens)
    twin_target = copy.deepcopy(target)
    with torch.no_grad():
        for p in target.parameters():
            p.add_(0.1)
        for p, q in zip(twin_target.parameters(), target.parameters(), strict=True):
            p.copy_(q)
    opt, twin_opt = adam(ens.parameters(), 1e-2), adam(twin.parameters(), 1e-2)
    kernels, twin_kernels = EnsembleKernels(ens), EnsembleKernels(twin)
    g = torch.Generator().manual_seed(3)
    for step in range(4):
        x, y = torch.randn(20, 7, generator=g), torch.randn(20, generator=g)
        kernels.mse_grad(x, y)
        opt.step()
        polyak_update(target, ens, tau)
        counted = twin_opt.begin_external_step(twin_kernels.parameters)
        assert (counted is None) == (step == 0)  # the first step creates the state
        if counted is None:
            twin_kernels.mse_grad(x, y)
            twin_opt.step()
            polyak_update(twin_target, twin, tau)
        else:
            twin_kernels.mse_grad(x, y, AdamStep(**counted, target=twin_target, tau=tau))
    pairs = [
        *zip(ens.parameters(), twin.parameters(), strict=True),
        *zip(target.parameters(), twin_target.parameters(), strict=True),
    ]
    for p, q in zip(ens.parameters(), twin.parameters(), strict=True):
        a, b = opt.state[p], twin_opt.state[q]
        assert float(a["step"]) == float(b["step"]) == 4.0
        pairs += [(a["exp_avg"], b["exp_avg"]), (a["exp_avg_sq"], b["exp_avg_sq"])]
    assert any(
        not torch.equal(p, q) for p, q in zip(target.parameters(), ens.parameters(), strict=True)
    )
    for a, b in pairs:  # float rounding: ~1 ulp of values of order 1
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_bad_inputs_are_refused_with_a_reason():
    ens = _ensemble(3, 4, (8,))
    kernels = EnsembleKernels(ens)
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        kernels.q(torch.randn(5, 3), torch.tensor([0]))
    with pytest.raises(IndexError, match="out of range"):
        kernels.q(torch.randn(5, 4), torch.tensor([3]))
    with pytest.raises(ValueError, match=r"targets must be \(5,\)"):
        kernels.mse_grad(torch.randn(5, 4), torch.randn(4))
    with pytest.raises(ValueError, match="LayerNorm"):
        EnsembleKernels(EnsembleMLP(2, 4, (8,), 1, layer_norm=False))
    with pytest.raises(ValueError, match="output width of 1"):
        EnsembleKernels(EnsembleMLP(2, 4, (8,), 3, layer_norm=True))
    with pytest.raises(ValueError, match="1 to 16 hidden layers"):
        EnsembleKernels(EnsembleMLP(2, 4, (2,) * 17, 1, layer_norm=True))


def test_build_is_cached_and_a_missing_compiler_is_reported(tmp_path):
    first = native.build(cache=tmp_path)
    stamp = first.stat().st_mtime_ns
    assert native.build(cache=tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temp file left behind
    with pytest.raises(NativeUnavailable, match="does not run"):
        native.build(cc=str(tmp_path / "no-such-cc"), cache=tmp_path)


def test_concurrent_builds_leave_one_complete_library(tmp_path):
    """Processes of a sweep may build at once: each compiles to its own temp file and renames."""
    code = (
        "import sys, ctypes; from pathlib import Path; from maq import native; "
        "path = native.build(cache=Path(sys.argv[1])); "
        "ctypes.CDLL(str(path)).maq_workspace_floats; print(path)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE)
        for _ in range(3)
    ]
    paths = {p.communicate(timeout=300)[0].decode().strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(paths) == 1 and [f.name for f in tmp_path.iterdir()] == [Path(paths.pop()).name]


def test_sac_routes_its_critic_gradient_through_the_kernels(monkeypatch):
    cfg = SACConfig(hidden_dims=(16, 16), num_qs=4, utd_ratio=2, compile="on")
    assert SAC(5, 3, cfg, seed=0).native
    assert not SAC(5, 3, dataclasses.replace(cfg, native_critic=False), seed=0).native
    assert not SAC(5, 3, dataclasses.replace(cfg, critic_layer_norm=False), seed=0).native
    assert not SAC(5, 3, dataclasses.replace(cfg, compile="off"), seed=0).native

    monkeypatch.setattr(native, "_LIBRARY", NativeUnavailable("no C compiler"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agent = SAC(5, 3, cfg, seed=0)
    assert not agent.native
    assert any("no C compiler" in str(w.message) for w in caught)
