"""What every training loop does with its run folder: config, resume, eval rows, checkpoints, done.

Usage in a loop::

    ctx = RunContext(run_dir, method="RLPD", config=cfg, overwrite=spec.overwrite)
    if ctx.finished: return run_dir            # finished runs are not retrained
    resume = ctx.start()                       # None, or the payload of the last save_resume()
    ...
    ctx.record_eval(step, summary, phase="online", checkpoint=name)
    ctx.save_resume(step, state)               # learner, optimizers, buffers, RNG, counters
    ...
    ctx.finish({...})

A run killed at any point and started again with the same command resumes from its last
``save_resume`` and rewrites nothing that was logged after it (CSV rows and TensorBoard events past
the resume step are dropped), so the totals and rows come out as in an uninterrupted run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from maq.errors import RunStopped
from maq.runs import (
    EVAL_COLUMNS,
    RESUME_FILE,
    EvalCsv,
    Logger,
    config_dict,
    is_done,
    load_checkpoint,
    mark_done,
    save_checkpoint,
    write_config,
)
from maq.seeding import get_rng_state, set_rng_state


class RunContext:
    def __init__(
        self,
        run_dir: Path,
        *,
        method: str,
        config: Any,
        overwrite: bool = False,
        eval_csv: str = "experiment_data.csv",
        config_name: str = "config.json",
        tensorboard: bool = True,
        human_data: Path | None = None,
        stop_after: int | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.method = method
        self.config = config
        self.eval_csv_name = eval_csv
        self.config_name = config_name
        self.tensorboard = tensorboard
        self.human_data = human_data
        """Held-out human trajectories that evaluations are measured against (None: not)."""
        self._human = None
        self.stop_after = stop_after
        """Raise :class:`RunStopped` once a resume point at or past this step is on disk."""
        if overwrite and self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        self.logger: Logger | None = None
        self.eval_csv: EvalCsv | None = None

    @classmethod
    def for_run(cls, run, **kwargs: Any) -> RunContext:
        """The context of a resolved run (maq.spec.Run): its folder, method, config (``config``
        replaces the run's own), ``--overwrite`` and held-out human data."""
        kwargs.setdefault("config", run.config())
        return cls(
            run.run_dir,
            method=run.spec.method,
            overwrite=run.spec.overwrite,
            human_data=run.test_path,
            stop_after=run.spec.stop_after,
            **kwargs,
        )

    @property
    def finished(self) -> bool:
        return is_done(self.run_dir)

    @property
    def resume_path(self) -> Path:
        return self.run_dir / RESUME_FILE

    def start(self) -> dict[str, Any] | None:
        """Create the folder and writers; return the resume payload if a previous try left one.

        The payload's ``state`` is what the loop passed to :meth:`save_resume`; global RNG states
        are restored here.
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_config(self.run_dir, self.config, self.config_name)
        self._load_human()  # now, not inside the first evaluation: POT's import takes seconds
        payload = None
        if self.resume_path.exists():
            payload = load_checkpoint(self.resume_path)
            set_rng_state(payload["rng"])
        step = None if payload is None else payload["step"]
        self.logger = Logger(self.run_dir, resume_step=step, tensorboard=self.tensorboard)
        self.eval_csv = EvalCsv(self.run_dir / self.eval_csv_name, EVAL_COLUMNS)
        if step is not None:
            self.eval_csv.truncate_after(step, "training_step")
        elif self.eval_csv.path.exists():
            self.eval_csv.path.unlink()  # a fresh start: rows of an unfinished try without resume
        self._stop_if_due(step)
        return payload

    def human_likeness(self, episodes: list) -> dict[str, float]:
        """Mean DTW and Wasserstein distances of ``episodes`` to the held-out human data (the
        evaluator's metrics, maq.evaluation.metrics); empty without human data."""
        if self.human_data is None or not episodes:
            return {}
        from maq.evaluation.metrics import human_likeness

        return human_likeness(episodes, self._load_human())

    def _load_human(self):
        """The held-out human data as a ``HumanReference``, read (and the metric libraries
        imported) on the first call; None without human data."""
        if self._human is None and self.human_data is not None:
            from maq.data.format import load_trajectories
            from maq.evaluation.metrics import HumanReference, preload

            preload()
            self._human = HumanReference.from_trajectories(load_trajectories(self.human_data))
        return self._human

    def record_eval(
        self,
        step: int,
        summary: dict[str, float],
        phase: str,
        checkpoint: str,
        episodes: list | None = None,
    ) -> None:
        """Append one evaluation row (with the episodes' human-likeness) and log it under
        ``eval/``."""
        assert self.eval_csv is not None and self.logger is not None, "call start() first"
        likeness = self.human_likeness(episodes or [])
        self.eval_csv.append(
            {
                "training_step": int(step),
                "episode_reward": summary["episode_reward"],
                "norm_episode_reward": summary["norm_episode_reward"],
                "success_rate": summary["success_rate"],
                "phase": phase,
                "checkpoint": checkpoint,
                **likeness,
            }
        )
        self.logger.log(step, {f"eval/{k}": v for k, v in {**summary, **likeness}.items()})
        self.logger.flush()

    def save_checkpoint(self, name: str, step: int, state: dict[str, Any]) -> Path:
        """A model checkpoint for evaluation (``model_<step>_<score>.pth`` and the like)."""
        return save_checkpoint(
            self.run_dir / name, method=self.method, config=self.config, step=step, state=state
        )

    def save_resume(self, step: int, state: dict[str, Any]) -> Path:
        """Everything needed to continue: call it right after an evaluation row is recorded."""
        assert self.logger is not None, "call start() first"
        self.logger.flush()
        path = save_checkpoint(
            self.resume_path,
            method=self.method,
            config=self.config,
            step=step,
            state=state,
            rng=get_rng_state(),
        )
        self._stop_if_due(step)
        return path

    def _stop_if_due(self, step: int | None) -> None:
        if step is not None and self.stop_after is not None and step >= self.stop_after:
            self.logger.close()
            raise RunStopped(self.run_dir, step)

    def finish(self, summary: dict[str, Any]) -> Path:
        assert self.logger is not None, "call start() first"
        self.logger.close()
        self.resume_path.unlink(missing_ok=True)
        return mark_done(
            self.run_dir, {"method": self.method, **summary, "config": config_dict(self.config)}
        )
