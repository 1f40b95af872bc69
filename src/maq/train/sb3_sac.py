"""The SAC baseline through stable-baselines3, with the release's settings (reference-spec §9.1).

``SAC("MlpPolicy")`` with SB3's defaults on 8 DummyVecEnv copies of the task, seeded (the release
passed no seed). Training runs in segments of ``eval_every`` vector steps; after each one the
deterministic policy plays ``eval_episodes`` seeded episodes through maq.rollout, a row goes to
``SAC.csv`` (maq.runs.EVAL_COLUMNS) and the model to ``checkpoints/SAC_model_<step>_<normalized
score>.zip``. The training envs are re-seeded at the start of every segment, so a killed run
resumes from ``resume.pt`` (model, optimizers, replay buffer, RNGs) exactly where it was.
:func:`load_policy` steps the env with one (A,) action per step (the release's evaluator stepped
it once per action *component*, reference-spec §12 item 16).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from maq.envs import get_task, make_env
from maq.errors import MaqError
from maq.methods import get_method
from maq.policy import Policy
from maq.rollout import evaluate_policy
from maq.runs import is_done
from maq.seeding import resolve_device, set_rng_state, torch_threads
from maq.spec import RunSpec
from maq.train.common import RunContext
from maq.train.online import segment_seeds


@dataclass(frozen=True)
class SB3SACConfig:
    """The SB3 SAC run; learner defaults are SB3's (1.8.0 and 2.9.2 agree, spec §9.1)."""

    env_id: str = "door-human-v1"
    seed: int = 1
    preset: str = "paper"
    device: str = "cpu"
    num_envs: int = 8
    """DummyVecEnv copies (``make_vec_env(env_id, n_envs=8)``, ``SAC/sac_train.py``)."""
    total_timesteps: int = 1_000_000
    """Primitive env steps summed over envs (``total_timesteps = 1e6``)."""
    eval_every: int = 1000
    """Vector steps between evaluations (the release's callback: every 1000 calls = 8000 steps)."""
    eval_episodes: int = 10
    """Deterministic episodes per evaluation (the release's callback)."""
    eval_seed_offset: int = 42
    """Evaluation episode i uses seed ``(seed + offset)·200 + i`` (as maq.train.online)."""
    resume_every: int = 10
    """Write ``resume.pt`` every this many evaluations (the replay buffer makes it large)."""
    learning_rate: float = 3e-4
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    batch_size: int = 256
    tau: float = 0.005
    gamma: float = 0.99
    train_freq: int = 1
    """Vector steps between updates (one gradient step per 8 env transitions)."""
    gradient_steps: int = 1
    ent_coef: str = "auto"
    """Learned temperature, initial value 1.0; target entropy −A (SB3 ``"auto"``)."""
    net_arch: tuple[int, ...] = (256, 256)
    """Actor and critic hidden widths (SB3's default for SAC)."""
    num_threads: int = 1
    """torch CPU threads (data.md: one is fastest for small MLPs on a shared CPU)."""


PRESETS = {
    "paper": {},
    "smoke": {
        "num_envs": 2,
        "total_timesteps": 400,
        "eval_every": 100,
        "eval_episodes": 2,
        "resume_every": 1,
        "buffer_size": 1000,
        "learning_starts": 50,
        "batch_size": 32,
        "net_arch": (32, 32),
    },
}


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


def sac_config(spec: RunSpec) -> SB3SACConfig:
    if spec.preset not in PRESETS:
        raise MaqError(f"unknown preset {spec.preset!r}; choose one of {', '.join(PRESETS)}")
    return SB3SACConfig(
        env_id=spec.env_id,
        seed=spec.seed,
        preset=spec.preset,
        device=str(resolve_device(spec.device)),
        **PRESETS[spec.preset],
    )


def train(spec: RunSpec) -> Path:
    """Train (or resume, or skip when finished) one SB3 SAC run; returns its folder."""
    method = get_method(spec.method)
    run_dir = method.run_dir(spec)
    if is_done(run_dir) and not spec.overwrite:
        return run_dir
    cfg = sac_config(spec)
    ctx = RunContext(
        run_dir, method=spec.method, config=cfg, overwrite=spec.overwrite, eval_csv=method.eval_csv
    )
    with torch_threads(cfg.num_threads):
        _train(ctx, cfg)
    return run_dir


def _train(ctx: RunContext, cfg: SB3SACConfig) -> None:
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    task = get_task(cfg.env_id)
    vec_env = DummyVecEnv([lambda: Monitor(make_env(task))] * cfg.num_envs)
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
        seed=cfg.seed,
        device=cfg.device,
    )
    resume = ctx.start()
    evals = 0
    if resume is not None:
        state = resume["state"]
        model = SAC.load(io.BytesIO(state["model"]), env=vec_env, device=cfg.device)
        set_rng_state(resume["rng"])  # SAC.load re-seeded the global RNGs with cfg.seed
        _load_buffer_state(model.replay_buffer, state["replay_buffer"])
        evals = state["evals"]
    # One TensorBoard writer for SB3's train/ scalars (SAC_1/ as in the release's layout).
    model.set_logger(configure(str(ctx.run_dir / "SAC_1"), ["tensorboard"]))
    eval_env, policy = make_env(task), SB3Policy(model)
    segment = cfg.eval_every * cfg.num_envs
    bar = tqdm(
        total=cfg.total_timesteps,
        initial=model.num_timesteps,
        unit="step",
        desc=f"SAC {cfg.env_id} seed {cfg.seed}",
        dynamic_ncols=True,
    )

    class _Bar(BaseCallback):
        def _on_step(self) -> bool:
            bar.update(cfg.num_envs)
            return True

    while model.num_timesteps < cfg.total_timesteps:
        vec_env.seed(segment_seeds(cfg.seed, evals, 1)[0])  # sub-env i: that seed + i
        model._last_obs = None  # SB3 resets (with those seeds) at the start of learn()
        steps = min(segment, cfg.total_timesteps - model.num_timesteps)
        model.learn(steps, callback=_Bar(), reset_num_timesteps=False)
        step = int(model.num_timesteps)
        summary, _ = evaluate_policy(
            task, policy, cfg.eval_episodes, cfg.seed + cfg.eval_seed_offset, env=eval_env
        )
        name = f"checkpoints/SAC_model_{step}_{summary['norm_episode_reward']:.2f}.zip"
        (ctx.run_dir / "checkpoints").mkdir(exist_ok=True)
        _save_model(model, ctx.run_dir / name)
        ctx.record_eval(step, summary, phase="online", checkpoint=name)
        evals += 1
        bar.set_postfix(score=summary["norm_episode_reward"])
        if evals % cfg.resume_every == 0 and model.num_timesteps < cfg.total_timesteps:
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


def load_policy(checkpoint: Path, spec: RunSpec) -> Policy:
    """An SB3 ``.zip`` checkpoint as a deterministic Policy."""
    from stable_baselines3 import SAC

    checkpoint = Path(checkpoint)
    if not checkpoint.exists():
        raise MaqError(f"checkpoint {checkpoint} does not exist")
    return SB3Policy(SAC.load(checkpoint, device=str(resolve_device(spec.device))))
