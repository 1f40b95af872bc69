"""MacroActionWrapper: L primitive steps per code, early stop at termination or truncation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maq.macro.env import MacroActionWrapper
from tests.macro.fakes import A, S, make_env, tiny_vqvae


def test_executes_exactly_l_decoded_actions():
    vqvae = tiny_vqvae(seq_len=3, codebook_size=4)
    env = MacroActionWrapper(make_env(), vqvae)
    assert env.action_space.n == 4
    obs, _ = env.reset(seed=0)
    expected = vqvae.decode(torch.as_tensor(obs)[None], torch.tensor([2]))[0].detach().numpy()
    obs, reward, terminated, truncated, info = env.step(2)
    assert info["primitive_steps"] == 3 and not terminated and not truncated
    assert reward == 1 + 2 + 3  # rewards of the 3 primitive steps, summed undiscounted
    np.testing.assert_allclose(info["primitive_actions"], expected)
    np.testing.assert_allclose(np.stack(env.unwrapped.actions), expected)
    np.testing.assert_array_equal(info["primitive_states"][:, 0], [0, 1, 2])
    np.testing.assert_array_equal(info["primitive_rewards"], [1, 2, 3])
    assert info["primitive_states"].shape == (3, S) and info["primitive_actions"].shape == (3, A)
    assert info["success"] is True  # the last step's own info is passed on
    assert obs[0] == 3
    # The next macro decodes from the new observation.
    _, _, _, _, info = env.step(0)
    np.testing.assert_array_equal(info["primitive_states"][:, 0], [3, 4, 5])


def test_truncation_ends_a_partial_macro():
    env = MacroActionWrapper(make_env(horizon=7), tiny_vqvae(seq_len=3))
    env.reset(seed=0)
    steps, flags = [], []
    while True:
        _, reward, terminated, truncated, info = env.step(1)
        steps.append(info["primitive_steps"])
        flags.append((terminated, truncated))
        if terminated or truncated:
            break
    assert steps == [3, 3, 1] and flags[-1] == (False, True)
    assert reward == 7


def test_termination_is_not_truncation():
    env = MacroActionWrapper(make_env(horizon=100, terminate_at=5), tiny_vqvae(seq_len=3))
    env.reset(seed=0)
    env.step(0)
    _, reward, terminated, truncated, info = env.step(0)
    assert (terminated, truncated) == (True, False)
    assert info["primitive_steps"] == 2 and reward == 4 + 5


def test_rejects_codes_out_of_range_and_step_before_reset():
    env = MacroActionWrapper(make_env(), tiny_vqvae(codebook_size=4))
    with pytest.raises(RuntimeError):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(4)


def test_door_episode_has_ceil_h_over_l_macros():
    from maq.envs import get_task
    from maq.envs import make_env as make_adroit
    from maq.macro.vqvae import VQVAE

    task = get_task("door-human-v1")
    torch.manual_seed(0)
    vqvae = VQVAE(task.obs_dim, task.act_dim, 9, 16, hidden_size=16).eval()
    env = MacroActionWrapper(make_adroit(task), vqvae)
    env.reset(seed=200)
    steps = []
    while True:
        _, _, terminated, truncated, info = env.step(len(steps) % 16)
        steps.append(info["primitive_steps"])
        if terminated or truncated:
            break
    assert len(steps) == 23 and steps[-1] == 2 and sum(steps) == 200  # reference-spec §4
    assert truncated and not terminated
    env.close()
