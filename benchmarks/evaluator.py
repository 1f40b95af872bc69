"""Evaluator speed: 100 door episodes of a trivial policy with every metric, vs bare env stepping.

    MAQ_DATA_DIR=../shared/data/adroit_human .venv/bin/python benchmarks/evaluator.py \
        --episodes 100 --workers 1 2

Prints the bare environment's stepping time (the same policy, one process, nothing recorded), then
for each worker count the evaluation's wall time, its rollout and metric seconds summed over
episodes, and the ratio of the wall time to the bare stepping time (target ≤ 1.5). The human
reference is the real door seed-1 test split (3 demos), generated into a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from maq.data.format import load_trajectories
from maq.data.generate import generate_dataset
from maq.data.sources import data_dir_from_env
from maq.envs import get_task, make_env
from maq.evaluation.evaluate import EpisodeRunner, run_episodes
from maq.evaluation.metrics import (
    HumanReference,
    dtw_distance,
    preload,
    wasserstein1_standardized,
)
from maq.evaluation.report import append_row, summarize
from maq.rollout import episode_seed, run_episode
from maq.seeding import configure_cpu_process


class TanhLinearPolicy:
    """A trivial deterministic policy, ``tanh(W obs)``, whose actions are not all equal."""

    def __init__(self, obs_dim: int, act_dim: int):
        self.weights = np.random.default_rng(0).standard_normal((act_dim, obs_dim)) * 0.1

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.tanh(self.weights @ obs)


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (robust to other jobs on the machine)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bare_stepping_seconds(
    task_name: str, policy: TanhLinearPolicy, episodes: int
) -> tuple[float, float, int]:
    """The same episodes without recording or metrics (the policy costs microseconds a step)."""
    env = make_env(get_task(task_name))
    steps = 0
    start, cpu = time.perf_counter(), cpu_seconds()
    for i in range(episodes):
        obs, _ = env.reset(seed=episode_seed(1, i))
        while True:
            obs, _, terminated, truncated, _ = env.step(policy.act(obs))
            steps += 1
            if terminated or truncated:
                break
    return time.perf_counter() - start, cpu_seconds() - cpu, steps


def metric_breakdown(task_name: str, policy: TanhLinearPolicy, human: HumanReference) -> str:
    """Milliseconds per DTW pair and per W1 solve, on 10 episodes of the policy."""
    env = make_env(get_task(task_name))
    episodes = [run_episode(env, policy, episode_seed(1, i)) for i in range(10)]
    start = time.perf_counter()
    for ep in episodes:
        for h_states, h_actions in zip(human.states, human.actions, strict=True):
            dtw_distance(ep.states, h_states)
            dtw_distance(ep.actions, h_actions)
    dtw_ms = 1000 * (time.perf_counter() - start) / (20 * len(human.states))
    start = time.perf_counter()
    for ep in episodes:
        wasserstein1_standardized(ep.states, human.pooled_states)
        wasserstein1_standardized(ep.actions, human.pooled_actions)
    w1_ms = 1000 * (time.perf_counter() - start) / 20
    return f"exact DTW {dtw_ms:.2f} ms per pair, W1 {w1_ms:.1f} ms per solve"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    configure_cpu_process()  # as maq's commands do (maq.cli)
    torch.set_num_threads(1)
    task = get_task("door-human-v1")
    with tempfile.TemporaryDirectory() as tmp:
        _, test = generate_dataset(task.name, 1, Path(tmp), "dapg", data_dir_from_env())
        human = HumanReference.from_trajectories(load_trajectories(test))
        policy = TanhLinearPolicy(task.obs_dim, task.act_dim)
        bare, bare_cpu, steps = bare_stepping_seconds(task.name, policy, args.episodes)
        print(
            f"human reference: {len(human.states)} trajectories, {len(human.pooled_states)} steps"
        )
        print(
            f"bare env stepping: {steps} steps in {bare:.2f} s wall, {bare_cpu:.2f} s CPU "
            f"({steps / bare:.0f} steps/s)"
        )
        preload()
        print(metric_breakdown(task.name, policy, human))
        seeds = [episode_seed(1, i) for i in range(args.episodes)]
        for workers in args.workers:
            start, cpu = time.perf_counter(), cpu_seconds()
            records = run_episodes(EpisodeRunner(task, policy, human), seeds, workers)
            append_row(Path(tmp) / "agent_performance.csv", summarize(records, task.horizon))
            wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
            rollout = sum(r.rollout_seconds for r in records)
            metric = sum(r.metric_seconds for r in records)
            print(
                f"workers={workers}: wall {wall:.2f} s = {wall / bare:.2f}x bare stepping; "
                f"CPU {cpu:.2f} s = {cpu / bare_cpu:.2f}x; "
                f"summed over episodes: rollout {rollout:.2f} s, metrics {metric:.2f} s "
                f"({1000 * metric / len(records):.1f} ms/episode)"
            )


if __name__ == "__main__":
    main()
