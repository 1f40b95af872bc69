"""The seed's dataset format: a pickled list of trajectory dicts, read safely and checked.

Each trajectory holds ``observations (T, obs_dim)``, ``actions (T, act_dim)``, ``rewards (T,)``,
``next_observations (T, obs_dim)`` and ``terminals (T,)``; optional ``timeouts (T,)`` and ``infos``.
In maq's files ``terminals`` marks real terminations only and ``timeouts`` marks truncations
(docs/decisions.md). Files made by the authors' release have no ``timeouts`` and set ``terminals =
1`` on
each trajectory's last step as a *boundary* flag; :func:`load_trajectories` reads those as
truncations.

Pickles are read by :class:`RestrictedUnpickler`, which admits only numpy arrays, dtypes and scalars
and builtin containers, so a pickle that would run code is rejected without running anything.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from maq.errors import DatasetError
from maq.io import atomic_write_bytes

REQUIRED_KEYS = ("observations", "actions", "rewards", "next_observations", "terminals")
OPTIONAL_KEYS = ("timeouts", "infos")

Trajectory = dict[str, Any]
"""One trajectory: the keys above mapped to numpy arrays (``infos`` may be a dict)."""

# (module, name) pairs a dataset pickle may reference: numpy array reconstruction and builtins.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("collections", "OrderedDict"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, dtypes, scalars and builtin containers; refuses everything else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS or module.startswith("numpy.dtypes"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"it references {module}.{name}, which a dataset may not contain "
            "(only numpy arrays, dtypes and builtin containers are allowed)"
        )


def safe_load_pickle(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def _read_pickle(path: Path) -> Any:
    if not str(path):
        raise DatasetError("no dataset path was given")
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    if path.suffix != ".pkl":
        raise DatasetError(f"{path} does not end in .pkl")
    try:
        return safe_load_pickle(path.read_bytes())
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        MemoryError,
    ) as exc:
        raise DatasetError(f"{path} cannot be unpickled safely: {exc}") from None


def _is_binary(x: np.ndarray) -> bool:
    return x.dtype == bool or bool(np.isin(x, (0, 1)).all())


def _check_array(i: int, key: str, x: Any, ndim: int) -> np.ndarray:
    where = f"trajectory {i}, key {key!r}"
    if not isinstance(x, np.ndarray):
        raise DatasetError(f"{where}: expected a numpy array, got {type(x).__name__}")
    if x.size == 0 or len(x) == 0:
        raise DatasetError(f"{where}: is empty")
    if x.ndim != ndim:
        shape = "(T, dim)" if ndim == 2 else "(T,)"
        raise DatasetError(f"{where}: expected a {ndim}-D array {shape}, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DatasetError(f"{where}: expected numbers, got dtype {x.dtype}")
    if x.dtype != bool and not np.isfinite(x).all():
        raise DatasetError(f"{where}: contains NaN or infinite values")
    return x


def check_trajectories(trajs: Any, obs_dim: int | None = None, act_dim: int | None = None) -> None:
    """Raise :class:`DatasetError` naming the trajectory and key of the first problem found."""
    if not isinstance(trajs, list | tuple):
        raise DatasetError(f"expected a list of trajectory dicts, got {type(trajs).__name__}")
    if len(trajs) == 0:
        raise DatasetError("contains no trajectories")
    dims: tuple[int, int] | None = None
    for i, traj in enumerate(trajs):
        if not isinstance(traj, dict):
            raise DatasetError(f"trajectory {i}: expected a dict, got {type(traj).__name__}")
        missing = [k for k in REQUIRED_KEYS if k not in traj]
        if missing:
            raise DatasetError(f"trajectory {i}: missing required key(s) {', '.join(missing)}")
        arrays = {
            k: _check_array(i, k, traj[k], 2)
            for k in ("observations", "actions", "next_observations")
        }
        for k in ("rewards", "terminals") + (("timeouts",) if "timeouts" in traj else ()):
            arrays[k] = _check_array(i, k, traj[k], 1)
        length = len(arrays["observations"])
        for k, x in arrays.items():
            if len(x) != length:
                raise DatasetError(
                    f"trajectory {i}, key {k!r}: has {len(x)} steps but 'observations' has {length}"
                )
        for k in ("terminals", "timeouts"):
            if k in arrays and not _is_binary(arrays[k]):
                raise DatasetError(f"trajectory {i}, key {k!r}: must hold only 0/1 values")
        o, a = arrays["observations"].shape[1], arrays["actions"].shape[1]
        if arrays["next_observations"].shape[1] != o:
            raise DatasetError(
                f"trajectory {i}, key 'next_observations': has dim "
                f"{arrays['next_observations'].shape[1]} but 'observations' has dim {o}"
            )
        if obs_dim is not None and o != obs_dim:
            raise DatasetError(
                f"trajectory {i}, key 'observations': has dim {o}, the task needs {obs_dim}"
            )
        if act_dim is not None and a != act_dim:
            raise DatasetError(
                f"trajectory {i}, key 'actions': has dim {a}, the task needs {act_dim}"
            )
        if dims is not None and (o, a) != dims:
            raise DatasetError(
                f"trajectory {i}: has (obs, action) dims {(o, a)} but trajectory 0 has {dims}"
            )
        dims = (o, a)


def _from_release_format(traj: Trajectory) -> Trajectory:
    """Release files mark each trajectory's end in ``terminals``: read it as a truncation."""
    traj = dict(traj)
    traj["timeouts"] = np.asarray(traj["terminals"]).astype(np.float32)
    traj["terminals"] = np.zeros_like(traj["timeouts"])
    return traj


def load_trajectories(
    path: str | os.PathLike, obs_dim: int | None = None, act_dim: int | None = None
) -> list[Trajectory]:
    """Load and check a dataset file; raises :class:`DatasetError` with the reason if illegal.

    Files without a ``timeouts`` key (the authors' release) get their boundary ``terminals``
    turned into ``timeouts`` (docs/decisions.md: trajectory ends are truncations).
    """
    path = Path(path)
    trajs = _read_pickle(path)
    try:
        check_trajectories(trajs, obs_dim, act_dim)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    return [t if "timeouts" in t else _from_release_format(t) for t in trajs]


def save_trajectories(trajs: list[Trajectory], path: str | os.PathLike) -> Path:
    """Check and write trajectories atomically (a crash never leaves a half-written file)."""
    check_trajectories(trajs)
    path = Path(path)
    atomic_write_bytes(path, pickle.dumps(list(trajs), protocol=4))
    return path
