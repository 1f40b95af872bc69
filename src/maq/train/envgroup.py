"""Several training environments, each reset in the same step it ends, in-process or on workers.

gymnasium 1.x vector envs reset a finished sub-env on the *next* step by default and return a
bogus transition for it (docs/reference-spec.md §13); here the transition stored is always the real
one
(its ``next_obs`` is the true final observation) and the reset happens right away, as gym 0.21
did: gymnasium's ``AutoresetMode.SAME_STEP``, which steps, then calls ``env.reset()`` without a
seed (the env's own generator continues from its last seed) and hands back the final observation
and info in ``info["final_obs"]``/``info["final_info"]``.

With one worker the envs are a ``SyncVectorEnv`` stepped in this process; with more, an
``AsyncVectorEnv`` (one process per env, at most ``env_workers`` of them stepping at once). Both
run the same per-env code in the same order, so every observation, reward, episode and count is
the same whatever the worker count. Macro envs (maq.macro.env) report ``info["primitive_steps"]``;
primitive envs count one step.

:func:`make_sb3_vec_env` is the stable-baselines3 counterpart (``DummyVecEnv``/``SubprocVecEnv``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from maq.envs import is_success
from maq.errors import MaqError


@dataclass
class StepResult:
    """One step of every env (leading dim = number of envs)."""

    next_observations: np.ndarray
    """(n, S): the state each transition ended in (the final state when the episode ended)."""
    rewards: np.ndarray
    terminals: np.ndarray
    truncations: np.ndarray
    primitive_steps: np.ndarray
    """(n,) primitive env steps each transition took (L or fewer for a macro, 1 otherwise)."""


@dataclass
class EpisodeStats:
    """Finished training episodes since the last :meth:`EnvGroup.pop_episodes`."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    """Primitive steps per episode."""
    successes: list[bool] = field(default_factory=list)


def available_cores() -> int:
    """CPUs this process may run on, capped by ``MAQ_NUM_THREADS`` when set.

    A sweep sets ``MAQ_NUM_THREADS`` to each run's CPU share, so runs sharing a machine do not
    step more envs at once than they were given cores.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    budget = os.environ.get("MAQ_NUM_THREADS", "")
    if budget.isdigit() and int(budget) >= 1:
        cores = min(cores, int(budget))
    return max(1, cores)


def default_env_workers(num_envs: int) -> int:
    """Worker processes for ``num_envs`` envs: one per available core, never more than the envs
    (1, i.e. in-process, on one core)."""
    return max(1, min(int(num_envs), available_cores()))


def worker_start_method() -> str:
    """``fork`` on Linux (closures and models are inherited, nothing is pickled or re-imported);
    ``spawn`` elsewhere or once CUDA is initialised here (a forked child cannot use CUDA), in
    which case the env factory is cloudpickled to the workers."""
    torch = sys.modules.get("torch")
    cuda_live = torch is not None and torch.cuda.is_initialized()
    if sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods() and not cuda_live:
        return "fork"
    return "spawn"


class _SingleThreaded:
    """An env factory run in a worker process, with torch on one thread there.

    Workers share the cores with each other and with the learner; and a forked child must not
    enter the OpenMP pool it inherited from the parent (as PyTorch's DataLoader workers do). The
    vector envs also call the factory once in this process to read the spaces: that call leaves
    this process's threads alone.
    """

    def __init__(self, make_env: Callable[[], gym.Env]):
        self.make_env = make_env
        self.parent = os.getpid()

    def __call__(self) -> gym.Env:
        torch = sys.modules.get("torch")  # imported by unpickling the factory when it needs it
        if torch is not None and os.getpid() != self.parent:
            torch.set_num_threads(1)
        return self.make_env()


class _Reported(gym.Wrapper):
    """Keeps only what :class:`EnvGroup` reads from ``info``, so it batches (a macro's
    ``primitive_*`` arrays vary in length) and crosses process pipes cheaply."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, _ = self.env.reset(seed=seed, options=options)
        return obs, {}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        report = {
            "primitive_steps": int(info.get("primitive_steps", 1)),
            "success": is_success(info),
        }
        return obs, reward, terminated, truncated, report


class _ReportedFactory:
    def __init__(self, make_env: Callable[[], gym.Env]):
        self.make_env = make_env

    def __call__(self) -> gym.Env:
        return _Reported(self.make_env())


def _masked(info: dict[str, Any], key: str, out: np.ndarray) -> None:
    """``out[i] = info[key][i]`` for the envs that reported ``key`` (gymnasium's ``_key`` mask)."""
    if key in info:
        mask = info["_" + key]
        out[mask] = info[key][mask]


class EnvGroup:
    """``num_envs`` environments; ``observations`` (n, S) is where each of them is now.

    ``env_workers`` > 1 steps them in worker processes, at most that many at once (see the
    module docstring); the results do not depend on it. ``start_method`` overrides
    :func:`worker_start_method`.
    """

    def __init__(
        self,
        make_env: Callable[[], gym.Env],
        num_envs: int,
        env_workers: int = 1,
        start_method: str | None = None,
    ):
        if int(num_envs) < 1:
            raise MaqError(f"num_envs={num_envs}: give at least 1 environment")
        if int(env_workers) < 1:
            raise MaqError(f"env_workers={env_workers}: give 1 (in-process) or more workers")
        self.num_envs = int(num_envs)
        self.env_workers = min(int(env_workers), self.num_envs)
        factories = [_ReportedFactory(make_env)] * self.num_envs
        if self.env_workers == 1:
            self._vec: gym.vector.VectorEnv = SyncVectorEnv(
                factories, copy=False, autoreset_mode=AutoresetMode.SAME_STEP
            )
        else:
            self._vec = AsyncVectorEnv(
                [_SingleThreaded(f) for f in factories],
                copy=False,
                context=start_method or worker_start_method(),
                autoreset_mode=AutoresetMode.SAME_STEP,
                max_concurrency=self.env_workers if self.env_workers < self.num_envs else None,
            )
        self.observations = np.zeros(0, np.float32)
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, np.int64)
        self.episodes = EpisodeStats()

    def reset(self, seeds: list[int]) -> np.ndarray:
        """Start a new episode in every env, env i with ``seeds[i]`` (cuts running episodes)."""
        if len(seeds) != self.num_envs:
            raise ValueError(f"{len(seeds)} seeds for {self.num_envs} envs")
        obs, _ = self._vec.reset(seed=[int(s) for s in seeds])
        self.observations = np.array(obs, np.float32)  # a copy: the vector env reuses its buffer
        self._returns[:] = 0
        self._lengths[:] = 0
        return self.observations

    def step(self, actions: np.ndarray) -> StepResult:
        """Step env i with ``actions[i]``; a finished env starts its next episode right away."""
        obs, rewards, terminated, truncated, info = self._vec.step(actions)
        self.observations = np.array(obs, np.float32)  # new array: callers may keep the last one
        n = self.num_envs
        out = StepResult(
            self.observations.copy(),
            rewards.astype(np.float32),
            terminated.astype(np.float32),
            truncated.astype(np.float32),
            np.ones(n, np.int64),
        )
        _masked(info, "primitive_steps", out.primitive_steps)
        final = info.get("final_info", {})
        _masked(final, "primitive_steps", out.primitive_steps)
        for i in range(n):
            self._returns[i] += rewards[i]
            self._lengths[i] += out.primitive_steps[i]
            if terminated[i] or truncated[i]:
                out.next_observations[i] = info["final_obs"][i]
                self.episodes.returns.append(float(self._returns[i]))
                self.episodes.lengths.append(int(self._lengths[i]))
                self.episodes.successes.append(bool(final["success"][i]))
                self._returns[i], self._lengths[i] = 0.0, 0
        return out

    def pop_episodes(self) -> EpisodeStats:
        episodes, self.episodes = self.episodes, EpisodeStats()
        return episodes

    def close(self) -> None:
        self._vec.close()


def make_sb3_vec_env(
    make_env: Callable[[], gym.Env],
    num_envs: int,
    env_workers: int = 1,
    start_method: str | None = None,
) -> Any:
    """stable-baselines3 copies of ``make_env()``: a ``DummyVecEnv`` in this process with one
    worker, a ``SubprocVecEnv`` (one process per env, all stepping at once) with more.

    Both step, autoreset (``info["terminal_observation"]``) and seed (``vec_env.seed(s)``: sub-env
    i with ``s + i`` at the next reset) alike, so training gives the same results either way.
    (Rewards come back as float32 from one and float64 from the other; SB3's replay buffer stores
    float32, so the learner sees the same numbers.)
    """
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    if int(num_envs) < 1:
        raise MaqError(f"num_envs={num_envs}: give at least 1 environment")
    if int(env_workers) < 1:
        raise MaqError(f"env_workers={env_workers}: give 1 (in-process) or more workers")
    if min(int(env_workers), int(num_envs)) == 1:
        return DummyVecEnv([make_env] * int(num_envs))
    return SubprocVecEnv(
        [_SingleThreaded(make_env)] * int(num_envs),
        start_method=start_method or worker_start_method(),
    )
