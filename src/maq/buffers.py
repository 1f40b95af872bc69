"""Replay buffers: a numpy ring buffer of transitions, named batches, and 50/50 symmetric mixing.

Shared by the online loop (SAC, RLPD, MAQ+RLPD, MAQ+DSAC) and the offline loop (IQL, MAQ+IQL).
A transition is (observation, action, reward, next observation, terminal, truncation); the action
is a primitive action vector or a macro code (store it with ``action_shape=()`` and an integer
dtype). Terminations and truncations are stored apart (style rule 7): only a termination stops
bootstrapping, so a batch carries ``masks = 1 − terminal``.

Every buffer owns its ``np.random.Generator`` (style rule 8); :meth:`ReplayBuffer.state_dict`
holds it, so a resumed run samples exactly what an uninterrupted one would.

On a GPU the data also lives on the training device (:meth:`ReplayBuffer.mirror`): the host draws
only the indices, from the same generator, and the rows are gathered where the learner is, so a
minibatch never crosses the bus and holds exactly the transitions the CPU path would sample.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch


class Batch(NamedTuple):
    """A minibatch of transitions (numpy arrays or torch tensors), leading dim = batch size."""

    observations: Any
    """(B, obs_dim) float32: s."""
    actions: Any
    """(B, act_dim) float32 primitive actions, or (B,) int64 macro codes."""
    rewards: Any
    """(B,) float32: r (for a macro transition, the undiscounted sum of its primitive rewards)."""
    next_observations: Any
    """(B, obs_dim) float32: the state after the transition (s_{t+L} for a macro transition)."""
    masks: Any
    """(B,) float32: 0 where the episode terminated inside the transition, else 1 (truncations
    bootstrap)."""


def batch_to_torch(batch: Batch, device: torch.device | str = "cpu") -> Batch:
    """Numpy batch → torch batch on ``device`` (no copy on CPU where dtypes already match)."""
    return Batch(*(torch.as_tensor(x, device=device) for x in batch))


def concat_batches(parts: list[Batch]) -> Batch:
    """Batches stacked row-wise (numpy arrays or torch tensors)."""
    cat = torch.cat if torch.is_tensor(parts[0].rewards) else np.concatenate
    return Batch(*(cat(xs, 0) for xs in zip(*parts, strict=True)))


def interleave_minibatches(first: Batch, second: Batch, num_minibatches: int) -> Batch:
    """Mix two samples so that *every* consecutive minibatch holds the same share of each.

    Each sample's size is a multiple of ``num_minibatches``; minibatch ``j`` of the result is
    ``first``'s j-th slice followed by ``second``'s j-th slice. With equal sizes every minibatch
    is half ``first`` (RLPD's symmetric sampling, Ball et al. 2023 §3.1; the ``combine`` of the
    release's ``rlpd/train_finetuning.py``).
    """

    def mix(a, b):  # numpy arrays or torch tensors
        if len(a) % num_minibatches or len(b) % num_minibatches:
            raise ValueError(f"cannot split {len(a)} and {len(b)} into {num_minibatches} parts")
        a = a.reshape(num_minibatches, -1, *a.shape[1:])
        b = b.reshape(num_minibatches, -1, *b.shape[1:])
        cat = torch.cat if torch.is_tensor(a) else np.concatenate
        out = cat([a, b], axis=1)
        return out.reshape(-1, *out.shape[2:])

    return Batch(*(mix(a, b) for a, b in zip(first, second, strict=True)))


class ReplayBuffer:
    """A FIFO ring buffer with uniform sampling (with replacement) from its own generator."""

    def __init__(
        self,
        capacity: int,
        obs_dim: int,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.float32,
        seed: int | None = None,
    ):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = int(capacity)
        self.observations = np.zeros((capacity, obs_dim), np.float32)
        self.next_observations = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros((capacity, *action_shape), action_dtype)
        self.rewards = np.zeros(capacity, np.float32)
        self.terminals = np.zeros(capacity, np.float32)
        self.truncations = np.zeros(capacity, np.float32)
        self.size = 0
        self.ptr = 0
        self.rng = np.random.default_rng(seed)
        self._mirror: dict[str, torch.Tensor] = {}
        """The storage on a training device (:meth:`mirror`); empty when sampling on the host."""

    _FIELDS = (
        "observations",
        "actions",
        "rewards",
        "next_observations",
        "terminals",
        "truncations",
    )

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        observations: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_observations: np.ndarray,
        terminals: np.ndarray,
        truncations: np.ndarray,
    ) -> None:
        """Add ``n`` transitions (each argument has leading dim n); the oldest are overwritten."""
        values = (observations, actions, rewards, next_observations, terminals, truncations)
        n = len(rewards)
        if n > self.capacity:  # only the newest ``capacity`` survive
            values = tuple(np.asarray(v)[-self.capacity :] for v in values)
            n = self.capacity
        idx = (self.ptr + np.arange(n)) % self.capacity
        for name, value in zip(self._FIELDS, values, strict=True):
            getattr(self, name)[idx] = value
            if name in self._mirror:
                self._mirror[name][torch.as_tensor(idx)] = torch.as_tensor(
                    getattr(self, name)[idx], device=self._mirror[name].device
                )
        self.ptr = int((self.ptr + n) % self.capacity)
        self.size = int(min(self.size + n, self.capacity))

    def add_transitions(self, data: Any, action_field: str = "actions") -> None:
        """Add every transition of an object with the six fields (``action_field`` names the
        action one, e.g. ``codes`` for maq.macro.relabel.MacroTransitions)."""
        self.add(
            data.observations,
            getattr(data, action_field),
            data.rewards,
            data.next_observations,
            data.terminals,
            data.truncations,
        )

    @classmethod
    def from_trajectories(
        cls,
        trajs: list[dict[str, np.ndarray]],
        seed: int | None = None,
        action_bound: float | None = None,
    ) -> ReplayBuffer:
        """A buffer holding exactly the transitions of seed-format trajectories (maq.data).

        ``terminals`` are real terminations and ``timeouts`` truncations (docs/decisions.md).
        ``action_bound`` clips actions to ±bound (RLPD clips human actions to ±(1 − 1e-5)).
        """

        def cat(key: str) -> np.ndarray:
            return np.concatenate([np.asarray(t[key], np.float32) for t in trajs], axis=0)

        actions = cat("actions")
        if action_bound is not None:
            actions = np.clip(actions, -action_bound, action_bound)
        truncations = np.concatenate(
            [
                np.asarray(t["timeouts"], np.float32)
                if "timeouts" in t
                else np.zeros(len(t["rewards"]), np.float32)
                for t in trajs
            ]
        )
        observations = cat("observations")
        buffer = cls(len(actions), observations.shape[1], actions.shape[1:], np.float32, seed)
        buffer.add(
            observations,
            actions,
            cat("rewards"),
            cat("next_observations"),
            cat("terminals"),
            truncations,
        )
        return buffer

    def mirror(self, device: torch.device | str) -> ReplayBuffer:
        """Keep a copy of the storage on ``device``; :meth:`sample` then gathers there."""
        self._mirror = {
            k: torch.as_tensor(getattr(self, k), device=device)
            for k in ("observations", "actions", "rewards", "next_observations", "terminals")
        }
        return self

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` transitions drawn uniformly with replacement: numpy arrays, or tensors
        on the mirror's device (the same rows, see :meth:`mirror`)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = self.rng.integers(0, self.size, size=batch_size)
        if self._mirror:
            m = self._mirror
            rows = torch.from_numpy(idx)
            if m["rewards"].is_cuda:  # an asynchronous copy: no wait for the queued updates
                rows = rows.pin_memory().to(m["rewards"].device, non_blocking=True)
            else:
                rows = rows.to(m["rewards"].device)
            return Batch(
                m["observations"][rows],
                m["actions"][rows],
                m["rewards"][rows],
                m["next_observations"][rows],
                1.0 - m["terminals"][rows],
            )
        return Batch(
            self.observations[idx],
            self.actions[idx],
            self.rewards[idx],
            self.next_observations[idx],
            1.0 - self.terminals[idx],
        )

    def state_dict(self, include_data: bool = True) -> dict[str, Any]:
        """Size, write pointer, generator state and (optionally) the filled part of the arrays.

        ``include_data=False`` suits a buffer rebuilt from files at every start (offline data).
        """
        state: dict[str, Any] = {
            "capacity": self.capacity,
            "size": self.size,
            "ptr": self.ptr,
            "rng": self.rng.bit_generator.state,
        }
        if include_data:
            state["data"] = {k: getattr(self, k)[: self.size].copy() for k in self._FIELDS}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"buffer capacity {self.capacity} != saved {state['capacity']}")
        if "data" in state:
            for k in self._FIELDS:
                getattr(self, k)[: state["size"]] = state["data"][k]
            self.size, self.ptr = int(state["size"]), int(state["ptr"])
        elif state["size"] != self.size:
            raise ValueError(f"buffer holds {self.size} transitions, saved state {state['size']}")
        self.rng.bit_generator.state = state["rng"]
        if self._mirror:  # the loaded rows on the device too
            self.mirror(next(iter(self._mirror.values())).device)


class UnionSampler:
    """Uniform minibatches over the transitions of two buffers together (IQL's offline-to-online
    buffer: human data first, online transitions after it, sampled uniformly,
    docs/reference-spec.md §7).

    Each minibatch takes a Binomial(B, |first| / (|first| + |second|)) share from ``first`` (from
    this sampler's own generator) and the rest from ``second``; so the human data can sit in its
    own buffer and never be overwritten by the online stream.
    """

    def __init__(self, first: ReplayBuffer, second: ReplayBuffer, seed: int | None = None):
        self.first, self.second = first, second
        self.rng = np.random.default_rng(seed)

    def sample(self, batch_size: int) -> Batch:
        n_first, n_second = len(self.first), len(self.second)
        k = int(self.rng.binomial(batch_size, n_first / (n_first + n_second)))
        parts = [b.sample(n) for b, n in ((self.first, k), (self.second, batch_size - k)) if n]
        return parts[0] if len(parts) == 1 else concat_batches(parts)

    def state_dict(self, include_first: bool = False) -> dict[str, Any]:
        """Both buffers' states (``first``'s data only if asked: it is rebuilt from files)."""
        return {
            "first": self.first.state_dict(include_data=include_first),
            "second": self.second.state_dict(),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.first.load_state_dict(state["first"])
        self.second.load_state_dict(state["second"])
        self.rng.bit_generator.state = state["rng"]
