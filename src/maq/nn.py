"""Small network building blocks shared by the learners: MLPs and a vectorized MLP ensemble.

:class:`EnsembleMLP` holds the weights of E members stacked as ``(E, in, out)`` tensors and runs
all of them in one batched matmul (``torch.baddbmm``), so a 10-critic ensemble costs a few large
kernels instead of a Python loop over critics (as RLPD's ``nn.vmap`` ensemble does in JAX).
A subset of members can be evaluated by index (REDQ-style target subsets) without running the rest.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

INITS = ("default", "torch", "xavier")
"""``default``: nn.Linear's own init, left as built; ``torch``: the same distribution redrawn
from a given generator (the MAQ release's nets); ``xavier``: Xavier-uniform weights and zero
biases (RLPD's ``default_init``)."""


def _init_linear(
    weight: Tensor, bias: Tensor, init: str, generator: torch.Generator | None = None
) -> None:
    """Initialize one (in, out) weight and its (out,) bias in place (from ``generator`` if
    given, else torch's global RNG)."""
    fan_in = weight.shape[0]
    if init == "torch":  # kaiming_uniform(a=√5) ⇒ U(±1/√fan_in) for weights and biases
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(weight, -bound, bound, generator=generator)
        nn.init.uniform_(bias, -bound, bound, generator=generator)
    elif init == "xavier":
        nn.init.xavier_uniform_(weight.T, generator=generator)
        nn.init.zeros_(bias)
    else:
        raise ValueError(f"unknown init {init!r}; choose one of {INITS}")


def mlp(
    in_dim: int,
    hidden_dims: tuple[int, ...],
    out_dim: int,
    layer_norm: bool = False,
    init: str = "default",
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """Linear → [LayerNorm] → ReLU per hidden layer, then a linear output layer.

    ``init="default"`` keeps nn.Linear's own initialization (drawn from torch's global RNG as
    each layer is built: the MAQ release's VQ-VAE, prior and IQL nets); ``torch``/``xavier``
    redraw every layer with :func:`_init_linear` (from ``generator`` if given).
    """
    layers: list[nn.Module] = []
    dims = (in_dim, *hidden_dims)
    for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
        layers.append(nn.Linear(d_in, d_out))
        if layer_norm:
            layers.append(nn.LayerNorm(d_out))
        layers.append(nn.ReLU())
    layers.append(nn.Linear(dims[-1], out_dim))
    if init != "default":
        for layer in layers:
            if isinstance(layer, nn.Linear):
                with torch.no_grad():
                    _init_linear(layer.weight.T, layer.bias, init, generator)
    return nn.Sequential(*layers)


class EnsembleMLP(nn.Module):
    """E independent MLPs (in → hidden… → out) evaluated together: ``(B, in) → (E, B, out)``."""

    def __init__(
        self,
        num_members: int,
        in_dim: int,
        hidden_dims: tuple[int, ...],
        out_dim: int,
        layer_norm: bool = False,
        init: str = "torch",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.num_members = num_members
        self.layer_norm = layer_norm
        dims = (in_dim, *hidden_dims, out_dim)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.ln_weights = nn.ParameterList()
        self.ln_biases = nn.ParameterList()
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            w = torch.empty(num_members, d_in, d_out)  # (E, in, out)
            b = torch.empty(num_members, 1, d_out)  # (E, 1, out)
            for e in range(num_members):  # each member initialized as its own nn.Linear
                _init_linear(w[e], b[e, 0], init, generator)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))
            if layer_norm and i < len(dims) - 2:
                self.ln_weights.append(nn.Parameter(torch.ones(num_members, 1, d_out)))
                self.ln_biases.append(nn.Parameter(torch.zeros(num_members, 1, d_out)))

    def forward(self, x: Tensor, members: Tensor | None = None) -> Tensor:
        """``x``: (B, in) shared by all members, or (E', B, in) one slice per member.

        ``members``: optional (E',) indices; only those members run. Returns (E', B, out).
        """
        num = self.num_members if members is None else len(members)
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(num, *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if members is not None:
                w, b = w[members], b[members]
            x = torch.baddbmm(b, x, w)
            if i < last:
                if self.layer_norm:
                    g, beta = self.ln_weights[i], self.ln_biases[i]
                    if members is not None:
                        g, beta = g[members], beta[members]
                    x = torch.addcmul(beta, F.layer_norm(x, x.shape[-1:]), g)
                x = F.relu(x)
        return x


COMPILE_MODES = ("auto", "on", "off")
"""``auto`` compiles where torch.compile's backend can build kernels (a C++ compiler on the CPU,
Triton on CUDA), ``on`` always (fails loudly without a compiler), ``off`` never."""


def compile_available(device: torch.device | str) -> bool:
    """Whether TorchInductor can build kernels here (it needs a C/C++ compiler, plus Triton on
    CUDA); slim containers have neither, and eager mode is then the safe choice."""
    import os
    import shutil

    has_cc = bool(os.environ.get("CXX")) or any(shutil.which(c) for c in ("g++", "c++", "clang++"))
    if torch.device(device).type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return False
    return has_cc


def use_compile(mode: str, device: torch.device | str) -> bool:
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile must be one of {COMPILE_MODES}, got {mode!r}")
    return mode == "on" or (mode == "auto" and compile_available(device))


def compile_forward(module: nn.Module) -> nn.Module:
    """Compile ``module.forward`` in place (the module, its parameters and state_dict keys stay
    as they are; each new input shape compiles once)."""
    module.forward = torch.compile(module.forward, dynamic=False)
    return module


class _LossOf(nn.Module):
    """``loss_fn`` as the forward of a module that holds ``module``, so ``functional_call`` can
    swap in the parameters ``torch.func.grad`` differentiates (named ``module.<name>``)."""

    def __init__(self, module: nn.Module, loss_fn):
        super().__init__()
        self.module = module
        self.loss_fn = loss_fn

    def forward(self, *args):
        return self.loss_fn(*args)


class Gradients:
    """Writes the gradients of ``loss_fn(*args) -> (loss, metrics)`` with respect to
    ``module``'s parameters into their ``.grad`` and returns ``metrics``.

    Only ``module``'s parameters get gradients: every other tensor the loss reads (target
    critics, the critics inside an actor loss, a frozen prior) is a constant, so no module has to
    be frozen around the call. Compiled: one ``torch.compile``'d ``torch.func.grad`` graph, the
    forward and backward passes together without the autograd engine (faster than compiled
    forwards plus ``backward()``, docs/benchmarks.md); ``loss_fn`` must then be traceable (no
    ``.item()``, no ``torch.Generator`` draws: pass noise in as an argument).
    Eager: ``torch.autograd.grad``. Both give the same gradients up to float rounding.
    """

    def __init__(self, module: nn.Module, loss_fn, compiled: bool):
        self.params = dict(module.named_parameters())
        self.loss_fn = loss_fn
        self._grad = None
        if compiled:
            holder = _LossOf(module, loss_fn)

            def loss(params: dict[str, Tensor], *args):
                return torch.func.functional_call(holder, params, args)

            self._grad = torch.compile(torch.func.grad(loss, has_aux=True), dynamic=False)

    def __call__(self, *args):
        if self._grad is not None:
            params = {f"module.{k}": p.detach() for k, p in self.params.items()}
            grads, metrics = self._grad(params, *args)
            for k, p in self.params.items():
                p.grad = grads[f"module.{k}"]
            return metrics
        loss, metrics = self.loss_fn(*args)
        grads = torch.autograd.grad(
            loss, list(self.params.values()), allow_unused=True, materialize_grads=True
        )
        for p, g in zip(self.params.values(), grads, strict=True):
            p.grad = g
        return metrics


def adam(params, lr: float) -> torch.optim.Adam:
    """The learners' optimizer: torch.optim.Adam with its fused kernel (one kernel per step)."""
    return torch.optim.Adam(params, lr=lr, fused=True)


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """θ̄ ← (1 − τ)·θ̄ + τ·θ for every parameter (target networks, SAC/IQL)."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.lerp_(s, tau)
