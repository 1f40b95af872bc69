"""The conditional VQ-VAE over L-step action windows (MAQ stage 1, docs/reference-spec.md §3.1).

* Encoder ``[s_t, a_{t:t+L}] → z_e ∈ R^D``: MLP S+L·A → H → H → D (ReLU between).
* Codebook ``K × D`` initialized U(−1/K, 1/K); the nearest code by squared L2 is the quantization.
* Straight-through estimator: the decoder sees the code vector and its gradient is copied to z_e;
  the codebook learns only through the codebook term of the loss (van den Oord et al. 2017, eq. 3).
* Decoder ``[s_t, e_k] → L·A``: MLP S+D → H → H → L·A, no output squashing (the env clips).

The release ties D = H = 256. :meth:`VQVAE.decode` is the single decode every consumer uses (the
macro wrapper, the policy adapter, the learners).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maq.nn import mlp


class VQOutput(NamedTuple):
    """One forward pass of the VQ-VAE on a batch of B windows."""

    recon: Tensor
    """(B, L, A): decoded actions, through the straight-through path."""
    z_e: Tensor
    """(B, D): encoder output."""
    z_q: Tensor
    """(B, D): the chosen code vectors, attached to the codebook (for the codebook loss)."""
    codes: Tensor
    """(B,) int64: the nearest code of each window."""


class VQVAE(nn.Module):
    def __init__(
        self, obs_dim: int, act_dim: int, seq_len: int, codebook_size: int, hidden_size: int = 256
    ):
        super().__init__()
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.seq_len, self.codebook_size = int(seq_len), int(codebook_size)
        self.hidden_size = int(hidden_size)
        flat = self.seq_len * self.act_dim
        self.encoder = mlp(self.obs_dim + flat, (hidden_size, hidden_size), hidden_size)
        self.codebook = nn.Embedding(codebook_size, hidden_size)
        self.codebook.weight.data.uniform_(-1.0 / codebook_size, 1.0 / codebook_size)
        self.decoder = mlp(self.obs_dim + hidden_size, (hidden_size, hidden_size), flat)

    def hparams(self) -> dict[str, int]:
        """The constructor arguments (stored in checkpoints so they rebuild the model)."""
        return {
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "seq_len": self.seq_len,
            "codebook_size": self.codebook_size,
            "hidden_size": self.hidden_size,
        }

    def encoder_output(self, states: Tensor, windows: Tensor) -> Tensor:
        """z_e (B, D) of states (B, S) and windows (B, L, A), flattened time-major."""
        return self.encoder(torch.cat([states, windows.reshape(len(windows), -1)], dim=-1))

    def nearest_code(self, z_e: Tensor) -> Tensor:
        """argmin_k ‖z_e − e_k‖² as ‖z‖² + ‖e‖² − 2 z·e (ties go to the lowest index)."""
        book = self.codebook.weight
        dist = (
            z_e.pow(2).sum(1, keepdim=True) + book.pow(2).sum(1)[None, :] - 2.0 * z_e @ book.T
        )  # (B, K)
        return dist.argmin(dim=1)

    def _decode_vectors(self, states: Tensor, z: Tensor) -> Tensor:
        return self.decoder(torch.cat([states, z], dim=-1)).reshape(
            len(states), self.seq_len, self.act_dim
        )

    def forward(self, states: Tensor, windows: Tensor) -> VQOutput:
        z_e = self.encoder_output(states, windows)
        codes = self.nearest_code(z_e.detach())
        z_q = self.codebook(codes)  # (B, D), carries the codebook's gradient
        z_st = z_e + (z_q.detach() - z_e).detach()  # value e_k, gradient copied to z_e
        return VQOutput(self._decode_vectors(states, z_st), z_e, z_q, codes)

    @torch.no_grad()
    def encode(self, states: Tensor, windows: Tensor) -> Tensor:
        """The nearest code (B,) int64 of each (state (B, S), window (B, L, A))."""
        return self.nearest_code(self.encoder_output(states, windows))

    def decode(self, states: Tensor, codes: Tensor) -> Tensor:
        """The L actions (B, L, A) that code ``codes`` (B,) stands for in states (B, S)."""
        return self._decode_vectors(states, self.codebook(codes))


def vqvae_loss(out: VQOutput, windows: Tensor, beta: float) -> tuple[Tensor, dict[str, float]]:
    """Reconstruction + codebook + β·commitment (docs/reference-spec.md §3.3; van den Oord et al.
    eq. 3).

    All three are means over elements: MSE(x̃, x) + MSE(e_k, sg(z_e)) + β·MSE(z_e, sg(e_k)).
    """
    reconstruction = F.mse_loss(out.recon, windows)
    codebook = F.mse_loss(out.z_q, out.z_e.detach())
    commitment = F.mse_loss(out.z_e, out.z_q.detach())
    loss = reconstruction + codebook + beta * commitment
    return loss, {
        "reconstruction": reconstruction.item(),
        "codebook": codebook.item(),
        "commitment": commitment.item(),
        "loss": loss.item(),
    }


class ActionDecoder(nn.Module):
    """The no-quantization baseline: the VQ-VAE's decoder shape, conditioned on the state only.

    ``s → L·A`` with the same MLP, so the gap between its error and the VQ-VAE's is the cost of
    squeezing the windows through K codes.
    """

    def __init__(self, obs_dim: int, act_dim: int, seq_len: int, hidden_size: int = 256):
        super().__init__()
        self.seq_len, self.act_dim = int(seq_len), int(act_dim)
        self.net = mlp(obs_dim, (hidden_size, hidden_size), self.seq_len * self.act_dim)

    def forward(self, states: Tensor) -> Tensor:
        return self.net(states).reshape(len(states), self.seq_len, self.act_dim)


@torch.no_grad()
def decode_actions(vqvae: VQVAE, obs, code: int, device: str | torch.device = "cpu"):
    """Decode one code in one state (numpy (S,)) into its L actions, numpy (L, A) float32."""
    state = torch.as_tensor(obs, dtype=torch.float32, device=device).reshape(1, -1)
    codes = torch.as_tensor([int(code)], dtype=torch.long, device=device)
    return vqvae.decode(state, codes)[0].cpu().numpy().astype("float32")
