"""The method table: the only place (besides scripts and docs) where method names appear.

Each entry says where a method's run lives, which function trains it and which loads a trained
checkpoint as a :class:`maq.policy.Policy`. Functions are named as ``"module:function"`` strings and
imported on use, so this table stays at the bottom of the import graph.

* ``train(spec: RunSpec) -> Path`` trains (or resumes, or skips a finished run) and returns the run
  folder.
* ``load_policy(checkpoint: Path, spec: RunSpec) -> Policy`` rebuilds a deterministic policy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maq.errors import MaqError
from maq.spec import RunSpec


@dataclass(frozen=True)
class Method:
    name: str
    run_dir: Callable[[RunSpec], Path]
    """The run folder, following the seed README's layout."""
    train: str
    """``module:function`` that trains one run."""
    load_policy: str
    """``module:function`` that loads a checkpoint as a Policy."""
    preset: str
    """The learner preset family in maq.presets (e.g. ``rlpd``, ``maq_rlpd``)."""
    uses_codes: bool
    """Needs a finished distillation (VQ-VAE, and the prior for MAQ+IQL) first."""
    uses_dataset: bool = True
    eval_csv: str = "experiment_data.csv"
    """The training-time evaluation table (columns maq.runs.EVAL_COLUMNS) in the run folder."""


def resolve(target: str) -> Callable[..., Any]:
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "MAQ",
            lambda s: s.root / "MAQ" / "log" / f"{s.env_id}_{s.suffix}",
            "maq.macro.distill:train_from_spec",
            "maq.macro.distill:load_prior_policy",
            preset="vqvae",
            uses_codes=True,
            eval_csv="metrics.json",
        ),
        Method(
            "MAQ+RLPD",
            lambda s: s.root / "RLPD_MAQ" / "log" / f"exp_{s.suffix}" / s.env_id / "RLPDMAQ",
            "maq.train.online:train",
            "maq.train.online:load_policy",
            preset="maq_rlpd",
            uses_codes=True,
        ),
        Method(
            "MAQ+DSAC",
            lambda s: s.root / "DSAC_MAQ" / "log" / f"exp_{s.suffix}" / s.env_id / "DSACMAQ",
            "maq.train.online:train",
            "maq.train.online:load_policy",
            preset="maq_dsac",
            uses_codes=True,
        ),
        Method(
            "MAQ+IQL",
            lambda s: s.root / "IQL" / "log" / s.env_id / f"MAQ_iql{s.suffix}_seed{s.seed}",
            "maq.train.offline:train",
            "maq.train.offline:load_policy",
            preset="maq_iql",
            uses_codes=True,
        ),
        Method(
            "RLPD",
            lambda s: s.root / "rlpd" / "log" / s.env_id / f"RLPD_seed{s.seed}{s.tag_suffix}",
            "maq.train.online:train",
            "maq.train.online:load_policy",
            preset="rlpd",
            uses_codes=False,
        ),
        Method(
            "SAC",
            lambda s: s.root / "SAC" / "log" / s.env_id / f"SAC_seed{s.seed}{s.tag_suffix}",
            "maq.train.sb3_sac:train",
            "maq.train.sb3_sac:load_policy",
            preset="sac",
            uses_codes=False,
            uses_dataset=False,
            eval_csv="SAC.csv",
        ),
        Method(
            "IQL",
            lambda s: s.root / "IQL" / "log" / s.env_id / f"iql_seed{s.seed}{s.tag_suffix}",
            "maq.train.offline:train",
            "maq.train.offline:load_policy",
            preset="iql",
            uses_codes=False,
        ),
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise MaqError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]
