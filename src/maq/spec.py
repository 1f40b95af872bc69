"""What identifies one experiment (:class:`RunSpec`, as the user names it) and everything a loop
needs to run it (:class:`Run`, resolved once by :func:`maq.methods.resolve_run`).

A loop receives a :class:`Run` and never looks anything up: the task, the preset with its
``--set`` overrides, the dataset files, the distillation (for methods that act in codes), the run
folder and the env factory all arrive in it. Tests build a Run around a fake env and synthetic
data, so every loop runs without MuJoCo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from maq.envs import TaskSpec, make_env
from maq.presets import PRESET_NAMES, Preset
from maq.runs import repo_root

PRESETS = PRESET_NAMES  # the names ``--preset`` accepts


@dataclass(frozen=True)
class RunSpec:
    """One experiment as the scripts name it (the seed README's flags)."""

    method: str = "MAQ+RLPD"
    """One of maq.methods.METHODS."""
    env_id: str = "door-human-v1"
    seed: int = 1
    seq_len: int = 9
    """Macro-action length L (``-seqlen/--sequence_length``)."""
    codebook_size: int = 16
    """Number of codes K (``-cbsz/--codebook_size``)."""
    tag: str = ""
    """Free-form suffix that keeps variants' outputs apart (``-t/--tag``)."""
    preset: str = "paper"
    """``paper`` = the release's hyperparameters; ``smoke`` = seconds on a CPU, for tests."""
    device: str = "auto"
    training_source: str = ""
    """Train .pkl (absolute, or relative to offline_data/); empty = the default split file."""
    testing_source: str = ""
    overwrite: bool = False
    """Retrain even if the run finished."""
    sets: tuple[tuple[str, str], ...] = ()
    """``--set NAME=VALUE`` overrides of the preset's fields, in order."""
    stop_after: int | None = None
    """Stop at the first resume point at or past this training step (``--stop_after``): a
    time-limited job, or a run carried to another machine. Not a setting of the run: the same
    command without it continues where the run stopped."""
    root: Path = field(default_factory=repo_root)
    """Repository root under which MAQ/, RLPD_MAQ/, ... and offline_data/ live."""

    @property
    def suffix(self) -> str:
        """``seed<s>_sq<L>_k<K>[_<tag>]`` as in the release's run names."""
        base = f"seed{self.seed}_sq{self.seq_len}_k{self.codebook_size}"
        return f"{base}_{self.tag}" if self.tag else base

    @property
    def tag_suffix(self) -> str:
        return f"_{self.tag}" if self.tag else ""


@dataclass(frozen=True)
class Run:
    """One experiment, resolved: what a training loop (and a policy loader) receives."""

    spec: RunSpec
    task: TaskSpec
    run_dir: Path
    """The run folder (the method table's layout); one process owns it at a time."""
    preset: Preset
    """The method's preset with the ``--set`` overrides applied."""
    device: str
    """Where the learner runs (``cpu``, ``cuda``, ...), resolved from ``--device``."""
    train_path: Path | None = None
    """The human train split (offline transitions, state statistics, distillation)."""
    test_path: Path | None = None
    """The held-out human split (the distillation's evaluation, human-likeness)."""
    distillation: Path | None = None
    """The finished VQ-VAE (and prior) folder: the run acts in its codes. None: primitive."""
    env_factory: Callable[[], gym.Env] | None = None
    """Makes one primitive-action env; None = the task's Adroit env (maq.envs.make_env)."""

    @property
    def acts_in_codes(self) -> bool:
        return self.distillation is not None

    def make_env(self) -> gym.Env:
        return self.env_factory() if self.env_factory is not None else make_env(self.task)

    def config(self, **extra: Any) -> dict[str, Any]:
        """The resolved config a loop writes to its run folder (and every checkpoint)."""
        s = self.spec
        head = dict(
            method=s.method,
            env_id=self.task.name,
            seed=s.seed,
            seq_len=s.seq_len,
            codebook_size=s.codebook_size,
            tag=s.tag,
            preset=s.preset,
            training_dataset=str(self.train_path or ""),
            distillation=str(self.distillation or ""),
            device=self.device,
            overrides=dict(s.sets),
        )
        return {**head, **extra, **self.preset.as_config()}
