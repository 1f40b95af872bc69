"""The online loop's settings and the presets of RLPD, MAQ+RLPD and MAQ+DSAC.

A preset is one :class:`OnlineConfig` (the loop) plus a learner config: everything that makes a
method what it is, so :mod:`maq.train.online` never branches on a method name. ``paper`` presets
hold the release's values (reference-spec §5.1, §6, §9.2, §14); ``smoke`` presets finish in
seconds on a CPU, for tests. Budgets are counted in *learner transitions* (macro transitions for
the MAQ presets, summed over the training envs, as the release does); every log's x-axis is in
primitive environment steps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from maq.agents.discrete_sac import DiscreteSACConfig
from maq.agents.sac import SACConfig
from maq.errors import MaqError


@dataclass(frozen=True)
class OnlineConfig:
    """How the online loop collects data, updates, evaluates and checkpoints."""

    macro: bool = False
    """Act in codes of the run's VQ-VAE through maq.macro.env.MacroActionWrapper (MAQ presets)."""
    num_envs: int = 1
    """Training environments stepped in turn (RLPD: 1; MAQ: 8, ``RLPD_MAQ/main.py``)."""
    total_transitions: int = 1_000_000
    """Budget in learner transitions summed over envs (RLPD ``--max_steps``; MAQ
    ``training_steps`` = 1e6 macro transitions, spec §12 item 9)."""
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
    """Clip human actions to ±this (RLPD's dataset loader); unused by the macro presets."""
    eval_interval: int = 5000
    """Transitions between evaluations (RLPD ``--eval_interval``; MAQ 10,000)."""
    eval_episodes: int = 10
    """Deterministic episodes per evaluation (RLPD and MAQ: 10)."""
    eval_seed_offset: int = 42
    """Evaluation episode i uses seed ``(seed + offset)·200 + i`` (maq.rollout), apart from the
    training envs' seeds and from the final evaluator's ``seed·200 + i`` (RLPD: eval env at
    seed + 42)."""
    resume_every: int = 1
    """Write ``resume.pt`` (learner, optimizers, buffers, RNGs) every this many evaluations."""
    log_interval: int = 1000
    """Transitions between ``train/`` log rows (RLPD ``--log_interval``)."""
    num_threads: int = 1
    """torch CPU threads: one is fastest for these small networks on a shared CPU (data.md)."""


@dataclass(frozen=True)
class OnlinePreset:
    loop: OnlineConfig
    learner: SACConfig | DiscreteSACConfig = field(default_factory=SACConfig)


_MAQ_LOOP = OnlineConfig(
    macro=True,
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
"""MAQ+RLPD as the release ran it (``RLPD_MAQ/main.py:71-100``, reference-spec §5.1)."""

_SMOKE_LOOP = {
    "total_transitions": 240,
    "warmup_transitions": 40,
    "batch_size": 16,
    "eval_interval": 120,
    "eval_episodes": 2,
    "log_interval": 40,
}
_SMOKE_SAC = {"hidden_dims": (32, 32), "compile": "off"}  # compiling takes longer than a run

PRESETS: dict[str, dict[str, OnlinePreset]] = {
    "rlpd": {
        # resume.pt holds the whole online buffer (up to 1M transitions): write it every 50k.
        "paper": OnlinePreset(OnlineConfig(resume_every=10), SACConfig()),
        "smoke": OnlinePreset(
            dataclasses.replace(
                OnlineConfig(), **_SMOKE_LOOP, buffer_capacity=1000, resume_every=1
            ),
            SACConfig(**_SMOKE_SAC, num_qs=4, utd_ratio=2),
        ),
    },
    "maq_rlpd": {
        "paper": OnlinePreset(_MAQ_LOOP, DiscreteSACConfig()),
        "smoke": OnlinePreset(
            dataclasses.replace(
                _MAQ_LOOP,
                **_SMOKE_LOOP,
                num_envs=2,
                update_every=2,
                updates_per_round=2,
                buffer_capacity=100,
            ),
            DiscreteSACConfig(**_SMOKE_SAC),
        ),
    },
}
PRESETS["maq_dsac"] = {  # MAQ+DSAC: the same learner without human data (reference-spec §6)
    name: dataclasses.replace(p, loop=dataclasses.replace(p.loop, offline_ratio=0.0))
    for name, p in PRESETS["maq_rlpd"].items()
}


def get_preset(family: str, preset: str) -> OnlinePreset:
    """The ``preset`` (``paper``/``smoke``) of a method's preset family (maq.methods)."""
    if family not in PRESETS:
        raise MaqError(f"no online preset family {family!r}; known: {', '.join(PRESETS)}")
    if preset not in PRESETS[family]:
        raise MaqError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS[family])}")
    return PRESETS[family][preset]
