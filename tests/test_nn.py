"""maq.nn.FusedAdam: the same updates and state_dict as torch.optim.Adam(fused=True)."""

from __future__ import annotations

import copy

import pytest
import torch

from maq.nn import FusedAdam


def two_layer_net() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 2))


def groups(net: torch.nn.Sequential) -> list[dict]:
    # two groups with the same lr (one kernel call) and one with its own
    return [
        {"params": [*net[0].parameters(), net[2].weight], "lr": 1e-2},
        {"params": [net[2].bias], "lr": 1e-2},
        {"params": [torch.nn.Parameter(torch.ones(3))], "lr": 3e-3},  # never gets a gradient
    ]


def train(net, opt, steps: int, seed: int, skip: dict[int, list] | None = None) -> None:
    g = torch.Generator().manual_seed(seed)
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        x = torch.randn(8, 5, generator=g)
        net(x).pow(2).sum().backward()
        for p in (skip or {}).get(i, []):  # no gradient for these parameters this step
            p.grad = None
        opt.step()
        if i == steps // 2:  # a schedule changing one group's lr
            opt.param_groups[1]["lr"] = 1e-4


def skips(net: torch.nn.Sequential) -> dict[int, list]:
    late = [net[2].weight]  # its state is created after the others share a counter
    return {0: late, 1: late, 2: late, 5: [net[2].bias], 7: [net[0].weight]}


def test_matches_torch_fused_adam_bit_for_bit():
    ref_net, net = two_layer_net(), two_layer_net()
    ref = torch.optim.Adam(groups(ref_net), lr=1e-3, fused=True)
    opt = FusedAdam(groups(net), lr=1e-3)
    train(ref_net, ref, 12, seed=1, skip=skips(ref_net))
    train(net, opt, 12, seed=1, skip=skips(net))
    for a, b in zip(ref_net.parameters(), net.parameters(), strict=True):
        assert torch.equal(a, b)
    steps = {i: float(s["step"]) for i, s in opt.state_dict()["state"].items()}
    assert steps == {0: 11, 1: 12, 2: 9, 3: 11}  # each parameter counts its own steps
    assert str(ref.state_dict()) == str(opt.state_dict())


def test_state_dict_round_trip_continues_exactly():
    net = two_layer_net()
    opt = FusedAdam(groups(net), lr=1e-3)
    train(net, opt, 4, seed=2)
    saved_net, saved_opt = copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict())
    train(net, opt, 4, seed=3)

    resumed = two_layer_net()
    resumed.load_state_dict(saved_net)
    resumed_opt = FusedAdam(groups(resumed), lr=1e-3)
    resumed_opt.load_state_dict(saved_opt)  # separate step tensors again: shared on next step
    train(resumed, resumed_opt, 4, seed=3)
    for a, b in zip(net.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_rejects_options_it_does_not_implement():
    net = two_layer_net()
    with pytest.raises(ValueError, match="plain Adam"):
        FusedAdam([{"params": net.parameters(), "weight_decay": 0.1}], lr=1e-3)


def test_external_step_counts_and_hands_over_the_state():
    """maq.native applies Adam itself: the optimizer counts the step and keeps the state."""
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)
    opt = FusedAdam([{"params": a.parameters()}, {"params": b.parameters(), "lr": 0.1}], lr=0.01)
    params = list(a.parameters())
    assert opt.begin_external_step(params) is None  # no state before a first step()
    for p in [*a.parameters(), *b.parameters()]:
        p.grad = torch.randn_like(p)
    opt.step()
    assert opt.begin_external_step(params[:1]) is None  # not a whole group
    got = opt.begin_external_step(params[::-1])
    assert got is not None and got["step"] == 2.0 and got["lr"] == 0.01
    assert all(
        m is opt.state[p]["exp_avg"] for m, p in zip(got["exp_avg"], params[::-1], strict=True)
    )
    assert all(float(opt.state[p]["step"]) == 2.0 for p in params)
    assert all(float(opt.state[p]["step"]) == 1.0 for p in b.parameters())
    opt.step()  # the next ordinary step continues the count
    assert float(opt.state[params[0]]["step"]) == 3.0
