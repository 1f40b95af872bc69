"""Build the train/test ``.pkl`` files of one task and seed (``gen_offline_data.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maq.data.format import check_trajectories, save_trajectories
from maq.data.sources import load_source
from maq.data.split import DEFAULT_TRAIN_RATIO, dataset_filename, split_train_test
from maq.envs import get_task
from maq.io import atomic_write_json


def generate_dataset(
    env_id: str,
    seed: int,
    out_dir: Path,
    source: str | None = None,
    data_dir: Path | None = None,
    train_ratio: float = DEFAULT_TRAIN_RATIO,
    rebuild_qpos: bool = False,
) -> tuple[Path, Path]:
    """Write ``<env>_{train,test}_seed<S>_ratio<r>.pkl``, each with a ``.json`` sidecar.

    The sidecar records the source, split order and counts. Synthetic data has ``synthetic`` in its
    file names, in its sidecar and in every trajectory's ``infos``. ``rebuild_qpos`` (DAPG replay
    only, maq.data.sources.replay_dapg) writes ``<env>_rebuiltqpos_…`` files, so the default
    D4RL-recipe files are never replaced by them.
    """
    task = get_task(env_id)
    used, trajs = load_source(task, source, data_dir, seed=seed, rebuild_from_obs=rebuild_qpos)
    check_trajectories(trajs, task.obs_dim, task.act_dim)
    train, test, order = split_train_test(trajs, seed, train_ratio)
    synthetic = used == "synthetic"
    replay = None  # how a DAPG replay started each demo
    if used == "dapg":
        rebuilt = "qpos rebuilt from the first recorded observation"
        replay = rebuilt if rebuild_qpos else "init_state"
    paths = []
    for part, subset, idx in (
        ("train", train, order[: len(train)]),
        ("test", test, order[len(train) :]),
    ):
        variant = "rebuiltqpos" if rebuild_qpos else ""
        path = out_dir / dataset_filename(task.name, part, seed, train_ratio, synthetic, variant)
        save_trajectories(subset, path)
        atomic_write_json(
            path.with_suffix(".json"),
            {
                "env_id": task.name,
                "part": part,
                "seed": seed,
                "train_ratio": train_ratio,
                "source": used,
                "replay": replay,
                "human": not synthetic,
                "note": "SYNTHETIC: DAPG expert rollouts with Gaussian noise, not human data"
                if synthetic
                else "human demonstrations",
                "trajectory_indices": [int(i) for i in idx],
                "num_trajectories": len(subset),
                "num_transitions": int(sum(len(t["actions"]) for t in subset)),
                "return_mean": float(np.mean([t["rewards"].sum() for t in subset])),
            },
        )
        paths.append(path)
    return paths[0], paths[1]
