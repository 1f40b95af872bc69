"""The code prior of MAQ+IQL: a state → K logits classifier (docs/reference-spec.md §3.4).

Trained with cross-entropy on the frozen VQ-VAE encoder's code of each human window. MAQ+IQL pulls
its policy towards it with KL(prior ‖ π); taking its argmax and decoding gives the "prior-only"
agent that lets method ``MAQ`` alone be evaluated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maq.nn import mlp


class CodePrior(nn.Module):
    """MLP S → H → H → K logits (ReLU), PyTorch default init as the release's ``PriorNet``."""

    def __init__(self, obs_dim: int, codebook_size: int, hidden_size: int = 256):
        super().__init__()
        self.obs_dim, self.codebook_size = int(obs_dim), int(codebook_size)
        self.hidden_size = int(hidden_size)
        self.net = mlp(self.obs_dim, (self.hidden_size, self.hidden_size), self.codebook_size)

    def hparams(self) -> dict[str, int]:
        return {
            "obs_dim": self.obs_dim,
            "codebook_size": self.codebook_size,
            "hidden_size": self.hidden_size,
        }

    def forward(self, states: Tensor) -> Tensor:
        """Logits (B, K) over codes for states (B, S)."""
        return self.net(states)

    @torch.no_grad()
    def act(self, states: Tensor, deterministic: bool = True) -> Tensor:
        """The most likely code (B,) per state: the prior as a policy (method ``MAQ``)."""
        return self.net(states).argmax(dim=1)


def prior_loss(logits: Tensor, codes: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Cross-entropy between the prior's logits and the encoder's codes (docs/reference-spec.md
    §3.4)."""
    loss = F.cross_entropy(logits, codes)
    accuracy = (logits.argmax(dim=1) == codes).float().mean()
    return loss, {"loss": loss.item(), "accuracy": accuracy.item()}
