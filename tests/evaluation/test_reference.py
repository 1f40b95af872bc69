"""The Random and Human reference rows (maq.evaluation.reference)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from maq.envs import get_task, is_success, make_env
from maq.errors import MaqError
from maq.evaluation.reference import RandomPolicy, evaluate_reference, success_from_observations
from maq.evaluation.report import read_rows, results_path
from maq.evaluation.rows import References, load_results
from maq.spec import RunSpec


def test_random_policy_is_seeded_per_episode_apart_from_the_env() -> None:
    a, b = RandomPolicy(28, 200), RandomPolicy(28, 200)
    obs = np.zeros(39)
    first = a.act(obs)
    assert np.array_equal(first, b.act(obs)) and first.shape == (28,)
    assert np.abs(first).max() <= 1.0 and not np.array_equal(first, a.act(obs))
    assert not np.array_equal(first, RandomPolicy(28, 201).act(obs))
    env_stream = np.random.default_rng(200).uniform(-1, 1, 28)  # what the env's seed draws
    assert not np.allclose(first, env_stream)


def test_door_success_read_from_observations_matches_the_env() -> None:
    task = get_task("door-human-v1")
    env = make_env(task)
    env.reset(seed=0)
    base = env.unwrapped
    seen = []
    for hinge in (0.0, 1.5):
        qpos, qvel = base.data.qpos.copy(), base.data.qvel.copy()
        qpos[base.door_hinge_addrs] = hinge
        base.set_state(qpos, qvel)
        for _ in range(4):
            obs, _, _, _, info = env.step(np.zeros(task.act_dim, np.float32))
            derived = bool(success_from_observations(task, obs[None])[0])
            assert derived == is_success(info)
            seen.append(derived)
    env.close()
    assert True in seen and False in seen


def test_hammer_success_cannot_be_read_back() -> None:
    with pytest.raises(MaqError, match="hammer"):
        success_from_observations(get_task("hammer-human-v1"), np.zeros((2, 46)))


@pytest.mark.door
def test_random_and_human_rows_on_door(door_split: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = door_split
    spec = dict(env_id="door-human-v1", seed=1, root=tmp_path, training_source=str(train),
                testing_source=str(test))  # fmt: skip
    random = evaluate_reference(RunSpec(method="Random", **spec), episodes=2, command="maq x")
    human = evaluate_reference(RunSpec(method="Human", **spec))
    rows = read_rows(results_path(tmp_path, "door-human-v1"))
    assert [r["agent_type"] for r in rows] == ["Random", "Human"]
    assert rows[0]["eval_episodes"] == "2" and rows[0]["command"] == "maq x"
    assert rows[1]["eval_episodes"] == "22" and rows[1]["model_path"] == str(train)
    assert rows[0]["seq_len"] == "" and rows[1]["preset"] == ""
    assert random.row["default_horizon"] == 200 and random.row["length_mean"] == 200.0
    # The training humans are far closer to the held-out humans than random actions are.
    for column in ("dtw_state_dtw_mean_agg_mean", "dtw_state_norm_dtw_mean_agg_mean",
                   "wasserstein_action_w2_dist_agg_mean"):  # fmt: skip
        assert human.row[column] < 0.5 * random.row[column]
    lengths = [r.length for r in human.records]
    assert min(lengths) > 200 and human.row["success_rate"] == pytest.approx(
        np.mean([r.success for r in human.records])
    )
    refs = References.from_rows(load_results([results_path(tmp_path, "door-human-v1")]))
    d_human = float(rows[1]["wasserstein_state_w2_dist_agg_mean"])
    assert refs.score("door-human-v1", "1", "w_state", d_human) == pytest.approx(1.0)
    assert math.isnan(refs.score("door-human-v1", "1", "w_state", float("nan")))
