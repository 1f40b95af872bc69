"""The four Adroit tasks: names, sizes, horizons, D4RL reward, pen drop, seeding, scores."""

from __future__ import annotations

import numpy as np
import pytest

from maq.envs import TASKS, get_task, is_success, make_env, normalized_score
from maq.errors import MaqError

SIZES = {
    "door": (39, 28, 200),
    "hammer": (46, 26, 200),
    "pen": (45, 24, 100),
    "relocate": (39, 30, 200),
}


@pytest.mark.parametrize("name", list(TASKS))
def test_task_sizes_and_horizon(name: str) -> None:
    task = get_task(name)
    env = make_env(name)
    obs, info = env.reset(seed=0)
    assert obs.shape == (task.obs_dim,)
    assert env.action_space.shape == (task.act_dim,)
    assert (task.obs_dim, task.act_dim, task.horizon) == SIZES[task.short]
    assert env.spec.max_episode_steps == task.horizon
    _, reward, terminated, truncated, info = env.step(env.action_space.sample() * 0)
    assert isinstance(reward, float) and np.isfinite(reward)
    assert info["goal_achieved"] == info["success"] == is_success(info)
    env.close()


def test_names_resolve_and_unknown_task_lists_known() -> None:
    assert get_task("AdroitHandDoor-v1") is get_task("door-human-v1") is get_task("door")
    with pytest.raises(MaqError, match="known tasks: door-human-v1, hammer-human-v1"):
        get_task("drawer-human-v1")


def test_normalized_score_uses_d4rl_reference_values() -> None:
    assert normalized_score("door-human-v1", -56.512833) == pytest.approx(0.0)
    assert normalized_score("door-human-v1", 2880.5693087298737) == pytest.approx(100.0)
    assert normalized_score("pen-human-v1", 96.262799) == pytest.approx(0.0)
    assert normalized_score("hammer-human-v1", 12794.134825156867) == pytest.approx(100.0)
    # halfway between relocate's references is 50
    mid = (-6.425911 + 4233.877797728884) / 2
    assert normalized_score("relocate-human-v1", mid) == pytest.approx(50.0)


@pytest.mark.parametrize("name", ["door-human-v1", "hammer-human-v1", "relocate-human-v1"])
def test_reward_sign_restored(name: str) -> None:
    """D4RL reward = gymnasium-robotics reward − 0.2·‖palm − object‖ (the +0.1 bug undone)."""
    env = make_env(name)
    env.reset(seed=3)
    _, reward, *_, info = env.step(np.zeros(env.action_space.shape, np.float32))
    assert reward < info["reward_gymnasium_robotics"]
    unpatched = make_env(name, d4rl_reward=False)
    unpatched.reset(seed=3)
    _, raw, *_ = unpatched.step(np.zeros(env.action_space.shape, np.float32))
    assert raw == pytest.approx(info["reward_gymnasium_robotics"])


def test_pen_drop_terminates() -> None:
    env = make_env("pen-human-v1")
    env.reset(seed=0)
    _, _, terminated, _, _ = env.step(np.zeros(24, np.float32))
    assert not terminated
    sim = env.unwrapped
    sim.model.body_pos[sim.obj_body_id][2] -= 0.3  # drop the pen below z = 0.075
    _, reward, terminated, truncated, _ = env.step(np.zeros(24, np.float32))
    assert terminated and not truncated
    assert reward < -4  # D4RL's −5 drop penalty is applied on that step


def test_time_limit_truncates_not_terminates() -> None:
    env = make_env("pen-human-v1")
    env.reset(seed=0)
    steps = 0
    while True:
        _, _, terminated, truncated, _ = env.step(np.zeros(24, np.float32))
        steps += 1
        if terminated or truncated:
            break
    assert (steps, terminated, truncated) == (100, False, True)


def test_reset_seed_is_reproducible() -> None:
    env = make_env("door-human-v1")
    a, _ = env.reset(seed=7)
    b, _ = env.reset(seed=7)
    c, _ = env.reset(seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)  # the door position is randomized by the seed


def test_restored_reward_matches_recorded_door_rewards(data_dir) -> None:
    """Replaying the door demos reproduces the recorded D4RL rewards; the unpatched ones don't."""
    from maq.data.sources import dapg_path, load_dapg_demos
    from maq.envs import filter_state_dict

    task = get_task("door-human-v1")
    demos = load_dapg_demos(dapg_path(task, data_dir))
    env = make_env(task, max_episode_steps=400)
    ours, raw, recorded = [], [], []
    for demo in demos:
        env.reset(seed=0)
        env.set_env_state(filter_state_dict(env, demo["init_state_dict"]))
        for a in np.clip(demo["actions"], -1, 1).astype(np.float32):
            _, r, *_, info = env.step(a)
            ours.append(r)
            raw.append(info["reward_gymnasium_robotics"])
        recorded.extend(demo["rewards"])
    ours, raw, recorded = map(np.asarray, (ours, raw, recorded))
    assert np.median(np.abs(ours - recorded)) < 2e-3
    assert np.median(np.abs(raw - recorded)) > 5e-3
    assert abs(ours.sum() - recorded.sum()) / abs(recorded.sum()) < 0.005
