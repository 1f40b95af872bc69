"""Stage-1 distillation end to end (smoke preset): files, reuse, loading, determinism, door data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from maq import methods
from maq.data.format import save_trajectories
from maq.errors import MaqError
from maq.macro import distill
from maq.macro.distill import load_prior_policy
from maq.macro.loading import load_prior, load_vqvae
from maq.macro.prior import CodePrior
from maq.macro.vqvae import VQVAE
from maq.policy import Policy
from maq.spec import RunSpec
from tests.conftest import make_fake_trajectories


def fake_split(root: Path) -> tuple[Path, Path]:
    train, test = root / "train.pkl", root / "test.pkl"
    save_trajectories(make_fake_trajectories(n=4, length=20, seed=0), train)
    save_trajectories(make_fake_trajectories(n=2, length=15, seed=1), test)
    return train, test


def distill_dir(spec: RunSpec) -> Path:
    return methods.METHODS["MAQ"].run_dir(methods.distill_spec(spec))


def distill_run(spec: RunSpec, train: Path, test: Path):
    spec = dataclasses.replace(spec, training_source=str(train), testing_source=str(test))
    return methods.resolve_run(methods.distill_spec(spec))


def ensure_distilled(spec: RunSpec, train: Path, test: Path) -> Path:
    """The distillation a code-using run builds on, made (or reused) as maq.methods does."""
    return distill.train(distill_run(spec, train, test))


def smoke_spec(root: Path, **kw) -> RunSpec:
    fields = dict(
        method="MAQ+RLPD", seq_len=3, codebook_size=4, preset="smoke", root=root, device="cpu"
    )
    fields.update(kw)
    return RunSpec(**fields)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory) -> tuple[Path, RunSpec, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("distill")
    split = fake_split(root)
    spec = smoke_spec(root)
    return ensure_distilled(spec, *split), spec, split


def test_outputs_of_a_distillation(distilled):
    run_dir, spec, _ = distilled
    assert run_dir == spec.root / "MAQ" / "log" / "door-human-v1_seed1_sq3_k4" == distill_dir(spec)
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "done.json", "metrics.json", "progress.csv"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    models = sorted(n for n in names if n.startswith("model_"))
    assert [n.split("_")[1] for n in models] == ["2", "4"]  # every eval_every=2 of 4 epochs
    assert sorted(n.split("_")[2] for n in names if n.startswith("prior_model_")) == ["2", "4"]
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["preset"], config["seq_len"], config["codebook_size"]) == ("smoke", 3, 4)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["test"]
    assert test["num_windows"] == (15 - 2) + (16 - 2)
    assert test["mse_over_var"] == pytest.approx(
        test["reconstruction_mse"] / test["action_variance"]
    )
    assert 1 <= test["codes_used"] <= 4 and 1 <= test["perplexity"] <= 4
    assert sum(test["usage"]) == test["num_windows"]
    assert 0 <= test["prior_accuracy"] <= 1 and test["baseline_mse_over_var"] > 0
    header = (run_dir / "progress.csv").read_text().splitlines()[0]
    for key in (
        "train/reconstruction",
        "train/codebook",
        "eval/reconstruction_mse",
        "codes/used_train",
        "prior/test_accuracy",
    ):
        assert key in header


def test_finished_distillation_is_reused_and_checked(distilled):
    run_dir, spec, split = distilled
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    again = ensure_distilled(dataclasses.replace(spec, method="MAQ+IQL", overwrite=True), *split)
    assert again == run_dir
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before
    with pytest.raises(MaqError, match="preset"):
        ensure_distilled(dataclasses.replace(spec, preset="paper"), *split)


def test_loaders_give_frozen_float32_models(distilled):
    run_dir, spec, _ = distilled
    vqvae = load_vqvae(run_dir)
    assert isinstance(vqvae, VQVAE) and not vqvae.training
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in vqvae.parameters())
    assert (vqvae.seq_len, vqvae.codebook_size) == (3, 4)
    prior = load_prior(run_dir)
    assert isinstance(prior, CodePrior) and prior(torch.zeros(2, 39)).shape == (2, 4)
    policy = load_prior_policy(run_dir, distill_run(spec, *distilled[2]))
    assert isinstance(policy, Policy)
    policy.reset()
    assert policy.act(np.zeros(39, np.float32)).shape == (28,)


def test_missing_distillation_names_the_command(tmp_path):
    with pytest.raises(
        MaqError,
        match="maq train --method MAQ --environment door-human-v1 "
        "--sequence_length 9 --codebook_size 16 --seed 1",
    ):
        load_vqvae(tmp_path / "door-human-v1_seed1_sq9_k16")


def test_same_seed_same_checkpoint(distilled, tmp_path):
    run_dir, spec, split = distilled
    other = ensure_distilled(smoke_spec(tmp_path), *split)
    for a, b in zip(
        load_vqvae(run_dir).state_dict().values(),
        load_vqvae(other).state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)
    metrics = [json.loads((d / "metrics.json").read_text())["test"] for d in (run_dir, other)]
    assert metrics[0] == metrics[1]


@pytest.mark.door
def test_cli_distills_the_door_split(door_split, tmp_path, monkeypatch):
    from maq.cli import main

    monkeypatch.setenv("MAQ_ROOT", str(tmp_path))
    train, test = door_split
    assert (
        main(
            [
                "train",
                "--method",
                "MAQ",
                "--preset",
                "smoke",
                "--sequence_length",
                "9",
                "--codebook_size",
                "16",
                "--device",
                "cpu",
                "-trs",
                str(train),
                "-tes",
                str(test),
            ]
        )
        == 0
    )
    run_dir = tmp_path / "MAQ" / "log" / "door-human-v1_seed1_sq9_k16"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    from maq.data.format import load_trajectories

    lengths = [len(t["actions"]) for t in load_trajectories(test)]
    assert len(lengths) == 3 and metrics["test"]["num_windows"] == sum(n - 8 for n in lengths)
    assert metrics["test"]["mse_over_var"] < 1.0  # better than the mean window even in 4 epochs
