"""MacroPolicyAdapter: decode once per L steps and play the actions in order."""

from __future__ import annotations

import numpy as np
import torch

from maq.macro.adapter import MacroPolicyAdapter
from maq.policy import Policy
from maq.rollout import run_episode
from tests.macro.fakes import make_env, tiny_vqvae


def test_plays_decoded_actions_in_order_and_redecides_after_l():
    vqvae = tiny_vqvae(seq_len=3, codebook_size=4)
    seen = []

    def choose(obs):
        seen.append(obs.copy())
        return len(seen) % 4

    policy = MacroPolicyAdapter(choose, vqvae)
    assert isinstance(policy, Policy)
    policy.reset()
    obs0, obs1 = np.zeros(4, np.float32), np.ones(4, np.float32)
    first = [policy.act(obs0) for _ in range(3)]
    expected = vqvae.decode(torch.as_tensor(obs0)[None], torch.tensor([1]))[0].detach().numpy()
    np.testing.assert_allclose(np.stack(first), expected)
    assert len(seen) == 1  # one decision for L actions
    policy.act(obs1)
    assert len(seen) == 2 and np.array_equal(seen[1], obs1)  # decoded from the new state
    policy.reset()  # a new episode drops the rest of the queue
    policy.act(obs0)
    assert len(seen) == 3 and policy.codes == [3]


def test_rollout_matches_the_macro_wrapper():
    from maq.macro.env import MacroActionWrapper

    vqvae = tiny_vqvae(seq_len=3, codebook_size=4)
    policy = MacroPolicyAdapter(lambda obs: int(obs[0]) % 4, vqvae)
    episode = run_episode(make_env(horizon=8), policy, seed=0)
    assert episode.length == 8 and policy.codes == [0, 3, 2]  # decisions at t = 0, 3, 6
    env = MacroActionWrapper(make_env(horizon=8), vqvae)
    obs, _ = env.reset(seed=0)
    actions, done = [], False
    while not done:
        obs, _, terminated, truncated, info = env.step(int(obs[0]) % 4)
        actions.append(info["primitive_actions"])
        done = terminated or truncated
    np.testing.assert_allclose(episode.actions, np.concatenate(actions), rtol=1e-6)
