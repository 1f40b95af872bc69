"""Filming one episode: a policy played by :func:`maq.rollout.run_episode` from a chosen initial
state, with a rendered frame after the reset and after every step.

A recorded initial state (a DAPG demo's ``init_state_dict``) is set exactly as the data replay set
it (:func:`maq.data.sources.replay_dapg`, whose helpers are reused) and checked against the test
demo's first recorded observation, so a panel never silently starts somewhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from maq.envs import TaskSpec, get_task, is_success, make_env
from maq.errors import MaqError
from maq.policy import Policy
from maq.rollout import Episode, run_episode
from maq.viz.render import VIEWS, FrameRenderer


@dataclass(frozen=True)
class StartState:
    """A demo's recorded initial state and the first observation it must reproduce."""

    state: dict[str, np.ndarray]
    """The DAPG ``init_state_dict`` (qpos, qvel and the object's position)."""
    first_obs: np.ndarray
    rebuild_from: np.ndarray | None = None
    """The recorded first observation when the data replay rebuilt qpos from it (its sidecar
    says so), else None."""


def recorded_start(test_path: Path, index: int, data_dir: Path | None) -> StartState | None:
    """Test demo ``index``'s initial state, when its split came from the DAPG demos at hand."""
    from maq.data.format import load_trajectories
    from maq.data.sources import dapg_path, load_dapg_demos

    sidecar_path = Path(test_path).with_suffix(".json")
    if not sidecar_path.exists():
        return None
    sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    task = get_task(sidecar["env_id"])
    path = dapg_path(task, data_dir)
    if sidecar["source"] != "dapg" or path is None or not path.exists():
        return None
    demo = load_dapg_demos(path)[sidecar["trajectory_indices"][index]]
    first_obs = load_trajectories(test_path)[index]["observations"][0]
    rebuilt = "rebuilt" in str(sidecar["replay"]) if "replay" in sidecar else False
    rebuild_from = np.asarray(demo["observations"][0]) if rebuilt else None
    return StartState(demo["init_state_dict"], np.asarray(first_obs), rebuild_from)


def apply_start(env: gym.Env, task: TaskSpec, start: StartState) -> np.ndarray:
    """Set ``start`` on a freshly reset env as the data replay does; the observation it gives."""
    from maq.data.sources import rebuild_qpos

    env.unwrapped.set_env_state(start.state)
    if start.rebuild_from is not None:
        rebuild_qpos(env, task, start.rebuild_from)
    obs = np.asarray(env.unwrapped._get_obs())
    error = float(np.max(np.abs(obs - start.first_obs)))
    if error > 1e-4:
        raise MaqError(
            f"the recorded initial state does not reproduce the test demo's first observation "
            f"(max error {error:.3g}): the test split was not made from the DAPG demos in "
            "MAQ_DATA_DIR; point --data_dir at those, or clip without the Human panel"
        )
    return obs


class Filming(gym.Wrapper):
    """Starts every episode from ``start`` (if any); renders a frame after each reset and step."""

    def __init__(
        self, env: gym.Env, task: TaskSpec, render: FrameRenderer, start: StartState | None
    ):
        super().__init__(env)
        self.task, self.render_frame, self.start = task, render, start
        self.frames: list[np.ndarray] = []
        self.success: list[bool] = []
        """Success so far, one flag per frame."""

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if self.start is not None:
            obs = apply_start(self.env, self.task, self.start)
        self.frames, self.success = [self.render_frame(self.env)], [False]
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.frames.append(self.render_frame(self.env))
        self.success.append(self.success[-1] or is_success(info))
        return obs, reward, terminated, truncated, info


class ReplayPolicy:
    """Plays recorded actions in order (a human demo in the same rollout as the agents)."""

    def __init__(self, actions: np.ndarray):
        self.actions = np.asarray(actions, np.float32)
        self.t = 0

    def reset(self) -> None:
        self.t = 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.t += 1
        return self.actions[min(self.t, len(self.actions)) - 1]


def film(
    task: TaskSpec, policy: Policy, seed: int, start: StartState | None,
    size: tuple[int, int], max_steps: int, smooth: bool = False,
) -> tuple[Episode, list[np.ndarray], list[bool]]:  # fmt: skip
    """Play one episode through :func:`maq.rollout.run_episode`, rendering every state."""
    env = make_env(task, max_episode_steps=max_steps)
    renderer = FrameRenderer(env, *size, view=VIEWS.get(task.short), smooth=smooth)
    filming = Filming(env, task, renderer, start)
    try:
        episode = run_episode(filming, policy, seed)
    finally:
        renderer.close()
        filming.close()
    return episode, filming.frames, filming.success
