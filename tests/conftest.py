"""Shared fixtures: tiny synthetic trajectories, the real door data when MAQ_DATA_DIR is set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("MAQ_NUM_THREADS", "1")  # one torch thread, envs stepped in-process


def make_fake_trajectories(
    n: int = 4, length: int = 20, obs_dim: int = 39, act_dim: int = 28, seed: int = 0
) -> list[dict]:
    """Random trajectories in the seed format (NOT human data), for fast unit tests."""
    rng = np.random.default_rng(seed)
    trajs = []
    for i in range(n):
        t = length + i
        obs = rng.standard_normal((t + 1, obs_dim)).astype(np.float32)
        timeouts = np.zeros(t, np.float32)
        timeouts[-1] = 1
        trajs.append(
            {
                "observations": obs[:-1],
                "actions": rng.uniform(-1, 1, (t, act_dim)).astype(np.float32),
                "rewards": rng.standard_normal(t).astype(np.float32),
                "next_observations": obs[1:],
                "terminals": np.zeros(t, np.float32),
                "timeouts": timeouts,
            }
        )
    return trajs


@pytest.fixture
def fake_trajectories() -> list[dict]:
    return make_fake_trajectories()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real Adroit data folder; tests that need it are skipped when MAQ_DATA_DIR is unset."""
    value = os.environ.get("MAQ_DATA_DIR")
    if not value:
        pytest.skip("MAQ_DATA_DIR is unset: point it at shared/data/adroit_human for door tests")
    path = Path(value)
    if not (path / "door-v0_demos.pickle").exists():
        pytest.skip(f"MAQ_DATA_DIR={value} has no door-v0_demos.pickle")
    return path


@pytest.fixture(scope="session")
def door_split(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The real door seed-1 train/test files, generated once per test session."""
    from maq.data.generate import generate_dataset

    out = tmp_path_factory.mktemp("door_data")
    return generate_dataset("door-human-v1", 1, out, "dapg", data_dir)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run root per test module: its runs share data and distillations, as real runs do."""
    return tmp_path_factory.mktemp("runs_root")


@pytest.fixture
def spec_for(door_split: tuple[Path, Path], root: Path):
    """``spec_for(method, **overrides)``: a smoke-preset RunSpec on the real door split."""
    from maq.spec import RunSpec

    train, test = door_split

    def make(method: str, **kw) -> RunSpec:
        fields = dict(method=method, preset="smoke", root=root, seed=1, device="cpu",
                      training_source=str(train), testing_source=str(test))  # fmt: skip
        return RunSpec(**{**fields, **kw})

    return make
