"""maq.train.envgroup: the stored transition is the real one; finished envs reset at once."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from maq.train.envgroup import EnvGroup


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
