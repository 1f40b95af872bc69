"""maq.nn ensemble, maq.agents.sac (SAC/RLPD) and maq.agents.discrete_sac (MAQ+RLPD/DSAC)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from maq.agents.discrete_sac import DiscreteSAC, DiscreteSACConfig, soft_value
from maq.agents.sac import SAC, SACConfig, tanh_log_prob
from maq.buffers import Batch
from maq.nn import EnsembleMLP

OBS, ACT, K = 5, 3, 4
SMALL = {"hidden_dims": (16, 16), "compile": "off"}


def _batch(n: int, discrete: bool, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    actions = (
        torch.randint(0, K, (n,), generator=g)
        if discrete
        else torch.rand(n, ACT, generator=g) * 2 - 1
    )
    return Batch(
        torch.randn(n, OBS, generator=g),
        actions,
        torch.randn(n, generator=g),
        torch.randn(n, OBS, generator=g),
        (torch.rand(n, generator=g) > 0.2).float(),
    )


def _agents():
    yield SAC(OBS, ACT, SACConfig(**SMALL, num_qs=4, num_min_qs=2, utd_ratio=3), seed=0), False
    yield DiscreteSAC(OBS, K, DiscreteSACConfig(**SMALL, num_qs=3, utd_ratio=2), seed=0), True


def test_ensemble_matches_members_run_one_by_one():
    torch.manual_seed(0)
    net = EnsembleMLP(4, 6, (8, 8), 2, layer_norm=True)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # LayerNorm affine away from identity
    x = torch.randn(7, 6)
    out = net(x)
    assert out.shape == (4, 7, 2)
    for e in range(4):
        h = x
        for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
            h = h @ w[e] + b[e, 0]
            if i < 2:
                h = torch.nn.functional.layer_norm(
                    h, (8,), net.ln_weights[i][e, 0], net.ln_biases[i][e, 0]
                )
                h = torch.relu(h)
        torch.testing.assert_close(out[e], h)
    members = torch.tensor([3, 1])
    torch.testing.assert_close(net(x, members), out[members])


@pytest.mark.parametrize("index", [0, 1])
def test_one_update_gives_finite_metrics_and_moves_parameters(index):
    agent, discrete = list(_agents())[index]
    before = {k: v.clone() for k, v in agent.state_dict()["actor"].items()}
    critic_before = agent.critic.weights[0].detach().clone()
    metrics = agent.update(_batch(6 * agent.cfg.utd_ratio, discrete))
    assert metrics and all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert agent.num_updates == agent.cfg.utd_ratio
    assert any(not torch.equal(before[k], v) for k, v in agent.actor.state_dict().items())
    assert not torch.equal(critic_before, agent.critic.weights[0])
    if not discrete:
        assert agent.log_alpha.item() != 0.0  # log(init_temperature = 1) moved


def test_target_subset_uses_num_min_qs_critics(monkeypatch):
    agent = SAC(OBS, ACT, SACConfig(**SMALL, num_qs=5, num_min_qs=2, utd_ratio=1), seed=0)
    seen = []
    original = EnsembleMLP.forward

    def spy(self, x, members=None):
        if self is agent.target_critic:
            seen.append(members)
        return original(self, x, members)

    monkeypatch.setattr(EnsembleMLP, "forward", spy)
    agent.update(_batch(8, False))
    assert len(seen) == 1 and len(seen[0]) == 2 and len(set(seen[0].tolist())) == 2


def test_discrete_target_is_exact_expectation_over_codes():
    log_probs = torch.log_softmax(torch.tensor([[0.0, 1.0, 2.0]]), -1)
    q = torch.tensor([[1.0, -1.0, 3.0]])
    expected = sum(log_probs[0, a].exp() * (q[0, a] - 0.2 * log_probs[0, a]) for a in range(3))
    torch.testing.assert_close(soft_value(log_probs, q, 0.2), expected.reshape(1))


def test_tanh_log_prob_matches_torch_distributions():
    mean, log_std = torch.randn(4, ACT), torch.randn(4, ACT) * 0.3
    u = mean + log_std.exp() * torch.randn(4, ACT)
    base = torch.distributions.Normal(mean, log_std.exp())
    dist = torch.distributions.TransformedDistribution(
        base, [torch.distributions.TanhTransform(cache_size=1)]
    )
    expected = dist.log_prob(torch.tanh(u)).sum(-1)
    torch.testing.assert_close(tanh_log_prob(u, mean, log_std), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("index", [0, 1])
def test_state_dict_round_trip_is_exact(index):
    agent, discrete = list(_agents())[index]
    agent.update(_batch(6 * agent.cfg.utd_ratio, discrete, seed=1))
    twin = type(agent)(OBS, K if discrete else ACT, dataclasses.replace(agent.cfg), seed=123)
    twin.load_state_dict(agent.state_dict())
    batch = _batch(6 * agent.cfg.utd_ratio, discrete, seed=2)
    assert agent.update(batch) == twin.update(batch)
    for (k, a), (_, b) in zip(agent.state_dict().items(), twin.state_dict().items(), strict=True):
        if isinstance(a, dict) and k.endswith("critic") or k == "actor":
            for name in a:
                assert torch.equal(a[name], b[name]), (k, name)
    obs = torch.randn(5, OBS)
    assert torch.equal(agent.act(obs), twin.act(obs))  # same generator state too
    assert torch.equal(agent.act(obs, deterministic=True), twin.act(obs, deterministic=True))


@pytest.mark.parametrize("discrete", [False, True])
def test_compiled_update_matches_eager(monkeypatch, discrete):
    """The compile wiring: each loss's gradient as one torch.func.grad graph over our modules
    (maq.nn.Gradients) equals autograd's; state_dict keys unchanged.

    Inductor's C++ codegen takes over a minute cold on a loaded CPU, so the test traces with the
    ``aot_eager`` backend unless MAQ_TEST_INDUCTOR=1 asks for the real one.
    """
    import functools
    import os

    if os.environ.get("MAQ_TEST_INDUCTOR") != "1":
        monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    if discrete:
        cfg, make = DiscreteSACConfig(**SMALL, num_qs=3, utd_ratio=2), DiscreteSAC
    else:
        cfg, make = SACConfig(**SMALL, num_qs=4, utd_ratio=2), SAC
    eager = make(OBS, K if discrete else ACT, cfg, seed=0)
    compiled = make(OBS, K if discrete else ACT, dataclasses.replace(cfg, compile="on"), seed=0)
    assert compiled.compiled and not eager.compiled
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    for seed in range(3):
        batch = _batch(12, discrete, seed=seed)
        a, b = eager.update(batch), compiled.update(batch)
        assert a.keys() == b.keys()
        for k in a:
            assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-4, abs=1e-5), k
    for module in ("actor", "critic", "target_critic"):
        pairs = zip(*(getattr(x, module).parameters() for x in (eager, compiled)), strict=True)
        for p, q in pairs:
            assert torch.allclose(p, q, atol=1e-6), module


@pytest.mark.parametrize("index", [0, 1])
def test_initial_weights_come_from_the_seed_not_the_global_rng(index):
    agent, discrete = list(_agents())[index]
    torch.rand(100)  # move the global RNG
    twin = type(agent)(OBS, K if discrete else ACT, agent.cfg, seed=0)
    for a, b in zip(
        agent.state_dict()["critic"].values(), twin.state_dict()["critic"].values(), strict=True
    ):
        assert torch.equal(a, b)


# ---- losses and targets on hand-computed numbers -----------------------------------------------


def test_td_target_on_known_numbers():
    from maq.agents.sac import td_target

    y = td_target(
        torch.tensor([1.0, -2.0]), torch.tensor([1.0, 0.0]), 0.9, torch.tensor([10.0, 5.0])
    )
    torch.testing.assert_close(y, torch.tensor([1.0 + 0.9 * 10.0, -2.0]))  # no bootstrap at 0


def test_critic_loss_sums_members_of_their_mean_squared_errors():
    from maq.agents.sac import critic_loss

    q = torch.tensor([[1.0, 2.0], [0.0, 4.0]])  # (E=2, B=2)
    loss, metrics = critic_loss(q, torch.tensor([2.0, 2.0]))
    # member 0: ((1-2)² + 0)/2 = 0.5; member 1: (4 + 4)/2 = 4
    torch.testing.assert_close(loss, torch.tensor(4.5))
    torch.testing.assert_close(metrics["critic_loss"], torch.tensor(2.25))


def test_actor_loss_is_alpha_log_pi_minus_q():
    from maq.agents.sac import actor_loss

    log_probs = torch.tensor([-1.0, -3.0])
    q = torch.tensor([[2.0, 0.0], [4.0, 2.0]])  # (E, B): mean 3, 1; min 2, 0
    loss, m = actor_loss(log_probs, q, torch.tensor(0.5), "mean")
    torch.testing.assert_close(loss, torch.tensor(((-0.5 - 3.0) + (-1.5 - 1.0)) / 2))
    loss_min, _ = actor_loss(log_probs, q, torch.tensor(0.5), "min")
    torch.testing.assert_close(loss_min, torch.tensor(((-0.5 - 2.0) + (-1.5 - 0.0)) / 2))
    torch.testing.assert_close(m["entropy"], torch.tensor(2.0))


def test_temperature_loss_raises_alpha_when_entropy_is_below_target():
    from maq.agents.sac import temperature_loss

    log_alpha = torch.tensor(0.0, requires_grad=True)
    loss, _ = temperature_loss(log_alpha, torch.tensor(-1.0), target_entropy=1.0)
    torch.testing.assert_close(loss, torch.tensor(-2.0))  # α·(H − H̄) = 1·(−1 − 1)
    loss.backward()
    assert log_alpha.grad < 0  # gradient descent increases log α


def test_discrete_actor_loss_on_known_numbers():
    from maq.agents.discrete_sac import discrete_actor_loss

    log_probs = torch.log(torch.tensor([[0.25, 0.75]]))
    q = torch.tensor([[[1.0, 3.0]], [[2.0, 1.0]]])  # (E=2, B=1, K=2): min over critics 1, 1
    loss, m = discrete_actor_loss(log_probs, q, 0.5, "min")
    expected = 0.25 * (0.5 * log_probs[0, 0] - 1.0) + 0.75 * (0.5 * log_probs[0, 1] - 1.0)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(m["entropy"], -(0.25 * log_probs[0, 0] + 0.75 * log_probs[0, 1]))


def _constant_critics(agent, value: float) -> None:
    """Every critic (and target) outputs ``value`` for every input: zero weights, bias value."""
    with torch.no_grad():
        for net in (agent.critic, agent.target_critic):
            for w in net.weights:
                w.zero_()
            for b in net.biases:
                b.fill_(value)


def test_sac_critic_loss_uses_the_soft_td_target():
    agent = SAC(
        OBS,
        ACT,
        SACConfig(
            **SMALL,
            num_qs=2,
            num_min_qs=2,
            critic_layer_norm=False,
            init_temperature=0.5,
            discount=0.9,
        ),
        seed=0,
    )
    _constant_critics(agent, 2.0)
    b = _batch(3, False)
    next_log_probs = torch.tensor([-1.0, 0.0, 1.0])
    next_actions = torch.zeros(3, ACT)
    subset = torch.tensor([0, 1])
    loss, _ = agent.critic_loss(b, (next_actions, next_log_probs), subset)
    # y = r + γ·m·(min Q̄ − α·log π(a'|s')) with Q̄ = 2, α = 0.5; Q = 2 for both critics
    y = b.rewards + 0.9 * b.masks * (2.0 - 0.5 * next_log_probs)
    torch.testing.assert_close(loss, 2 * ((2.0 - y) ** 2).mean())


def test_discrete_critic_loss_uses_the_exact_soft_value():
    cfg = DiscreteSACConfig(**SMALL, num_qs=2, alpha=0.2, discount=0.9)
    agent = DiscreteSAC(OBS, K, cfg, seed=0)
    _constant_critics(agent, 1.0)
    b = _batch(3, True)
    log_pi = torch.log_softmax(torch.randn(3, K), -1)
    loss, _ = agent.critic_loss(b, (log_pi,), torch.tensor([0, 1]))
    next_v = (log_pi.exp() * (1.0 - 0.2 * log_pi)).sum(-1)
    y = b.rewards + 0.9 * b.masks * next_v
    torch.testing.assert_close(loss, 2 * ((1.0 - y) ** 2).mean())


@pytest.mark.parametrize("index", [0, 1])
def test_update_metrics_stay_tensors_on_the_device(index):
    """No host synchronisation inside an update: loops read metrics at log intervals."""
    agent, discrete = list(_agents())[index]
    metrics = agent.update(_batch(6 * agent.cfg.utd_ratio, discrete))
    assert metrics and all(torch.is_tensor(v) and v.dim() == 0 for v in metrics.values())
