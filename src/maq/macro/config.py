"""Settings of MAQ stage 1 (the VQ-VAE and the code prior) and its two presets.

Defaults are the release's (``VQVAE/vqvae_train.py:231-245`` and ``VQVAE/prior_train.py``,
docs/reference-spec.md §3.3-3.4, §14); ``smoke`` shrinks widths and epochs so a distillation takes
seconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class DistillConfig:
    """Everything that decides a distillation's result (written to ``config.json``)."""

    env_id: str = "door-human-v1"
    seed: int = 1
    """Seeds model init, batch order and dead-code re-init (the release seeds torch likewise)."""
    seq_len: int = 9
    """Macro length L (``--sequence_length``)."""
    codebook_size: int = 16
    """Number of codes K (``--codebook_size``)."""
    preset: str = "paper"
    hidden_size: int = 256
    """Width of encoder/decoder layers and the code dimension D (``vqvae_train.py:233``)."""
    beta: float = 0.25
    """Commitment weight β (``vqvae_train.py``, docs/reference-spec.md §3.3)."""
    lr: float = 3e-4
    """Adam learning rate of the VQ-VAE (and of the no-quantization baseline)."""
    batch_size: int = 32
    """Minibatch of windows for the VQ-VAE, the prior and the baseline (docs/reference-spec.md
    §3.3-3.4)."""
    epochs: int = 100
    """VQ-VAE epochs over the train windows (docs/reference-spec.md §3.3)."""
    lr_decay_every: int = 20
    """The lr is lr/(n+1) after n decays, one every this many epochs (``LambdaLR``, §3.3)."""
    eval_every: int = 5
    """Test-split evaluation, checkpoint and dead-code re-init every this many epochs (§3.3)."""
    reinit_dead_codes: bool = True
    """Re-initialize codes no train window uses (usage counted over the whole train split)."""
    dtype: str = "float32"
    """Training precision; the release trains in float64 (§3.3). Inference is always float32."""
    prior_hidden_size: int = 256
    """Width of the prior's two hidden layers (``prior_train.py:43-61``)."""
    prior_lr: float = 1e-3
    """Adam learning rate of the prior (docs/reference-spec.md §3.4)."""
    prior_epochs: int = 100
    prior_lr_decay_every: int = 5
    """The prior's lr decays as 1/(n+1) every this many epochs (docs/reference-spec.md §3.4)."""
    baseline: bool = True
    """Also train the no-quantization baseline (s → L·A) to report the cost of quantization."""
    training_dataset: str = ""
    """The train .pkl the windows come from."""
    testing_dataset: str = ""
    """The test .pkl used for evaluation and the held-out metrics."""
    device: str = "cpu"
    num_threads: int = 1
    """torch CPU threads while distilling: one is fastest for these small MLPs
    (docs/human-data.md)."""


RESULT_INDEPENDENT_FIELDS = ("training_dataset", "testing_dataset", "device", "num_threads")
"""Fields that may differ between a finished distillation and a later request that reuses it."""


def config_mismatch(stored: dict, cfg: DistillConfig) -> list[str]:
    """Result-deciding fields where a stored config differs from ``cfg`` (``key: old → new``)."""
    out = []
    for key, value in dataclasses.asdict(cfg).items():
        if key in RESULT_INDEPENDENT_FIELDS:
            continue
        if stored.get(key) != value:
            out.append(f"{key}: {stored.get(key)!r} → {value!r}")
    return out
