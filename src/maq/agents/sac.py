"""Continuous soft actor-critic with a vectorized critic ensemble: the SAC and RLPD learner.

SAC (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", eqs. 5, 7, 18) with
the REDQ/RLPD extensions (Chen et al. 2021; Ball et al. 2023, "Efficient Online RL with Offline
Data" §3): an ensemble of ``num_qs`` critics trained together, a TD target from the min over a
random subset of ``num_min_qs`` target critics, optional LayerNorm in the critics, and
``utd_ratio`` critic steps per actor/temperature step. RLPD is this learner with the ``rlpd``
preset (maq.train.online_presets) plus 50/50 online/offline minibatches (maq.buffers).

The ensemble is one :class:`maq.nn.EnsembleMLP` (stacked weights, batched matmuls). Shared with
the discrete learner (maq.agents.discrete_sac): the TD target's structure, Polyak averaging and the
ensemble; the data side lives in maq.buffers. No env, file or logger here; randomness comes from
the learner's own ``torch.Generator``.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from maq.buffers import Batch
from maq.nn import EnsembleMLP, Gradients, adam, compile_forward, mlp, use_compile


@dataclass(frozen=True)
class SACConfig:
    """Continuous SAC/RLPD hyperparameters; defaults are RLPD's (reference-spec §9.2)."""

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
    """Critic steps per call of :meth:`SAC.update`; one actor and temperature step follows, on
    the last minibatch (``train_finetuning.py --utd_ratio=20``)."""
    log_std_min: float = -20.0
    """Lower clip of the actor's log standard deviation (RLPD's TanhNormal)."""
    log_std_max: float = 2.0
    """Upper clip of the actor's log standard deviation."""
    init: str = "xavier"
    """Weight init (maq.nn.INITS): RLPD uses Xavier-uniform."""
    compile: str = "auto"
    """torch.compile the networks (maq.nn.COMPILE_MODES): ``auto`` where a compiler exists;
    ~2.5× faster updates on a CPU (docs/benchmarks.md), results equal up to float rounding."""
    native_critic: bool = True
    """When compiling on a CPU, the LayerNorm critics' loss gradient and their Adam and Polyak
    steps run in maq's C kernels (maq.native: one member per thread, 12–19% faster RLPD env
    steps) instead of TorchInductor's graph and torch's Adam; results equal up to float rounding.
    Falls back, with a warning, where the kernels cannot be built."""


# ---- losses (pure) ---------------------------------------------------------------------------


def td_target(rewards: Tensor, masks: Tensor, discount: float, next_v: Tensor) -> Tensor:
    """y = r + γ·m·V(s'), with m = 0 only after a real termination (SAC eq. 3 with masks)."""
    return rewards + discount * masks * next_v


def critic_loss(q: Tensor, target_q: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Σ_i mean_b (Q_i(s,a) − y)² over the ensemble (SAC eq. 5, per critic). Summing over
    members makes one Adam over the stacked weights equal to an optimizer per critic. Metrics
    stay tensors (no device sync per critic step); :meth:`SoftActorCriticBase.update` reads the
    last step's."""
    loss = ((q - target_q.unsqueeze(0)) ** 2).mean(dim=1).sum()
    return loss, {"critic_loss": loss.detach() / q.shape[0], "q": q.detach().mean()}


def actor_loss(
    log_probs: Tensor, q: Tensor, alpha: Tensor, reduction: str
) -> tuple[Tensor, dict[str, Tensor]]:
    """mean_s [α·log π(a|s) − Q(s,a)], a ~ π reparameterized (SAC eq. 7); Q = ensemble mean or
    min. ``entropy`` (−mean log π, detached) feeds the temperature loss."""
    q_pi = q.mean(dim=0) if reduction == "mean" else q.min(dim=0).values
    loss = (alpha * log_probs - q_pi).mean()
    return loss, {"actor_loss": loss.detach(), "entropy": -log_probs.detach().mean()}


def temperature_loss(
    log_alpha: Tensor, entropy: Tensor, target_entropy: float
) -> tuple[Tensor, dict[str, Tensor]]:
    """α·(H(π) − H̄) with H(π) ≈ −mean log π, a constant here (SAC eq. 18; RLPD's
    ``temp_loss``)."""
    loss = log_alpha.exp() * (entropy - target_entropy)
    return loss, {"temperature_loss": loss.detach(), "alpha": log_alpha.detach().exp()}


def polyak_update(target: torch.nn.Module, source: torch.nn.Module, tau: float) -> None:
    """θ̄ ← (1 − τ)·θ̄ + τ·θ, all tensors in one call."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


def tanh_log_prob(u: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """log π(tanh u) for u ~ N(mean, σ²): Gaussian log-density minus Σ log(1 − tanh² u), the
    latter written as 2·(log 2 − u − softplus(−2u)) for stability (SAC appendix C)."""
    normal = -0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    correction = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return (normal - correction).sum(dim=-1)


# ---- learner ---------------------------------------------------------------------------------


class SoftActorCriticBase:
    """The UTD update schedule and checkpoint plumbing shared by SAC and DiscreteSAC.

    Subclasses set ``cfg`` (with ``utd_ratio``), ``generator``, ``num_updates``, the modules in
    ``_modules``, the optimizers in ``_optimizers`` and tensors in ``_tensors``, implement
    ``_next_policy`` / ``_critic_loss`` / ``_actor_step``, and call :meth:`_init_gradients`.
    Gradients come from :class:`maq.nn.Gradients`: with ``compiled``, each loss's forward and
    backward pass run as one compiled graph.
    """

    _modules: tuple[str, ...] = ("actor", "critic", "target_critic")
    _optimizers: tuple[str, ...] = ("actor_opt", "critic_opt")
    _tensors: tuple[str, ...] = ()
    native = False
    """Whether the critic gradient comes from maq.native's kernels (set by SAC)."""

    def update(self, batch: Batch) -> dict[str, float]:
        """``utd_ratio`` critic steps on consecutive minibatches of ``batch`` (its size must be a
        multiple of utd_ratio), then one actor (and temperature) step on the last minibatch.

        The actor's next-state outputs for the TD targets (a′ ~ π(·|s′), or log π(·|s′)) come
        from one pass over all minibatches: the actor does not change during the critic steps.
        """
        n = len(batch.rewards) // self.cfg.utd_ratio
        with torch.no_grad():
            next_policy = self._next_policy(batch.next_observations)
        metrics: dict[str, Tensor | float] = {}
        for i in range(self.cfg.utd_ratio):
            rows = slice(i * n, (i + 1) * n)
            mini = Batch(*(x[rows] for x in batch))
            metrics = self._critic_step(mini, tuple(x[rows] for x in next_policy))
        metrics = {**metrics, **self._actor_step(mini)}
        return {k: float(v) for k, v in metrics.items()}

    def _init_gradients(self, compile_actor_loss: bool = True) -> None:
        self._critic_gradients = Gradients(self.critic, self._critic_loss, self.compiled)
        self._actor_gradients = Gradients(
            self.actor, self._actor_loss, self.compiled and compile_actor_loss
        )

    def _critic_step(self, b: Batch, next_policy: tuple[Tensor, ...]) -> dict[str, Tensor]:
        """One critic update on minibatch ``b``: the TD target's min runs over a random subset
        of ``num_min_qs`` target critics; then Adam, and Polyak every ``target_update_period``."""
        cfg = self.cfg
        subset = torch.randperm(cfg.num_qs, generator=self.generator, device=self.device)
        polyak = (self.num_updates + 1) % cfg.target_update_period == 0
        metrics = self._critic_update(b, next_policy, subset[: cfg.num_min_qs], polyak)
        self.num_updates += 1
        return metrics

    def _critic_update(
        self, b: Batch, next_policy: tuple[Tensor, ...], subset: Tensor, polyak: bool
    ) -> dict[str, Tensor]:
        """The critics' gradient, their Adam step and, when ``polyak``, the targets' step."""
        metrics = self._critic_gradients(b, next_policy, subset)
        self._step_critics(polyak)
        return metrics

    def _step_critics(self, polyak: bool) -> None:
        """Adam on the critics' gradients, then Polyak toward them when ``polyak``."""
        self.critic_opt.step()
        if polyak:
            polyak_update(self.target_critic, self.critic, self.cfg.polyak_tau)

    def policy_state_dict(self) -> dict[str, Any]:
        """What acting needs (model checkpoints): the actor's weights."""
        return {"actor": self.actor.state_dict()}

    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs: nets, optimizers, generator, update counter.

        A deep copy: optimizers load state tensors without copying, so a live state shared by
        two learners would be stepped twice.
        """
        state = {
            name: getattr(self, name).state_dict() for name in self._modules + self._optimizers
        }
        state.update({name: getattr(self, name) for name in self._tensors})
        state = copy.deepcopy(state)
        return {**state, "generator": self.generator.get_state(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load :meth:`state_dict` or a policy-only :meth:`policy_state_dict`."""
        self.actor.load_state_dict(state["actor"])
        if "critic" not in state:
            return
        for name in self._modules + self._optimizers:
            getattr(self, name).load_state_dict(state[name])
        with torch.no_grad():
            for name in self._tensors:
                getattr(self, name).copy_(state[name])
        self.generator.set_state(state["generator"])
        self.num_updates = int(state["num_updates"])


class SAC(SoftActorCriticBase):
    """Tanh-Gaussian actor, critic ensemble with targets, learned temperature."""

    _optimizers = ("actor_opt", "critic_opt", "temp_opt")
    _tensors = ("log_alpha",)

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        cfg: SACConfig,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ):
        self.cfg = cfg
        self.device = torch.device(device)
        self.act_dim = act_dim
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
        self.num_updates = 0
        self.compiled = use_compile(cfg.compile, self.device)
        # Compiled: the critic loss's gradient is one graph (maq.nn.Gradients). The actor loss
        # backpropagates through the critics into the actions, and TorchInductor's joint graph of
        # that (10 LayerNorm critics) ran ≈3× slower than compiled forwards plus autograd, so the
        # actor step uses those: the actor's forward and a compiled view of the critics'.
        self._critic_forward = self.critic
        if self.compiled:
            compile_forward(self.actor)
            self._critic_forward = torch.compile(self.critic.forward, dynamic=False)
        self._init_gradients(compile_actor_loss=False)
        self.native = self.compiled and cfg.native_critic and self._use_native_critic()

    def _use_native_critic(self) -> bool:
        """Route the critic gradient through maq.native where it applies and builds."""
        if self.device.type != "cpu" or not self.cfg.critic_layer_norm:
            return False
        from maq.native import EnsembleKernels, NativeUnavailable

        try:
            self._native_critic = EnsembleKernels(self.critic)
            self._native_target = EnsembleKernels(self.target_critic)
        except NativeUnavailable as err:
            reason = f"maq.native is unavailable ({err}); the critics use TorchInductor's kernels"
            warnings.warn(reason, stacklevel=3)
            return False
        return True

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

    # ---- updates ----
    def _next_policy(self, next_observations: Tensor) -> tuple[Tensor, Tensor]:
        """a' ~ π(·|s') and log π(a'|s') for the TD targets: (N, A), (N,)."""
        return self.sample(next_observations)

    def _td_target(self, b: Batch, next_log_probs: Tensor, next_qs: Tensor) -> Tensor:
        """y from the subset's target Q-values (K, B): min over them, minus α·log π(a'|s')."""
        next_q = next_qs.min(dim=0).values
        if self.cfg.backup_entropy:
            next_q = next_q - self.log_alpha.detach().exp() * next_log_probs
        return td_target(b.rewards, b.masks, self.cfg.discount, next_q)

    def _critic_loss(
        self, b: Batch, next_policy: tuple[Tensor, Tensor], subset: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        next_actions, next_log_probs = next_policy
        with torch.no_grad():
            next_obs_act = torch.cat([b.next_observations, next_actions], -1)
            next_qs = self.target_critic(next_obs_act, subset).squeeze(-1)
            target_q = self._td_target(b, next_log_probs, next_qs)
        q = self.critic(torch.cat([b.observations, b.actions], -1)).squeeze(-1)  # (E, B)
        return critic_loss(q, target_q)

    def _critic_update(
        self, b: Batch, next_policy: tuple[Tensor, ...], subset: Tensor, polyak: bool
    ) -> dict[str, Tensor]:
        if not self.native:
            return super()._critic_update(b, next_policy, subset, polyak)
        return self._native_critic_update(b, next_policy, subset, polyak)

    @torch.no_grad()
    def _native_critic_update(
        self, b: Batch, next_policy: tuple[Tensor, ...], subset: Tensor, polyak: bool
    ) -> dict[str, Tensor]:
        """:meth:`_critic_update` in maq.native's kernels: the target Q of the subset, then the
        critic loss's gradient with each member's Adam and Polyak step applied right after its
        gradient (the optimizer keeps the state; its first step, which creates it, is its own)."""
        from maq.native import AdamStep

        next_actions, next_log_probs = next_policy
        next_obs_act = torch.cat([b.next_observations, next_actions], -1)
        target_q = self._td_target(b, next_log_probs, self._native_target.q(next_obs_act, subset))
        obs_act = torch.cat([b.observations, b.actions], -1)
        counted = self.critic_opt.begin_external_step(self._native_critic.parameters)
        adam = None
        if counted is not None:
            target = self.target_critic if polyak else None
            adam = AdamStep(**counted, target=target, tau=self.cfg.polyak_tau)
        q_sum, sq_sum = self._native_critic.mse_grad(obs_act, target_q, adam)
        if adam is None:
            self._step_critics(polyak)
        n = self.cfg.num_qs * len(target_q)
        return {"critic_loss": sq_sum.sum() / n, "q": q_sum.sum() / n}

    def _actor_loss(self, b: Batch, eps: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        actions, log_probs = self.sample(b.observations, eps)
        q = self._critic_forward(torch.cat([b.observations, actions], -1)).squeeze(-1)
        alpha = self.log_alpha.detach().exp()
        return actor_loss(log_probs, q, alpha, self.cfg.actor_q_reduction)

    def _actor_step(self, b: Batch) -> dict[str, Tensor]:
        """One actor step (the critics are constants in its loss), then one temperature step on
        the same batch's entropy."""
        shape = (len(b.observations), self.act_dim)
        eps = torch.randn(shape, generator=self.generator, device=self.device)
        self.critic.requires_grad_(False)  # the critics' compiled backward skips their weights
        try:
            metrics = self._actor_gradients(b, eps)
        finally:
            self.critic.requires_grad_(True)
        self.actor_opt.step()
        entropy = metrics["entropy"]
        t_loss, t_metrics = temperature_loss(self.log_alpha, entropy, self.target_entropy)
        self.temp_opt.zero_grad(set_to_none=True)
        t_loss.backward()
        self.temp_opt.step()
        return {**metrics, **t_metrics}
