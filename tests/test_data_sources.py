"""Human data sources (Minari, D4RL hdf5, DAPG replay), synthetic data and the paper's split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from maq.data import load_trajectories
from maq.data.generate import generate_dataset
from maq.data.sources import load_d4rl_hdf5, load_source
from maq.data.split import split_order
from maq.envs import get_task
from maq.errors import DatasetError


def test_split_order_matches_the_paper() -> None:
    """data.md: the last 3 of the shuffled 25 are the test demos."""
    assert list(split_order(25, 1)[22:]) == [12, 11, 5]
    assert list(split_order(25, 10)[22:]) == [15, 4, 9]
    assert list(split_order(25, 100)[22:]) == [7, 3, 8]
    assert list(split_order(25, 1)[:3]) == [14, 13, 17]


def _episodes(rng: np.random.Generator, lengths: list[int], obs_dim: int = 39, act_dim: int = 28):
    return [
        (
            rng.standard_normal((t + 1, obs_dim)),
            rng.uniform(-1, 1, (t, act_dim)),
            rng.standard_normal(t),
        )
        for t in lengths
    ]


def test_d4rl_hdf5_episodes_split_at_timeouts(tmp_path: Path) -> None:
    import h5py

    rng = np.random.default_rng(0)
    lengths = [7, 5, 9]
    eps = _episodes(rng, lengths)
    obs = np.concatenate([o[:-1] for o, _, _ in eps])
    timeouts = np.concatenate([np.eye(t)[-1] for t in lengths]).astype(bool)
    path = tmp_path / "door-human-v1.hdf5"
    with h5py.File(path, "w") as f:
        f["observations"] = obs
        f["actions"] = np.concatenate([a for _, a, _ in eps])
        f["rewards"] = np.concatenate([r for _, _, r in eps])
        f["terminals"] = np.zeros(len(obs), bool)
        f["timeouts"] = timeouts
    trajs = load_d4rl_hdf5(path)
    assert [len(t["actions"]) for t in trajs] == [t - 1 for t in lengths]  # timeout step dropped
    first = eps[0][0]
    np.testing.assert_allclose(trajs[0]["observations"], first[:6], rtol=1e-6)
    np.testing.assert_allclose(trajs[0]["next_observations"], first[1:7], rtol=1e-6)
    assert all(t["terminals"].sum() == 0 and t["timeouts"][-1] == 1 for t in trajs)
    _, via_source = load_source("door-human-v1", "d4rl", tmp_path)
    assert len(via_source) == 3


def _build_local_minari(root: Path, lengths: list[int]) -> list:
    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer

    rng = np.random.default_rng(1)
    eps = _episodes(rng, lengths)
    buffers = [
        EpisodeBuffer(
            id=i,
            observations=o,
            actions=a,
            rewards=list(r),
            terminations=[False] * len(r),
            truncations=[False] * (len(r) - 1) + [True],
        )
        for i, (o, a, r) in enumerate(eps)
    ]
    minari.create_dataset_from_buffers(
        "D4RL/door/human-v2",
        buffers,
        observation_space=gym.spaces.Box(-np.inf, np.inf, (39,), np.float64),
        action_space=gym.spaces.Box(-1, 1, (28,), np.float32),
        algorithm_name="test",
        description="tiny fake door dataset for tests (not human data)",
    )
    return eps


def test_minari_local_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small local Minari dataset under <data_dir>/minari is found and read like qlearning."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(data_dir / "minari"))
    eps = _build_local_minari(data_dir / "minari", [6, 8, 5])
    monkeypatch.delenv("MINARI_DATASETS_PATH")
    used, trajs = load_source("door-human-v1", None, data_dir)  # minari preferred when present
    assert used == "minari"
    assert [len(t["actions"]) for t in trajs] == [5, 7, 4]  # the final step dropped
    np.testing.assert_allclose(trajs[1]["next_observations"][:3], eps[1][0][1:4], rtol=1e-6)
    assert all(t["timeouts"][-1] == 1 and t["terminals"].sum() == 0 for t in trajs)


def test_no_local_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="minari download D4RL/hammer/human-v2"):
        load_source("hammer-human-v1", None, tmp_path)


def test_door_replay_counts_and_split(data_dir: Path, door_split) -> None:
    used, trajs = load_source("door-human-v1", None, data_dir)
    assert used == "dapg"
    assert len(trajs) == 25 and sum(len(t["actions"]) for t in trajs) == 6704
    assert all(t["terminals"].sum() == 0 and t["timeouts"][-1] == 1 for t in trajs)
    train_path, test_path = door_split
    train, test = load_trajectories(train_path, 39, 28), load_trajectories(test_path, 39, 28)
    assert (len(train), len(test)) == (22, 3)
    meta = json.loads(test_path.with_suffix(".json").read_text())
    assert meta["trajectory_indices"] == [12, 11, 5] and meta["source"] == "dapg"
    assert meta["replay"] == "init_state"
    for got, idx in zip(test, [12, 11, 5], strict=True):
        np.testing.assert_array_equal(got["actions"], trajs[idx]["actions"])
    assert sum(len(t["actions"]) for t in train + test) == 6704


def test_door_replay_with_rebuilt_qpos_tracks_the_recording(data_dir: Path, tmp_path: Path) -> None:
    """data.md: rebuilt from the first recorded observation, the replay tracks the recording
    (median mean-abs observation error 0.0043; 0.0086 with the D4RL/Minari recipe)."""
    from maq.data.sources import dapg_path, load_dapg_demos

    task = get_task("door-human-v1")
    demos = load_dapg_demos(dapg_path(task, data_dir))
    train, test = generate_dataset(
        "door-human-v1", 1, tmp_path, "dapg", data_dir, rebuild_qpos=True
    )
    assert "rebuiltqpos" in train.name and "rebuiltqpos" in test.name
    assert sorted(p.name for p in tmp_path.glob("*.pkl")) == sorted([train.name, test.name])
    meta = json.loads(train.with_suffix(".json").read_text())
    assert meta["source"] == "dapg" and "rebuilt" in meta["replay"]
    trajs = load_trajectories(train, 39, 28) + load_trajectories(test, 39, 28)
    order = (
        meta["trajectory_indices"]
        + json.loads(test.with_suffix(".json").read_text())["trajectory_indices"]
    )
    errors = []
    for traj, index in zip(trajs, order, strict=True):
        recorded = demos[index]["observations"][: len(traj["observations"])]
        np.testing.assert_allclose(traj["observations"][0], recorded[0], atol=1e-5)
        errors.append(np.abs(traj["observations"] - recorded).mean())
    assert np.median(errors) < 0.005
    _, default = load_source("door-human-v1", "dapg", data_dir)
    default_errors = [
        np.abs(t["observations"] - d["observations"][: len(t["observations"])]).mean()
        for t, d in zip(default, demos, strict=True)
    ]
    assert np.median(default_errors) > 0.008 and np.median(errors) < np.median(default_errors) / 1.5


def test_rebuild_qpos_is_refused_for_recorded_datasets(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="pass --source dapg"):
        load_source("door-human-v1", "d4rl", tmp_path, rebuild_from_obs=True)


def test_synthetic_is_labelled(data_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from maq.data import sources

    real = sources.synthetic_rollouts
    monkeypatch.setattr(
        sources,
        "synthetic_rollouts",
        lambda task, policy, n_episodes=25, seed=0: real(task, policy, 5, seed),
    )
    train, test = generate_dataset("pen-human-v1", 1, tmp_path, "synthetic", data_dir)
    assert "synthetic" in train.name and "synthetic" in test.name
    meta = json.loads(train.with_suffix(".json").read_text())
    assert meta["source"] == "synthetic" and meta["human"] is False
    trajs = load_trajectories(train, *(lambda t: (t.obs_dim, t.act_dim))(get_task("pen")))
    assert len(trajs) == 4 and all(t["infos"]["source"] == "synthetic" for t in trajs)
    assert all(len(t["actions"]) <= 100 for t in trajs)
