"""MAQ stage 1 end to end: distill the VQ-VAE and the code prior into ``MAQ/log/<env>_<suffix>/``.

``maq train --method MAQ`` runs :func:`train`; every MAQ+X run resolved by maq.methods calls it
first, and it reuses a finished distillation (``done.json``) with the same settings instead of
retraining. The folder holds ``config.json``, TensorBoard events, ``progress.csv`` (losses, code
usage), ``model_<epoch>_<test MSE>.pth`` and ``prior_model_<epoch>_<test acc %>.pth`` every
``eval_every`` epochs, and ``metrics.json`` with the held-out quality (:mod:`maq.macro.quality`).
Downstream code loads the last epoch's checkpoints, as the release does (docs/reference-spec.md
§3.3).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from maq.data.format import load_trajectories
from maq.data.windows import make_windows
from maq.envs import TaskSpec
from maq.errors import MaqError
from maq.io import atomic_write_json
from maq.macro.config import DistillConfig, config_mismatch
from maq.macro.fit import (
    WindowData,
    code_usage,
    encoder_outputs,
    reinit_dead_codes,
    train_prior,
    train_vqvae,
)
from maq.macro.loading import load_prior_policy, prior_checkpoint_name, vqvae_checkpoint_name
from maq.macro.prior import CodePrior
from maq.macro.quality import held_out_metrics, reconstruction_mse
from maq.macro.vqvae import VQVAE
from maq.runs import Logger
from maq.seeding import seed_everything, torch_threads
from maq.spec import Run
from maq.train.common import RunContext

__all__ = ["distill_config", "load_prior_policy", "train", "window_data"]

METHOD = "MAQ"
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def distill_config(run: Run) -> DistillConfig:
    """The run's distillation settings (its preset with overrides) plus the run's identity."""
    s = run.spec
    return dataclasses.replace(
        run.preset.loop,
        env_id=run.task.name,
        seed=s.seed,
        seq_len=s.seq_len,
        codebook_size=s.codebook_size,
        preset=s.preset,
        training_dataset=str(Path(run.train_path).resolve()),
        testing_dataset=str(Path(run.test_path).resolve()),
        device=run.device,
    )


def window_data(
    trajs: list, seq_len: int, dtype: torch.dtype, device: torch.device, what: str
) -> WindowData:
    """The L-step windows of a split as tensors; a clear error if there are none."""
    w = make_windows(trajs, seq_len)
    if len(w.observations) == 0:
        raise MaqError(
            f"the {what} split has no trajectory with {seq_len} steps; "
            "use a smaller --sequence_length"
        )
    return WindowData(
        torch.as_tensor(w.observations, dtype=dtype, device=device),
        torch.as_tensor(w.actions, dtype=dtype, device=device),
    )


def _fit_vqvae(
    ctx: RunContext,
    logger: Logger,
    cfg: DistillConfig,
    train: WindowData,
    test: WindowData,
    generator: torch.Generator,
    bar: tqdm,
) -> VQVAE:
    """Train the VQ-VAE; every ``eval_every`` epochs: test MSE, checkpoint, usage, re-init."""
    obs_dim, act_dim = train.states.shape[1], train.windows.shape[2]
    vqvae = VQVAE(obs_dim, act_dim, cfg.seq_len, cfg.codebook_size, cfg.hidden_size)
    vqvae = vqvae.to(device=train.states.device, dtype=train.states.dtype)

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        logger.log(epoch, {f"train/{k}": v for k, v in metrics.items()})
        bar.update(1)
        if epoch % cfg.eval_every and epoch != cfg.epochs:
            return
        test_mse = reconstruction_mse(vqvae, test)
        ctx.save_checkpoint(
            vqvae_checkpoint_name(epoch, test_mse),
            epoch,
            {"vqvae": vqvae.state_dict(), "hparams": vqvae.hparams()},
        )
        usage = code_usage(vqvae.nearest_code(encoder_outputs(vqvae, train)), cfg.codebook_size)
        log = {
            "eval/reconstruction_mse": test_mse,
            "codes/used_train": usage["codes_used"],
            "codes/perplexity_train": usage["perplexity"],
        }
        log.update({f"codes/usage_train/{k:02d}": n for k, n in enumerate(usage["usage"])})
        if cfg.reinit_dead_codes and epoch < cfg.epochs:  # after saving, as the release
            log["codes/reinitialized"] = reinit_dead_codes(vqvae, train, generator)
        logger.log(epoch, log)
        logger.flush()

    train_vqvae(
        vqvae,
        train,
        beta=cfg.beta,
        lr=cfg.lr,
        epochs=cfg.epochs,
        decay_every=cfg.lr_decay_every,
        batch_size=cfg.batch_size,
        generator=generator,
        on_epoch_end=on_epoch_end,
    )
    return vqvae


def _fit_prior(
    ctx: RunContext,
    logger: Logger,
    cfg: DistillConfig,
    train: WindowData,
    train_codes: torch.Tensor,
    test: WindowData,
    test_codes: torch.Tensor,
    generator: torch.Generator,
    bar: tqdm,
) -> CodePrior:
    """Train the prior on the frozen encoder's codes (docs/reference-spec.md §3.4)."""
    prior = CodePrior(train.states.shape[1], cfg.codebook_size, cfg.prior_hidden_size)
    prior = prior.to(device=train.states.device, dtype=train.states.dtype)

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        logger.log(epoch, {f"prior/train_{k}": v for k, v in metrics.items()})
        bar.update(1)
        if epoch % cfg.eval_every and epoch != cfg.prior_epochs:
            return
        with torch.no_grad():
            acc = float((prior(test.states).argmax(1) == test_codes).float().mean())
        ctx.save_checkpoint(
            prior_checkpoint_name(epoch, acc),
            epoch,
            {"prior": prior.state_dict(), "hparams": prior.hparams()},
        )
        logger.log(epoch, {"prior/test_accuracy": acc})
        logger.flush()

    train_prior(
        prior,
        train.states,
        train_codes,
        lr=cfg.prior_lr,
        epochs=cfg.prior_epochs,
        decay_every=cfg.prior_lr_decay_every,
        batch_size=cfg.batch_size,
        generator=generator,
        on_epoch_end=on_epoch_end,
    )
    return prior


def _distill(ctx: RunContext, cfg: DistillConfig, task: TaskSpec) -> dict:
    """VQ-VAE, then the prior, then the held-out metrics (and baseline) into metrics.json."""
    assert ctx.logger is not None, "call ctx.start() first"
    device, dtype = torch.device(cfg.device), _DTYPES[cfg.dtype]
    seed_everything(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # batches, re-init, prior, baseline
    train, test = (
        window_data(
            load_trajectories(path, task.obs_dim, task.act_dim), cfg.seq_len, dtype, device, what
        )
        for path, what in ((cfg.training_dataset, "train"), (cfg.testing_dataset, "test"))
    )
    clock, times = time.perf_counter(), {}
    desc = f"MAQ distillation {task.name} L{cfg.seq_len} K{cfg.codebook_size} seed {cfg.seed}"
    bar = tqdm(total=cfg.epochs + cfg.prior_epochs, desc=desc, unit="epoch", dynamic_ncols=True)
    vqvae = _fit_vqvae(ctx, ctx.logger, cfg, train, test, generator, bar)
    times["vqvae_s"], clock = time.perf_counter() - clock, time.perf_counter()
    train_codes, test_codes = vqvae.encode(*train), vqvae.encode(*test)
    prior = _fit_prior(ctx, ctx.logger, cfg, train, train_codes, test, test_codes, generator, bar)
    bar.close()
    times["prior_s"], clock = time.perf_counter() - clock, time.perf_counter()
    metrics = held_out_metrics(cfg, vqvae, prior, train, test, train_codes, test_codes, generator)
    times["baseline_and_metrics_s"] = time.perf_counter() - clock
    metrics["time"] = times
    atomic_write_json(ctx.run_dir / "metrics.json", metrics)
    return metrics


def train(run: Run) -> Path:
    """Distill (VQ-VAE and prior) into ``run.run_dir`` unless a finished one with the same
    settings is there; returns the folder.

    Parallel MAQ+X runs of one distillation wait for each other here (a file lock), so it is
    trained once. ``--overwrite`` retrains only for method ``MAQ`` itself (maq.methods).
    """
    from filelock import FileLock

    run_dir = run.run_dir
    cfg = distill_config(run)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(run_dir.parent / f".{run_dir.name}.lock")):
        if (run_dir / "done.json").exists() and not run.spec.overwrite:
            stored = json.loads((run_dir / "config.json").read_text())
            diff = config_mismatch(stored, cfg)
            if diff:
                raise MaqError(
                    f"{run_dir} was distilled with other settings ({'; '.join(diff)}); "
                    "retrain it with `maq train --method MAQ ... --overwrite` or "
                    "use another --tag"
                )
            return run_dir
        # No resume for a ~1-minute job: an unfinished try is started over from scratch.
        ctx = RunContext(
            run_dir,
            method=METHOD,
            config=cfg,
            overwrite=run_dir.exists(),
            eval_csv="eval_unused.csv",
        )  # metrics.json is written whole, at the end
        ctx.start()
        with torch_threads(cfg.num_threads):
            metrics = _distill(ctx, cfg, run.task)
        ctx.finish({"test": metrics["test"], "time": metrics["time"]})
    return run_dir
