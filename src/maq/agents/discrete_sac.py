"""Discrete soft actor-critic over the K codes: the MAQ+RLPD and MAQ+DSAC learner.

SAC for discrete actions (Christodoulou 2019, "Soft Actor-Critic for Discrete Action Settings",
eqs. 10-12): critics output Q(s, ·) for every code, and the soft value and the actor loss take the
*exact* expectation over the K codes instead of sampling. Settings are the release's
(``RLPD_MAQ/base_agent.py``, ``RLPDMAQ.py``; docs/reference-spec.md §5.1, §5.5, §14): two critics,
fixed
α = 0.2, per-macro γ = 0.99, τ = 0.005 every 2 gradient steps. MAQ+RLPD and MAQ+DSAC differ only
in their data (maq.presets); RLPD-style options (``num_qs``, ``num_min_qs``,
LayerNorm, ``utd_ratio``) work here too.

Shared with maq.agents.sac: the TD target, the per-critic MSE, the UTD schedule and Polyak
averaging (``SoftActorCritic``); the critic ensemble is maq.nn.EnsembleMLP. Pure: tensors in,
metrics out, own ``torch.Generator``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from maq.agents.actor_critic import SoftActorCritic
from maq.agents.sac import critic_loss, td_target
from maq.buffers import Batch
from maq.nn import EnsembleMLP, Gradients, adam, compile_forward, mlp, use_compile


@dataclass(frozen=True)
class DiscreteSACConfig:
    """Discrete SAC hyperparameters; defaults are the MAQ release's (docs/reference-spec.md
    §5.1)."""

    hidden_dims: tuple[int, ...] = (256, 256)
    """Actor and critic hidden widths (``hidden_dim`` 256 ×2, ``base_agent.py:602-629``)."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor (``actor_lr``)."""
    critic_lr: float = 1e-3
    """Adam learning rate of the critics (``critic_lr``)."""
    discount: float = 0.99
    """γ per macro decision, not γ^L (docs/reference-spec.md §12 item 7)."""
    polyak_tau: float = 0.005
    """Target critics move by this fraction toward the online critics (``tau``)."""
    target_update_period: int = 2
    """Gradient steps between Polyak updates (``target_update_freq`` default 2)."""
    num_qs: int = 2
    """Critics (the release's critic1/critic2)."""
    num_min_qs: int = 2
    """Target critics, drawn at random, that the soft value takes the min over (2 of 2 = both)."""
    critic_layer_norm: bool = False
    """LayerNorm after each hidden critic layer (the release has none)."""
    actor_q_reduction: str = "min"
    """How the actor combines the critics: ``min`` (the release) or ``mean`` (RLPD-style)."""
    alpha: float = 0.2
    """Fixed entropy temperature α (auto-α is silently off in the release, spec §12 item 6)."""
    utd_ratio: int = 1
    """Critic steps per :meth:`DiscreteSAC.update` call; one actor step follows (the release
    updates critics and actor once per gradient step)."""
    init: str = "torch"
    """Weight init (maq.nn.INITS): the release uses PyTorch's nn.Linear default."""
    compile: str = "off"
    """torch.compile the losses' gradients (maq.nn.COMPILE_MODES); off: with 2 critics and UTD
    1/8 the updates are a small share of a MAQ run (docs/benchmarks.md)."""


# ---- losses (pure) ---------------------------------------------------------------------------


def soft_value(log_probs: Tensor, q: Tensor, alpha: float) -> Tensor:
    """V(s) = Σ_a π(a|s)·[Q(s,a) − α·log π(a|s)], exact over the codes (Christodoulou eq. 10).

    ``log_probs``: (B, K); ``q``: (B, K) (already reduced over critics). Returns (B,).
    """
    return (log_probs.exp() * (q - alpha * log_probs)).sum(dim=-1)


def discrete_actor_loss(
    log_probs: Tensor, q: Tensor, alpha: float, reduction: str
) -> tuple[Tensor, dict[str, Tensor]]:
    """mean_s Σ_a π(a|s)·[α·log π(a|s) − Q(s,a)] (Christodoulou eq. 12); ``q``: (E, B, K),
    reduced over critics by min (the release) or mean."""
    q_pi = q.mean(dim=0) if reduction == "mean" else q.min(dim=0).values
    probs = log_probs.exp()
    loss = (probs * (alpha * log_probs - q_pi)).sum(dim=-1).mean()
    entropy = -(probs * log_probs).sum(dim=-1).mean()
    return loss, {"actor_loss": loss.detach(), "entropy": entropy.detach()}


# ---- learner ---------------------------------------------------------------------------------


class DiscreteSAC(SoftActorCritic):
    """Categorical actor over K codes, critic ensemble Q(s, ·) ∈ R^K with targets, fixed α."""

    def __init__(
        self, obs_dim: int, num_actions: int, cfg: DiscreteSACConfig, device="cpu", seed: int = 0
    ):
        self.cfg, self.device, self.num_actions = cfg, torch.device(device), num_actions
        init_gen = torch.Generator().manual_seed(seed)  # weights drawn on the CPU, then moved
        self.actor = mlp(obs_dim, cfg.hidden_dims, num_actions, False, cfg.init, init_gen)
        self.critic = EnsembleMLP(
            cfg.num_qs,
            obs_dim,
            cfg.hidden_dims,
            num_actions,
            cfg.critic_layer_norm,
            cfg.init,
            init_gen,
        )
        self.actor, self.critic = self.actor.to(self.device), self.critic.to(self.device)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = adam(self.actor.parameters(), cfg.actor_lr)
        self.critic_opt = adam(self.critic.parameters(), cfg.critic_lr)
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.compiled = use_compile(cfg.compile, self.device)
        if self.compiled:  # acting and log π(·|s'); the losses' gradients compile as a whole
            compile_forward(self.actor)
        self._critic_grad = Gradients(self.critic, self.critic_loss, self.compiled)
        self._actor_grad = Gradients(self.actor, self.actor_loss, self.compiled)

    # ---- acting ----
    def log_probs(self, obs: Tensor) -> Tensor:
        """log π(·|s): (B, K)."""
        return F.log_softmax(self.actor(obs), dim=-1)

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        """(B, S) → (B,) codes: argmax when deterministic (evaluation), else a sample."""
        logits = self.actor(obs)
        if deterministic:
            return logits.argmax(dim=-1)
        probs = F.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)

    # ---- losses of this learner's networks ----
    def next_policy(self, next_observations: Tensor) -> tuple[Tensor]:
        """log π(·|s') for the exact soft value of the TD targets: ((N, K),)."""
        return (self.log_probs(next_observations),)

    def critic_loss(
        self, b: Batch, next_policy: tuple[Tensor], subset: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """y = r + γ·m·V̄(s') with V̄ the exact soft value of the subset's min target Q."""
        cfg = self.cfg
        with torch.no_grad():
            next_q = self.target_critic(b.next_observations, subset).min(dim=0).values  # (B, K)
            next_v = soft_value(next_policy[0], next_q, cfg.alpha)
            target_q = td_target(b.rewards, b.masks, cfg.discount, next_v)
        q_all = self.critic(b.observations)  # (E, B, K)
        index = b.actions.long().view(1, -1, 1).expand(q_all.shape[0], -1, 1)
        q = q_all.gather(-1, index).squeeze(-1)  # (E, B)
        return critic_loss(q, target_q)

    def actor_loss(self, b: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        with torch.no_grad():  # critics frozen for the actor step (``RLPDMAQ.py``)
            q = self.critic(b.observations)
        cfg = self.cfg
        return discrete_actor_loss(
            self.log_probs(b.observations), q, cfg.alpha, cfg.actor_q_reduction
        )

    # ---- updates ----
    def update_critic(self, b: Batch, next_policy: tuple[Tensor]) -> dict[str, Tensor]:
        """One critic step (its gradient into ``.grad``, Adam, Polyak on schedule)."""
        metrics = self._critic_grad(b, next_policy, self.target_subset())
        self.step_critics()
        return metrics

    def update_actor(self, b: Batch) -> dict[str, Tensor]:
        """One actor step; α is fixed (the release's auto-α is off, docs/reference-spec.md §12
        item 6)."""
        metrics = self._actor_grad(b)
        self.actor_opt.step()
        return {**metrics, "alpha": torch.tensor(self.cfg.alpha, dtype=torch.float64)}
