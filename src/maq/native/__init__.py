"""maq's own C kernels for the CPU (``ensemble.c``), built with the system C compiler on first use.

:class:`EnsembleKernels` runs a LayerNorm critic ensemble (:class:`maq.nn.EnsembleMLP`) one member
per thread from start to end: the squared-error loss's gradient for every parameter, and Q of
chosen members. A member's activations then stay in its core's L2 cache between the matrix
products and the LayerNorm passes; TorchInductor's graph streams all members through L3 at
every pass. Each member's Adam and Polyak step runs in the same kernel, right after its gradient.
RLPD's env step at UTD 20 on 2 threads: 153–162 → 130–137 ms (docs/benchmarks.md).
Gradients equal autograd's to float rounding and do not depend on the thread count. At most E
threads work (one member each): with more cores than members, TorchInductor's graph
(``SACConfig.native_critic = False``) may be faster; that was not measured here (2 cores).

The matrix products are BLAS ``sgemm_`` from the MKL inside ``libtorch_cpu`` (Linux x86-64 torch
wheels), so nothing else is installed. The library is compiled once per source, compiler, torch
and CPU into ``$MAQ_CACHE_DIR/native`` (default ``~/.cache/maq/native``) and reused by every
process; where it cannot be built (no compiler, no MKL in torch, not Linux) :func:`library` says
why and the learners use TorchInductor's kernels instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

SOURCE = Path(__file__).with_name("ensemble.c")
FLAGS = (
    "-O3",
    "-march=native",
    "-fopenmp",
    "-shared",
    "-fPIC",
    "-std=c11",
    # Several accumulators for the row sums (reassociation: float rounding may differ from a
    # sequential sum); no other fast-math, so NaN and infinity stay IEEE.
    "-funroll-loops",
    "-fvariable-expansion-in-unroller",
    "-fassociative-math",
    "-fno-signed-zeros",
    "-fno-trapping-math",
    "-fno-math-errno",
)
EPS = 1e-5
"""torch.nn.functional.layer_norm's default, which maq.nn.EnsembleMLP uses."""
MAX_HIDDEN = 16
"""ensemble.c's MAX_LAYERS."""


class NativeUnavailable(RuntimeError):
    """The kernels cannot be built or loaded here; the message says why."""


def cache_dir() -> Path:
    root = os.environ.get("MAQ_CACHE_DIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "maq"
    )
    return Path(root) / "native"


def _torch_cpu_library() -> Path:
    path = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    if not path.exists():
        raise NativeUnavailable(f"{path} not found")
    try:
        has_gemm = hasattr(ctypes.CDLL(str(path)), "sgemm_")
    except OSError as err:
        raise NativeUnavailable(f"cannot load {path}: {err}") from None
    if not has_gemm:
        raise NativeUnavailable("this torch build has no MKL (no sgemm_ in libtorch_cpu)")
    return path


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return platform.processor()


def build(cc: str | None = None, cache: Path | None = None) -> Path:
    """The compiled library's path, compiling it first if this source, compiler, torch and CPU
    have none yet (atomically: concurrent processes never load a half-written file)."""
    if not sys.platform.startswith("linux"):
        raise NativeUnavailable(f"built on Linux only, not {sys.platform}")
    cc = cc or os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise NativeUnavailable("no C compiler (set CC or install gcc)")
    torch_cpu = _torch_cpu_library()
    try:
        version = subprocess.run(
            [cc, "--version"], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise NativeUnavailable(f"C compiler {cc!r} does not run: {err}") from None
    key = hashlib.sha256(
        "\0".join(
            [SOURCE.read_text(), *FLAGS, version, torch.__version__, str(torch_cpu), _cpu_flags()]
        ).encode()
    ).hexdigest()[:20]
    cache = cache or cache_dir()
    out = cache / f"ensemble-{key}.so"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    lib_dir = str(torch_cpu.parent)
    cmd = [cc, *FLAGS, str(SOURCE), "-o", str(tmp), f"-L{lib_dir}", "-ltorch_cpu"]
    cmd += [f"-Wl,-rpath,{lib_dir}", "-lm"]
    try:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as err:
            raise NativeUnavailable(f"{cc} did not compile {SOURCE.name}: {err}") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise NativeUnavailable(f"{cc} failed to compile {SOURCE.name}: {last}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


class _MaqAdam(ctypes.Structure):
    """ensemble.c's MaqAdam."""

    _fields_ = [(name, ctypes.c_void_p) for name in ("params", "exp_avg", "exp_avg_sq", "target")]
    _fields_ += [
        (name, ctypes.c_float)
        for name in ("beta1", "beta2", "step_size", "bias_correction2_sqrt", "eps", "tau")
    ]


@dataclass
class AdamStep:
    """One Adam step (from :meth:`maq.nn.FusedAdam.begin_external_step`) and optionally one Polyak
    step toward ``target`` for :meth:`EnsembleKernels.mse_grad` to apply to each member."""

    exp_avg: list[Tensor]
    exp_avg_sq: list[Tensor]
    lr: float
    betas: tuple[float, float]
    eps: float
    step: float
    target: Any = None
    """An EnsembleMLP shaped like the kernels' one: target ← target + tau·(params − target)."""
    tau: float = 0.0


def _bind(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    p, i64, f32, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
    lib.maq_workspace_floats.restype = i64
    lib.maq_workspace_floats.argtypes = [i64, i64, p]
    lib.maq_ensemble_q.restype = i32
    lib.maq_ensemble_q.argtypes = [i64, i64, i64] + [p] * 6 + [i64, p, p, p, i64, f32, i32]
    lib.maq_ensemble_mse_grad.restype = i32
    lib.maq_ensemble_mse_grad.argtypes = [i64, i64, i64] + [p] * 14 + [i64, f32, i32, p]
    return lib


_LIBRARY: ctypes.CDLL | NativeUnavailable | None = None


def library() -> ctypes.CDLL:
    """The loaded kernels (built on the first call in a process); raises NativeUnavailable."""
    global _LIBRARY
    if _LIBRARY is None:
        try:
            _LIBRARY = _bind(build())
        except (NativeUnavailable, OSError) as err:
            _LIBRARY = err if isinstance(err, NativeUnavailable) else NativeUnavailable(str(err))
    if isinstance(_LIBRARY, NativeUnavailable):
        raise _LIBRARY
    return _LIBRARY


def _pointers(tensors) -> ctypes.Array:
    return (ctypes.c_void_p * len(tensors))(*(t.data_ptr() for t in tensors))


class EnsembleKernels:
    """The kernels bound to one :class:`maq.nn.EnsembleMLP` with LayerNorm and output width 1,
    float32 on the CPU. Reads the parameters at every call (in-place updates and
    ``load_state_dict`` are seen); holds a scratch buffer of (threads, per-thread floats)."""

    def __init__(self, ensemble):
        if not ensemble.layer_norm:
            raise ValueError("EnsembleKernels needs an ensemble with LayerNorm")
        params = list(ensemble.parameters())
        if any(p.device.type != "cpu" or p.dtype != torch.float32 for p in params):
            raise ValueError("EnsembleKernels runs float32 ensembles on the CPU")
        if ensemble.weights[-1].shape[-1] != 1:
            raise ValueError("EnsembleKernels needs an output width of 1")
        if not 1 <= len(ensemble.weights) - 1 <= MAX_HIDDEN:
            raise ValueError(f"EnsembleKernels takes 1 to {MAX_HIDDEN} hidden layers")
        self.lib = library()
        self.ensemble = ensemble
        self.num_hidden = len(ensemble.weights) - 1
        widths = [ensemble.weights[0].shape[1]] + [w.shape[2] for w in ensemble.weights]
        self.dims = torch.tensor(widths, dtype=torch.int64)
        self._work = torch.empty(0)
        self._per_thread: dict[int, int] = {}
        self._params = [p for group in _groups(self.ensemble) for p in group]
        self._addresses: tuple[int, ...] = ()
        self._arrays: tuple[ctypes.Array, ...] = ()
        self._adam_addresses: tuple = ()
        self._adam_arrays: list[ctypes.Array] = []

    def _scratch(self, batch: int) -> tuple[int, int, int]:
        """(pointer, floats per thread, threads) of a scratch buffer for this call."""
        threads = torch.get_num_threads()
        per = self._per_thread.get(batch)
        if per is None:
            per = self.lib.maq_workspace_floats(batch, self.num_hidden, self.dims.data_ptr())
            self._per_thread[batch] = per
        if self._work.numel() < threads * per:
            self._work = torch.empty(threads * per)
        return self._work.data_ptr(), per, threads

    def _parameters(self) -> tuple[ctypes.Array, ...]:
        """Pointer arrays of weights, biases, LayerNorm scales and shifts, rebuilt only when a
        parameter's storage moved."""
        addresses = tuple(p.data_ptr() for p in self._params)
        if addresses != self._addresses:
            if not all(p.is_contiguous() for p in self._params):
                raise ValueError("EnsembleKernels needs contiguous parameters")
            self._arrays = tuple(_pointers(list(group)) for group in _groups(self.ensemble))
            self._addresses = addresses
        return self._arrays

    def _inputs(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.dims[0] or x.dtype != torch.float32:
            raise ValueError(f"inputs must be float32 (B, {int(self.dims[0])}), got {x.shape}")
        return x.contiguous()

    @torch.no_grad()
    def q(self, x: Tensor, members: Tensor) -> Tensor:
        """Q(x) of ``members`` (K,) as (K, B), as ``ensemble(x, members).squeeze(-1)``."""
        x = self._inputs(x)
        members = members.to(torch.int64).contiguous()
        out = x.new_empty(len(members), len(x))
        work, per, threads = self._scratch(len(x))
        status = self.lib.maq_ensemble_q(
            self.ensemble.num_members,
            len(x),
            self.num_hidden,
            self.dims.data_ptr(),
            *self._parameters(),
            members.data_ptr(),
            len(members),
            x.data_ptr(),
            out.data_ptr(),
            work,
            per,
            EPS,
            threads,
        )
        _check(status)
        return out

    @property
    def parameters(self) -> list[Tensor]:
        """The ensemble's parameters in the kernels' order (weights, biases, LayerNorm scales,
        LayerNorm shifts), as ``ensemble.parameters()`` lists them."""
        return list(self._params)

    def _adam(self, adam: AdamStep) -> _MaqAdam:
        """The C struct of one Adam (and Polyak) step. Its pointer arrays are checked against the
        parameters and built only when a tensor's storage moved (kept alive on self)."""
        target = [] if adam.target is None else [p for g in _groups(adam.target) for p in g]
        tensors = [self._params, adam.exp_avg, adam.exp_avg_sq] + ([target] if target else [])
        addresses = tuple(tuple(t.data_ptr() for t in group) for group in tensors)
        if addresses != self._adam_addresses:
            for group in tensors[1:]:
                if len(group) != len(self._params) or any(
                    a.shape != p.shape or not a.is_contiguous() or a.dtype != torch.float32
                    for a, p in zip(group, self._params, strict=True)
                ):
                    raise ValueError("AdamStep tensors must match the ensemble's parameters")
            self._adam_arrays = [_pointers(group) for group in tensors]
            self._adam_addresses = addresses
        arrays = [ctypes.cast(a, ctypes.c_void_p) for a in self._adam_arrays]
        beta1, beta2 = adam.betas
        return _MaqAdam(
            arrays[0],
            arrays[1],
            arrays[2],
            arrays[3] if target else None,
            beta1,
            beta2,
            adam.lr / (1 - beta1**adam.step),
            math.sqrt(1 - beta2**adam.step),
            adam.eps,
            adam.tau,
        )

    @torch.no_grad()
    def mse_grad(self, x: Tensor, y: Tensor, adam: AdamStep | None = None) -> tuple[Tensor, Tensor]:
        """Writes the gradient of Σ_e mean_b (Q_e(x_b) − y_b)² into every parameter's ``.grad``
        and returns (Σ_b Q_e(x_b), Σ_b (Q_e(x_b) − y_b)²), each (E,). With ``adam``, each
        member's parameters then take that Adam step (and its target the Polyak step) inside
        the kernel, while the member's gradients are still in cache."""
        x = self._inputs(x)
        y = y.to(torch.float32).contiguous()
        if y.shape != (len(x),):
            raise ValueError(f"targets must be ({len(x)},), got {tuple(y.shape)}")
        e = self.ensemble
        grads = [[torch.empty_like(p) for p in group] for group in _groups(self.ensemble)]
        q_sum, sq_sum = x.new_empty(e.num_members), x.new_empty(e.num_members)
        work, per, threads = self._scratch(len(x))
        status = self.lib.maq_ensemble_mse_grad(
            e.num_members,
            len(x),
            self.num_hidden,
            self.dims.data_ptr(),
            *self._parameters(),
            x.data_ptr(),
            y.data_ptr(),
            *(_pointers(g) for g in grads),
            q_sum.data_ptr(),
            sq_sum.data_ptr(),
            work,
            per,
            EPS,
            threads,
            None if adam is None else ctypes.byref(self._adam(adam)),
        )
        _check(status)
        for params, group in zip(_groups(self.ensemble), grads, strict=True):
            for p, g in zip(params, group, strict=True):
                p.grad = g
        return q_sum, sq_sum


def _groups(ensemble) -> tuple:
    """An EnsembleMLP's parameter lists in the kernels' order."""
    return (ensemble.weights, ensemble.biases, ensemble.ln_weights, ensemble.ln_biases)


def _check(status: int) -> None:
    if status == -2:
        raise IndexError("EnsembleKernels.q: a member index is out of range")
    if status != 0:
        raise ValueError(f"EnsembleKernels: unsupported network (status {status})")
