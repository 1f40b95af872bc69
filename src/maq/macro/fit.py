"""The training loops of stage 1: VQ-VAE, code prior and the no-quantization baseline.

No files here: :mod:`maq.macro.distill` passes a callback that logs, evaluates and checkpoints.
All three share :func:`fit`: Adam, shuffled minibatches from an explicit ``torch.Generator`` and
the release's step-wise ``LambdaLR(1/(n+1))`` schedule (docs/reference-spec.md §3.3-3.4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from maq.macro.prior import CodePrior, prior_loss
from maq.macro.vqvae import VQVAE, ActionDecoder, vqvae_loss
from maq.nn import adam

LossFn = Callable[[Tensor], tuple[Tensor, dict[str, float]]]
"""Minibatch indices (B,) → (loss, metrics)."""
EpochHook = Callable[[int, dict[str, float]], None]
"""Called after each epoch with the 1-based epoch and the epoch's mean metrics (plus ``lr``)."""


class WindowData(NamedTuple):
    """Windows as tensors on the training device, in the training dtype."""

    states: Tensor
    """(N, S)."""
    windows: Tensor
    """(N, L, A)."""


def step_lr(base_lr: float, epoch: int, decay_every: int) -> float:
    """lr of 0-based ``epoch``: base/(n+1) after n decays, one every ``decay_every`` epochs."""
    return base_lr / (epoch // decay_every + 1)


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    num_samples: int,
    *,
    lr: float,
    epochs: int,
    decay_every: int,
    batch_size: int,
    generator: torch.Generator,
    on_epoch_end: EpochHook | None = None,
) -> None:
    """Adam on ``model`` over shuffled minibatches (the last one may be smaller, as a
    DataLoader's); the model is in train mode while fitting and left in eval mode."""
    device = next(model.parameters()).device
    # fused Adam: the same update as the unfused one, in one kernel per step
    optimizer = adam(model.parameters(), lr)
    model.train()
    for epoch in range(epochs):
        current_lr = step_lr(lr, epoch, decay_every)
        for group in optimizer.param_groups:
            group["lr"] = current_lr
        order = torch.randperm(num_samples, generator=generator).to(device)
        sums: dict[str, float] = {}
        batches = 0
        for start in range(0, num_samples, batch_size):
            loss, metrics = loss_fn(order[start : start + batch_size])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v
            batches += 1
        if on_epoch_end is not None:
            mean = {k: v / max(batches, 1) for k, v in sums.items()}
            on_epoch_end(epoch + 1, {**mean, "lr": current_lr})
    model.eval()


@torch.no_grad()
def encoder_outputs(vqvae: VQVAE, data: WindowData, batch_size: int = 4096) -> Tensor:
    """z_e (N, D) of every window, in eval mode."""
    outs = [
        vqvae.encoder_output(data.states[i : i + batch_size], data.windows[i : i + batch_size])
        for i in range(0, len(data.states), batch_size)
    ]
    return torch.cat(outs)


@torch.no_grad()
def reinit_dead_codes(vqvae: VQVAE, data: WindowData, generator: torch.Generator) -> int:
    """Give every code that no window uses the encoder output of a window of a used code.

    Usage is counted over all of ``data`` (the train split); the donor code is drawn with
    probability ∝ its usage and the new code sits on one of its windows' z_e, so the next
    assignment splits that cluster. (The release counts one test sample per batch and copies the
    donor code exactly, which leaves the copy tied with its donor: docs/reference-spec.md §12 item
    10.)
    Returns the number of codes re-initialized.
    """
    z_e = encoder_outputs(vqvae, data)
    codes = vqvae.nearest_code(z_e)
    counts = torch.bincount(codes, minlength=vqvae.codebook_size)
    dead = torch.nonzero(counts == 0).flatten()
    if len(dead) == 0 or counts.sum() == 0:
        return 0
    donors = torch.multinomial(
        counts.double().cpu(), len(dead), replacement=True, generator=generator
    )
    for code, donor in zip(dead.tolist(), donors.tolist(), strict=True):
        members = torch.nonzero(codes == donor).flatten()
        pick = members[torch.randint(len(members), (1,), generator=generator).item()]
        vqvae.codebook.weight[code] = z_e[pick]
    return len(dead)


def train_vqvae(
    vqvae: VQVAE,
    data: WindowData,
    *,
    beta: float,
    lr: float,
    epochs: int,
    decay_every: int,
    batch_size: int,
    generator: torch.Generator,
    on_epoch_end: EpochHook | None = None,
) -> None:
    """Minimize :func:`~maq.macro.vqvae.vqvae_loss` over the windows."""

    def loss_fn(idx: Tensor) -> tuple[Tensor, dict[str, float]]:
        return vqvae_loss(vqvae(data.states[idx], data.windows[idx]), data.windows[idx], beta)

    fit(vqvae, loss_fn, len(data.states), lr=lr, epochs=epochs, decay_every=decay_every,
        batch_size=batch_size, generator=generator, on_epoch_end=on_epoch_end)  # fmt: skip


def train_prior(
    prior: CodePrior,
    states: Tensor,
    codes: Tensor,
    *,
    lr: float,
    epochs: int,
    decay_every: int,
    batch_size: int,
    generator: torch.Generator,
    on_epoch_end: EpochHook | None = None,
) -> None:
    """Cross-entropy of the prior against the frozen encoder's codes (docs/reference-spec.md
    §3.4)."""

    def loss_fn(idx: Tensor) -> tuple[Tensor, dict[str, float]]:
        return prior_loss(prior(states[idx]), codes[idx])

    fit(prior, loss_fn, len(states), lr=lr, epochs=epochs, decay_every=decay_every,
        batch_size=batch_size, generator=generator, on_epoch_end=on_epoch_end)  # fmt: skip


def train_baseline(
    model: ActionDecoder,
    data: WindowData,
    *,
    lr: float,
    epochs: int,
    decay_every: int,
    batch_size: int,
    generator: torch.Generator,
) -> None:
    """MSE of s → L·A without a bottleneck, on the VQ-VAE's schedule."""

    def loss_fn(idx: Tensor) -> tuple[Tensor, dict[str, float]]:
        loss = nn.functional.mse_loss(model(data.states[idx]), data.windows[idx])
        return loss, {"loss": loss.item()}

    fit(model, loss_fn, len(data.states), lr=lr, epochs=epochs, decay_every=decay_every,
        batch_size=batch_size, generator=generator)  # fmt: skip


def code_usage(codes: np.ndarray | Tensor, codebook_size: int) -> dict[str, float | list[int]]:
    """Codes used, perplexity exp(H(usage)) and the per-code counts."""
    codes = torch.as_tensor(codes).cpu()
    counts = torch.bincount(codes, minlength=codebook_size).double()
    p = counts / counts.sum().clamp(min=1)
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return {
        "codes_used": int((counts > 0).sum()),
        "perplexity": float(entropy.exp()),
        "usage": [int(c) for c in counts.tolist()],
    }
