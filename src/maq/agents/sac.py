"""Continuous soft actor-critic with a vectorized critic ensemble: the SAC and RLPD learner.

SAC (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", eqs. 5, 7, 18) with
the REDQ/RLPD extensions (Chen et al. 2021; Ball et al. 2023, "Efficient Online RL with Offline
Data" §3): an ensemble of ``num_qs`` critics trained together, a TD target from the min over a
random subset of ``num_min_qs`` target critics, optional LayerNorm in the critics, and
``utd_ratio`` critic steps per actor/temperature step. RLPD is this learner with the ``rlpd``
preset (maq.presets) plus 50/50 online/offline minibatches (maq.buffers).

maq.agents.actor_critic holds what SAC and the discrete learner (maq.agents.discrete_sac) share:
the UTD schedule, the target critics' Polyak step and the checkpoint plumbing. No env, file or
logger here; randomness comes from the learner's own ``torch.Generator``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from maq.agents.actor_critic import SoftActorCritic
from maq.buffers import Batch
from maq.nn import EnsembleMLP, Gradients, adam, compile_forward, mlp, use_compile


@dataclass(frozen=True)
class SACConfig:
    """Continuous SAC/RLPD hyperparameters; defaults are RLPD's (docs/reference-spec.md §9.2)."""

    hidden_dims: tuple[int, ...] = (256, 256)
    """Actor and critic hidden widths (``sac_config.hidden_dims``)."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor (``sac_config.actor_lr``)."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critic ensemble (``sac_config.critic_lr``)."""
    temp_lr: float = 3e-4
    """Adam learning rate of log α (``sac_config.temp_lr``)."""
    discount: float = 0.99
    """γ per transition (``td_config.discount``)."""
    polyak_tau: float = 0.005
    """Target critics move by this fraction toward the online critics (``td_config.tau``)."""
    target_update_period: int = 1
    """Gradient steps between Polyak updates (RLPD: every step)."""
    num_qs: int = 10
    """Critics in the ensemble (``rlpd_config.num_qs``)."""
    num_min_qs: int = 2
    """Size of the random target subset the TD target takes the min over (``num_min_qs``)."""
    critic_layer_norm: bool = True
    """LayerNorm after each hidden critic layer, before ReLU (``critic_layer_norm``)."""
    actor_q_reduction: str = "mean"
    """How the actor combines the ensemble: ``mean`` (RLPD's ``sac_learner.py``) or ``min``."""
    init_temperature: float = 1.0
    """Initial α (``sac_config.init_temperature``)."""
    target_entropy: float | None = None
    """Target entropy of the temperature loss; None = −A/2 (RLPD's default)."""
    backup_entropy: bool = True
    """Subtract α·log π(a'|s') in the TD target (``backup_entropy``)."""
    utd_ratio: int = 20
    """Critic steps per :meth:`SAC.update`; one actor and temperature step follows, on the last
    minibatch (``train_finetuning.py --utd_ratio=20``)."""
    log_std_min: float = -20.0
    """Lower clip of the actor's log standard deviation (RLPD's TanhNormal)."""
    log_std_max: float = 2.0
    """Upper clip of the actor's log standard deviation."""
    init: str = "xavier"
    """Weight init (maq.nn.INITS): RLPD uses Xavier-uniform."""
    compile: str = "auto"
    """torch.compile the losses' gradients (maq.nn.COMPILE_MODES): ``auto`` where a compiler
    exists (the default measured in docs/benchmarks.md); results equal eager up to rounding."""


# ---- losses (pure) ---------------------------------------------------------------------------


def td_target(rewards: Tensor, masks: Tensor, discount: float, next_v: Tensor) -> Tensor:
    """y = r + γ·m·V(s'), with m = 0 only after a real termination (SAC eq. 3 with masks)."""
    return rewards + discount * masks * next_v


def critic_loss(q: Tensor, target_q: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Σ_i mean_b (Q_i(s,a) − y)² over the ensemble ``q`` (E, B) (SAC eq. 5, per critic).
    Summing over members makes one Adam over the stacked weights equal to one per critic."""
    loss = ((q - target_q.unsqueeze(0)) ** 2).mean(dim=1).sum()
    return loss, {"critic_loss": loss.detach() / q.shape[0], "q": q.detach().mean()}


def actor_loss(
    log_probs: Tensor, q: Tensor, alpha: Tensor, reduction: str
) -> tuple[Tensor, dict[str, Tensor]]:
    """mean_s [α·log π(a|s) − Q(s,a)], a ~ π reparameterized (SAC eq. 7); Q = the ensemble's
    mean or min. ``entropy`` (−mean log π, detached) feeds the temperature loss."""
    q_pi = q.mean(dim=0) if reduction == "mean" else q.min(dim=0).values
    loss = (alpha * log_probs - q_pi).mean()
    return loss, {"actor_loss": loss.detach(), "entropy": -log_probs.detach().mean()}


def temperature_loss(
    log_alpha: Tensor, entropy: Tensor, target_entropy: float
) -> tuple[Tensor, dict[str, Tensor]]:
    """α·(H(π) − H̄), with H(π) ≈ −mean log π a constant here (SAC eq. 18; RLPD's temp_loss)."""
    loss = log_alpha.exp() * (entropy - target_entropy)
    return loss, {"temperature_loss": loss.detach(), "alpha": log_alpha.detach().exp()}


def tanh_log_prob(u: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """log π(tanh u) for u ~ N(mean, σ²): Gaussian log-density minus Σ log(1 − tanh² u), the
    latter written as 2·(log 2 − u − softplus(−2u)) for stability (SAC appendix C)."""
    normal = -0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    correction = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return (normal - correction).sum(dim=-1)


# ---- learners --------------------------------------------------------------------------------


class SAC(SoftActorCritic):
    """Tanh-Gaussian actor, critic ensemble with targets, learned temperature."""

    _optimizers = ("actor_opt", "critic_opt", "temp_opt")
    _tensors = ("log_alpha",)

    def __init__(self, obs_dim: int, act_dim: int, cfg: SACConfig, device="cpu", seed: int = 0):
        self.cfg, self.device, self.act_dim = cfg, torch.device(device), act_dim
        self.target_entropy = -act_dim / 2 if cfg.target_entropy is None else cfg.target_entropy
        init_gen = torch.Generator().manual_seed(seed)  # weights drawn on the CPU, then moved
        self.actor = mlp(obs_dim, cfg.hidden_dims, 2 * act_dim, False, cfg.init, init_gen)
        self.critic = EnsembleMLP(
            cfg.num_qs,
            obs_dim + act_dim,
            cfg.hidden_dims,
            1,
            cfg.critic_layer_norm,
            cfg.init,
            init_gen,
        )
        self.actor, self.critic = self.actor.to(self.device), self.critic.to(self.device)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(
            math.log(cfg.init_temperature), device=self.device, requires_grad=True
        )
        self.actor_opt = adam(self.actor.parameters(), cfg.actor_lr)
        self.critic_opt = adam(self.critic.parameters(), cfg.critic_lr)
        self.temp_opt = adam([self.log_alpha], cfg.temp_lr)
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.compiled = use_compile(cfg.compile, self.device)
        # Compiled, the critic loss's gradient is one graph. The actor loss backpropagates
        # through 10 LayerNorm critics into the actions; TorchInductor's joint graph of that ran
        # slower than compiled forwards plus autograd, so the actor step uses those.
        self._critic_forward = self.critic
        if self.compiled:
            compile_forward(self.actor)
            self._critic_forward = torch.compile(self.critic.forward, dynamic=False)
        self._critic_grad = Gradients(self.critic, self.critic_loss, self.compiled)
        self._actor_grad = Gradients(self.actor, self.actor_loss, compiled=False)

    # ---- acting ----
    def _dist(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_std = self.actor(obs).chunk(2, dim=-1)
        return mean, log_std.clamp(self.cfg.log_std_min, self.cfg.log_std_max)

    def sample(self, obs: Tensor, eps: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Reparameterized a = tanh(μ + σ·ε) and log π(a|s): (B, A), (B,); ε ~ N(0, I) from the
        learner's generator unless given."""
        mean, log_std = self._dist(obs)
        if eps is None:
            eps = torch.randn(mean.shape, generator=self.generator, device=self.device)
        u = mean + log_std.exp() * eps
        return torch.tanh(u), tanh_log_prob(u, mean, log_std)

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        """(B, S) → (B, A): tanh(mean) when deterministic (evaluation), else a sample."""
        if deterministic:
            return torch.tanh(self._dist(obs)[0])
        return self.sample(obs)[0]

    # ---- losses of this learner's networks ----
    def next_policy(self, next_observations: Tensor) -> tuple[Tensor, Tensor]:
        """a' ~ π(·|s') and log π(a'|s') for the TD targets: (N, A), (N,)."""
        return self.sample(next_observations)

    def critic_loss(
        self, b: Batch, next_policy: tuple[Tensor, Tensor], subset: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """y = r + γ·m·(min_{i∈subset} Q̄_i(s', a') − α·log π(a'|s')), then :func:`critic_loss`."""
        next_actions, next_log_probs = next_policy
        with torch.no_grad():
            next_q = self.target_critic(torch.cat([b.next_observations, next_actions], -1), subset)
            next_v = next_q.squeeze(-1).min(dim=0).values
            if self.cfg.backup_entropy:
                next_v = next_v - self.log_alpha.detach().exp() * next_log_probs
            target_q = td_target(b.rewards, b.masks, self.cfg.discount, next_v)
        q = self.critic(torch.cat([b.observations, b.actions], -1)).squeeze(-1)  # (E, B)
        return critic_loss(q, target_q)

    def actor_loss(self, b: Batch, eps: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        actions, log_probs = self.sample(b.observations, eps)
        q = self._critic_forward(torch.cat([b.observations, actions], -1)).squeeze(-1)
        alpha = self.log_alpha.detach().exp()
        return actor_loss(log_probs, q, alpha, self.cfg.actor_q_reduction)

    # ---- updates ----
    def update_critic(self, b: Batch, next_policy: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """One critic step (its gradient into ``.grad``, Adam, Polyak on schedule)."""
        metrics = self._critic_grad(b, next_policy, self.target_subset())
        self.step_critics()
        return metrics

    def update_actor(self, b: Batch) -> dict[str, Tensor]:
        """One actor step (the critics are constants in its loss), then the temperature's."""
        eps = torch.randn(
            (len(b.observations), self.act_dim), generator=self.generator, device=self.device
        )
        self.critic.requires_grad_(False)  # the critics' backward skips their weights
        try:
            metrics = self._actor_grad(b, eps)
        finally:
            self.critic.requires_grad_(True)
        self.actor_opt.step()
        return {**metrics, **self.update_temperature(metrics["entropy"])}

    def update_temperature(self, entropy: Tensor) -> dict[str, Tensor]:
        """One step of log α toward the target entropy (SAC eq. 18)."""
        loss, metrics = temperature_loss(self.log_alpha, entropy, self.target_entropy)
        self.temp_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.temp_opt.step()
        return metrics
