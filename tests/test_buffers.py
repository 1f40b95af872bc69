"""maq.buffers: ring buffer FIFO order, masks, exact state round trip, 50/50 minibatches."""

from __future__ import annotations

import numpy as np
import pytest

from maq.buffers import Batch, ReplayBuffer, interleave_minibatches


def _fill(buffer: ReplayBuffer, start: int, n: int) -> None:
    ids = np.arange(start, start + n, dtype=np.float32)
    obs = np.repeat(ids[:, None], buffer.observations.shape[1], axis=1)
    buffer.add(
        obs,
        ids.astype(np.int64),
        ids,
        obs + 1,
        (ids % 3 == 0).astype(np.float32),
        (ids % 5 == 0).astype(np.float32),
    )


def test_ring_buffer_keeps_newest_and_masks_only_terminals():
    buffer = ReplayBuffer(8, obs_dim=2, action_shape=(), action_dtype=np.int64, seed=0)
    _fill(buffer, 0, 5)
    _fill(buffer, 5, 6)  # 11 added, capacity 8: transitions 3..10 remain
    assert len(buffer) == 8
    assert sorted(buffer.rewards.tolist()) == list(range(3, 11))
    batch = buffer.sample(256)
    assert set(batch.rewards.tolist()) <= set(range(3, 11))
    np.testing.assert_array_equal(batch.masks, (batch.rewards % 3 != 0).astype(np.float32))
    np.testing.assert_array_equal(batch.actions, batch.rewards.astype(np.int64))
    _fill(buffer, 100, 20)  # more than the capacity at once
    assert sorted(buffer.rewards.tolist()) == list(range(112, 120))


def test_state_dict_round_trip_is_exact():
    a = ReplayBuffer(16, obs_dim=3, action_shape=(), action_dtype=np.int64, seed=1)
    _fill(a, 0, 10)
    a.sample(4)
    b = ReplayBuffer(16, obs_dim=3, action_shape=(), action_dtype=np.int64, seed=99)
    b.load_state_dict(a.state_dict())
    for x, y in zip(a.sample(32), b.sample(32), strict=True):
        np.testing.assert_array_equal(x, y)
    _fill(a, 10, 3)
    _fill(b, 10, 3)
    assert a.ptr == b.ptr and a.size == b.size
    # Without data (an offline buffer rebuilt from files): only the generator comes back.
    c = ReplayBuffer(16, obs_dim=3, action_shape=(), action_dtype=np.int64, seed=5)
    _fill(c, 0, 13)
    c.load_state_dict(a.state_dict(include_data=False))
    np.testing.assert_array_equal(a.sample(8).rewards, c.sample(8).rewards)


def test_from_trajectories_clips_and_keeps_truncations(fake_trajectories):
    buffer = ReplayBuffer.from_trajectories(fake_trajectories, seed=0, action_bound=0.5)
    n = sum(len(t["rewards"]) for t in fake_trajectories)
    assert len(buffer) == n == buffer.capacity
    assert np.abs(buffer.actions).max() <= 0.5
    assert buffer.truncations.sum() == len(fake_trajectories)
    assert buffer.terminals.sum() == 0  # human trajectory ends bootstrap


def test_every_minibatch_is_half_offline():
    m, k = 4, 5  # 4 minibatches of 2·5
    online = Batch(
        *(
            np.zeros((m * k, 2)),
            np.zeros(m * k),
            np.zeros(m * k),
            np.zeros((m * k, 2)),
            np.zeros(m * k),
        )
    )
    offline = Batch(
        *(np.ones((m * k, 2)), np.ones(m * k), np.ones(m * k), np.ones((m * k, 2)), np.ones(m * k))
    )
    mixed = interleave_minibatches(online, offline, m)
    for field in mixed:
        per_minibatch = field.reshape(m, 2 * k, -1).mean(axis=(1, 2))
        np.testing.assert_allclose(per_minibatch, 0.5)
    with pytest.raises(ValueError):
        interleave_minibatches(online, offline, 3)


def test_online_loop_minibatches_are_half_human():
    from maq.presets import OnlineConfig
    from maq.train.online import mixed_batch

    online = ReplayBuffer(50, obs_dim=2, seed=0)
    offline = ReplayBuffer(50, obs_dim=2, seed=1)
    for buffer, marker in ((online, 0.0), (offline, 1.0)):
        n = 50
        buffer.add(
            np.zeros((n, 2)),
            np.zeros(n),
            np.full(n, marker),
            np.zeros((n, 2)),
            np.zeros(n),
            np.zeros(n),
        )
    loop = OnlineConfig(batch_size=8, offline_ratio=0.5)
    batch = mixed_batch(online, offline, loop, num_minibatches=20)
    assert len(batch.rewards) == 160
    np.testing.assert_array_equal(batch.rewards.reshape(20, 8).mean(axis=1), 0.5)
    only_online = mixed_batch(online, None, loop, num_minibatches=2)
    assert len(only_online.rewards) == 16 and only_online.rewards.sum() == 0


def test_mirrored_buffer_samples_the_same_rows_on_the_device():
    """The GPU path's buffer: indices from the same generator, rows gathered from a device copy
    (here the CPU stands in for the device), through wrap-around and a resume."""
    import torch

    def filled(seed: int) -> ReplayBuffer:
        b = ReplayBuffer(30, obs_dim=3, action_shape=(2,), seed=seed)
        rng = np.random.default_rng(0)
        for _ in range(4):  # 40 rows into 30 slots: wraps around
            b.add(rng.standard_normal((10, 3)), rng.uniform(-1, 1, (10, 2)),
                  rng.standard_normal(10), rng.standard_normal((10, 3)),
                  (rng.random(10) < 0.3).astype(np.float32), np.zeros(10))  # fmt: skip
        return b

    host, device = filled(5), filled(5).mirror("cpu")
    for _ in range(3):
        a, b = host.sample(16), device.sample(16)
        assert all(torch.is_tensor(x) for x in b)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y.numpy())
    restored = ReplayBuffer(30, obs_dim=3, action_shape=(2,), seed=0).mirror("cpu")
    restored.load_state_dict(device.state_dict())
    for x, y in zip(host.sample(8), restored.sample(8), strict=True):
        np.testing.assert_array_equal(x, y.numpy())
    mixed = interleave_minibatches(device.sample(8), device.sample(8), 2)
    assert torch.is_tensor(mixed.rewards) and mixed.rewards.shape == (16,)
