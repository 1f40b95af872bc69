"""The conditional VQ-VAE: shapes, codes, the straight-through path, overfitting, dead codes."""

from __future__ import annotations

import torch

from maq.macro.fit import WindowData, reinit_dead_codes
from maq.macro.vqvae import VQVAE, vqvae_loss

S, A, L, K = 5, 3, 4, 8


def batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, S, generator=g), torch.rand(n, L, A, generator=g) * 2 - 1


def test_shapes_dtypes_and_code_range():
    torch.manual_seed(0)
    model = VQVAE(S, A, L, K, hidden_size=16)
    states, windows = batch(10)
    codes = model.encode(states, windows)
    assert codes.shape == (10,) and codes.dtype == torch.int64
    assert ((codes >= 0) & (codes < K)).all()
    actions = model.decode(states, codes)
    assert actions.shape == (10, L, A) and actions.dtype == torch.float32
    out = model(states, windows)
    torch.testing.assert_close(out.recon, actions)  # forward decodes the same code vectors
    assert torch.equal(out.codes, codes)
    assert (model.obs_dim, model.act_dim, model.seq_len, model.codebook_size) == (S, A, L, K)


def test_nearest_code_is_the_closest_codebook_row():
    torch.manual_seed(0)
    model = VQVAE(S, A, L, K, hidden_size=16)
    z = torch.randn(7, 16)
    expected = torch.cdist(z, model.codebook.weight).argmin(dim=1)
    assert torch.equal(model.nearest_code(z), expected)


def test_straight_through_gradient_reaches_the_encoder_not_the_codebook():
    torch.manual_seed(0)
    model = VQVAE(S, A, L, K, hidden_size=16)
    states, windows = batch()
    out = model(states, windows)
    torch.nn.functional.mse_loss(out.recon, windows).backward()
    assert model.encoder[0].weight.grad.abs().sum() > 0
    assert model.codebook.weight.grad is None or model.codebook.weight.grad.abs().sum() == 0
    model.zero_grad()
    loss, metrics = vqvae_loss(model(states, windows), windows, beta=0.25)
    loss.backward()
    assert model.codebook.weight.grad.abs().sum() > 0  # the codebook term moves the codebook
    assert set(metrics) == {"reconstruction", "codebook", "commitment", "loss"}
    assert (
        metrics["loss"]
        == torch.tensor(
            metrics["reconstruction"] + metrics["codebook"] + 0.25 * metrics["commitment"]
        ).item()
    )


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    model = VQVAE(S, A, L, K, hidden_size=64)
    states, windows = batch(8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(400):
        loss, metrics = vqvae_loss(model(states, windows), windows, beta=0.25)
        first = metrics["reconstruction"] if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    final = torch.nn.functional.mse_loss(
        model.decode(states, model.encode(states, windows)), windows
    ).item()
    assert final < 0.05 * first


def test_dead_codes_are_reinitialized_from_used_codes():
    torch.manual_seed(0)
    model = VQVAE(S, A, L, K, hidden_size=16)
    states, windows = batch(40)
    data = WindowData(states, windows)
    with torch.no_grad():
        model.codebook.weight[5:] = 1e3  # codes 5..7 are far from every z_e: dead
        z_e = model.encoder_output(states, windows)
    dead = set(range(K)) - set(model.encode(states, windows).tolist())
    assert {5, 6, 7} <= dead
    n = reinit_dead_codes(model, data, torch.Generator().manual_seed(0))
    assert n == len(dead)
    for code in (5, 6, 7):  # each sits on some window's z_e now...
        assert (model.codebook.weight[code] - z_e).abs().sum(dim=1).min() == 0
    assert set(model.encode(states, windows).tolist()) & {5, 6, 7}  # ...and gets used
