"""The method table, and the edge where a :class:`~maq.spec.RunSpec` becomes a resolved
:class:`~maq.spec.Run`: the only place (besides scripts and docs) where method names appear.

Each entry says where a method's run lives, which loop trains it, which function loads a trained
checkpoint as a :class:`maq.policy.Policy`, and its presets. :func:`train` resolves a run once
(task, preset with ``--set`` overrides, datasets, distillation, run folder), takes ownership of
its folder and hands the :class:`~maq.spec.Run` to the loop; loops never import this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym

from maq.envs import TaskSpec, get_task
from maq.errors import DatasetError, MaqError
from maq.macro import distill
from maq.policy import Policy
from maq.presets import IDENTITY_FIELDS, PRESETS, Preset, with_overrides
from maq.runs import RunOwner, is_done, load_checkpoint, settings_diff, stored_config
from maq.seeding import resolve_device
from maq.spec import Run, RunSpec
from maq.train import offline, online, sb3_sac


@dataclass(frozen=True)
class Method:
    name: str
    run_dir: Callable[[RunSpec], Path]
    """The run folder, following the seed README's layout."""
    train: Callable[[Run], Path]
    """Trains (or resumes, or skips when finished) one resolved run; returns its folder."""
    load_policy: Callable[[Path, Run], Policy]
    """Loads a checkpoint of the run as a deterministic primitive-action Policy."""
    presets: dict[str, Preset]
    """``paper`` and ``smoke`` (maq.presets)."""
    uses_codes: bool
    """Acts in the codes of a distillation (made first when missing)."""
    uses_dataset: bool = True
    eval_csv: str = "experiment_data.csv"
    """The training-time evaluation table (columns maq.runs.EVAL_COLUMNS) in the run folder."""


DISTILL = "MAQ"
"""The method whose run (VQ-VAE and prior) the code-using methods build on."""

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            DISTILL,
            lambda s: s.root / "MAQ" / "log" / f"{s.env_id}_{s.suffix}",
            distill.train,
            distill.load_prior_policy,
            PRESETS["vqvae"],
            uses_codes=True,
            eval_csv="metrics.json",
        ),
        Method(
            "MAQ+RLPD",
            lambda s: s.root / "RLPD_MAQ" / "log" / f"exp_{s.suffix}" / s.env_id / "RLPDMAQ",
            online.train,
            online.load_policy,
            PRESETS["maq_rlpd"],
            uses_codes=True,
        ),
        Method(
            "MAQ+DSAC",
            lambda s: s.root / "DSAC_MAQ" / "log" / f"exp_{s.suffix}" / s.env_id / "DSACMAQ",
            online.train,
            online.load_policy,
            PRESETS["maq_dsac"],
            uses_codes=True,
        ),
        Method(
            "MAQ+IQL",
            lambda s: s.root / "IQL" / "log" / s.env_id / f"MAQ_iql{s.suffix}_seed{s.seed}",
            offline.train,
            offline.load_policy,
            PRESETS["maq_iql"],
            uses_codes=True,
        ),
        Method(
            "RLPD",
            lambda s: s.root / "rlpd" / "log" / s.env_id / f"RLPD_seed{s.seed}{s.tag_suffix}",
            online.train,
            online.load_policy,
            PRESETS["rlpd"],
            uses_codes=False,
        ),
        Method(
            "SAC",
            lambda s: s.root / "SAC" / "log" / s.env_id / f"SAC_seed{s.seed}{s.tag_suffix}",
            sb3_sac.train,
            sb3_sac.load_policy,
            PRESETS["sac"],
            uses_codes=False,
            uses_dataset=False,
            eval_csv="SAC.csv",
        ),
        Method(
            "IQL",
            lambda s: s.root / "IQL" / "log" / s.env_id / f"iql_seed{s.seed}{s.tag_suffix}",
            offline.train,
            offline.load_policy,
            PRESETS["iql"],
            uses_codes=False,
        ),
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise MaqError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def distill_spec(spec: RunSpec) -> RunSpec:
    """The ``MAQ`` run a code-using run builds on (its own ``--set`` apply to the learner only;
    ``--overwrite`` of an MAQ+X run retrains its learner, not the distillation)."""
    if spec.method == DISTILL:
        return spec
    return dataclasses.replace(spec, method=DISTILL, sets=(), overwrite=False)


def resolve_run(
    spec: RunSpec,
    *,
    prepare: bool = True,
    task: TaskSpec | None = None,
    env_factory: Callable[[], gym.Env] | None = None,
) -> Run:
    """``spec`` resolved into the :class:`Run` its loop receives.

    With ``prepare``, missing default dataset files are generated and a missing distillation is
    trained first; without it (evaluation, policy loading) nothing is made. ``task`` and
    ``env_factory`` replace the Adroit task and env (tests run on a fake env).
    """
    from maq.data.resolve import resolve_datasets

    method = get_method(spec.method)
    task = task or get_task(spec.env_id)
    if spec.preset not in method.presets:
        raise MaqError(f"unknown preset {spec.preset!r}; choose one of {', '.join(method.presets)}")
    preset = with_overrides(method.presets[spec.preset], dict(spec.sets))
    train_path = test_path = distillation = None
    try:
        train_path, test_path = resolve_datasets(
            task, spec.seed, spec.root, spec.training_source, spec.testing_source, prepare
        )
    except DatasetError:
        if method.uses_dataset:
            raise  # SAC needs no human data: it measures human-likeness only where there is some
    if not method.uses_dataset:
        train_path = None  # and never trains on it
    if method.uses_codes and method.name != DISTILL:
        d_spec = distill_spec(spec)
        distillation = METHODS[DISTILL].run_dir(d_spec)
        if prepare:
            d_run = resolve_run(d_spec, task=task, env_factory=env_factory)
            distill.train(d_run)
    return Run(
        spec=spec, task=task, run_dir=method.run_dir(spec), preset=preset,
        device=str(resolve_device(spec.device)), train_path=train_path, test_path=test_path,
        distillation=distillation, env_factory=env_factory,
    )  # fmt: skip


def settings_changes(spec: RunSpec, new: dict | None = None) -> list[str]:
    """How ``spec``'s settings (its preset with ``--set``, or the resolved config ``new``)
    differ from those its run folder records (``name: old → new``); [] when it records none."""
    method = get_method(spec.method)
    stored = stored_config(method.run_dir(spec))
    if stored is None:
        return []
    if new is None:
        preset = with_overrides(method.presets[spec.preset], dict(spec.sets))
        new = {"method": spec.method, "seed": spec.seed, **preset.as_config()}
    return settings_diff(stored, new, IDENTITY_FIELDS)


def check_settings(run: Run) -> None:
    """Refuse to resume or skip a run folder whose recorded settings differ from ``run``'s."""
    if run.spec.overwrite:
        return
    diff = settings_changes(run.spec, run.config())
    if diff:
        raise MaqError(
            f"{run.run_dir} holds a run with other settings ({'; '.join(diff)}); "
            "use --overwrite to replace it or --tag to keep both"
        )


def train(
    spec: RunSpec,
    *,
    task: TaskSpec | None = None,
    env_factory: Callable[[], gym.Env] | None = None,
) -> Path:
    """Train one experiment: own its folder, resolve it, check its settings, run its loop."""
    method = get_method(spec.method)
    with RunOwner(method.run_dir(spec)):
        run = resolve_run(spec, task=task, env_factory=env_factory)
        check_settings(run)
        if is_done(run.run_dir) and not spec.overwrite:
            return run.run_dir
        return method.train(run)


def checkpoint_spec(spec: RunSpec, checkpoint: Path) -> RunSpec:
    """``spec`` with the L, K and tag a code-using checkpoint records: its distillation is looked
    up with those (under ``spec.root``), whatever ``spec`` says, so a checkpoint can be played
    and labelled from anywhere."""
    method = get_method(spec.method)
    if not (method.uses_codes and method.name != DISTILL and Path(checkpoint).is_file()):
        return spec
    stored = load_checkpoint(Path(checkpoint))["config"]
    return dataclasses.replace(
        spec,
        seq_len=int(stored["seq_len"]),
        codebook_size=int(stored["codebook_size"]),
        tag=stored["tag"],
    )


def load_policy(spec: RunSpec, checkpoint: Path, **kwargs) -> Policy:
    """The deterministic policy of a checkpoint of ``spec``'s run (nothing is trained or made),
    with the checkpoint's own L and K (:func:`checkpoint_spec`)."""
    spec = checkpoint_spec(spec, checkpoint)
    method = get_method(spec.method)
    return method.load_policy(Path(checkpoint), resolve_run(spec, prepare=False, **kwargs))
