"""The four Adroit tasks of the paper on gymnasium-robotics, with D4RL behaviour restored.

gymnasium-robotics 1.4.2 differs from the D4RL ``<task>-human-v1`` environments the paper used
(docs/reference-spec.md §1, docs/human-data.md, docs/decisions.md):

* door/hammer/relocate add ``+0.1·‖palm − object‖`` to the dense reward where D4RL subtracts it;
  :class:`D4RLAdroit` subtracts ``0.2·‖palm − object‖`` to restore the D4RL reward;
* pen never terminates; D4RL ends the episode when the pen drops (object z < 0.075);
* horizons are all registered as 200; D4RL uses 100 for pen;
* success is reported as ``info["success"]``; D4RL calls it ``goal_achieved``: both are exposed.

gymnasium_robotics is imported lazily, so importing :mod:`maq` stays cheap.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from maq.errors import MaqError

# D4RL pen: done when the pen's z falls below this (docs/reference-spec.md §1)
PEN_DROP_HEIGHT = 0.075


@dataclass(frozen=True)
class TaskSpec:
    """One Adroit task: its names, sizes and D4RL reference scores (docs/reference-spec.md §1)."""

    name: str
    """The paper's name, e.g. ``door-human-v1``."""
    gym_id: str
    """The gymnasium-robotics id, e.g. ``AdroitHandDoor-v1``."""
    obs_dim: int
    act_dim: int
    horizon: int
    """D4RL's ``MAX_STEPS`` for the task."""
    ref_min_score: float
    """D4RL ``<task>-human-v0`` reference minimum (the v1 tasks reuse it)."""
    ref_max_score: float
    state_keys: tuple[str, ...]
    """Keys of ``initial_state_dict`` that the env's ``set_env_state`` accepts."""

    @property
    def short(self) -> str:
        return self.name.split("-")[0]


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec(
            "door-human-v1",
            "AdroitHandDoor-v1",
            39,
            28,
            200,
            -56.512833,
            2880.5693087298737,
            ("qpos", "qvel", "door_body_pos"),
        ),
        TaskSpec(
            "hammer-human-v1",
            "AdroitHandHammer-v1",
            46,
            26,
            200,
            -274.856578,
            12794.134825156867,
            ("qpos", "qvel", "board_pos"),
        ),
        TaskSpec(
            "pen-human-v1",
            "AdroitHandPen-v1",
            45,
            24,
            100,
            96.262799,
            3076.8331017826877,
            ("qpos", "qvel", "desired_orien"),
        ),
        TaskSpec(
            "relocate-human-v1",
            "AdroitHandRelocate-v1",
            39,
            30,
            200,
            -6.425911,
            4233.877797728884,
            ("qpos", "qvel", "obj_pos", "target_pos"),
        ),
    )
}


def get_task(name: str | TaskSpec) -> TaskSpec:
    """Look a task up by the paper's name, the gymnasium id, or the short name (``door``); a
    TaskSpec is returned as it is (tests define fake tasks)."""
    if isinstance(name, TaskSpec):
        return name
    for task in TASKS.values():
        if name in (task.name, task.gym_id, task.short):
            return task
    known = ", ".join(TASKS)
    raise MaqError(f"unknown task {name!r}; known tasks: {known} (or their AdroitHand*-v1 ids)")


def normalized_score(task: str | TaskSpec, episode_return: float) -> float:
    """D4RL normalized score, ``100·(R − min)/(max − min)`` with the D4RL v1 reference values."""
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    return 100.0 * (episode_return - spec.ref_min_score) / (spec.ref_max_score - spec.ref_min_score)


def is_success(info: dict[str, Any]) -> bool:
    """Success of one step, whichever key the environment reports it under."""
    return bool(info.get("goal_achieved", info.get("success", False)))


def _palm_object_distance(task: TaskSpec, sim: Any) -> float:
    """The distance gymnasium-robotics adds with the wrong sign (0 for pen: no such term)."""
    data = sim.data
    if task.short == "door":
        palm = data.site_xpos[sim.grasp_site_id]
        obj = data.site_xpos[sim.handle_site_id]
    elif task.short in ("hammer", "relocate"):
        palm = data.site_xpos[sim.S_grasp_site_id]
        obj = data.xpos[sim.obj_body_id]
    else:
        return 0.0
    return float(np.linalg.norm(palm.ravel() - obj.ravel()))


class D4RLAdroit(gym.Wrapper):
    """Restores D4RL's reward, pen-drop termination and ``goal_achieved`` on a gymnasium Adroit env.

    ``info`` gains ``goal_achieved`` (= ``success``) and, for reference,
    ``reward_gymnasium_robotics``
    (the unpatched reward).
    """

    def __init__(self, env: gym.Env, task: TaskSpec, d4rl_reward: bool = True):
        super().__init__(env)
        self.task = task
        self.d4rl_reward = d4rl_reward

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        sim = self.env.unwrapped
        info = dict(info)
        info["reward_gymnasium_robotics"] = float(reward)
        if self.d4rl_reward and not getattr(sim, "sparse_reward", False):
            # gymnasium-robotics computes +0.1·d; D4RL computes −0.1·d (docs/human-data.md "Reward
            # sign bug").
            reward = float(reward) - 0.2 * _palm_object_distance(self.task, sim)
        if self.task.short == "pen":
            obj_z = float(sim.data.xpos[sim.obj_body_id].ravel()[2])
            terminated = bool(terminated or obj_z < PEN_DROP_HEIGHT)
        info["goal_achieved"] = bool(info.get("success", False))
        return obs, float(reward), bool(terminated), bool(truncated), info

    def set_env_state(self, state: dict[str, np.ndarray]) -> None:
        """Set the simulator state, keeping only the keys the env's state space knows."""
        self.env.unwrapped.set_env_state(filter_state_dict(self.env, state))


def filter_state_dict(env: gym.Env, state: dict[str, Any]) -> dict[str, np.ndarray]:
    """Drop extra keys (hammer and relocate's ``get_env_state`` returns more than they accept)."""
    keys = env.unwrapped._state_space.spaces.keys()
    return {k: np.asarray(state[k], dtype=np.float64) for k in keys}


def _register_gymnasium_robotics() -> None:
    # Its import prints a notice (to stderr) about the very reward bug that D4RLAdroit fixes.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        import gymnasium_robotics  # heavy; imported only when an env is made

    gym.register_envs(gymnasium_robotics)


def make_env(
    task: str | TaskSpec,
    *,
    max_episode_steps: int | None = None,
    d4rl_reward: bool = True,
    render_mode: str | None = None,
) -> gym.Env:
    """Make one task's environment with D4RL fidelity (horizon = the task's unless given).

    Seed it through ``env.reset(seed=...)``. The outermost wrapper is :class:`D4RLAdroit`, around
    gymnasium's ``TimeLimit`` with the D4RL horizon.
    """
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    _register_gymnasium_robotics()
    horizon = spec.horizon if max_episode_steps is None else int(max_episode_steps)
    env = gym.make(spec.gym_id, max_episode_steps=horizon, render_mode=render_mode)
    return D4RLAdroit(env, spec, d4rl_reward=d4rl_reward)
