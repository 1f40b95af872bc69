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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from maq.agents.discrete_sac import DiscreteSAC, DiscreteSACConfig
from maq.agents.sac import SAC, SACConfig
from maq.buffers import ReplayBuffer, batch_to_torch, interleave_minibatches
from maq.envs import TaskSpec, get_task, make_env
from maq.methods import get_method
from maq.policy import Policy
from maq.rollout import evaluate_policy
from maq.runs import is_done, load_checkpoint
from maq.seeding import resolve_device, seed_everything
from maq.spec import RunSpec
from maq.train.common import RunContext
from maq.train.envgroup import EnvGroup
from maq.train.online_presets import OnlineConfig, get_preset


@dataclass(frozen=True)
class OnlineRunConfig:
    """Everything that decides an online run's result (written to ``config.json``)."""

    method: str
    env_id: str
    seed: int
    seq_len: int
    codebook_size: int
    tag: str
    preset: str
    training_dataset: str
    """The human train split (offline half of the minibatches; the VQ-VAE's data); '' if unused."""
    vqvae_dir: str
    """The distillation whose VQ-VAE decodes codes (macro presets); '' otherwise."""
    device: str
    loop: OnlineConfig
    learner: SACConfig | DiscreteSACConfig


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
    seq = np.random.SeedSequence([seed, 0x5EED, segment])
    return [int(s) for s in seq.generate_state(num_envs)]


def learner_policy(learner: SAC | DiscreteSAC, vqvae: Any, device: torch.device) -> Policy:
    """The learner's deterministic policy in primitive actions (macro codes decoded, played out)."""

    def greedy(obs: np.ndarray) -> np.ndarray:
        state = torch.as_tensor(obs, dtype=torch.float32, device=device).reshape(1, -1)
        return learner.act(state, deterministic=True)[0].cpu().numpy()

    if vqvae is None:
        return _FunctionPolicy(greedy)
    from maq.macro.adapter import MacroPolicyAdapter

    return MacroPolicyAdapter(lambda obs: int(greedy(obs)), vqvae, device)


@dataclass
class _FunctionPolicy:
    act: Callable[[np.ndarray], np.ndarray]

    def reset(self) -> None:
        pass


def build_learner(rc: OnlineRunConfig, task: TaskSpec, device: torch.device):
    """The learner, its VQ-VAE (None for primitive acting) and the env factory of a run."""
    if not rc.loop.macro:
        learner = SAC(task.obs_dim, task.act_dim, rc.learner, device, seed=rc.seed)
        return learner, None, lambda: make_env(task)
    from maq.macro.distill import load_vqvae
    from maq.macro.env import MacroActionWrapper

    vqvae = load_vqvae(Path(rc.vqvae_dir), device)
    learner = DiscreteSAC(task.obs_dim, vqvae.codebook_size, rc.learner, device, seed=rc.seed)
    return learner, vqvae, lambda: MacroActionWrapper(make_env(task), vqvae, device)


def _buffers(rc: OnlineRunConfig, task: TaskSpec, vqvae: Any):
    """The online replay buffer and the human (offline) one, None when minibatches are online."""
    loop = rc.loop
    seeds = np.random.SeedSequence([rc.seed, 0xB0F]).generate_state(2)
    capacity = loop.buffer_capacity or loop.total_transitions
    shape, dtype = ((), np.int64) if vqvae is not None else ((task.act_dim,), np.float32)
    online = ReplayBuffer(capacity, task.obs_dim, shape, dtype, seed=int(seeds[0]))
    if loop.offline_ratio <= 0:
        return online, None
    from maq.data import load_trajectories

    trajs = load_trajectories(rc.training_dataset, task.obs_dim, task.act_dim)
    if vqvae is None:
        return online, ReplayBuffer.from_trajectories(
            trajs, int(seeds[1]), loop.offline_action_bound
        )
    from maq.macro.relabel import relabel_trajectories

    macro = relabel_trajectories(trajs, vqvae, rc.seq_len)
    offline = ReplayBuffer(len(macro.codes), task.obs_dim, (), np.int64, seed=int(seeds[1]))
    offline.add_transitions(macro, action_field="codes")
    return online, offline


def _run_config(spec: RunSpec) -> OnlineRunConfig:
    preset = get_preset(get_method(spec.method).preset, spec.preset)
    train_path, vqvae_dir = "", ""
    if preset.loop.macro or preset.loop.offline_ratio > 0:
        from maq.data.resolve import resolve_datasets

        train, test = resolve_datasets(
            spec.env_id, spec.seed, spec.root, spec.training_source, spec.testing_source
        )
        train_path = str(train.resolve())
        if preset.loop.macro:
            from maq.macro.distill import ensure_distilled

            vqvae_dir = str(ensure_distilled(spec, train, test).resolve())
    return OnlineRunConfig(
        spec.method,
        spec.env_id,
        spec.seed,
        spec.seq_len,
        spec.codebook_size,
        spec.tag,
        spec.preset,
        train_path,
        vqvae_dir,
        str(resolve_device(spec.device)),
        preset.loop,
        preset.learner,
    )


def train(spec: RunSpec) -> Path:
    """Train (or resume, or skip when finished) one online run; returns its folder."""
    # ---- 1. setup: run folder, config, learner, envs, buffers
    run_dir = get_method(spec.method).run_dir(spec)
    if is_done(run_dir) and not spec.overwrite:
        return run_dir
    rc = _run_config(spec)
    ctx = RunContext(run_dir, method=spec.method, config=rc, overwrite=spec.overwrite)
    threads = torch.get_num_threads()
    torch.set_num_threads(rc.loop.num_threads)
    try:
        _train(ctx, rc)
    finally:
        torch.set_num_threads(threads)
    return run_dir


def _train(ctx: RunContext, rc: OnlineRunConfig) -> None:
    loop, task, device = rc.loop, get_task(rc.env_id), torch.device(rc.device)
    seed_everything(rc.seed)
    learner, vqvae, env_factory = build_learner(rc, task, device)
    online, offline = _buffers(rc, task, vqvae)
    rng = np.random.default_rng([rc.seed, 0xAC7])  # warm-up actions
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
    envs = EnvGroup(env_factory, loop.num_envs)
    envs.reset(segment_seeds(rc.seed, count.evals, loop.num_envs))
    eval_env, policy = make_env(task), learner_policy(learner, vqvae, device)
    minibatches = learner.cfg.utd_ratio
    n_offline = round(loop.batch_size * loop.offline_ratio) if offline is not None else 0
    n_online = loop.batch_size - n_offline
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
            actions = (
                rng.integers(0, vqvae.codebook_size, loop.num_envs)
                if vqvae is not None
                else rng.uniform(-1, 1, (loop.num_envs, task.act_dim)).astype(np.float32)
            )
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
                batch = online.sample(minibatches * n_online)
                if offline is not None:
                    batch = interleave_minibatches(
                        batch, offline.sample(minibatches * n_offline), minibatches
                    )
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
                },
            )
        # ---- 6. evaluate, checkpoint, re-seed the training envs, save the resume point
        final = count.transitions >= loop.total_transitions
        if count.transitions // loop.eval_interval > count.evals or final:
            summary, _ = evaluate_policy(
                task, policy, loop.eval_episodes, rc.seed + loop.eval_seed_offset, env=eval_env
            )
            name = f"model_{count.primitive_steps}_{summary['norm_episode_reward']:.2f}.pth"
            ctx.save_checkpoint(
                name, count.primitive_steps, {"learner": learner.policy_state_dict()}
            )
            ctx.record_eval(count.primitive_steps, summary, phase="online", checkpoint=name)
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
        }
    )


def _episode_metrics(envs: EnvGroup) -> dict[str, float]:
    episodes = envs.pop_episodes()
    if not episodes.returns:
        return {}
    return {
        "train/episode_reward": float(np.mean(episodes.returns)),
        "train/episode_length": float(np.mean(episodes.lengths)),
        "train/success_rate": float(np.mean(episodes.successes)),
    }


def load_policy(checkpoint: Path, spec: RunSpec) -> Policy:
    """A ``model_*.pth`` (or ``resume.pt``) of an online run as a deterministic Policy."""
    payload = load_checkpoint(Path(checkpoint))
    cfg = payload["config"]
    preset = get_preset(get_method(spec.method).preset, cfg["preset"])
    learner_cfg = type(preset.learner)(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in cfg["learner"].items()}
    )
    rc = OnlineRunConfig(
        **{
            **cfg,
            "loop": OnlineConfig(**cfg["loop"]),
            "learner": learner_cfg,
            "device": str(resolve_device(spec.device)),
        }
    )
    learner, vqvae, _ = build_learner(rc, get_task(rc.env_id), torch.device(rc.device))
    learner.load_state_dict(payload["state"]["learner"])
    return learner_policy(learner, vqvae, torch.device(rc.device))
