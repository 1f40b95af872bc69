"""Loading a finished distillation: the last-epoch VQ-VAE and prior, and method ``MAQ``'s policy.

Checkpoint names are made and parsed here: ``model_<epoch>_<test MSE>.pth`` and
``prior_model_<epoch>_<test accuracy %>.pth``. Downstream code uses the **last** epoch, not the
lowest loss, as the release does (docs/reference-spec.md §3.3). Models come back frozen, in eval
mode and
in float32 whatever precision they were trained in.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from maq.errors import MaqError
from maq.macro.adapter import MacroPolicyAdapter
from maq.macro.prior import CodePrior
from maq.macro.vqvae import VQVAE
from maq.policy import LearnerPolicy, Policy
from maq.runs import load_checkpoint

_MODEL_RE = re.compile(r"^model_(\d+)_.*\.pth$")
_PRIOR_RE = re.compile(r"^prior_model_(\d+)_.*\.pth$")


def vqvae_checkpoint_name(epoch: int, test_mse: float) -> str:
    return f"model_{epoch}_{test_mse:.6f}.pth"


def prior_checkpoint_name(epoch: int, test_accuracy: float) -> str:
    return f"prior_model_{epoch}_{int(test_accuracy * 100)}.pth"


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
    return max(found)[1]  # the last epoch, not the lowest loss (docs/reference-spec.md §3.3)


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


def load_prior_policy(checkpoint: Path, run) -> Policy:
    """Method ``MAQ`` alone as a policy: the prior's argmax code, decoded and played open-loop.

    ``checkpoint`` is the distillation folder or a file in it (a ``prior_model_*`` file picks that
    prior; anything else uses the last one). ``run`` is the resolved run (maq.spec.Run).
    """
    checkpoint = Path(checkpoint)
    run_dir = checkpoint if checkpoint.is_dir() else checkpoint.parent
    vqvae = load_vqvae(run_dir, run.device)
    prior_file = checkpoint if _PRIOR_RE.match(checkpoint.name) else None
    prior = load_prior(run_dir, run.device, prior_file)
    greedy = LearnerPolicy(prior, run.device)
    return MacroPolicyAdapter(lambda obs: int(greedy.act(obs)), vqvae, run.device)
