"""The offline-to-online loop's settings and the presets of IQL and MAQ+IQL.

A preset is one :class:`OfflineConfig` (the loop) plus an :class:`~maq.agents.iql.IQLConfig`:
everything that makes a method what it is, so :mod:`maq.train.offline` never branches on a method
name. ``paper`` presets hold the release's values (IQL: ``IQL/iql.py:55-102``, reference-spec §7;
MAQ+IQL: ``IQL/iql_MAQ_trainer.py:159-192``, §8.2; both in §14); ``smoke`` presets finish in
seconds on a CPU, for tests. Budgets count learner iterations (one decision and one update each:
a primitive step for IQL, a macro for MAQ+IQL, as the release does); every log's x-axis is
``offline updates + online primitive environment steps`` (docs/offline.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from maq.agents.iql import IQLConfig
from maq.errors import MaqError


@dataclass(frozen=True)
class OfflineConfig:
    """How the offline loop trains on the human data, then fine-tunes online, and evaluates."""

    macro: bool = False
    """Act in codes of the run's VQ-VAE (maq.macro.env.MacroActionWrapper) and learn from the
    relabelled L-step human macro transitions (MAQ+IQL); else primitive actions (IQL)."""
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
    """Evaluation episode i uses seed ``(seed + offset)·200 + i`` (maq.rollout), apart from the
    training episodes' seeds and the final evaluator's ``seed·200 + i`` (as the online loop)."""
    log_interval: int = 1000
    """Iterations between ``train/`` log rows."""
    num_threads: int = 1
    """torch CPU threads (docs/benchmarks.md: one is fastest on a shared 2-core CPU)."""


@dataclass(frozen=True)
class OfflinePreset:
    loop: OfflineConfig
    learner: IQLConfig = field(default_factory=IQLConfig)


_MAQ_LOOP = OfflineConfig(
    macro=True,
    batch_size=32,
    buffer_capacity=500_000,
    normalize_states=False,
    eval_interval=10_000,
)
"""MAQ+IQL as the release ran it (``iql_MAQ_trainer.py:159-192``, reference-spec §8.2)."""

_MAQ_LEARNER = IQLConfig(
    actor="categorical",
    actor_cosine_steps=0,  # one Adam, constant lr 3e-4 for every head (§8.2)
    max_grad_norm=1.0,
    prior_kl_coef=0.5,
)
"""One network with Q1, Q2, V and π over codes, KL(prior ‖ π)·0.5, grad clip 1.0 (§8.3-8.5)."""

_SMOKE_LOOP = {
    "offline_steps": 50,
    "online_steps": 250,
    "batch_size": 16,
    "buffer_capacity": 100_000,
    "eval_interval": 50,
    "eval_episodes": 1,
    "log_interval": 25,
}
"""Seconds on a CPU: the online phase spans more than one door episode (200 steps), so a resume
point is written inside it."""
_SMOKE_MAQ_LOOP = {**_SMOKE_LOOP, "offline_steps": 40, "online_steps": 60, "eval_interval": 20}
_SMOKE_LEARNER = {"hidden_dims": (32, 32), "actor_cosine_steps": 50, "compile": "off"}

PRESETS: dict[str, dict[str, OfflinePreset]] = {
    "iql": {
        "paper": OfflinePreset(OfflineConfig(), IQLConfig()),
        "smoke": OfflinePreset(
            dataclasses.replace(OfflineConfig(), **_SMOKE_LOOP),
            IQLConfig(**_SMOKE_LEARNER),
        ),
    },
    "maq_iql": {
        "paper": OfflinePreset(_MAQ_LOOP, _MAQ_LEARNER),
        "smoke": OfflinePreset(
            dataclasses.replace(_MAQ_LOOP, **_SMOKE_MAQ_LOOP),
            dataclasses.replace(_MAQ_LEARNER, hidden_dims=(32, 32), compile="off"),
        ),
    },
}


def get_preset(family: str, preset: str) -> OfflinePreset:
    """The ``preset`` (``paper``/``smoke``) of a method's preset family (maq.methods)."""
    if family not in PRESETS:
        raise MaqError(f"no offline preset family {family!r}; known: {', '.join(PRESETS)}")
    if preset not in PRESETS[family]:
        raise MaqError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS[family])}")
    return PRESETS[family][preset]


def preset_from_dict(data: dict[str, Any]) -> OfflinePreset:
    """Rebuild a preset from a checkpoint's stored config (``{"loop": ..., "learner": ...}``)."""
    learner = dict(data["learner"])
    learner["hidden_dims"] = tuple(learner["hidden_dims"])
    return OfflinePreset(OfflineConfig(**data["loop"]), IQLConfig(**learner))
