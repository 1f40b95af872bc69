"""Reference rows of the results CSV: ``Random`` and ``Human``, the two ends of the likeness score.

* ``Random``: uniform random actions in ``[-1, 1]^A`` over the same seeded episodes as any agent
  (episode ``i`` resets with ``seed·200 + i``), measured against the held-out human test demos;
* ``Human``: the run's *training* split of human demonstrations taken as the agent's episodes (no
  environment is stepped), measured against the same held-out test demos with the same metrics.

From the two rows of a task and seed, every distance ``d`` of an agent gets maq's human-likeness
score ``(d_random − d) / (d_random − d_human)`` (:func:`maq.evaluation.metrics.likeness_score`):
random = 0, "as close to the held-out humans as the other humans are" = 1.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from maq.envs import TaskSpec, get_task, normalized_score
from maq.errors import MaqError
from maq.evaluation.evaluate import (
    DEFAULT_EPISODES,
    EpisodeRunner,
    EvaluationResult,
    provenance,
    run_episodes,
)
from maq.evaluation.metrics import HumanReference, episode_metrics
from maq.evaluation.report import EpisodeRecord, append_row, results_path, summarize
from maq.rollout import episode_seed
from maq.spec import RunSpec

REFERENCE_METHODS = ("Random", "Human")
"""The ``--method`` names of the reference rows (their ``agent_type`` in the CSV)."""

RANDOM_STREAM = 0x5EED_AC7
"""Mixed into the random policy's seed: the env seeds its own generator with the bare episode
seed, and the same seed would make the actions replay the env's reset draws."""


class RandomPolicy:
    """Uniform random actions in ``[-1, 1]^act_dim`` from a generator seeded per episode."""

    def __init__(self, act_dim: int, seed: int):
        self.act_dim = act_dim
        self.rng = np.random.default_rng([RANDOM_STREAM, seed])

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, self.act_dim).astype(np.float32)


class RandomRunner(EpisodeRunner):
    """An :class:`EpisodeRunner` whose policy is a :class:`RandomPolicy` seeded by the episode."""

    def __init__(self, task: TaskSpec, human: HumanReference):
        super().__init__(task, RandomPolicy(task.act_dim, 0), human)

    def __call__(self, seed: int) -> EpisodeRecord:
        self.policy = RandomPolicy(self.task.act_dim, seed)
        return super().__call__(seed)


def success_from_observations(task: TaskSpec, observations: np.ndarray) -> np.ndarray:
    """Per-step ``goal_achieved`` of recorded (next) observations, as the env computes it.

    Door: hinge angle ≥ 1.35 (obs[28] is the hinge); pen: pen within 0.075 of the goal and
    orientation similarity > 0.95 (the last 12 values hold both orientations and the offset);
    relocate: object within 0.1 of the target (the last 3 values). Hammer's nail goal is not in its
    observation, so its demos' success cannot be read back.
    """
    obs = np.asarray(observations, dtype=np.float64)
    if task.short == "door":
        return obs[:, 28] >= 1.35
    if task.short == "pen":
        similarity = np.sum(obs[:, -12:-9] * obs[:, -9:-6], axis=1)
        return (np.linalg.norm(obs[:, -6:-3], axis=1) < 0.075) & (similarity > 0.95)
    if task.short == "relocate":
        return np.linalg.norm(obs[:, -3:], axis=1) < 0.1
    raise MaqError(
        f"the Human row needs each demo's success, which {task.name}'s observations do not hold; "
        "evaluate Human on door, pen or relocate"
    )


def human_records(
    task: TaskSpec, trajectories: list[dict], human: HumanReference
) -> list[EpisodeRecord]:
    """One record per human trajectory: its return, length, success and likeness metrics."""
    records = []
    for i, traj in enumerate(trajectories):
        start = time.perf_counter()
        success = success_from_observations(task, traj["next_observations"])
        episode_return = float(np.sum(traj["rewards"], dtype=np.float64))
        records.append(
            EpisodeRecord(
                seed=i,
                episode_return=episode_return,
                normalized_score=normalized_score(task, episode_return),
                length=len(traj["actions"]),
                success=bool(success[-1]),
                ever_success=bool(success.any()),
                metrics=episode_metrics(traj["observations"], traj["actions"], human),
                metric_seconds=time.perf_counter() - start,
            )
        )
    return records


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def evaluate_reference(
    spec: RunSpec,
    *,
    episodes: int = DEFAULT_EPISODES,
    workers: int = 1,
    write: bool = True,
    command: str | None = None,
) -> EvaluationResult:
    """The ``Random`` or ``Human`` row (``spec.method``) of a task and seed, appended to the CSV.

    ``episodes`` and ``workers`` apply to Random; Human takes every training demo once.
    """
    if spec.method not in REFERENCE_METHODS:
        raise MaqError(f"--method {spec.method} is not a reference; choose Random or Human")
    if episodes < 1:
        raise MaqError("--episodes must be at least 1")
    from maq.data.format import load_trajectories
    from maq.data.resolve import resolve_datasets

    start = time.perf_counter()
    task = get_task(spec.env_id)
    train, test = resolve_datasets(
        task.name, spec.seed, spec.root, spec.training_source, spec.testing_source, generate=False
    )
    human = HumanReference.from_trajectories(load_trajectories(test, task.obs_dim, task.act_dim))
    if spec.method == "Random":
        seeds = [episode_seed(spec.seed, i) for i in range(episodes)]
        records, source = run_episodes(RandomRunner(task, human), seeds, workers), None
    else:
        demos = load_trajectories(train, task.obs_dim, task.act_dim)
        records, source = human_records(task, demos, human), train
    row = {
        **summarize(records, task.horizon),
        "agent_type": spec.method, "method": spec.method, "env_id": task.name,
        "base_seed": spec.seed, "seed": spec.seed, "seq_len": "", "codebook_size": "",
        "model_path": "" if source is None else _relative(source, spec.root),
        "tag": spec.tag, "preset": "",
        **provenance(command),
    }  # fmt: skip
    csv_path = append_row(results_path(spec.root, task.name), row) if write else None
    return EvaluationResult(row, records, source, csv_path, time.perf_counter() - start)
