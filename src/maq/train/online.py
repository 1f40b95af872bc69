"""The online off-policy loop: RLPD, MAQ+RLPD and MAQ+DSAC (one loop; the preset decides).

``train(run)`` runs one resolved experiment (maq.spec.Run) into its run folder: ``config.json``,
TensorBoard events and ``progress.csv`` (``train/``, ``eval/``, ``time/`` keys),
``experiment_data.csv`` (maq.runs.EVAL_COLUMNS, x-axis in primitive env steps),
``model_<step>_<normalized score>.pth`` at every evaluation, ``resume.pt`` while running and
``done.json`` at the end. A killed run started again with the same command resumes from its last
``resume.pt`` and ends as an uninterrupted one would: the training envs are re-seeded at every
evaluation (``segment_seeds``), so nothing that lives only in memory crosses a resume point.

What differs between methods arrives in the Run: primitive or macro acting (the run's
distillation, maq.train.actions), continuous or discrete SAC, whether minibatches mix in human
transitions (the preset's ``offline_ratio``), and every number (maq.presets).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from maq.agents.discrete_sac import DiscreteSAC
from maq.agents.sac import SAC
from maq.buffers import Batch, ReplayBuffer, batch_to_torch, interleave_minibatches
from maq.data import load_trajectories
from maq.policy import Policy
from maq.presets import OnlineConfig
from maq.rollout import evaluate_policy
from maq.runs import load_checkpoint
from maq.seeding import derive_seed, seed_everything, torch_threads
from maq.spec import Run
from maq.train.actions import Actions, make_actions
from maq.train.common import RunContext
from maq.train.envgroup import EnvGroup, default_env_workers

__all__ = ["build_learner", "load_policy", "segment_seeds", "train"]
_TRAIN_ENVS, _BUFFERS, _WARMUP = 1, 2, 3  # derive_seed streams of a run's seed


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


def build_learner(run: Run, actions: Actions) -> SAC | DiscreteSAC:
    """Continuous SAC over primitive actions, or discrete SAC over the K codes."""
    learner_cls = DiscreteSAC if run.acts_in_codes else SAC
    return learner_cls(run.task.obs_dim, actions.dim, run.preset.learner, run.device, run.spec.seed)


def make_buffers(run: Run, actions: Actions) -> tuple[ReplayBuffer, ReplayBuffer | None]:
    """The online replay buffer and the human one (None when minibatches are all online)."""
    loop: OnlineConfig = run.preset.loop
    seeds = [derive_seed(run.spec.seed, _BUFFERS, i) for i in range(2)]
    online = actions.buffer(
        loop.buffer_capacity or loop.total_transitions, run.task.obs_dim, seeds[0]
    )
    if loop.offline_ratio <= 0:
        return online, None
    trajs = load_trajectories(run.train_path, run.task.obs_dim, run.task.act_dim)
    return online, actions.human_buffer(trajs, seeds[1], loop.offline_action_bound)


def train(run: Run) -> Path:
    """Train (or resume) one online run into ``run.run_dir``; returns the folder."""
    ctx = RunContext.for_run(run)
    with torch_threads(run.preset.loop.num_threads):
        _train(ctx, run)
    return run.run_dir


def _train(ctx: RunContext, run: Run) -> None:
    # ---- 1. setup: learner, envs, buffers (a resume restores them)
    loop, seed, device = run.preset.loop, run.spec.seed, torch.device(run.device)
    seed_everything(seed)
    actions = make_actions(run, device)
    learner = build_learner(run, actions)
    online, offline = make_buffers(run, actions)
    rng = np.random.default_rng(derive_seed(seed, _WARMUP))  # warm-up actions
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
    workers = loop.env_workers or default_env_workers(loop.num_envs)
    envs = EnvGroup(actions.make_env, loop.num_envs, workers)
    envs.reset(segment_seeds(seed, count.evals, loop.num_envs))
    eval_env, policy = run.make_env(), actions.policy(learner)
    desc = f"{run.spec.method} {run.task.name} seed {seed}"
    bar = tqdm(
        total=loop.total_transitions,
        initial=count.transitions,
        unit="tr",
        desc=desc,
        dynamic_ncols=True,
    )
    start_time, start_steps, metrics = time.perf_counter(), count.primitive_steps, {}

    while count.transitions < loop.total_transitions:
        # ---- 2. warm-up (uniform actions or codes) or the learner's stochastic policy
        obs = envs.observations
        if count.transitions < loop.warmup_transitions:
            action = actions.random(rng, loop.num_envs)
        else:
            action = learner.act(torch.as_tensor(obs, device=device)).cpu().numpy()
        # ---- 3. env step and store (truncations bootstrap, terminations do not)
        step = envs.step(action)
        online.add(
            obs, action, step.rewards, step.next_observations, step.terminals, step.truncations
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
            summary = _evaluate_and_save(ctx, run, policy, eval_env, learner, count.primitive_steps)
            best = max(best, summary["episode_reward"])
            count.evals += 1
            envs.reset(segment_seeds(seed, count.evals, loop.num_envs))
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
    ctx: RunContext, run: Run, policy: Policy, eval_env, learner: SAC | DiscreteSAC, step: int
) -> dict[str, float]:
    """Seeded deterministic episodes, a ``model_<step>_<score>.pth`` and the CSV row."""
    loop = run.preset.loop
    summary, episodes = evaluate_policy(
        run.task, policy, loop.eval_episodes, run.spec.seed + loop.eval_seed_offset, env=eval_env
    )
    name = f"model_{step}_{summary['norm_episode_reward']:.2f}.pth"
    ctx.save_checkpoint(name, step, {"learner": learner.policy_state_dict()})
    ctx.record_eval(step, summary, phase="online", checkpoint=name, episodes=episodes)
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


def load_policy(checkpoint: Path, run: Run) -> Policy:
    """A ``model_*.pth`` (or ``resume.pt``) of an online run as a deterministic Policy; the
    learner's settings are the checkpoint's own (acting one observation at a time gains
    nothing from compiling, so it loads eagerly)."""
    import dataclasses

    payload = load_checkpoint(Path(checkpoint))
    stored = {
        k: tuple(v) if isinstance(v, list) else v for k, v in payload["config"]["learner"].items()
    }
    cfg = type(run.preset.learner)
    names = {f.name for f in dataclasses.fields(cfg)}
    learner_cfg = cfg(**{**{k: v for k, v in stored.items() if k in names}, "compile": "off"})
    run = dataclasses.replace(run, preset=dataclasses.replace(run.preset, learner=learner_cfg))
    device = torch.device(run.device)
    actions = make_actions(run, device)
    learner = build_learner(run, actions)
    learner.load_state_dict(payload["state"]["learner"])
    return actions.policy(learner)
