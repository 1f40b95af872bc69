"""The offline-to-online loop of IQL and MAQ+IQL: human data first, then online fine-tuning.

``train(run)`` runs ``offline_steps`` updates on the human data, then ``online_steps`` iterations
of one environment decision (a primitive action, or a macro code executed as up to L actions)
followed by one update on a minibatch drawn uniformly from human + online transitions. The human
data is never overwritten (the release's 500k buffer wraps over it, docs/reference-spec.md §12 item
18).
Every training episode is seeded, time limits bootstrap (only terminations stop it), and the
evaluation plays the deterministic policy through :func:`maq.rollout.evaluate_policy`, the same
rollout the evaluator uses. What a method is comes from its preset (maq.presets) and whether the
run acts in codes (maq.train.actions).

Resume: ``resume.pt`` is written after every evaluation of the offline phase, and in the online
phase at the first episode end after an evaluation, so a resumed run starts a fresh,
seeded episode exactly where the uninterrupted run did (docs/offline.md).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from maq.agents.iql import IQL
from maq.buffers import UnionSampler, batch_to_torch
from maq.data import load_trajectories
from maq.envs import TaskSpec, normalized_score
from maq.errors import MaqError
from maq.policy import Policy
from maq.presets import OfflineConfig
from maq.rollout import evaluate_policy
from maq.runs import load_checkpoint
from maq.seeding import derive_seed, seed_everything, torch_threads
from maq.spec import Run
from maq.train.actions import Actions, make_actions
from maq.train.common import RunContext
from maq.train.envgroup import EnvGroup


@dataclass
class LoopState:
    """Counters that a resume restores (``resume.pt`` is only written between episodes)."""

    iteration: int = 0
    """Updates done (offline, then online: one decision and one update each)."""
    env_steps: int = 0
    """Primitive environment steps taken online."""
    episodes: int = 0
    """Training episodes started (episode j resets with ``derive_seed(seed, 4, j)``)."""
    needs_reset: bool = True
    """The next online decision starts a new, seeded episode."""

    def training_step(self, offline_steps: int) -> int:
        """The x-axis of logs and checkpoints: offline updates done + online primitive steps."""
        return min(self.iteration, offline_steps) + self.env_steps


@dataclass
class Training:
    """What one run's iterations touch (built once by :func:`train`)."""

    run: Run
    task: TaskSpec
    loop: OfflineConfig
    ctx: RunContext
    agent: IQL
    sampler: UnionSampler
    actions: Actions
    state: LoopState


def build_agent(run: Run, actions: Actions, with_prior: bool = True) -> IQL:
    """IQL over primitive actions, or over codes with the distillation's prior (MAQ+IQL)."""
    prior = None
    if run.acts_in_codes and with_prior:
        from maq.macro.loading import load_prior

        prior = load_prior(run.distillation, actions.device)
    learner = run.preset.learner
    if not with_prior:  # acting needs no prior
        learner = dataclasses.replace(learner, prior_kl_coef=0.0)
    return IQL(run.task.obs_dim, actions.dim, learner, actions.device, prior, run.spec.seed)


def _build(run: Run) -> Training:
    """Setup: run folder, data (relabelled for codes), learner, buffers."""
    loop, task, seed = run.preset.loop, run.task, run.spec.seed
    config = run.config(testing_dataset=str(run.test_path))
    ctx = RunContext.for_run(run, config=config, config_name="config.yaml")
    seed_everything(seed)
    actions = make_actions(run, torch.device(run.device))
    trajs = load_trajectories(run.train_path, task.obs_dim, task.act_dim)
    offline = actions.human_buffer(trajs, derive_seed(seed, 1))
    capacity = max(1, min(loop.buffer_capacity - len(offline), loop.online_steps))
    online = actions.buffer(capacity, task.obs_dim, derive_seed(seed, 2))
    agent = build_agent(run, actions)
    if loop.normalize_states:  # the train split's statistics (CORL's compute_mean_std)
        obs = np.concatenate([t["observations"] for t in trajs]).astype(np.float64)
        agent.set_state_statistics(obs.mean(0), obs.std(0) + loop.state_std_eps)
    sampler = UnionSampler(offline, online, derive_seed(seed, 3))
    return Training(run, task, loop, ctx, agent, sampler, actions, LoopState())


def train(run: Run) -> Path:
    """Train (or resume) an IQL or MAQ+IQL run into ``run.run_dir``; returns the folder."""
    # ---- 1. setup ------------------------------------------------------------------------------
    t = _build(run)
    resume = t.ctx.start()
    if resume is not None:
        t.agent.load_state_dict(resume["state"]["agent"])
        t.sampler.load_state_dict(resume["state"]["sampler"])
        t.state = LoopState(**resume["state"]["loop"])
    envs, eval_env = EnvGroup(t.actions.make_env, 1), run.make_env()
    try:
        with torch_threads(t.loop.num_threads):
            _iterate(t, envs, eval_env)
    finally:
        envs.close()
        eval_env.close()
    # ---- 7. done -------------------------------------------------------------------------------
    s = t.state
    step = s.training_step(t.loop.offline_steps)
    t.ctx.finish(
        {
            "iterations": s.iteration,
            "env_steps": s.env_steps,
            "training_step": step,
            "compiled": t.agent.compiled,
        }
    )
    return run.run_dir


def _snapshot(run: Training) -> None:
    state = {
        "agent": run.agent.state_dict(),
        "sampler": run.sampler.state_dict(),
        "loop": dataclasses.asdict(run.state),
    }
    run.ctx.save_resume(run.state.training_step(run.loop.offline_steps), state)


def _env_step(run: Training, envs: EnvGroup) -> bool:
    """One online decision: act (sampled), step, store. True if the episode ended."""
    s = run.state
    if s.needs_reset:  # every training episode gets its own seed, so a resume can replay it
        envs.reset([derive_seed(run.run.spec.seed, 4, s.episodes)])
        s.episodes, s.needs_reset = s.episodes + 1, False
    obs = envs.observations.copy()
    action = run.agent.act(torch.as_tensor(obs, device=run.agent.device), deterministic=False)
    action = action.cpu().numpy()
    out = envs.step(action)  # time limits are truncations: they bootstrap (masks = 1)
    run.sampler.second.add(
        obs, action, out.rewards, out.next_observations, out.terminals, out.truncations
    )
    s.env_steps += int(out.primitive_steps.sum())
    s.needs_reset = bool(out.terminals[0] or out.truncations[0])
    return s.needs_reset


def _log_episode(run: Training, envs: EnvGroup, step: int) -> None:
    episodes = envs.pop_episodes()
    for ret, length, success in zip(
        episodes.returns, episodes.lengths, episodes.successes, strict=True
    ):
        run.ctx.logger.log(
            step,
            {
                "train/episode_return": ret,
                "train/normalized_return": normalized_score(run.task, ret),
                "train/episode_length": length,
                "train/success": float(success),
            },
        )


def _evaluate(run: Training, eval_env, step: int, phase: str) -> float:
    """Deterministic episodes with seeds (seed + offset)·200 + i, a checkpoint and a CSV row."""
    loop = run.loop
    policy = run.actions.policy(run.agent)
    base_seed = run.run.spec.seed + loop.eval_seed_offset
    summary, episodes = evaluate_policy(
        run.task, policy, loop.eval_episodes, base_seed, env=eval_env
    )
    name = f"checkpoint_{step}.pt"
    state = {"policy": run.agent.policy_state_dict(), "action_dim": run.actions.dim}
    run.ctx.save_checkpoint(name, step, state)
    run.ctx.record_eval(step, summary, phase, name, episodes=episodes)
    return summary["norm_episode_reward"]


def _iterate(run: Training, envs: EnvGroup, eval_env) -> None:
    loop, s = run.loop, run.state
    total = loop.offline_steps + loop.online_steps
    pending_snapshot, tic, tic_iteration = False, time.perf_counter(), s.iteration
    desc = f"{run.run.spec.method} {run.task.name} seed {run.run.spec.seed}"
    bar = tqdm(total=total, initial=s.iteration, unit="it", desc=desc, dynamic_ncols=True)
    while s.iteration < total:
        # ---- 2-3. online phase: one sampled decision in the env, stored ------------------------
        online = s.iteration >= loop.offline_steps
        episode_ended = online and _env_step(run, envs)
        # ---- 4. one update on a uniform minibatch of human + online transitions ----------------
        batch = batch_to_torch(run.sampler.sample(loop.batch_size), run.agent.device)
        metrics = run.agent.update(batch)
        s.iteration += 1
        step = s.training_step(loop.offline_steps)
        # ---- 5. log ----------------------------------------------------------------------------
        if episode_ended:
            _log_episode(run, envs, step)
        if s.iteration % loop.log_interval == 0:
            now = time.perf_counter()
            rate = (s.iteration - tic_iteration) / max(now - tic, 1e-9)
            bar.update(s.iteration - tic_iteration)
            tic, tic_iteration = now, s.iteration
            run.ctx.logger.log(
                step,
                {
                    **{f"train/{k}": v for k, v in metrics.items()},
                    "time/updates_per_second": rate,
                    "time/env_steps": s.env_steps,
                    "time/iterations": s.iteration,
                },
            )
        # ---- 6. evaluate and checkpoint; resume point (online: at the next episode end) --------
        if s.iteration % loop.eval_interval == 0 or s.iteration == total:
            score = _evaluate(run, eval_env, step, "online" if online else "offline")
            bar.set_postfix(step=step, score=f"{score:.1f}")
            pending_snapshot = s.iteration < total
        if pending_snapshot and (not online or s.needs_reset):
            _snapshot(run)
            pending_snapshot = False
    bar.update(s.iteration - tic_iteration)
    bar.close()


def load_policy(checkpoint: Path, run: Run) -> Policy:
    """The deterministic policy of a ``checkpoint_<step>.pt`` (plus the distillation for codes);
    the learner's settings are the checkpoint's own."""
    payload = load_checkpoint(checkpoint)
    config = payload["config"]
    if "learner" not in config or "policy" not in payload["state"]:
        raise MaqError(
            f"{checkpoint} is not an IQL/MAQ+IQL checkpoint (method {payload['method']})"
        )
    learner = {k: tuple(v) if isinstance(v, list) else v for k, v in config["learner"].items()}
    learner["compile"] = "off"  # acting never differentiates: nothing to compile
    preset = dataclasses.replace(run.preset, learner=type(run.preset.learner)(**learner))
    # The distillation is the one ``run`` resolved under the current run root (as for the online
    # loop), never the absolute path recorded at training time: a run folder that was moved or
    # published (results/) must not pick up a different file that happens to exist there.
    run = dataclasses.replace(run, preset=preset)
    actions = make_actions(run, torch.device(run.device))
    agent = build_agent(run, actions, with_prior=False)
    agent.load_state_dict(payload["state"]["policy"])
    agent.nets.eval()
    return actions.policy(agent)
