"""L-step windows: counts, contents, and that no window crosses a trajectory boundary."""

from __future__ import annotations

import numpy as np
import pytest

from maq.data.windows import make_windows, trajectory_window_starts
from tests.conftest import make_fake_trajectories


@pytest.mark.parametrize("seq_len", [1, 3, 9])
def test_window_count_and_contents(seq_len):
    trajs = make_fake_trajectories(n=3, length=10, obs_dim=5, act_dim=2)
    w = make_windows(trajs, seq_len)
    lengths = [len(t["actions"]) for t in trajs]
    assert len(w.observations) == sum(max(n - seq_len + 1, 0) for n in lengths)
    assert w.actions.shape == (len(w.observations), seq_len, 2)
    assert w.observations.dtype == w.actions.dtype == w.rewards.dtype == np.float32
    for i in range(len(w.observations)):
        traj, t = trajs[w.trajectory_index[i]], w.start[i]
        assert t + seq_len <= len(traj["actions"])  # never runs past the trajectory's end
        np.testing.assert_array_equal(w.observations[i], traj["observations"][t])
        np.testing.assert_array_equal(w.actions[i], traj["actions"][t : t + seq_len])
        np.testing.assert_array_equal(
            w.next_observations[i], traj["next_observations"][t + seq_len - 1]
        )
        assert w.rewards[i] == pytest.approx(traj["rewards"][t : t + seq_len].sum(), abs=1e-5)


def test_windows_never_cross_boundaries():
    trajs = make_fake_trajectories(n=2, length=6, obs_dim=3, act_dim=2)
    trajs[1]["actions"] += 10.0  # any window mixing the two trajectories would show it
    w = make_windows(trajs, 4)
    from_first = w.trajectory_index == 0
    assert (w.actions[from_first] < 5).all() and (w.actions[~from_first] > 5).all()
    assert list(w.start[from_first]) == [0, 1, 2]  # T=6, L=4 → starts 0..2
    assert list(w.start[~from_first]) == [0, 1, 2, 3]  # T=7


def test_flags_and_short_trajectories():
    trajs = make_fake_trajectories(n=2, length=5, obs_dim=3, act_dim=2)
    trajs[0]["timeouts"][:] = 0
    trajs[0]["terminals"][-1] = 1  # the first trajectory terminates; the second is truncated
    w = make_windows(trajs, 3)
    last0 = (w.trajectory_index == 0) & (w.start == 2)
    last1 = (w.trajectory_index == 1) & (w.start == 3)
    assert w.terminals[last0].item() == 1 and w.truncations[last0].item() == 0
    assert w.truncations[last1].item() == 1 and w.terminals[last1].item() == 0
    assert w.terminals.sum() == 1 and w.truncations.sum() == 1
    assert len(make_windows(trajs, 7).observations) == 0  # both shorter than L: none


def test_episode_end_inside_a_trajectory_cuts_windows():
    traj = make_fake_trajectories(n=1, length=8, obs_dim=3, act_dim=2)[0]
    traj["timeouts"][3] = 1  # an episode ends at step 3 of this "trajectory"
    # Windows of length 3 may end at step 3 but not contain it before their last step.
    assert list(trajectory_window_starts(traj, 3)) == [0, 1, 4, 5]
