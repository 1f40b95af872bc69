"""What identifies one experiment: method, task, seed, (L, K), tag, preset, data files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
