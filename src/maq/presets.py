"""Every method's settings in one place: the loops' configs and each method's ``paper`` and
``smoke`` presets, plus ``--set NAME=VALUE`` overrides.

A :class:`Preset` is a loop config and a learner config: everything that makes a method what it
is, so no loop branches on a method name. ``paper`` presets hold the release's values (cited per
field, from docs/reference-spec.md); ``smoke`` presets finish in seconds on a CPU, for tests.
Budgets of the online presets count *learner transitions* (macro transitions for MAQ presets,
summed over the training envs, as the release does), those of the offline presets learner
iterations; every log's x-axis is in primitive environment steps.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from maq.agents.discrete_sac import DiscreteSACConfig
from maq.agents.iql import ACTORS, IQLConfig
from maq.agents.sac import SACConfig
from maq.errors import MaqError
from maq.macro.config import DistillConfig
from maq.nn import COMPILE_MODES, INITS

PRESET_NAMES = ("paper", "smoke")


@dataclass(frozen=True)
class OnlineConfig:
    """How the online loop (RLPD, MAQ+RLPD, MAQ+DSAC) collects data, updates and evaluates."""

    num_envs: int = 1
    """Training environments (RLPD: 1; MAQ: 8, ``RLPD_MAQ/main.py``)."""
    env_workers: int = 0
    """Processes that step the training envs; 0 = chosen from the available cores (1 on one
    core). Results do not depend on it."""
    total_transitions: int = 1_000_000
    """Budget in learner transitions summed over envs (RLPD ``--max_steps``; MAQ
    ``training_steps`` = 1e6 macro transitions, docs/reference-spec.md §12 item 9)."""
    warmup_transitions: int = 10_000
    """Uniformly random actions (codes) and no updates before this many transitions (RLPD
    ``--start_training``; MAQ ``warmup_steps`` 8000)."""
    batch_size: int = 256
    """Transitions per minibatch, online and offline together (RLPD 256; MAQ 128)."""
    offline_ratio: float = 0.5
    """Share of each minibatch drawn from the human data (RLPD and MAQ+RLPD 0.5; MAQ+DSAC 0)."""
    update_every: int = 1
    """Vector steps between update rounds (MAQ ``update_freq`` 8)."""
    updates_per_round: int = 1
    """Learner ``update`` calls per round, each on ``utd_ratio`` fresh minibatches (MAQ: 8)."""
    buffer_capacity: int | None = None
    """Online replay capacity in transitions; None = the whole budget (RLPD). MAQ: 10,000 FIFO."""
    offline_action_bound: float | None = 1 - 1e-5
    """Clip human actions to ±this (RLPD's dataset loader); unused when acting in codes."""
    eval_interval: int = 5000
    """Transitions between evaluations (RLPD ``--eval_interval``; MAQ 10,000)."""
    eval_episodes: int = 10
    """Deterministic episodes per evaluation (RLPD and MAQ: 10)."""
    eval_seed_offset: int = 42
    """Evaluation episode i uses seed ``(seed + offset)·200 + i`` (maq.rollout), apart from the
    training envs' seeds and from the final evaluator's ``seed·200 + i`` (RLPD: seed + 42)."""
    resume_every: int = 1
    """Write ``resume.pt`` (learner, optimizers, buffers, RNGs) every this many evaluations."""
    log_interval: int = 1000
    """Transitions between ``train/`` log rows (RLPD ``--log_interval``)."""
    num_threads: int = 1
    """torch CPU threads: one is fastest for these small networks on a shared CPU."""


@dataclass(frozen=True)
class OfflineConfig:
    """How the offline loop (IQL, MAQ+IQL) trains on the human data, fine-tunes online and
    evaluates. Budgets count iterations: one decision (a primitive step, or a macro) and one
    update each, as the release does."""

    offline_steps: int = 1_000_000
    """Gradient updates on the human data alone (``offline_iterations``, both methods)."""
    online_steps: int = 1_000_000
    """Online iterations, each one env decision and one update (``online_iterations``)."""
    batch_size: int = 256
    """Transitions per minibatch (IQL 256; MAQ+IQL 32)."""
    buffer_capacity: int = 2_000_000
    """Offline plus online transitions held (IQL 2e6; MAQ+IQL 500k). The human data is never
    overwritten: online transitions use ``capacity − offline size`` slots, FIFO."""
    normalize_states: bool = True
    """Normalize states with the train split's mean and std (IQL: on; MAQ+IQL: off)."""
    state_std_eps: float = 1e-3
    """Added to the std of the state statistics (CORL's ``compute_mean_std`` eps)."""
    eval_interval: int = 50_000
    """Iterations between evaluations and checkpoints (IQL 5e4; MAQ+IQL 1e4)."""
    eval_episodes: int = 10
    """Deterministic episodes per evaluation (both: 10)."""
    eval_seed_offset: int = 42
    """Evaluation episode i uses seed ``(seed + offset)·200 + i`` (as the online loop)."""
    log_interval: int = 1000
    """Iterations between ``train/`` log rows."""
    num_threads: int = 1
    """torch CPU threads (one is fastest on a shared 2-core CPU)."""


@dataclass(frozen=True)
class SB3LoopConfig:
    """The SB3 SAC baseline's envs, budget and evaluation (``SAC/sac_train.py``, §9.1)."""

    num_envs: int = 8
    """Training env copies (``make_vec_env(env_id, n_envs=8)``)."""
    env_workers: int = 0
    """Processes that step the envs (SubprocVecEnv when > 1); 0 = chosen from the cores."""
    total_timesteps: int = 1_000_000
    """Primitive env steps summed over envs (``total_timesteps = 1e6``)."""
    eval_every: int = 1000
    """Vector steps between evaluations (the release's callback: every 1000 calls = 8000
    steps)."""
    eval_episodes: int = 10
    """Deterministic episodes per evaluation (the release's callback)."""
    eval_seed_offset: int = 42
    """Evaluation episode i uses seed ``(seed + offset)·200 + i`` (as the online loop)."""
    resume_every: int = 10
    """Write ``resume.pt`` every this many evaluations (the replay buffer makes it large)."""
    num_threads: int = 1
    """torch CPU threads (one is fastest for small MLPs on a shared CPU)."""


@dataclass(frozen=True)
class SB3SACConfig:
    """SB3 SAC's hyperparameters: SB3's defaults (1.8.0 and 2.9.2 agree, docs/reference-spec.md
    §9.1)."""

    learning_rate: float = 3e-4
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    batch_size: int = 256
    tau: float = 0.005
    gamma: float = 0.99
    train_freq: int = 1
    """Vector steps between updates (one gradient step per 8 env transitions)."""
    gradient_steps: int = 1
    ent_coef: str = "auto"
    """Learned temperature, initial value 1.0; target entropy −A (SB3 ``"auto"``)."""
    net_arch: tuple[int, ...] = (256, 256)
    """Actor and critic hidden widths (SB3's default for SAC)."""


@dataclass(frozen=True)
class Preset:
    """A loop config and a learner config (None where the loop holds every setting)."""

    loop: Any
    learner: Any = None

    def as_config(self) -> dict[str, dict[str, Any]]:
        """``{"loop": {...}, "learner": {...}}`` as a run's config records them."""
        parts = {"loop": dataclasses.asdict(self.loop)}
        if self.learner is not None:
            parts["learner"] = dataclasses.asdict(self.learner)
        return parts

    def fields(self) -> dict[str, tuple[str, dataclasses.Field]]:
        """Every settable name → (``loop``/``learner``, its dataclass field)."""
        out: dict[str, tuple[str, dataclasses.Field]] = {}
        for part in ("loop", "learner"):
            cfg = getattr(self, part)
            if cfg is not None:
                for f in dataclasses.fields(cfg):
                    if f.name not in IDENTITY_FIELDS:
                        out[f.name] = (part, f)
        return out


IDENTITY_FIELDS = frozenset(
    (
        "env_id",
        "seed",
        "seq_len",
        "codebook_size",
        "preset",
        "training_dataset",
        "testing_dataset",
        "device",
    )
)
"""DistillConfig fields that come from the run itself, not from a preset or ``--set``."""

# ---- online: RLPD, MAQ+RLPD, MAQ+DSAC -----------------------------------------------------------

_MAQ_ONLINE = OnlineConfig(
    num_envs=8,
    total_transitions=1_000_000,
    warmup_transitions=8000,
    batch_size=128,
    offline_ratio=0.5,
    update_every=8,
    updates_per_round=8,
    buffer_capacity=10_000,
    offline_action_bound=None,
    eval_interval=10_000,
    eval_episodes=10,
)
"""MAQ+RLPD as the release ran it (``RLPD_MAQ/main.py:71-100``, docs/reference-spec.md §5.1)."""

_SMOKE_ONLINE = dict(
    total_transitions=240,
    warmup_transitions=40,
    batch_size=16,
    eval_interval=120,
    eval_episodes=2,
    log_interval=40,
)
_SMOKE_NETS = dict(hidden_dims=(32, 32), compile="off")  # compiling takes longer than a run
_MAQ_SMOKE = dataclasses.replace(
    _MAQ_ONLINE,
    **_SMOKE_ONLINE,
    num_envs=2,
    update_every=2,
    updates_per_round=2,
    buffer_capacity=100,
)

# ---- offline-to-online: IQL, MAQ+IQL ------------------------------------------------------------

_MAQ_OFFLINE = OfflineConfig(
    batch_size=32, buffer_capacity=500_000, normalize_states=False, eval_interval=10_000
)
"""MAQ+IQL as the release ran it (``iql_MAQ_trainer.py:159-192``, docs/reference-spec.md §8.2)."""
_MAQ_IQL = IQLConfig(
    actor="categorical",
    actor_cosine_steps=0,  # one Adam, constant lr 3e-4 for every head (§8.2)
    max_grad_norm=1.0,
    prior_kl_coef=0.5,
)
"""One network with Q1, Q2, V and π over codes, KL(prior ‖ π)·0.5, grad clip 1.0 (§8.3-8.5)."""
_SMOKE_OFFLINE = dict(
    offline_steps=50,
    online_steps=250,
    batch_size=16,
    buffer_capacity=100_000,
    eval_interval=50,
    eval_episodes=1,
    log_interval=25,
)
"""Seconds on a CPU: the online phase spans more than one door episode (200 steps), so a resume
point is written inside it."""

PRESETS: dict[str, dict[str, Preset]] = {
    "rlpd": {
        # resume.pt holds the whole online buffer (up to 1M transitions): write it every 50k.
        "paper": Preset(OnlineConfig(resume_every=10), SACConfig()),
        "smoke": Preset(
            OnlineConfig(**_SMOKE_ONLINE, buffer_capacity=1000),
            SACConfig(**_SMOKE_NETS, num_qs=4, utd_ratio=2),
        ),
    },
    "maq_rlpd": {
        "paper": Preset(_MAQ_ONLINE, DiscreteSACConfig()),
        "smoke": Preset(_MAQ_SMOKE, DiscreteSACConfig(**_SMOKE_NETS)),
    },
    "maq_dsac": {  # MAQ+DSAC: the MAQ+RLPD learner without human data (docs/reference-spec.md §6)
        "paper": Preset(dataclasses.replace(_MAQ_ONLINE, offline_ratio=0.0), DiscreteSACConfig()),
        "smoke": Preset(
            dataclasses.replace(_MAQ_SMOKE, offline_ratio=0.0), DiscreteSACConfig(**_SMOKE_NETS)
        ),
    },
    "iql": {  # IQL/iql.py:55-102, docs/reference-spec.md §7
        "paper": Preset(OfflineConfig(), IQLConfig()),
        "smoke": Preset(
            OfflineConfig(**_SMOKE_OFFLINE),
            IQLConfig(**_SMOKE_NETS, actor_cosine_steps=50),
        ),
    },
    "maq_iql": {
        "paper": Preset(_MAQ_OFFLINE, _MAQ_IQL),
        "smoke": Preset(
            dataclasses.replace(
                _MAQ_OFFLINE,
                **{**_SMOKE_OFFLINE, "offline_steps": 40, "online_steps": 60, "eval_interval": 20},
            ),
            dataclasses.replace(_MAQ_IQL, **_SMOKE_NETS),
        ),
    },
    "sac": {  # stable-baselines3's SAC, SAC/sac_train.py, docs/reference-spec.md §9.1
        "paper": Preset(SB3LoopConfig(), SB3SACConfig()),
        "smoke": Preset(
            SB3LoopConfig(
                num_envs=2, total_timesteps=400, eval_every=100, eval_episodes=2, resume_every=1
            ),
            SB3SACConfig(buffer_size=1000, learning_starts=50, batch_size=32, net_arch=(32, 32)),
        ),
    },
    # MAQ stage 1, VQVAE/vqvae_train.py and prior_train.py, docs/reference-spec.md §3.3-3.4
    "vqvae": {
        "paper": Preset(DistillConfig()),
        "smoke": Preset(
            DistillConfig(
                hidden_size=32,
                epochs=4,
                lr_decay_every=2,
                eval_every=2,
                prior_hidden_size=32,
                prior_epochs=4,
                prior_lr_decay_every=2,
            ),
        ),
    },
}


def get_preset(family: str, name: str) -> Preset:
    """The ``name`` (``paper``/``smoke``) preset of a method's preset family."""
    if name not in PRESETS[family]:
        raise MaqError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS[family])}")
    return PRESETS[family][name]


# ---- --set NAME=VALUE ---------------------------------------------------------------------------

CHOICES: dict[str, tuple[str, ...]] = {
    "compile": COMPILE_MODES,
    "init": INITS,
    "actor": ACTORS,
    "actor_q_reduction": ("mean", "min"),
    "dtype": ("float32", "float64"),
}
"""The string settings that take one of a few values (checked when ``--set`` gives them)."""


def parse_sets(items: list[str]) -> dict[str, str]:
    """``["utd_ratio=10", ...]`` → ``{"utd_ratio": "10"}`` (later items win)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise MaqError(f"--set {item!r} must look like NAME=VALUE, e.g. --set utd_ratio=10")
        out[name.strip()] = value.strip()
    return out


def _parse_value(text: str, hint: Any) -> Any:
    """``text`` as a value of type ``hint`` (int, float, bool, str, tuple of ints, or None)."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        if text.lower() == "none" and type(None) in args:
            return None
        return _parse_value(text, next(a for a in args if a is not type(None)))
    if typing.get_origin(hint) is tuple:
        return tuple(int(p) for p in text.replace(" ", "").split(",") if p)
    if hint is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise ValueError(text)
        return text.lower() in ("true", "1", "yes", "on")
    if hint is int:
        value = float(text)
        if value != int(value):
            raise ValueError(text)
        return int(value)
    return hint(text)


def with_overrides(preset: Preset, sets: dict[str, str]) -> Preset:
    """``preset`` with each ``NAME=VALUE`` applied to the loop or learner field of that name."""
    if not sets:
        return preset
    known = preset.fields()
    parts: dict[str, dict[str, Any]] = {"loop": {}, "learner": {}}
    for name, text in sets.items():
        if name not in known:
            raise MaqError(
                f"--set {name}: no such setting; valid names: {', '.join(sorted(known))}"
            )
        part, f = known[name]
        hint = typing.get_type_hints(type(getattr(preset, part)))[name]
        try:
            value = _parse_value(text, hint)
        except (ValueError, TypeError):
            raise MaqError(
                f"--set {name}={text!r}: expected a value of type {_type_name(hint)}"
            ) from None
        if name in CHOICES and value not in CHOICES[name]:
            raise MaqError(f"--set {name}={text!r}: choose one of {', '.join(CHOICES[name])}")
        parts[part][name] = value
    return Preset(
        dataclasses.replace(preset.loop, **parts["loop"]),
        None if preset.learner is None else dataclasses.replace(preset.learner, **parts["learner"]),
    )


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")
