"""Implicit Q-Learning with a Gaussian actor (IQL) or a categorical actor over codes (MAQ+IQL).

IQL (Kostrikov, Nair & Levine, "Offline Reinforcement Learning with Implicit Q-Learning", ICLR
2022) learns V by expectile regression on the target twin-Q (eq. 5), Q by TD against V(s') (eq. 6)
and extracts the policy by advantage-weighted regression (eq. 7). The release's baseline is CORL's
offline-to-online IQL (docs/reference-spec.md §7); MAQ+IQL is the same learner over the K codes of
the
distilled VQ-VAE, with Q(s, one-hot z) and a categorical policy pulled towards the distilled prior
by 0.5·KL(prior ‖ π) (docs/reference-spec.md §8.3-8.5).

One gradient of ``v_loss + q_loss + actor_loss (+ kl)`` updates all networks: V, Q and π
have disjoint parameters and every cross-term is detached, so this equals the release's separate
optimizer steps (IQL) and its single summed loss (MAQ+IQL, whose grad-norm clip spans all heads).
States are normalized inside the agent with the train split's statistics, which live in its
state_dict, so a checkpoint alone rebuilds the acting policy. Networks come from :mod:`maq.nn`;
batches are :class:`maq.buffers.Batch`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maq.buffers import Batch
from maq.nn import EnsembleMLP, Gradients, adam, mlp, polyak_update, use_compile

ACTORS = ("gaussian", "categorical")


@dataclass(frozen=True)
class IQLConfig:
    """Hyperparameters of one IQL learner (defaults: the release's IQL baseline, §7 / §14)."""

    actor: str = "gaussian"
    """``gaussian`` (primitive actions, tanh mean, state-independent log-std) or ``categorical``
    (a distribution over the K codes, MAQ+IQL)."""
    hidden_dims: tuple[int, ...] = (256, 256)
    """Hidden widths of the twin Q, V and actor MLPs (``iql.py:55-102``, ``iql_MAQ_trainer.py``)."""
    discount: float = 0.99
    """γ per decision: per primitive step for IQL, per macro for MAQ+IQL (docs/decisions.md)."""
    expectile: float = 0.7
    """τ of the expectile regression of V on Q (the release's ``iql_tau``)."""
    beta: float = 3.0
    """Inverse temperature of the advantage weights exp(β·A)."""
    max_weight: float = 100.0
    """Advantage weights are clipped at this value (CORL's ``EXP_ADV_MAX``)."""
    polyak_tau: float = 0.005
    """Target twin-Q soft-update rate, applied after every update."""
    critic_lr: float = 3e-4
    value_lr: float = 3e-4
    actor_lr: float = 3e-4
    actor_cosine_steps: int = 1_000_000
    """T_max of the actor's cosine lr schedule, stepped every update (online too, so the lr rises
    back after T_max, as in the release); 0 = constant lr (MAQ+IQL)."""
    max_grad_norm: float = 0.0
    """Clip the global gradient norm over all networks; 0 = no clipping (MAQ+IQL: 1.0)."""
    prior_kl_coef: float = 0.0
    """Weight of KL(prior ‖ π) in the actor loss (MAQ+IQL: 0.5, ``bm_loss_coefficient``)."""
    log_std_min: float = -20.0
    log_std_max: float = 2.0
    """Clamp of the Gaussian actor's log-std parameter (CORL's ``LOG_STD_MIN/MAX``)."""
    compile: str = "auto"
    """torch.compile the gradient of :meth:`IQL.losses`, forward and backward in one graph
    (maq.nn.COMPILE_MODES, maq.nn.Gradients): ``auto`` where a compiler exists, for a few
    seconds of compilation at start (docs/benchmarks.md); ``smoke`` presets turn it off."""


# --- losses (each returns (loss, metrics)) -------------------------------------------------------


def expectile_loss(diff: Tensor, expectile: float) -> Tensor:
    """|τ − 1(u < 0)|·u², elementwise, with u = Q − V (IQL eq. 5)."""
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return weight * diff.pow(2)


def value_loss(advantage: Tensor, expectile: float) -> tuple[Tensor, dict[str, Tensor]]:
    """L_V = E[L₂^τ(min_i Q̄_i(s, a) − V(s))] (IQL eq. 5); ``advantage`` carries V's gradient."""
    loss = expectile_loss(advantage, expectile).mean()
    return loss, {"value_loss": loss, "advantage": advantage.mean()}


def critic_loss(qs: Tensor, target_q: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """L_Q = mean_i E[(r + γ·mask·V(s') − Q_i(s, a))²] (IQL eq. 6); ``qs`` is (2, B)."""
    loss = (qs - target_q).pow(2).mean()  # mean over both critics = ½(MSE₁ + MSE₂)
    return loss, {"q_loss": loss, "q": qs.mean()}


def advantage_weights(advantage: Tensor, beta: float, max_weight: float) -> Tensor:
    """min(exp(β·A), max_weight), A detached (IQL eq. 7; CORL's ``EXP_ADV_MAX`` clip)."""
    return torch.exp(beta * advantage.detach()).clamp(max=max_weight)


def actor_loss(
    log_prob: Tensor, advantage: Tensor, beta: float, max_weight: float
) -> tuple[Tensor, dict[str, Tensor]]:
    """L_π = −E[min(exp(β·A), max_weight)·log π(a|s)] (IQL eq. 7, advantage-weighted regression)."""
    weights = advantage_weights(advantage, beta, max_weight)
    loss = -(weights * log_prob).mean()
    return loss, {"actor_loss": loss, "weight": weights.mean(), "log_prob": log_prob.mean()}


def prior_kl(prior_logits: Tensor, logits: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """KL(prior ‖ π) = Σ_z p(z|s)(log p(z|s) − log π(z|s)), batch mean (docs/reference-spec.md
    §8.5)."""
    log_p = F.log_softmax(prior_logits, dim=-1)
    loss = (log_p.exp() * (log_p - F.log_softmax(logits, dim=-1))).sum(-1).mean()
    return loss, {"prior_kl": loss}


def gaussian_log_prob(mean: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    """log N(a; μ, diag σ²) summed over action dims (CORL's diagonal MultivariateNormal)."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def cosine_lr(base_lr: float, step: int, period: int) -> float:
    """CosineAnnealingLR(T_max=period, eta_min=0) in closed form, periodic past ``period``."""
    return base_lr if period <= 0 else 0.5 * base_lr * (1.0 + math.cos(math.pi * step / period))


# --- the learner ---------------------------------------------------------------------------------


class IQLNetworks(nn.Module):
    """Twin Q (fused), V, actor, and the train split's state statistics (saved with them)."""

    def __init__(self, obs_dim: int, action_dim: int, cfg: IQLConfig):
        super().__init__()
        if cfg.actor not in ACTORS:
            raise ValueError(f"unknown actor {cfg.actor!r}; choose one of {ACTORS}")
        self.critic = EnsembleMLP(2, obs_dim + action_dim, cfg.hidden_dims, 1)  # (2, B, 1)
        self.value = mlp(obs_dim, cfg.hidden_dims, 1, init="torch")
        self.actor = mlp(obs_dim, cfg.hidden_dims, action_dim, init="torch")  # tanh-mean or logits
        self.log_std = nn.Parameter(torch.zeros(action_dim if cfg.actor == "gaussian" else 0))
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))


class IQL:
    """The learner: ``update(batch) -> metrics`` and ``act(obs)``; no env, file or logger access.

    ``action_dim`` is A for the Gaussian actor and K for the categorical one, whose actions are
    integer codes. ``prior`` (categorical only) is the frozen code prior of the KL term.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        cfg: IQLConfig,
        device: str | torch.device = "cpu",
        prior: nn.Module | None = None,
        seed: int = 0,
    ):
        self.cfg = cfg
        self.obs_dim, self.action_dim = int(obs_dim), int(action_dim)
        self.device = torch.device(device)
        self.nets = IQLNetworks(obs_dim, action_dim, cfg).to(self.device)
        self.critic_target = copy.deepcopy(self.nets.critic).requires_grad_(False)
        self.prior = None if prior is None else prior.to(self.device).eval().requires_grad_(False)
        if cfg.prior_kl_coef > 0 and (cfg.actor != "categorical" or prior is None):
            raise ValueError("prior_kl_coef > 0 needs a categorical actor and a prior")
        n = self.nets
        actor_params = [*n.actor.parameters(), *([n.log_std] if n.log_std.numel() else [])]
        self.optimizer = adam(
            [
                {"params": list(n.critic.parameters()), "lr": cfg.critic_lr},
                {"params": list(n.value.parameters()), "lr": cfg.value_lr},
                {"params": actor_params, "lr": cfg.actor_lr},
            ],
            lr=cfg.critic_lr,
        )
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.num_updates = 0
        self.compiled = use_compile(cfg.compile, self.device)
        self._gradients = Gradients(self.nets, self.losses, self.compiled)

    def set_state_statistics(self, mean: np.ndarray, std: np.ndarray) -> None:
        """States are normalized as (s − mean) / std inside every network input."""
        self.nets.obs_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.nets.obs_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def _normalize(self, obs: Tensor) -> Tensor:
        return (obs - self.nets.obs_mean) / self.nets.obs_std

    def _action_features(self, actions: Tensor) -> Tensor:
        if self.cfg.actor == "categorical":
            return F.one_hot(actions.long(), self.action_dim).float()
        return actions

    def _log_std(self) -> Tensor:
        return self.nets.log_std.clamp(self.cfg.log_std_min, self.cfg.log_std_max)

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = True) -> Tensor:
        """States (B, S) → actions (B, A) in [−1, 1], or codes (B,) int64.

        Deterministic: the mean action / the argmax code (evaluation). Otherwise a sample from the
        learner's own generator; Gaussian samples are clipped to the action bounds (CORL's ``act``).
        """
        out = self.nets.actor(self._normalize(obs))
        if self.cfg.actor == "categorical":
            if deterministic:
                return out.argmax(-1)
            return torch.multinomial(torch.softmax(out, -1), 1, generator=self.generator)[:, 0]
        mean = torch.tanh(out)
        if deterministic:
            return mean
        noise = torch.randn(mean.shape, generator=self.generator, device=self.device)
        return (mean + self._log_std().exp() * noise).clamp(-1.0, 1.0)

    def losses(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """v_loss (eq. 5) + q_loss (eq. 6) + actor_loss (eq. 7) [+ coef·KL(prior ‖ π)]."""
        cfg = self.cfg
        obs = self._normalize(batch.observations)
        next_obs = self._normalize(batch.next_observations)
        obs_act = torch.cat([obs, self._action_features(batch.actions)], -1)
        with torch.no_grad():
            target_q = self.critic_target(obs_act).min(0).values[:, 0]  # (B,)
            next_v = self.nets.value(next_obs)[:, 0]  # V(s') before this step's V update
            q_target = batch.rewards + cfg.discount * batch.masks * next_v
        advantage = target_q - self.nets.value(obs)[:, 0]  # (B,), gradient flows into V only
        v_loss, metrics = value_loss(advantage, cfg.expectile)
        q_loss, m = critic_loss(self.nets.critic(obs_act)[..., 0], q_target)  # (2, B) vs (B,)
        metrics.update(m)
        out = self.nets.actor(obs)
        if cfg.actor == "categorical":
            log_prob = F.log_softmax(out, -1).gather(1, batch.actions.long()[:, None])[:, 0]
        else:
            log_prob = gaussian_log_prob(torch.tanh(out), self._log_std(), batch.actions)
        a_loss, m = actor_loss(log_prob, advantage, cfg.beta, cfg.max_weight)
        metrics.update(m)
        loss = v_loss + q_loss + a_loss
        if cfg.prior_kl_coef > 0:
            with torch.no_grad():
                prior_logits = self.prior(batch.observations)  # the prior sees raw states
            kl, m = prior_kl(prior_logits, out)
            metrics.update(m)
            loss = loss + cfg.prior_kl_coef * kl
        return loss, metrics

    def update(self, batch: Batch) -> dict[str, Tensor]:
        """One gradient step on V, Q and π together, then the target twin-Q's Polyak update.

        Compiled (``cfg.compile``), the gradients of :meth:`losses` come from one compiled
        ``torch.func.grad`` graph (:class:`maq.nn.Gradients`); eager, from autograd. Both give the
        same gradients up to float rounding (tests/test_agents_iql.py).
        """
        cfg = self.cfg
        self.optimizer.param_groups[2]["lr"] = cosine_lr(
            cfg.actor_lr, self.num_updates, cfg.actor_cosine_steps
        )
        metrics = self._gradients(batch)  # into .grad (maq.nn.Gradients)
        if cfg.max_grad_norm > 0:
            metrics["grad_norm"] = nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
        self.optimizer.step()
        polyak_update(self.critic_target, self.nets.critic, cfg.polyak_tau)
        self.num_updates += 1
        metrics = {k: v.detach() for k, v in metrics.items()}  # read at log intervals
        return {
            **metrics,
            "actor_lr": torch.tensor(self.optimizer.param_groups[2]["lr"], dtype=torch.float64),
        }

    def policy_state_dict(self) -> dict[str, Any]:
        """What acting needs (model checkpoints): the networks and the state statistics."""
        return {"nets": copy.deepcopy(self.nets.state_dict())}

    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs (a deep copy, so it never aliases live tensors)."""
        state = {
            "nets": self.nets.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }
        state = copy.deepcopy(state)
        return {**state, "generator": self.generator.get_state(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load :meth:`state_dict` or a policy-only :meth:`policy_state_dict`."""
        self.nets.load_state_dict(state["nets"])
        if "critic_target" not in state:
            return
        self.critic_target.load_state_dict(state["critic_target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.num_updates = int(state["num_updates"])
