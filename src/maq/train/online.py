"""The online off-policy loop: RLPD, MAQ+RLPD and MAQ+DSAC (one loop; the preset decides).

``train(spec)`` runs one experiment into the method's run folder (maq.methods): ``config.json``,
TensorBoard events and ``progress.csv`` (``train/``, ``eval/``, ``time/`` keys),
``experiment_data.csv`` (maq.runs.EVAL_COLUMNS, x-axis in primitive env steps),
``model_<step>_<normalized score>.pth`` at every evaluation, ``resume.pt`` while running and
``done.json`` at the end. A killed run started again with the same command resumes from its last
``resume.pt`` and ends as an uninterrupted one would: the training envs are re-seeded at every
evaluation (``segment_seeds``), so nothing that lives only in memory crosses a resume point.

What differs between methods comes from maq.train.online_presets: primitive or macro acting (the
VQ-VAE of the run's distillation, made first if missing), continuous or discrete SAC, whether
minibatches mix in human transitions, and every number.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from maq.agents.discrete_sac import DiscreteSAC
from maq.agents.sac import SAC
from maq.buffers import Batch, ReplayBuffer, batch_to_torch, interleave_minibatches
from maq.envs import get_task, make_env
from maq.methods import get_method
from maq.policy import Policy
from maq.rollout import evaluate_policy
from maq.runs import is_done
from maq.seeding import derive_seed, seed_everything, torch_threads
from maq.spec import RunSpec
from maq.train.common import RunContext
from maq.train.envgroup import EnvGroup
from maq.train.online_presets import OnlineConfig
from maq.train.online_setup import (
    OnlineRunConfig,
    build_acting,
    learner_policy,
    load_policy,
    make_buffers,
    run_config,
)

__all__ = ["load_policy", "segment_seeds", "train"]
_TRAIN_ENVS, _WARMUP = 1, 3  # derive_seed streams of a run's seed (2: maq.train.online_setup)


@dataclass
class Counters:
    transitions: int = 0
    """Learner transitions so far (macro transitions for macro presets), summed over envs."""
    primitive_steps: int = 0
    """Primitive env steps so far: the x-axis of every log."""
    vector_steps: int = 0
    evals: int = 0


def segment_seeds(seed: int, segment: int, num_envs: int) -> list[int]:
    """Reset seeds of the training envs after evaluation ``segment`` (distinct per run seed)."""
    return [derive_seed(seed, _TRAIN_ENVS, segment, i) for i in range(num_envs)]


def train(spec: RunSpec) -> Path:
    """Train (or resume, or skip when finished) one online run; returns its folder."""
    # ---- 1. setup: run folder, config, learner, envs, buffers
    run_dir = get_method(spec.method).run_dir(spec)
    if is_done(run_dir) and not spec.overwrite:
        return run_dir
    rc = run_config(spec)
    ctx = RunContext(run_dir, method=spec.method, config=rc, overwrite=spec.overwrite)
    with torch_threads(rc.loop.num_threads):
        _train(ctx, rc)
    return run_dir


def _train(ctx: RunContext, rc: OnlineRunConfig) -> None:
    loop, task, device = rc.loop, get_task(rc.env_id), torch.device(rc.device)
    seed_everything(rc.seed)
    acting = build_acting(rc, task, device)
    learner, vqvae = acting.learner, acting.vqvae
    online, offline = make_buffers(rc, task, vqvae)
    rng = np.random.default_rng(derive_seed(rc.seed, _WARMUP))  # warm-up actions
    count, best = Counters(), -np.inf
    resume = ctx.start()
    if resume is not None:
        state = resume["state"]
        learner.load_state_dict(state["learner"])
        online.load_state_dict(state["online"])
        if offline is not None:
            offline.load_state_dict(state["offline"])
        rng.bit_generator.state = state["rng"]
        count, best = Counters(**state["counters"]), state["best"]
    envs = EnvGroup(acting.make_env, loop.num_envs)
    envs.reset(segment_seeds(rc.seed, count.evals, loop.num_envs))
    eval_env, policy = make_env(task), learner_policy(learner, vqvae, device)
    bar = tqdm(
        total=loop.total_transitions,
        initial=count.transitions,
        unit="tr",
        desc=f"{rc.method} {rc.env_id} seed {rc.seed}",
        dynamic_ncols=True,
    )
    start_time, start_steps, metrics = time.perf_counter(), count.primitive_steps, {}

    while count.transitions < loop.total_transitions:
        # ---- 2. warm-up (uniform actions or codes) or the learner's stochastic policy
        obs = envs.observations
        if count.transitions < loop.warmup_transitions:
            actions = acting.random_actions(rng, loop.num_envs)
        else:
            actions = learner.act(torch.as_tensor(obs, device=device)).cpu().numpy()
        # ---- 3. env step and store (truncations bootstrap, terminations do not)
        step = envs.step(actions)
        online.add(
            obs, actions, step.rewards, step.next_observations, step.terminals, step.truncations
        )
        count.transitions += loop.num_envs
        count.primitive_steps += int(step.primitive_steps.sum())
        count.vector_steps += 1
        bar.update(loop.num_envs)
        # ---- 4. UTD updates on mixed minibatches
        if (
            count.transitions >= loop.warmup_transitions
            and count.vector_steps % loop.update_every == 0
        ):
            for _ in range(loop.updates_per_round):
                batch = mixed_batch(online, offline, loop, learner.cfg.utd_ratio)
                metrics = learner.update(batch_to_torch(batch, device))
        # ---- 5. log every log_interval transitions
        if count.transitions % loop.log_interval < loop.num_envs:
            elapsed = time.perf_counter() - start_time
            ctx.logger.log(
                count.primitive_steps,
                {
                    **{f"train/{k}": v for k, v in metrics.items()},
                    **_episode_metrics(envs),
                    "time/primitive_steps_per_s": (count.primitive_steps - start_steps) / elapsed,
                    "time/transitions": count.transitions,
                    "time/elapsed_s": elapsed,
                },
            )
        # ---- 6. evaluate, checkpoint, re-seed the training envs, save the resume point
        final = count.transitions >= loop.total_transitions
        if count.transitions // loop.eval_interval > count.evals or final:
            summary = _evaluate_and_save(ctx, rc, policy, eval_env, learner, count.primitive_steps)
            best = max(best, summary["episode_reward"])
            count.evals += 1
            envs.reset(segment_seeds(rc.seed, count.evals, loop.num_envs))
            bar.set_postfix(steps=count.primitive_steps, score=summary["norm_episode_reward"])
            if count.evals % loop.resume_every == 0 and not final:
                ctx.save_resume(
                    count.primitive_steps,
                    {
                        "learner": learner.state_dict(),
                        "online": online.state_dict(),
                        "offline": None if offline is None else offline.state_dict(False),
                        "rng": rng.bit_generator.state,
                        "counters": dataclasses.asdict(count),
                        "best": best,
                    },
                )
    # ---- 7. done
    bar.close()
    envs.close()
    eval_env.close()
    ctx.finish(
        {
            "transitions": count.transitions,
            "primitive_steps": count.primitive_steps,
            "best_episode_reward": best,
            "compiled": learner.compiled,
            "native_critic": learner.native,
        }
    )


def mixed_batch(
    online: ReplayBuffer, offline: ReplayBuffer | None, loop: OnlineConfig, num_minibatches: int
) -> Batch:
    """``num_minibatches`` consecutive minibatches of ``loop.batch_size``, each with the share
    ``loop.offline_ratio`` of human transitions (RLPD's symmetric sampling) when ``offline``."""
    n_offline = round(loop.batch_size * loop.offline_ratio) if offline is not None else 0
    batch = online.sample(num_minibatches * (loop.batch_size - n_offline))
    if offline is None or n_offline == 0:
        return batch
    return interleave_minibatches(
        batch, offline.sample(num_minibatches * n_offline), num_minibatches
    )


def _evaluate_and_save(
    ctx: RunContext,
    rc: OnlineRunConfig,
    policy: Policy,
    eval_env: gym.Env,
    learner: SAC | DiscreteSAC,
    step: int,
) -> dict[str, float]:
    """Seeded deterministic episodes, a ``model_<step>_<score>.pth`` and the CSV row."""
    loop = rc.loop
    summary, _ = evaluate_policy(
        get_task(rc.env_id),
        policy,
        loop.eval_episodes,
        rc.seed + loop.eval_seed_offset,
        env=eval_env,
    )
    name = f"model_{step}_{summary['norm_episode_reward']:.2f}.pth"
    ctx.save_checkpoint(name, step, {"learner": learner.policy_state_dict()})
    ctx.record_eval(step, summary, phase="online", checkpoint=name)
    return summary


def _episode_metrics(envs: EnvGroup) -> dict[str, float]:
    episodes = envs.pop_episodes()
    if not episodes.returns:
        return {}
    return {
        "train/episode_reward": float(np.mean(episodes.returns)),
        "train/episode_length": float(np.mean(episodes.lengths)),
        "train/success_rate": float(np.mean(episodes.successes)),
    }
