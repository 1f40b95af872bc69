"""The SAC baseline through stable-baselines3, with the release's settings (docs/reference-spec.md
§9.1).

``SAC("MlpPolicy")`` with SB3's defaults on 8 copies of the task (DummyVecEnv, or SubprocVecEnv
with ``env_workers`` > 1: the same results), seeded (the release
passed no seed). Training runs in segments of ``eval_every`` vector steps; after each one the
deterministic policy plays ``eval_episodes`` seeded episodes through maq.rollout, a row goes to
``SAC.csv`` (maq.runs.EVAL_COLUMNS) and the model to ``checkpoints/SAC_model_<step>_<normalized
score>.zip``. The training envs are re-seeded at the start of every segment, so a killed run
resumes from ``resume.pt`` (model, optimizers, replay buffer, RNGs) exactly where it was.
:func:`load_policy` steps the env with one (A,) action per step (the release's evaluator stepped
it once per action *component*, docs/reference-spec.md §12 item 16).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from maq.errors import MaqError
from maq.policy import Policy
from maq.presets import SB3LoopConfig, SB3SACConfig
from maq.rollout import evaluate_policy
from maq.seeding import set_rng_state, torch_threads
from maq.spec import Run
from maq.train.common import RunContext
from maq.train.envgroup import default_env_workers, make_sb3_vec_env
from maq.train.online import segment_seeds


class SB3Policy:
    """An SB3 model as a :class:`~maq.policy.Policy`: one (A,) deterministic action per step."""

    def __init__(self, model: Any):
        self.model = model

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        action, _ = self.model.predict(np.asarray(obs, np.float32)[None], deterministic=True)
        return np.asarray(action, np.float32).reshape(-1)


_BUFFER_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def _buffer_state(rb: Any) -> dict[str, Any]:
    """The filled part of SB3's replay buffer (SB3's own pickle would store all 1M slots)."""
    n = rb.buffer_size if rb.full else rb.pos
    return {
        "pos": rb.pos,
        "full": rb.full,
        **{k: getattr(rb, k)[:n].copy() for k in _BUFFER_FIELDS},
    }


def _load_buffer_state(rb: Any, state: dict[str, Any]) -> None:
    for k in _BUFFER_FIELDS:
        getattr(rb, k)[: len(state[k])] = state[k]
    rb.pos, rb.full = state["pos"], state["full"]


def train(run: Run) -> Path:
    """Train (or resume) one SB3 SAC run into ``run.run_dir``; returns the folder."""
    ctx = RunContext.for_run(run, eval_csv="SAC.csv")
    with torch_threads(run.preset.loop.num_threads):
        _train(ctx, run, run.preset.loop, run.preset.learner)
    return run.run_dir


def _train(ctx: RunContext, run: Run, loop: SB3LoopConfig, cfg: SB3SACConfig) -> None:
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.monitor import Monitor

    task, seed = run.task, run.spec.seed
    workers = loop.env_workers or default_env_workers(loop.num_envs)
    # DummyVecEnv, or SubprocVecEnv with more than one worker (the same results)
    vec_env = make_sb3_vec_env(lambda: Monitor(run.make_env()), loop.num_envs, workers)
    model = SAC(
        "MlpPolicy",
        vec_env,
        learning_rate=cfg.learning_rate,
        buffer_size=cfg.buffer_size,
        learning_starts=cfg.learning_starts,
        batch_size=cfg.batch_size,
        tau=cfg.tau,
        gamma=cfg.gamma,
        train_freq=cfg.train_freq,
        gradient_steps=cfg.gradient_steps,
        ent_coef=cfg.ent_coef,
        policy_kwargs={"net_arch": list(cfg.net_arch)},
        seed=seed,
        device=run.device,
    )
    resume = ctx.start()
    evals = 0
    if resume is not None:
        state = resume["state"]
        model = SAC.load(io.BytesIO(state["model"]), env=vec_env, device=run.device)
        set_rng_state(resume["rng"])  # SAC.load re-seeded the global RNGs with the run's seed
        _load_buffer_state(model.replay_buffer, state["replay_buffer"])
        evals = state["evals"]
    # One TensorBoard writer for SB3's train/ scalars (SAC_1/ as in the release's layout).
    model.set_logger(configure(str(ctx.run_dir / "SAC_1"), ["tensorboard"]))
    eval_env, policy = run.make_env(), SB3Policy(model)
    segment = loop.eval_every * loop.num_envs
    bar = tqdm(
        total=loop.total_timesteps,
        initial=model.num_timesteps,
        unit="step",
        desc=f"SAC {task.name} seed {seed}",
        dynamic_ncols=True,
    )

    class _Bar(BaseCallback):
        def _on_step(self) -> bool:
            bar.update(loop.num_envs)
            return True

    while model.num_timesteps < loop.total_timesteps:
        vec_env.seed(segment_seeds(seed, evals, 1)[0])  # sub-env i: that seed + i
        model._last_obs = None  # SB3 resets (with those seeds) at the start of learn()
        steps = min(segment, loop.total_timesteps - model.num_timesteps)
        model.learn(steps, callback=_Bar(), reset_num_timesteps=False)
        step = int(model.num_timesteps)
        summary, episodes = evaluate_policy(
            task, policy, loop.eval_episodes, seed + loop.eval_seed_offset, env=eval_env
        )
        name = f"checkpoints/SAC_model_{step}_{summary['norm_episode_reward']:.2f}.zip"
        (ctx.run_dir / "checkpoints").mkdir(exist_ok=True)
        _save_model(model, ctx.run_dir / name)
        ctx.record_eval(step, summary, phase="online", checkpoint=name, episodes=episodes)
        evals += 1
        bar.set_postfix(score=summary["norm_episode_reward"])
        if evals % loop.resume_every == 0 and model.num_timesteps < loop.total_timesteps:
            buf = io.BytesIO()
            model.save(buf)
            ctx.save_resume(
                step,
                {
                    "model": buf.getvalue(),
                    "evals": evals,
                    "replay_buffer": _buffer_state(model.replay_buffer),
                },
            )
    bar.close()
    eval_env.close()
    vec_env.close()
    ctx.finish({"timesteps": int(model.num_timesteps)})


def _save_model(model: Any, path: Path) -> None:
    from maq.io import atomic_write_bytes

    buf = io.BytesIO()
    model.save(buf)
    atomic_write_bytes(path, buf.getvalue())


def load_policy(checkpoint: Path, run: Run) -> Policy:
    """An SB3 ``.zip`` checkpoint as a deterministic Policy."""
    from stable_baselines3 import SAC

    checkpoint = Path(checkpoint)
    if not checkpoint.exists():
        raise MaqError(f"checkpoint {checkpoint} does not exist")
    return SB3Policy(SAC.load(checkpoint, device=run.device))
