"""Held-out quality of a distillation, written to ``metrics.json``.

On the test split (and, for reference, the train split): reconstruction MSE per action element,
the actions' variance (mean over the L·A positions of each position's variance over windows) and
the ratio MSE/Var (a fraction of unexplained variance, 0 = perfect, 1 = no better than the mean
window), codes used and code perplexity, the prior's accuracy on the encoder's codes, the MSE of
decoding the prior's argmax code, and the same ratio for a no-quantization baseline (the decoder's
MLP trained on s → L·A without a bottleneck) so the cost of quantization is visible.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from maq.macro.config import DistillConfig
from maq.macro.fit import WindowData, code_usage, train_baseline
from maq.macro.prior import CodePrior
from maq.macro.vqvae import VQVAE, ActionDecoder


@torch.no_grad()
def reconstruction_mse(vqvae: VQVAE, data: WindowData) -> float:
    """Mean squared error per action element of decode(s, encode(s, a)) against a."""
    recon = vqvae.decode(data.states, vqvae.encode(data.states, data.windows))
    return float(((recon - data.windows) ** 2).mean())


def action_variance(data: WindowData) -> float:
    """Variance of each of the L·A window positions over windows, averaged over positions."""
    return float(data.windows.reshape(len(data.windows), -1).var(dim=0, unbiased=False).mean())


@torch.no_grad()
def split_metrics(
    vqvae: VQVAE, prior: CodePrior, data: WindowData, codes: torch.Tensor
) -> dict[str, Any]:
    mse, var = reconstruction_mse(vqvae, data), action_variance(data)
    prior_codes = prior(data.states).argmax(dim=1)
    prior_mse = float(((vqvae.decode(data.states, prior_codes) - data.windows) ** 2).mean())
    return {
        "num_windows": len(data.states),
        "reconstruction_mse": mse,
        "action_variance": var,
        "mse_over_var": mse / var,
        **code_usage(codes, vqvae.codebook_size),
        "prior_accuracy": float((prior_codes == codes).float().mean()),
        "prior_decode_mse": prior_mse,
        "prior_decode_mse_over_var": prior_mse / var,
    }


def held_out_metrics(
    cfg: DistillConfig,
    vqvae: VQVAE,
    prior: CodePrior,
    train: WindowData,
    test: WindowData,
    train_codes: torch.Tensor,
    test_codes: torch.Tensor,
    generator: torch.Generator,
) -> dict[str, Any]:
    """The metrics.json content (trains the baseline when ``cfg.baseline``)."""
    out: dict[str, Any] = {
        "config": dataclasses.asdict(cfg),
        "train": split_metrics(vqvae, prior, train, train_codes),
        "test": split_metrics(vqvae, prior, test, test_codes),
    }
    if cfg.baseline:
        baseline = ActionDecoder(vqvae.obs_dim, vqvae.act_dim, vqvae.seq_len, cfg.hidden_size)
        baseline = baseline.to(device=train.states.device, dtype=train.states.dtype)
        train_baseline(
            baseline,
            train,
            lr=cfg.lr,
            epochs=cfg.epochs,
            decay_every=cfg.lr_decay_every,
            batch_size=cfg.batch_size,
            generator=generator,
        )
        with torch.no_grad():
            for name, data in (("train", train), ("test", test)):
                mse = float(((baseline(data.states) - data.windows) ** 2).mean())
                out[name]["baseline_mse"] = mse
                out[name]["baseline_mse_over_var"] = mse / out[name]["action_variance"]
    return out
