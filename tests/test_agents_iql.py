"""The IQL learner (Gaussian and categorical actors): losses on known numbers, one update, state."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from maq.agents.iql import (
    ACTORS,
    IQL,
    IQLConfig,
    actor_loss,
    advantage_weights,
    cosine_lr,
    critic_loss,
    expectile_loss,
    gaussian_log_prob,
    prior_kl,
    value_loss,
)
from maq.buffers import Batch

S, A, K, B = 5, 3, 4, 8
SMALL = IQLConfig(hidden_dims=(16, 16), compile="off")


def make_batch(actor: str, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    actions = (
        torch.randint(0, K, (B,), generator=g)
        if actor == "categorical"
        else torch.rand(B, A, generator=g) * 2 - 1
    )
    masks = torch.ones(B)
    masks[0] = 0.0
    return Batch(torch.randn(B, S, generator=g), actions, torch.randn(B, generator=g),
                 torch.randn(B, S, generator=g), masks)  # fmt: skip


def make_agent(actor: str, **overrides) -> IQL:
    torch.manual_seed(0)
    cfg = dataclasses.replace(SMALL, actor=actor, **overrides)
    if actor == "categorical":
        prior = torch.nn.Linear(S, K)
        return IQL(S, K, cfg, prior=prior if cfg.prior_kl_coef > 0 else None)
    return IQL(S, A, cfg)


def test_expectile_loss_on_known_numbers():
    diff = torch.tensor([-2.0, 1.0, 0.0])
    assert expectile_loss(diff, 0.7).tolist() == pytest.approx([0.3 * 4, 0.7 * 1, 0.0])
    loss, metrics = value_loss(diff, 0.7)
    assert loss.item() == pytest.approx((1.2 + 0.7) / 3)
    assert metrics["advantage"].item() == pytest.approx(-1 / 3)
    # τ = 0.5 is half the squared error
    assert expectile_loss(diff, 0.5).tolist() == pytest.approx([2.0, 0.5, 0.0])


def test_critic_loss_is_the_mean_of_both_mses():
    qs = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    target = torch.tensor([0.0, 0.0])
    loss, _ = critic_loss(qs, target)
    assert loss.item() == pytest.approx(0.5 * ((1 + 4) / 2 + (9 + 0) / 2))


def test_advantage_weights_are_clipped_and_detached():
    adv = torch.tensor([-1.0, 0.0, 0.5, 10.0], requires_grad=True)
    w = advantage_weights(adv, beta=3.0, max_weight=100.0)
    assert w.tolist() == pytest.approx([math.exp(-3), 1.0, math.exp(1.5), 100.0])
    assert not w.requires_grad
    log_prob = torch.tensor([-1.0, -2.0, -3.0, -4.0], requires_grad=True)
    loss, metrics = actor_loss(log_prob, adv, 3.0, 100.0)
    assert loss.item() == pytest.approx(-(w * log_prob).mean().item())
    loss.backward()
    assert adv.grad is None  # the actor loss never trains V through the advantage


def test_prior_kl_is_zero_when_policy_equals_prior_and_matches_the_formula():
    logits = torch.randn(6, K)
    kl, _ = prior_kl(logits, logits + 3.0)  # a constant shift is the same distribution
    assert kl.item() == pytest.approx(0.0, abs=1e-6)
    prior, policy = torch.randn(6, K), torch.randn(6, K)
    p, q = torch.softmax(prior, -1), torch.softmax(policy, -1)
    expected = (p * (p.log() - q.log())).sum(-1).mean()
    assert prior_kl(prior, policy)[0].item() == pytest.approx(expected.item(), rel=1e-5)
    assert prior_kl(prior, policy)[0].item() > 0


def test_gaussian_log_prob_matches_torch_normal():
    mean, log_std, a = torch.randn(4, A), torch.randn(A) * 0.3, torch.randn(4, A)
    expected = torch.distributions.Normal(mean, log_std.exp()).log_prob(a).sum(-1)
    assert torch.allclose(gaussian_log_prob(mean, log_std, a), expected, atol=1e-5)


def test_cosine_lr_matches_torch_schedule_and_rises_again_after_t_max():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=3e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for step in range(25):
        assert cosine_lr(3e-4, step, 10) == pytest.approx(opt.param_groups[0]["lr"], abs=1e-12)
        opt.step()
        sched.step()
    assert cosine_lr(3e-4, 20, 10) == pytest.approx(3e-4)  # the release's lr is back at 2·T_max
    assert cosine_lr(3e-4, 7, 0) == 3e-4


@pytest.mark.parametrize("actor", ["gaussian", "categorical"])
def test_one_update_moves_every_network_and_gives_finite_metrics(actor):
    agent = make_agent(actor, prior_kl_coef=0.5 if actor == "categorical" else 0.0,
                       max_grad_norm=1.0 if actor == "categorical" else 0.0)  # fmt: skip
    before = {k: v.clone() for k, v in agent.nets.state_dict().items()}
    target_before = [p.clone() for p in agent.critic_target.parameters()]
    metrics = agent.update(make_batch(actor))
    assert all(math.isfinite(v) for v in metrics.values())
    expected = {"value_loss", "q_loss", "actor_loss", "weight", "advantage", "actor_lr"}
    assert expected <= set(metrics)
    if actor == "categorical":
        assert {"prior_kl", "grad_norm"} <= set(metrics)
    after = agent.nets.state_dict()
    for prefix in ("critic.", "value.", "actor."):
        moved = [not torch.equal(before[k], after[k]) for k in after if k.startswith(prefix)]
        assert any(moved), prefix
    assert torch.equal(before["obs_mean"], after["obs_mean"])  # statistics are not trained
    for p_t, p_b, p in zip(agent.critic_target.parameters(), target_before,
                           agent.nets.critic.parameters(), strict=True):  # fmt: skip
        # Polyak: θ̄ ← θ̄ + τ(θ − θ̄), so the target moved towards the critic by τ
        assert torch.allclose(p_t, p_b + 0.005 * (p - p_b), atol=1e-6)
    assert agent.num_updates == 1


def test_kl_pulls_the_policy_towards_the_prior():
    agent = make_agent("categorical", prior_kl_coef=50.0, beta=0.0)
    batch = make_batch("categorical")
    first = agent.update(batch)["prior_kl"]
    for _ in range(50):
        last = agent.update(batch)["prior_kl"]
    assert last < first


def test_terminal_masks_stop_bootstrapping():
    agent = make_agent("gaussian")
    batch = make_batch("gaussian")
    with torch.no_grad():
        agent.nets.value[-1].bias.fill_(100.0)  # V(s') ≈ 100 everywhere
    q_target = []

    def spy(qs, target):
        q_target.append(target.clone())
        return critic_loss(qs, target)

    import maq.agents.iql as iql

    orig, iql.critic_loss = iql.critic_loss, spy
    try:
        agent.update(batch)
    finally:
        iql.critic_loss = orig
    target = q_target[0]
    assert target[0].item() == pytest.approx(batch.rewards[0].item())  # masks[0] = 0
    assert (target[1:] - batch.rewards[1:]).min().item() > 50  # the others bootstrap


def test_act_is_the_mean_action_with_normalized_states_or_the_argmax_code():
    agent = make_agent("gaussian")
    mean, std = np.arange(S, dtype=np.float32), np.full(S, 2.0, np.float32)
    agent.set_state_statistics(mean, std)
    obs = torch.randn(3, S)
    expected = torch.tanh(agent.nets.actor((obs - torch.as_tensor(mean)) / 2.0))
    assert torch.allclose(agent.act(obs, deterministic=True), expected, atol=1e-6)
    sample = agent.act(obs, deterministic=False)
    assert sample.shape == (3, A) and sample.abs().max() <= 1.0
    cat = make_agent("categorical")
    codes = cat.act(obs, deterministic=True)
    assert codes.dtype == torch.int64
    assert torch.equal(codes, cat.nets.actor(obs).argmax(-1))
    assert cat.act(obs, deterministic=False).shape == (3,)


@pytest.mark.parametrize("actor", ["gaussian", "categorical"])
def test_state_dict_round_trip_continues_identically(actor):
    a, b = make_agent(actor), make_agent(actor)
    a.update(make_batch(actor, 1))
    b.load_state_dict(a.state_dict())
    ma, mb = a.update(make_batch(actor, 2)), b.update(make_batch(actor, 2))
    assert ma == mb
    for (k, va), vb in zip(a.nets.state_dict().items(), b.nets.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    obs = torch.randn(2, S)
    assert torch.equal(a.act(obs, deterministic=False), b.act(obs, deterministic=False))
    policy_only = make_agent(actor)
    policy_only.load_state_dict(a.policy_state_dict())
    assert torch.equal(policy_only.act(obs), a.act(obs))


@pytest.mark.parametrize("actor", ACTORS)
def test_compiled_gradients_match_eager(actor):
    # compiled: torch.func.grad of the losses in one graph; eager: losses().backward()
    maq = {"prior_kl_coef": 0.5, "max_grad_norm": 1.0} if actor == "categorical" else {}
    eager = make_agent(actor, compile="off", **maq)
    compiled = make_agent(actor, compile="on", **maq)
    assert compiled.compiled and not eager.compiled
    if actor == "categorical":
        compiled.prior.load_state_dict(eager.prior.state_dict())
    for seed in range(3):
        batch = make_batch(actor, seed)
        me, mc = eager.update(batch), compiled.update(batch)
        assert me.keys() == mc.keys()
        for k in me:
            assert float(mc[k]) == pytest.approx(float(me[k]), rel=1e-4, abs=1e-6), k
    for a, b in zip(eager.nets.parameters(), compiled.nets.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
