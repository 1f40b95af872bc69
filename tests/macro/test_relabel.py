"""Relabelling human trajectories into real L-step macro transitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maq.errors import MaqError
from maq.macro.relabel import relabel_trajectories
from maq.macro.vqvae import VQVAE
from tests.conftest import make_fake_trajectories


def test_macro_transitions_are_real_l_step_transitions():
    trajs = make_fake_trajectories(n=3, length=8, obs_dim=5, act_dim=2)
    torch.manual_seed(0)
    vqvae = VQVAE(5, 2, 3, 4, hidden_size=8).eval()
    mt = relabel_trajectories(trajs, vqvae, 3)
    assert len(mt.observations) == sum(len(t["actions"]) - 2 for t in trajs)  # 6+7+8
    assert mt.codes.dtype == np.int64 and ((mt.codes >= 0) & (mt.codes < 4)).all()
    for name in ("observations", "rewards", "next_observations", "terminals", "truncations"):
        assert getattr(mt, name).dtype == np.float32, name
    i = 0
    for traj in trajs:
        for t in range(len(traj["actions"]) - 2):
            assert mt.rewards[i] == pytest.approx(traj["rewards"][t : t + 3].sum(), abs=1e-5)
            np.testing.assert_array_equal(mt.observations[i], traj["observations"][t])
            np.testing.assert_array_equal(
                mt.next_observations[i],
                traj["observations"][t + 3]
                if t + 3 < len(traj["actions"])
                else traj["next_observations"][-1],
            )
            code = vqvae.encode(
                torch.as_tensor(traj["observations"][t])[None],
                torch.as_tensor(traj["actions"][t : t + 3])[None],
            )
            assert mt.codes[i] == code.item()
            assert mt.truncations[i] == (t == len(traj["actions"]) - 3)
            i += 1
    assert mt.terminals.sum() == 0


def test_seq_len_must_match_and_windows_must_exist():
    trajs = make_fake_trajectories(n=1, length=4, obs_dim=5, act_dim=2)
    vqvae = VQVAE(5, 2, 3, 4, hidden_size=8)
    with pytest.raises(MaqError, match="sequence_length"):
        relabel_trajectories(trajs, vqvae, 9)
    with pytest.raises(MaqError, match="smaller"):
        relabel_trajectories(trajs, VQVAE(5, 2, 9, 4, hidden_size=8), 9)
