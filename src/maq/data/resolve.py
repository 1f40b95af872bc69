"""Which dataset files a run uses: given files are checked, default files are made if missing."""

from __future__ import annotations

from pathlib import Path

from maq.data.format import load_trajectories
from maq.data.split import default_dataset_paths
from maq.envs import TaskSpec, get_task
from maq.errors import DatasetError


def _given(root: Path, name: str) -> Path:
    path = Path(name)
    if not path.is_absolute() and not path.exists():
        path = root / "offline_data" / name
    return path


def resolve_datasets(
    env_id: str | TaskSpec,
    seed: int,
    root: Path,
    training_source: str = "",
    testing_source: str = "",
    generate: bool = True,
) -> tuple[Path, Path]:
    """Return legal (train, test) paths for a run.

    A file the user names must exist and be legal (no silent fallback to the default data, unlike
    the release). Default files ``offline_data/<env>_{train,test}_seed<S>_ratio0.9.pkl`` are
    generated from the first local human source when missing and ``generate`` is true.
    """
    task = get_task(env_id)
    train_default, test_default = default_dataset_paths(root, task.name, seed)
    paths = []
    for given, default, flag in (
        (training_source, train_default, "--training_source"),
        (testing_source, test_default, "--testing_source"),
    ):
        if given:
            path = _given(root, given)
            if not path.exists():
                raise DatasetError(f"{flag} {given}: {path} does not exist")
        else:
            path = default
        paths.append(path)
    if not all(p.exists() for p in paths):
        if not generate:
            raise DatasetError(
                f"{paths[0]} or {paths[1]} is missing; make them with "
                f"`maq gen-data --env {task.name} --seed {seed}`"
            )
        from maq.data.generate import generate_dataset
        from maq.data.sources import data_dir_from_env

        generate_dataset(task.name, seed, root / "offline_data", None, data_dir_from_env())
    for path in paths:
        load_trajectories(path, task.obs_dim, task.act_dim)  # raises with the checker's reason
    return paths[0], paths[1]
