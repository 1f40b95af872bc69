"""maq.train.envgroup: the stored transition is the real one; finished envs reset at once; worker
processes change nothing but the speed."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest

from maq.errors import MaqError
from maq.train.envgroup import EnvGroup, default_env_workers, make_sb3_vec_env


class CounterEnv(gym.Env):
    """obs = [episode id, t]; truncates after 3 steps, terminates when the action is 1."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.episode, self.t = -1, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return np.array([self.episode, 0], np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.array([self.episode, self.t], np.float32)
        info = {"success": self.t == 3, "primitive_steps": 2}
        return obs, 1.0, bool(action == 1), self.t == 3, info


def test_final_observation_is_stored_and_env_resets_in_the_same_step():
    group = EnvGroup(CounterEnv, 2)
    first = group.reset([0, 1]).copy()
    np.testing.assert_array_equal(first, [[0, 0], [0, 0]])
    out = group.step(np.array([0, 1]))  # env 1 terminates
    np.testing.assert_array_equal(out.next_observations, [[0, 1], [0, 1]])
    np.testing.assert_array_equal(out.terminals, [0, 1])
    np.testing.assert_array_equal(group.observations, [[0, 1], [1, 0]])  # env 1 restarted
    np.testing.assert_array_equal(first, [[0, 0], [0, 0]])  # callers' arrays are not mutated
    group.step(np.array([0, 0]))
    out = group.step(np.array([0, 0]))  # env 0 truncates at t = 3
    np.testing.assert_array_equal(out.next_observations[0], [0, 3])
    np.testing.assert_array_equal(out.truncations, [1, 0])
    np.testing.assert_array_equal(out.primitive_steps, [2, 2])
    episodes = group.pop_episodes()
    assert episodes.returns == [1.0, 3.0] and episodes.lengths == [2, 6]
    assert episodes.successes == [False, True]
    assert group.pop_episodes().returns == []


# ---- worker processes: the same results as in-process -----------------------------------------


class NoisyEnv(gym.Env):
    """Random starts, dynamics, terminations and macro-like info from the env's own generator, so
    seeded resets and unseeded autoresets both shape the data; truncates after 7 steps."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.state = 0, self.np_random.normal(size=3)
        return self.state.copy(), {"ignored": np.zeros(self.np_random.integers(1, 4))}

    def step(self, action):
        self.t += 1
        self.state = 0.9 * self.state + float(np.sum(action)) + self.np_random.normal(size=3)
        info = {
            "primitive_steps": int(self.np_random.integers(1, 4)),
            "success": bool(self.state[1] > 0),
            "primitive_actions": np.zeros((self.t, 2)),  # varies in shape, as a macro's does
        }
        terminated = bool(self.np_random.random() < 0.15)
        return self.state.copy(), float(self.state[0]), terminated, self.t >= 7, info


def _rollout(group: EnvGroup, steps: int, action_shape: tuple[int, ...], sample) -> dict:
    """Everything an EnvGroup reports over ``steps`` steps, reset with new seeds halfway."""
    rng = np.random.default_rng(0)
    seen: dict[str, list] = {"obs": [group.reset([11, 12, 13]).copy()]}
    for t in range(steps):
        if t == steps // 2:
            seen["obs"].append(group.reset([21, 22, 23]).copy())
        out = group.step(sample(rng, action_shape))
        for name, value in vars(out).items():
            seen.setdefault(name, []).append(value)
        seen["obs"].append(group.observations.copy())
        if t % 10 == 9:
            episodes = group.pop_episodes()
            seen.setdefault("episodes", []).append(
                (episodes.returns, episodes.lengths, episodes.successes)
            )
    group.close()
    return seen


def _uniform(rng, shape):
    return rng.uniform(-1, 1, shape).astype(np.float32)


def _reference(make_env, steps: int) -> dict:
    """gym 0.21 semantics written out: step, store the final obs, reset unseeded at once."""
    envs, rng = [make_env() for _ in range(3)], np.random.default_rng(0)
    obs = [env.reset(seed=s)[0] for env, s in zip(envs, [11, 12, 13], strict=True)]
    seen: dict[str, list] = {"obs": [np.array(obs, np.float32)], "rewards": [], "next": []}
    for t in range(steps):
        if t == steps // 2:
            obs = [env.reset(seed=s)[0] for env, s in zip(envs, [21, 22, 23], strict=True)]
            seen["obs"].append(np.array(obs, np.float32))
        actions, rewards, nexts = _uniform(rng, (3, 2)), [], []
        for i, env in enumerate(envs):
            obs[i], reward, terminated, truncated, _ = env.step(actions[i])
            rewards.append(reward)
            nexts.append(obs[i])
            if terminated or truncated:
                obs[i] = env.reset()[0]
        seen["rewards"].append(np.array(rewards, np.float32))
        seen["next"].append(np.array(nexts, np.float32))
        seen["obs"].append(np.array(obs, np.float32))
    return seen


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert len(a[name]) == len(b[name]), name
        for x, y in zip(a[name], b[name], strict=True):
            if name == "episodes":
                assert x == y
            else:
                np.testing.assert_array_equal(x, y, err_msg=name)


def test_in_process_group_keeps_gym_021_semantics():
    got, want = _rollout(EnvGroup(NoisyEnv, 3), 40, (3, 2), _uniform), _reference(NoisyEnv, 40)
    _assert_same({k: got[k] for k in ("obs", "rewards")}, {k: want[k] for k in ("obs", "rewards")})
    np.testing.assert_array_equal(got["next_observations"], want["next"])
    assert sum(len(e[0]) for e in got["episodes"]) > 6  # several episodes ended, then reset


def test_two_workers_give_the_same_results_as_one():
    one = _rollout(EnvGroup(NoisyEnv, 3, env_workers=1), 40, (3, 2), _uniform)
    two = _rollout(EnvGroup(NoisyEnv, 3, env_workers=2), 40, (3, 2), _uniform)
    _assert_same(one, two)
    assert np.concatenate(one["truncations"]).any() and np.concatenate(one["terminals"]).any()


def test_worker_processes_run_torch_on_one_thread():
    import torch

    class ThreadsEnv(CounterEnv):
        def step(self, action):
            obs, *rest = super().step(action)
            return np.array([torch.get_num_threads(), 0], np.float32), *rest

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        group = EnvGroup(ThreadsEnv, 2, env_workers=2)
        group.reset([0, 1])
        assert group.step(np.array([0, 0])).next_observations[:, 0].tolist() == [1, 1]
        group.close()
        assert torch.get_num_threads() == 2  # this process keeps its threads
    finally:
        torch.set_num_threads(before)


def test_spawned_workers_get_the_factory_by_cloudpickle():
    """The start method used elsewhere than Linux and once CUDA is initialised here."""
    scale = 3.0

    def make():  # a closure, as the macro envs' factories are
        return gym.wrappers.TransformReward(CounterEnv(), lambda r: scale * r)

    group = EnvGroup(make, 2, env_workers=2, start_method="spawn")
    group.reset([0, 1])
    np.testing.assert_array_equal(group.step(np.array([0, 1])).rewards, [3.0, 3.0])
    group.close()


def test_default_env_workers_follows_the_cores(monkeypatch):
    monkeypatch.delenv("MAQ_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert default_env_workers(8) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert default_env_workers(8) == 4 and default_env_workers(2) == 2
    monkeypatch.setenv("MAQ_NUM_THREADS", "2")  # a sweep run's CPU share
    assert default_env_workers(8) == 2


@pytest.mark.parametrize("kwargs", [dict(num_envs=0), dict(num_envs=2, env_workers=0)])
def test_bad_counts_are_one_line_errors(kwargs):
    with pytest.raises(MaqError, match="give"):
        EnvGroup(CounterEnv, **kwargs)


@pytest.mark.door
def test_door_macro_envs_on_two_workers_match_in_process():
    """Real MuJoCo door envs under the macro wrapper (a torch VQ-VAE in each worker), past the
    200-step horizon so the last macro of each episode is cut short."""
    import torch

    from maq.envs import get_task, make_env
    from maq.macro.env import MacroActionWrapper
    from maq.macro.vqvae import VQVAE

    task = get_task("door-human-v1")
    torch.manual_seed(0)
    vqvae = VQVAE(39, 28, seq_len=3, codebook_size=4, hidden_size=16).eval()

    def codes(rng, shape):
        return rng.integers(0, 4, shape[0])

    def factory():
        return MacroActionWrapper(make_env(task), vqvae)

    one = _rollout(EnvGroup(factory, 3, env_workers=1), 140, (3,), codes)
    two = _rollout(EnvGroup(factory, 3, env_workers=2), 140, (3,), codes)
    _assert_same(one, two)
    assert 2 in np.concatenate(one["primitive_steps"])  # 200 = 66·3 + 2
    assert any(200 in e[1] for e in one["episodes"])


# ---- stable-baselines3: SubprocVecEnv gives what DummyVecEnv gives -----------------------------


def _sb3_rollout(vec_env, steps: int) -> list:
    """Observations, rewards, dones and final observations, re-seeded halfway as sb3_sac does."""
    rng, seen = np.random.default_rng(0), []
    vec_env.seed(5)
    seen.append(vec_env.reset())
    for t in range(steps):
        if t == steps // 2:
            vec_env.seed(9)
            seen.append(vec_env.reset())
        obs, rewards, dones, infos = vec_env.step(_uniform(rng, (vec_env.num_envs, 2)))
        finals = [info["terminal_observation"] for info in infos if "terminal_observation" in info]
        seen += [obs, rewards.astype(np.float32), dones, *finals]  # Dummy: float32, Subproc: 64
    vec_env.close()
    return seen


def test_sb3_subproc_vec_env_matches_dummy():
    dummy = make_sb3_vec_env(NoisyEnv, 3, env_workers=1)
    subproc = make_sb3_vec_env(NoisyEnv, 3, env_workers=2)
    assert (type(dummy).__name__, type(subproc).__name__) == ("DummyVecEnv", "SubprocVecEnv")
    one, two = _sb3_rollout(dummy, 30), _sb3_rollout(subproc, 30)
    assert len(one) == len(two) > 3 * 30 + 2  # episodes ended (final observations stored)
    for x, y in zip(one, two, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.door
def test_sb3_sac_on_door_learns_the_same_with_subprocesses():
    """A few SAC updates on the real door env: same replay buffer and weights either way."""
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.monitor import Monitor

    from maq.envs import get_task, make_env

    task = get_task("door-human-v1")
    models = []
    for workers in (1, 2):
        vec_env = make_sb3_vec_env(lambda: Monitor(make_env(task)), 2, env_workers=workers)
        model = SAC("MlpPolicy", vec_env, learning_starts=20, batch_size=16, seed=3,
                    policy_kwargs={"net_arch": [16, 16]}, device="cpu")  # fmt: skip
        model.set_logger(Logger(None, []))  # no SB3 log folder in /tmp
        model.learn(60)
        vec_env.close()
        models.append(model)
    a, b = (m.replay_buffer for m in models)
    assert a.pos == b.pos == 30
    np.testing.assert_array_equal(a.observations, b.observations)
    np.testing.assert_array_equal(a.rewards, b.rewards)
    for p, q in zip(models[0].policy.parameters(), models[1].policy.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
