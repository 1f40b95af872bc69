"""The paper's train/test split and the default dataset file names (docs/human-data.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maq.data.format import Trajectory

DEFAULT_TRAIN_RATIO = 0.9


def split_order(n: int, seed: int) -> np.ndarray:
    """The permutation ``np.random.seed(seed); np.random.shuffle(list)`` gives (legacy MT19937).

    A private ``RandomState`` reproduces the release's global-RNG shuffle without touching global
    state: seed 1 on 25 demos puts demos 12, 11, 5 last (the test split).
    """
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    return order


def split_train_test(
    trajs: list[Trajectory], seed: int, train_ratio: float = DEFAULT_TRAIN_RATIO
) -> tuple[list[Trajectory], list[Trajectory], np.ndarray]:
    """Shuffled split: the first ``int(ratio·n)`` go to train, in shuffled order (kept as is)."""
    order = split_order(len(trajs), seed)
    n_train = int(len(trajs) * train_ratio)
    train = [trajs[i] for i in order[:n_train]]
    test = [trajs[i] for i in order[n_train:]]
    return train, test, order


def dataset_filename(
    env_id: str,
    part: str,
    seed: int,
    train_ratio: float = DEFAULT_TRAIN_RATIO,
    synthetic: bool = False,
    variant: str = "",
) -> str:
    """``<env>_{train,test}_seed<S>_ratio0.9.pkl``; synthetic data and other variants of the
    data (``variant``, e.g. ``rebuiltqpos``) say so in their names."""
    kind = ("_synthetic" if synthetic else "") + (f"_{variant}" if variant else "")
    return f"{env_id}{kind}_{part}_seed{seed}_ratio{train_ratio:g}.pkl"


def default_dataset_paths(
    root: Path, env_id: str, seed: int, train_ratio: float = DEFAULT_TRAIN_RATIO
) -> tuple[Path, Path]:
    base = root / "offline_data"
    return (
        base / dataset_filename(env_id, "train", seed, train_ratio),
        base / dataset_filename(env_id, "test", seed, train_ratio),
    )
