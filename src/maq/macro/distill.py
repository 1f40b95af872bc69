"""MAQ stage 1 end to end: distill the VQ-VAE and the code prior into ``MAQ/log/<env>_<suffix>/``.

``maq train --method MAQ`` runs :func:`train_from_spec`; every MAQ+X method calls
:func:`ensure_distilled`, which reuses a finished distillation (``done.json``) instead of
retraining. The folder holds ``config.json``, TensorBoard events, ``progress.csv`` (losses, code
usage), ``model_<epoch>_<test MSE>.pth`` and ``prior_model_<epoch>_<test acc %>.pth`` every
``eval_every`` epochs, and ``metrics.json`` with the held-out quality (:mod:`maq.macro.quality`).
Downstream code loads the last epoch's checkpoints, as the release does (reference-spec §3.3).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

from maq.data.format import load_trajectories
from maq.data.windows import make_windows
from maq.envs import get_task
from maq.errors import MaqError
from maq.io import atomic_write_json
from maq.macro.adapter import MacroPolicyAdapter
from maq.macro.config import DistillConfig, config_mismatch, distill_config
from maq.macro.fit import (
    WindowData,
    code_usage,
    encoder_outputs,
    reinit_dead_codes,
    train_prior,
    train_vqvae,
)
from maq.macro.prior import CodePrior
from maq.macro.quality import held_out_metrics, reconstruction_mse
from maq.macro.vqvae import VQVAE
from maq.policy import Policy
from maq.runs import load_checkpoint
from maq.seeding import resolve_device, seed_everything
from maq.spec import RunSpec
from maq.train.common import RunContext

METHOD = "MAQ"
_MODEL_RE = re.compile(r"^model_(\d+)_.*\.pth$")
_PRIOR_RE = re.compile(r"^prior_model_(\d+)_.*\.pth$")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def distill_dir(spec: RunSpec) -> Path:
    """The distillation folder that ``spec`` (any MAQ method) uses."""
    from maq.methods import METHODS

    return METHODS[METHOD].run_dir(dataclasses.replace(spec, method=METHOD))


def window_data(
    trajs: list, seq_len: int, dtype: torch.dtype, device: torch.device, what: str
) -> WindowData:
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


def _distill(ctx: RunContext, cfg: DistillConfig) -> dict:
    """Train the VQ-VAE, then the prior (and the baseline); write checkpoints and metrics.json."""
    task = get_task(cfg.env_id)
    device, dtype = torch.device(cfg.device), _DTYPES[cfg.dtype]
    seed_everything(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    train = window_data(
        load_trajectories(cfg.training_dataset, task.obs_dim, task.act_dim),
        cfg.seq_len,
        dtype,
        device,
        "train",
    )
    test = window_data(
        load_trajectories(cfg.testing_dataset, task.obs_dim, task.act_dim),
        cfg.seq_len,
        dtype,
        device,
        "test",
    )
    vqvae = VQVAE(task.obs_dim, task.act_dim, cfg.seq_len, cfg.codebook_size, cfg.hidden_size).to(
        device=device, dtype=dtype
    )
    logger, times = ctx.logger, {}
    assert logger is not None

    def vqvae_epoch(epoch: int, metrics: dict[str, float]) -> None:
        logger.log(epoch, {f"train/{k}": v for k, v in metrics.items()})
        if epoch % cfg.eval_every and epoch != cfg.epochs:
            return
        test_mse = reconstruction_mse(vqvae, test)
        usage = code_usage(vqvae.nearest_code(encoder_outputs(vqvae, train)), cfg.codebook_size)
        ctx.save_checkpoint(
            f"model_{epoch}_{test_mse:.6f}.pth",
            epoch,
            {"vqvae": vqvae.state_dict(), "hparams": vqvae.hparams()},
        )
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

    start = time.perf_counter()
    train_vqvae(
        vqvae,
        train,
        beta=cfg.beta,
        lr=cfg.lr,
        epochs=cfg.epochs,
        decay_every=cfg.lr_decay_every,
        batch_size=cfg.batch_size,
        generator=generator,
        on_epoch_end=vqvae_epoch,
    )
    times["vqvae_s"] = time.perf_counter() - start

    # The prior learns the frozen encoder's labels (reference-spec §3.4).
    train_codes, test_codes = vqvae.encode(*train), vqvae.encode(*test)
    prior = CodePrior(task.obs_dim, cfg.codebook_size, cfg.prior_hidden_size).to(device, dtype)

    def prior_epoch(epoch: int, metrics: dict[str, float]) -> None:
        logger.log(epoch, {f"prior/train_{k}": v for k, v in metrics.items()})
        if epoch % cfg.eval_every and epoch != cfg.prior_epochs:
            return
        with torch.no_grad():
            acc = float((prior(test.states).argmax(1) == test_codes).float().mean())
        ctx.save_checkpoint(
            f"prior_model_{epoch}_{int(acc * 100)}.pth",
            epoch,
            {"prior": prior.state_dict(), "hparams": prior.hparams()},
        )
        logger.log(epoch, {"prior/test_accuracy": acc})
        logger.flush()

    start = time.perf_counter()
    train_prior(
        prior,
        train.states,
        train_codes,
        lr=cfg.prior_lr,
        epochs=cfg.prior_epochs,
        decay_every=cfg.prior_lr_decay_every,
        batch_size=cfg.batch_size,
        generator=generator,
        on_epoch_end=prior_epoch,
    )
    times["prior_s"] = time.perf_counter() - start

    start = time.perf_counter()
    metrics = held_out_metrics(cfg, vqvae, prior, train, test, train_codes, test_codes, generator)
    times["baseline_and_metrics_s"] = time.perf_counter() - start
    metrics["time"] = times
    atomic_write_json(ctx.run_dir / "metrics.json", metrics)
    return metrics


def ensure_distilled(spec: RunSpec, train_path: Path, test_path: Path) -> Path:
    """Distill (VQ-VAE and prior) into the ``MAQ`` run folder of ``spec`` unless already done.

    ``spec.overwrite`` retrains only when ``spec.method`` is ``MAQ`` itself: an MAQ+X run with
    ``--overwrite`` retrains its learner, not the distillation it builds on.
    """
    from filelock import FileLock

    run_dir = distill_dir(spec)
    cfg = distill_config(spec, train_path, test_path, str(resolve_device(spec.device)))
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(run_dir.parent / f".{run_dir.name}.lock")):  # parallel MAQ+X runs
        overwrite = spec.overwrite and spec.method == METHOD
        finished = (run_dir / "done.json").exists()
        if finished and not overwrite:
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
        threads = torch.get_num_threads()
        torch.set_num_threads(cfg.num_threads)
        try:
            metrics = _distill(ctx, cfg)
        finally:
            torch.set_num_threads(threads)
        ctx.finish({"test": metrics["test"], "time": metrics["time"]})
    return run_dir


def train_from_spec(spec: RunSpec) -> Path:
    """``maq train --method MAQ``: resolve the split files, then :func:`ensure_distilled`."""
    from maq.data.resolve import resolve_datasets

    train, test = resolve_datasets(
        spec.env_id, spec.seed, spec.root, spec.training_source, spec.testing_source
    )
    return ensure_distilled(spec, train, test)


# --------------------------------------------------------------------------- loading
def _how_to_make(run_dir: Path) -> str:
    m = re.match(r"^(.+)_seed(\d+)_sq(\d+)_k(\d+)(?:_(.+))?$", Path(run_dir).name)
    if not m:
        return "`maq train --method MAQ` with the run's flags"
    env, seed, seq, k, tag = m.groups()
    tag_flag = f" --tag {tag}" if tag else ""
    return (
        f"`maq train --method MAQ --environment {env} --sequence_length {seq} "
        f"--codebook_size {k} --seed {seed}{tag_flag}`"
    )


def _last_checkpoint(run_dir: Path, pattern: re.Pattern, what: str) -> Path:
    run_dir = Path(run_dir)
    if not (run_dir / "done.json").exists():
        state = "did not finish" if run_dir.exists() else "does not exist"
        raise MaqError(f"the distillation {run_dir} {state}; make it with {_how_to_make(run_dir)}")
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := pattern.match(p.name))]
    if not found:
        raise MaqError(
            f"{run_dir} has no {what} checkpoint; remake it with "
            f"{_how_to_make(run_dir)} --overwrite"
        )
    return max(found)[1]  # the last epoch, not the lowest loss (reference-spec §3.3)


def _frozen(module: torch.nn.Module, device: str | torch.device) -> torch.nn.Module:
    module = module.to(device=device, dtype=torch.float32).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def load_vqvae(run_dir: Path, device: str | torch.device = "cpu") -> VQVAE:
    """The last-epoch VQ-VAE of a finished distillation: eval mode, frozen, float32."""
    payload = load_checkpoint(_last_checkpoint(run_dir, _MODEL_RE, "VQ-VAE"), "cpu")
    vqvae = VQVAE(**payload["state"]["hparams"])
    vqvae.load_state_dict({k: v.float() for k, v in payload["state"]["vqvae"].items()})
    return _frozen(vqvae, device)


def load_prior(
    run_dir: Path, device: str | torch.device = "cpu", checkpoint: Path | None = None
) -> CodePrior:
    """The last-epoch code prior (or ``checkpoint``): eval mode, frozen, float32."""
    path = checkpoint or _last_checkpoint(run_dir, _PRIOR_RE, "prior")
    payload = load_checkpoint(path, "cpu")
    prior = CodePrior(**payload["state"]["hparams"])
    prior.load_state_dict({k: v.float() for k, v in payload["state"]["prior"].items()})
    return _frozen(prior, device)


def load_prior_policy(checkpoint: Path, spec: RunSpec) -> Policy:
    """Method ``MAQ`` alone as a policy: the prior's argmax code, decoded and played open-loop.

    ``checkpoint`` is the distillation folder or a file in it (a ``prior_model_*`` file picks that
    prior; anything else uses the last one).
    """
    checkpoint = Path(checkpoint)
    run_dir = checkpoint if checkpoint.is_dir() else checkpoint.parent
    device = resolve_device(spec.device)
    vqvae = load_vqvae(run_dir, device)
    prior_file = checkpoint if _PRIOR_RE.match(checkpoint.name) else None
    prior = load_prior(run_dir, device, prior_file)

    @torch.no_grad()
    def choose_code(obs: np.ndarray) -> int:
        state = torch.as_tensor(obs, dtype=torch.float32, device=device).reshape(1, -1)
        return int(prior(state).argmax(dim=1).item())

    return MacroPolicyAdapter(choose_code, vqvae, device)
