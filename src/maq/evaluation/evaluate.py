"""``maq evaluate``: the best checkpoint of a run over seeded episodes, one row in the results CSV.

Protocol (docs/reference-spec.md §10, docs/decisions.md):

1. the checkpoint with the best training-time evaluation (or ``--model_path``) is loaded by the
   method table as a primitive-action :class:`~maq.policy.Policy`;
2. episode ``i`` resets with seed ``seed·200 + i`` (:func:`maq.rollout.episode_seed`) and is played
   by :func:`maq.rollout.run_episode`, the rollout training-time evaluation uses too;
3. its states and raw actions are compared with the held-out human test trajectories
   (:mod:`maq.evaluation.metrics`);
4. the aggregates (:mod:`maq.evaluation.report`) are appended to
   ``evaluation_results/agent_performance_<env>.csv``.

Episodes run in a pool of worker processes (``--workers``), one torch thread each. Each episode is
seeded on its own and the records come back in episode order, so the row does not depend on the
number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym

from maq.envs import TaskSpec, get_task, make_env, normalized_score
from maq.errors import MaqError
from maq.evaluation.metrics import HumanReference, episode_metrics, preload
from maq.evaluation.report import (
    EpisodeRecord,
    append_row,
    command_line,
    results_path,
    source_commit,
    summarize,
)
from maq.evaluation.select import select_checkpoint
from maq.methods import get_method, load_policy
from maq.policy import Policy
from maq.rollout import episode_seed, run_episode
from maq.spec import RunSpec

DEFAULT_EPISODES = 100  # docs/reference-spec.md §10.3


class EpisodeRunner:
    """Plays one seeded episode and measures it; the env is made on first use (in each worker)."""

    def __init__(self, task: TaskSpec, policy: Policy, human: HumanReference):
        self.task = task
        self.policy = policy
        self.human = human
        self._env: gym.Env | None = None

    def __call__(self, seed: int) -> EpisodeRecord:
        if self._env is None:
            self._env = make_env(self.task)
        start = time.perf_counter()
        episode = run_episode(self._env, self.policy, seed)
        stepped = time.perf_counter()
        metrics = episode_metrics(episode.states, episode.actions, self.human)
        return EpisodeRecord(
            seed=seed,
            episode_return=episode.episode_return,
            normalized_score=normalized_score(self.task, episode.episode_return),
            length=episode.length,
            success=episode.success,
            ever_success=episode.ever_success,
            metrics=metrics,
            rollout_seconds=stepped - start,
            metric_seconds=time.perf_counter() - stepped,
        )

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None


_WORKER_RUNNER: EpisodeRunner | None = None


def _init_worker(runner: EpisodeRunner) -> None:
    import torch

    torch.set_num_threads(1)
    global _WORKER_RUNNER
    _WORKER_RUNNER = runner


def _run_in_worker(seed: int) -> EpisodeRecord:
    assert _WORKER_RUNNER is not None, "worker not initialized"
    return _WORKER_RUNNER(seed)


def run_episodes(
    runner: EpisodeRunner, seeds: Sequence[int], workers: int = 1
) -> list[EpisodeRecord]:
    """One record per seed, in the order of ``seeds``, whatever the number of workers; a
    progress bar counts the episodes (on stderr)."""
    from tqdm import tqdm

    workers = max(1, min(workers, len(seeds)))
    bar = partial(tqdm, total=len(seeds), unit="episode", desc="evaluation", dynamic_ncols=True)
    if workers == 1:
        try:
            return [runner(seed) for seed in bar(seeds)]
        finally:
            runner.close()
    preload()  # import the metric libraries and gymnasium-robotics once here, not per worker
    make_env(runner.task).close()
    # fork hands the policy to the workers without pickling it (spawn would pickle it).
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(runner,)
    ) as pool:
        return list(bar(pool.map(_run_in_worker, seeds)))


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def load_human_reference(spec: RunSpec) -> tuple[Path, HumanReference]:
    """The test split of the run (or ``--testing_source``); never generated here."""
    from maq.data.format import load_trajectories
    from maq.data.resolve import resolve_datasets

    task = get_task(spec.env_id)
    _, test = resolve_datasets(
        task.name, spec.seed, spec.root, spec.training_source, spec.testing_source, generate=False
    )
    trajectories = load_trajectories(test, task.obs_dim, task.act_dim)
    return test, HumanReference.from_trajectories(trajectories)


def find_checkpoint(spec: RunSpec, model_path: str = "") -> Path:
    """``--model_path`` (relative to the working directory or the root), else the best one."""
    if model_path:
        for path in (Path(model_path), spec.root / model_path):
            if path.exists():
                return path.resolve()
        raise MaqError(f"--model_path {model_path} does not exist")
    method = get_method(spec.method)
    return select_checkpoint(method.run_dir(spec), method.eval_csv, spec)


@dataclass
class EvaluationResult:
    row: dict[str, Any]
    records: list[EpisodeRecord]
    checkpoint: Path | None
    """The evaluated checkpoint; the training split for the Human row, None for Random."""
    csv_path: Path | None
    wall_seconds: float


def _identity(spec: RunSpec, checkpoint: Path) -> dict[str, Any]:
    uses_codes = get_method(spec.method).uses_codes
    try:
        model_path = str(checkpoint.resolve().relative_to(spec.root.resolve()))
    except ValueError:
        model_path = str(checkpoint)
    return {
        "agent_type": spec.method,
        "method": spec.method,
        "env_id": spec.env_id,
        "base_seed": spec.seed,
        "seed": spec.seed,
        "model_path": model_path,
        "seq_len": spec.seq_len if uses_codes else "",
        "codebook_size": spec.codebook_size if uses_codes else "",
        "tag": spec.tag,
        "preset": spec.preset,
    }


def evaluate(
    spec: RunSpec,
    *,
    model_path: str = "",
    episodes: int = DEFAULT_EPISODES,
    workers: int = 1,
    write: bool = True,
    command: str | None = None,
) -> EvaluationResult:
    """Evaluate a run's best checkpoint (or ``model_path``) and append its row to the CSV.

    ``command`` is recorded in the row's ``command`` column (default: this process's command
    line), next to the source ``commit``, so the report can say what produced every number.
    """
    if episodes < 1:
        raise MaqError("--episodes must be at least 1")
    start = time.perf_counter()
    task = get_task(spec.env_id)
    checkpoint = find_checkpoint(spec, model_path)
    _, human = load_human_reference(spec)
    if spec.device == "auto":
        spec = replace(spec, device="cpu")  # batch-1 inference; CUDA would also forbid fork
    elif spec.device != "cpu":
        workers = 1
    policy = load_policy(spec, checkpoint)
    seeds = [episode_seed(spec.seed, i) for i in range(episodes)]
    records = run_episodes(EpisodeRunner(task, policy, human), seeds, workers)
    row = {**summarize(records, task.horizon), **_identity(spec, checkpoint), **provenance(command)}
    csv_path = append_row(results_path(spec.root, task.name), row) if write else None
    return EvaluationResult(row, records, checkpoint, csv_path, time.perf_counter() - start)


def provenance(command: str | None = None) -> dict[str, str]:
    """The ``commit`` and ``command`` columns of a row (``command`` None: this process's)."""
    return {"commit": source_commit(), "command": command_line() if command is None else command}


def summary_lines(result: EvaluationResult) -> list[str]:
    """What an evaluation prints when it ends: the row's key numbers and where the row went."""
    row, label = result.row, f"{row_label(result.row)} on {len(result.records)} episodes"
    lines = [
        f"{label}: normalized score {row['normalized_score_mean']:.1f} ± "
        f"{row['normalized_score_std']:.1f}, success {row['success_rate']:.2f} "
        f"(ever {row['ever_success_rate']:.2f})",
        f"  DTW state/action {row['dtw_state_dtw_mean_agg_mean']:.1f}/"
        f"{row['dtw_action_dtw_mean_agg_mean']:.1f} (per step "
        f"{row['dtw_state_norm_dtw_mean_agg_mean']:.3f}/"
        f"{row['dtw_action_norm_dtw_mean_agg_mean']:.3f}), W1 state/action "
        f"{row['wasserstein_state_w2_dist_agg_mean']:.3f}/"
        f"{row['wasserstein_action_w2_dist_agg_mean']:.3f}",
        f"  {result.wall_seconds:.1f} s; model {row['model_path'] or '-'}",
    ]
    if result.csv_path is not None:
        lines.append(f"  appended a row to {result.csv_path}")
    return lines


def row_label(row: dict[str, Any]) -> str:
    """``MAQ+RLPD L9 K16 seed 1 [tag]``: how a results row is named in messages."""
    codes = f" L{row['seq_len']} K{row['codebook_size']}" if row["seq_len"] != "" else ""
    tag = f" [{row['tag']}]" if row["tag"] else ""
    return f"{row['agent_type']}{codes} seed {row['seed']}{tag}"
