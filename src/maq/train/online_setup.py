"""What an online run is made of: its config, learner, env factory, buffers and policy.

Shared by the loop (:mod:`maq.train.online`) and :func:`load_policy` (the evaluator's entry in
maq.methods). The only choice made here is the one the preset names: primitive acting with
continuous SAC, or macro acting (the run's VQ-VAE) with discrete SAC over its codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch

from maq.agents.discrete_sac import DiscreteSAC, DiscreteSACConfig
from maq.agents.sac import SAC, SACConfig
from maq.buffers import ReplayBuffer
from maq.envs import TaskSpec, get_task, make_env
from maq.methods import get_method
from maq.policy import Policy
from maq.runs import load_checkpoint
from maq.seeding import derive_seed, resolve_device
from maq.spec import RunIdentity, RunSpec
from maq.train.online_presets import OnlineConfig, get_preset

_BUFFERS = 2  # derive_seed stream of the replay buffers (maq.train.online uses 1 and 3)


@dataclass(frozen=True)
class OnlineRunConfig(RunIdentity):
    """Everything that decides an online run's result (written to ``config.json``)."""

    vqvae_dir: str
    """The distillation whose VQ-VAE decodes codes (macro presets); '' otherwise."""
    loop: OnlineConfig
    """The loop's settings (envs, budgets, batch, buffers, evaluation)."""
    learner: SACConfig | DiscreteSACConfig
    """The learner's hyperparameters."""


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


class Acting(NamedTuple):
    """How a run acts: primitive actions with continuous SAC, or codes with discrete SAC."""

    learner: SAC | DiscreteSAC
    vqvae: Any
    """The run's frozen VQ-VAE (macro acting), else None."""
    make_env: Callable[[], gym.Env]
    """A training env: the task's, wrapped in maq.macro.env.MacroActionWrapper for codes."""
    random_actions: Callable[[np.random.Generator, int], np.ndarray]
    """Warm-up actions for n envs: uniform in [−1, 1]^A, or uniform codes."""


def build_acting(rc: OnlineRunConfig, task: TaskSpec, device: torch.device) -> Acting:
    if not rc.loop.macro:
        return Acting(
            SAC(task.obs_dim, task.act_dim, rc.learner, device, seed=rc.seed),
            None,
            lambda: make_env(task),
            lambda rng, n: rng.uniform(-1, 1, (n, task.act_dim)).astype(np.float32),
        )
    from maq.macro.distill import load_vqvae
    from maq.macro.env import MacroActionWrapper

    vqvae = load_vqvae(Path(rc.vqvae_dir), device)
    k = vqvae.codebook_size
    return Acting(
        DiscreteSAC(task.obs_dim, k, rc.learner, device, seed=rc.seed),
        vqvae,
        lambda: MacroActionWrapper(make_env(task), vqvae, device),
        lambda rng, n: rng.integers(0, k, n),
    )


def make_buffers(rc: OnlineRunConfig, task: TaskSpec, vqvae: Any):
    """The online replay buffer and the human (offline) one, None when minibatches are online."""
    loop = rc.loop
    seeds = [derive_seed(rc.seed, _BUFFERS, i) for i in range(2)]
    capacity = loop.buffer_capacity or loop.total_transitions
    shape, dtype = ((), np.int64) if vqvae is not None else ((task.act_dim,), np.float32)
    online = ReplayBuffer(capacity, task.obs_dim, shape, dtype, seed=seeds[0])
    if loop.offline_ratio <= 0:
        return online, None
    from maq.data import load_trajectories

    trajs = load_trajectories(rc.training_dataset, task.obs_dim, task.act_dim)
    if vqvae is None:
        return online, ReplayBuffer.from_trajectories(trajs, seeds[1], loop.offline_action_bound)
    from maq.macro.relabel import relabel_trajectories

    macro = relabel_trajectories(trajs, vqvae, rc.seq_len)
    offline = ReplayBuffer(len(macro.codes), task.obs_dim, (), np.int64, seed=seeds[1])
    offline.add_transitions(macro, action_field="codes")
    return online, offline


def run_config(spec: RunSpec) -> OnlineRunConfig:
    """The run's config: its preset, data files and (macro presets) a finished distillation."""
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
        **spec.identity(train_path, str(resolve_device(spec.device))),
        vqvae_dir=vqvae_dir,
        loop=preset.loop,
        learner=preset.learner,
    )


def load_policy(checkpoint: Path, spec: RunSpec) -> Policy:
    """A ``model_*.pth`` (or ``resume.pt``) of an online run as a deterministic Policy."""
    payload = load_checkpoint(Path(checkpoint))
    cfg = payload["config"]
    preset = get_preset(get_method(spec.method).preset, cfg["preset"])
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg["learner"].items()}
    # Acting one observation at a time gains nothing from compiling: load eagerly.
    learner_cfg = type(preset.learner)(**{**fields, "compile": "off"})
    rc = OnlineRunConfig(
        **{
            **cfg,
            "loop": OnlineConfig(**cfg["loop"]),
            "learner": learner_cfg,
            "device": str(resolve_device(spec.device)),
        }
    )
    acting = build_acting(rc, get_task(rc.env_id), torch.device(rc.device))
    acting.learner.load_state_dict(payload["state"]["learner"])
    return learner_policy(acting.learner, acting.vqvae, torch.device(rc.device))
