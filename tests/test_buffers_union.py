"""maq.buffers.UnionSampler: uniform over two buffers, the first one never overwritten."""

from __future__ import annotations

import numpy as np

from maq.buffers import ReplayBuffer, UnionSampler


def _buffer(capacity: int, value: float, n: int, seed: int) -> ReplayBuffer:
    buf = ReplayBuffer(capacity, 2, (1,), np.float32, seed=seed)
    obs = np.full((n, 2), value, np.float32)
    buf.add(obs, obs[:, :1], np.full(n, value), obs, np.zeros(n), np.zeros(n))
    return buf


def test_samples_are_uniform_over_both_buffers_and_the_first_survives():
    human = _buffer(300, 1.0, 300, seed=1)
    online = _buffer(10, 2.0, 0, seed=2)
    sampler = UnionSampler(human, online, seed=3)
    assert (sampler.sample(64).rewards == 1.0).all()  # online still empty
    for i in range(100):  # the online FIFO wraps ten times
        online.add(np.full((1, 2), 2.0 + i), np.zeros((1, 1)), [2.0], np.zeros((1, 2)), [0], [0])
    assert len(online) == 10 and (human.rewards == 1.0).all() and len(human) == 300
    share = np.mean([(sampler.sample(256).rewards == 1.0).mean() for _ in range(200)])
    assert abs(share - 300 / 310) < 0.01


def test_state_dict_resumes_the_same_samples():
    a = UnionSampler(_buffer(50, 1.0, 50, 1), _buffer(20, 2.0, 15, 2), seed=3)
    a.sample(8)
    b = UnionSampler(_buffer(50, 1.0, 50, 1), _buffer(20, 2.0, 0, 9), seed=4)
    b.load_state_dict(a.state_dict())
    for x, y in zip(a.sample(32), b.sample(32), strict=True):
        np.testing.assert_array_equal(x, y)
