"""What identifies one experiment: method, task, seed, (L, K), tag, preset, data files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maq.runs import repo_root

PRESETS = ("paper", "smoke")


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

    def identity(self, training_dataset: str, device: str) -> dict[str, Any]:
        """The :class:`RunIdentity` fields of this run, for a learner's resolved config."""
        return dict(method=self.method, env_id=self.env_id, seed=self.seed, seq_len=self.seq_len,
                    codebook_size=self.codebook_size, tag=self.tag, preset=self.preset,
                    training_dataset=training_dataset, device=device)  # fmt: skip


@dataclass(frozen=True)
class RunIdentity:
    """The head of every learner's resolved config (``config.json``/``config.yaml``)."""

    method: str
    """The method table's name."""
    env_id: str
    """The task, e.g. ``door-human-v1``."""
    seed: int
    """Seeds everything: networks, samplers, training episodes, evaluation episodes."""
    seq_len: int
    """Macro length L of the distillation (recorded but unused by primitive-action methods)."""
    codebook_size: int
    """Number of codes K of the distillation (recorded but unused by primitive-action methods)."""
    tag: str
    """Suffix that keeps this run's outputs apart."""
    preset: str
    """``paper`` or ``smoke``."""
    training_dataset: str
    """The human train split: offline transitions and state statistics; '' if unused."""
    device: str
    """Where the learner runs (``cpu``, ``cuda``, ...)."""
