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

INITS = ("torch", "xavier")
"""``torch``: PyTorch's nn.Linear default (the MAQ release's nets); ``xavier``: Xavier-uniform
weights and zero biases (RLPD's ``default_init``)."""


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


class Linear(nn.Linear):
    """nn.Linear (same parameters and state_dict keys) whose bias joins the next op's kernel
    under torch.compile.

    Eager: ``addmm`` (bias and matmul in one call). Compiled: ``x @ Wᵀ + b``, so TorchInductor
    adds the bias inside the following ReLU/LayerNorm kernel instead of first copying it into
    the output buffer, one less pass over every activation (docs/benchmarks.md).
    """

    def forward(self, x: Tensor) -> Tensor:
        if torch.compiler.is_compiling():
            return x @ self.weight.T + self.bias
        return F.linear(x, self.weight, self.bias)


def mlp(
    in_dim: int,
    hidden_dims: tuple[int, ...],
    out_dim: int,
    layer_norm: bool = False,
    init: str = "torch",
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """Linear → [LayerNorm] → ReLU per hidden layer, then a linear output layer (weights drawn
    from ``generator`` if given)."""
    layers: list[nn.Module] = []
    dims = (in_dim, *hidden_dims)
    for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
        layers.append(Linear(d_in, d_out))
        if layer_norm:
            layers.append(nn.LayerNorm(d_out))
        layers.append(nn.ReLU())
    layers.append(Linear(dims[-1], out_dim))
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
            if torch.compiler.is_compiling():  # the bias add joins the next kernel (see Linear)
                x = torch.bmm(x, w) + b
            else:
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
    forward and backward passes together without the autograd engine (IQL +15%, RLPD −13% per env
    step against compiled forwards and ``backward()``, docs/benchmarks.md); ``loss_fn`` must then
    be traceable (no ``.item()``, no ``torch.Generator`` draws: pass noise in as an argument).
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


class FusedAdam(torch.optim.Adam):
    """``torch.optim.Adam(fused=True)`` whose ``step`` calls the fused kernel directly.

    Same update (the same kernel with the same arguments) and the same state_dict, without
    ``Adam.step``'s per-tensor bookkeeping, which costs about as much as the kernel itself for
    the small networks here (docs/benchmarks.md):

    * groups with equal hyperparameters share one kernel call;
    * parameters with the same step count share one counter tensor, so counting a step is one
      ``add_`` rather than one per tensor (a parameter left without a gradient gets its own
      counter back before the others move on);
    * the kernel calls' tensor lists are built once and reused while the same parameters have
      gradients and the same groups share hyperparameters (learning rates are read at every
      step, so a schedule costs nothing). State is changed through the optimizer only:
      ``step``, ``load_state_dict`` or ``add_param_group``.

    A step that creates state (the first one, or a parameter's first gradient) is Adam's own.
    Plain Adam only: no AMSGrad, weight decay, maximize or tensor learning rates.
    """

    def __init__(self, params, lr: float):
        self._plan: tuple[tuple, list] | None = None
        super().__init__(params, lr=lr, fused=True)
        for g in self.param_groups:
            if g["weight_decay"] or g["amsgrad"] or g["maximize"] or torch.is_tensor(g["lr"]):
                raise ValueError("FusedAdam is plain Adam: no weight decay, AMSGrad, maximize")

    def add_param_group(self, param_group: dict) -> None:
        self._plan = None
        super().add_param_group(param_group)

    def load_state_dict(self, state_dict: dict) -> None:
        self._plan = None
        super().load_state_dict(state_dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none:
            return super().zero_grad(set_to_none=False)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None
        return None

    def _counters(self, group: dict) -> tuple[list[Tensor], list[Tensor]] | None:
        """The group's parameters with a gradient and their step counters, one tensor shared by
        all with the same count (None: some have no state yet)."""
        params = [p for p in group["params"] if p.grad is not None]
        states = [self.state[p] for p in params]
        if not all(states):
            return None
        for p in group["params"]:  # one without a gradient keeps its own count
            if p.grad is None and "step" in self.state.get(p, {}):
                mine = self.state[p]["step"]
                if any(s["step"] is mine for s in states):
                    self.state[p]["step"] = mine.clone()
        _share_counters(states)
        return params, [s["step"] for s in states]

    def _signature(self) -> tuple:
        """What the kernel calls' tensor lists depend on: which parameters have gradients and
        which groups share hyperparameters (not the values, so an lr schedule keeps the plan)."""
        hypers = [(g["lr"], *g["betas"], g["eps"]) for g in self.param_groups]
        grads = tuple(p.grad is not None for g in self.param_groups for p in g["params"])
        return grads, tuple(hypers.index(h) for h in hypers)

    def _build_plan(self) -> list | None:
        """One entry per kernel call: (the group whose hyperparameters it uses, params, exp_avgs,
        exp_avg_sqs, step counters, the distinct counters); None when some state is missing."""
        calls: dict[int, tuple] = {}
        _, pattern = self._signature()
        for index, group in enumerate(self.param_groups):
            found = self._counters(group)
            if found is None:
                return None
            params, counters = found
            call = calls.setdefault(pattern[index], (pattern[index], [], [], [], [], []))
            call[1].extend(params)
            call[2].extend(self.state[p]["exp_avg"] for p in params)
            call[3].extend(self.state[p]["exp_avg_sq"] for p in params)
            call[4].extend(counters)
        plan = []
        for rep, params, avgs, sqs, counters, _ in calls.values():
            if params:
                distinct = list({id(c): c for c in counters}.values())
                plan.append((rep, params, avgs, sqs, counters, distinct))
        return plan

    @torch.no_grad()
    def begin_external_step(self, params: list[Tensor]) -> dict | None:
        """Count one step of ``params`` for a caller that applies Adam's update itself (maq.native
        updates each critic while its gradients are in cache) and return what that needs:
        ``exp_avg`` and ``exp_avg_sq`` in ``params``' order, ``lr``, ``betas``, ``eps`` and the new
        ``step``. The state stays here, so state_dict and resuming are unchanged. None, counting
        nothing, unless ``params`` are exactly one group's parameters with state (a first
        ``step()`` creates it) and one step count between them."""
        mine = [
            g for g in self.param_groups if {id(p) for p in g["params"]} == {id(p) for p in params}
        ]
        if len(mine) != 1 or len(mine[0]["params"]) != len(params):
            return None
        states = [self.state.get(p, {}) for p in params]
        if not all("step" in s for s in states):
            return None
        _share_counters(states)
        counters = list({id(s["step"]): s["step"] for s in states}.values())
        if len(counters) != 1:  # counts that differ
            return None
        counters[0].add_(1)
        group = mine[0]
        return {
            "exp_avg": [s["exp_avg"] for s in states],
            "exp_avg_sq": [s["exp_avg_sq"] for s in states],
            "lr": float(group["lr"]),
            "betas": tuple(group["betas"]),
            "eps": float(group["eps"]),
            "step": float(counters[0]),
        }

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("FusedAdam.step takes no closure")
        signature = self._signature()
        if self._plan is None or self._plan[0] != signature:
            plan = self._build_plan()
            if plan is None:  # a first step: Adam creates the state, counting per tensor
                self._plan = None
                for state in self.state.values():
                    if "step" in state:
                        state["step"] = state["step"].clone()
                return super().step()
            self._plan = (signature, plan)
        for rep, params, avgs, sqs, counters, distinct in self._plan[1]:
            group = self.param_groups[rep]
            for counter in distinct:
                counter.add_(1)
            torch._fused_adam_(
                params,
                [p.grad for p in params],
                avgs,
                sqs,
                [],
                counters,
                amsgrad=False,
                lr=group["lr"],
                beta1=group["betas"][0],
                beta2=group["betas"][1],
                weight_decay=0.0,
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
        return None


def _share_counters(states: list[dict]) -> None:
    """Give the states with equal step counts one shared counter tensor (after Adam's own
    state-creating step or load_state_dict, each has its own), so counting a step is one add_."""
    if states and any(s["step"] is not states[0]["step"] for s in states):
        shared: dict[float, Tensor] = {}
        for s in states:
            s["step"] = shared.setdefault(float(s["step"]), s["step"])


def adam(params, lr: float) -> FusedAdam:
    """The learners' optimizer: Adam with PyTorch's fused kernel (:class:`FusedAdam`)."""
    return FusedAdam(params, lr)
