"""Where human trajectories come from: Minari, a D4RL hdf5 file, or the DAPG demos replayed.

Every source returns the trajectories of one task in the original demo order, each one demo with
its final (timeout) step dropped as ``d4rl.qlearning_dataset`` does (door: 25 trajectories, 6704
transitions). ``terminals`` marks real terminations only; each trajectory's end is a truncation
(``timeouts = 1`` on its last step). The ``synthetic`` source is *not* human data: rollouts of the
DAPG expert policies with their Gaussian noise, for tasks whose human demos are not available.

minari, h5py and gymnasium_robotics are imported lazily here (docs/style.md rule 14).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from maq.data.format import Trajectory, safe_load_pickle
from maq.envs import TaskSpec, filter_state_dict, get_task, make_env
from maq.errors import DatasetError

SOURCES = ("minari", "d4rl", "dapg", "synthetic")
HUMAN_SOURCES = ("minari", "d4rl", "dapg")


def data_dir_from_env() -> Path | None:
    """The data folder from ``MAQ_DATA_DIR``, if set."""
    value = os.environ.get("MAQ_DATA_DIR")
    return Path(value) if value else None


def make_trajectory(
    observations: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    next_observations: np.ndarray,
    terminals: np.ndarray | None = None,
    truncated_at_end: bool = True,
) -> Trajectory:
    """Build one trajectory dict in maq's dtypes (float32, terminals/timeouts as float32 0/1)."""
    n = len(actions)
    terms = np.zeros(n, np.float32) if terminals is None else np.asarray(terminals, np.float32)
    timeouts = np.zeros(n, np.float32)
    if truncated_at_end and not terms[-1]:
        timeouts[-1] = 1.0
    return {
        "observations": np.asarray(observations, np.float32),
        "actions": np.asarray(actions, np.float32),
        "rewards": np.asarray(rewards, np.float32),
        "next_observations": np.asarray(next_observations, np.float32),
        "terminals": terms,
        "timeouts": timeouts,
    }


# --------------------------------------------------------------------------- minari
def minari_dataset_id(task: TaskSpec) -> str:
    return f"D4RL/{task.short}/human-v2"


@contextlib.contextmanager
def _minari_root(data_dir: Path | None) -> Iterator[None]:
    """Look for Minari datasets under ``<data_dir>/minari`` when that folder exists."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    root = data_dir / "minari" if data_dir is not None else None
    if root is not None and root.is_dir():
        os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def minari_available(task: TaskSpec, data_dir: Path | None) -> bool:
    from minari.storage.datasets_root_dir import get_dataset_path

    with _minari_root(data_dir):
        return (get_dataset_path(minari_dataset_id(task)) / "data").is_dir()


def load_minari(task: TaskSpec, data_dir: Path | None, download: bool = True) -> list[Trajectory]:
    """``D4RL/<task>/human-v2``: a local copy, else downloaded by minari (needs internet)."""
    import minari

    dataset_id = minari_dataset_id(task)
    with _minari_root(data_dir):
        try:
            dataset = minari.load_dataset(dataset_id, download=download)
        except Exception as exc:  # minari raises plain Exceptions for network and lookup errors
            raise DatasetError(
                f"cannot load Minari dataset {dataset_id} ({exc.__class__.__name__}: {exc}); "
                f"download it with `minari download {dataset_id}` on a machine with internet and "
                "copy ~/.minari/datasets (or set MINARI_DATASETS_PATH)"
            ) from None
        trajs = []
        for ep in dataset.iterate_episodes():
            obs = np.asarray(ep.observations)
            n = len(ep.actions) - 1  # drop the final step, as d4rl.qlearning_dataset does
            if n < 1:
                continue
            terms = np.asarray(ep.terminations[:n], np.float32)
            trajs.append(
                make_trajectory(obs[:n], ep.actions[:n], ep.rewards[:n], obs[1 : n + 1], terms)
            )
    return trajs


# --------------------------------------------------------------------------- d4rl hdf5
def d4rl_path(task: TaskSpec, data_dir: Path | None) -> Path | None:
    return None if data_dir is None else data_dir / f"{task.short}-human-v1.hdf5"


def load_d4rl_hdf5(path: Path) -> list[Trajectory]:
    """A D4RL ``<task>-human-v1.hdf5``: episodes end at ``timeouts`` (or ``terminals``).

    Like ``d4rl.qlearning_dataset``, a step flagged as timeout is dropped (its next observation is
    not recorded) and ``next_observations[i] = observations[i + 1]``.
    """
    import h5py

    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    with h5py.File(path, "r") as f:
        missing = [
            k for k in ("observations", "actions", "rewards", "terminals", "timeouts") if k not in f
        ]
        if missing:
            raise DatasetError(f"{path}: not a D4RL dataset, missing {', '.join(missing)}")
        obs, act, rew = (np.asarray(f[k]) for k in ("observations", "actions", "rewards"))
        terms = np.asarray(f["terminals"]).astype(bool)
        touts = np.asarray(f["timeouts"]).astype(bool)
    trajs: list[Trajectory] = []
    start = 0
    for i in range(len(obs)):
        end_here = touts[i] or terms[i] or i == len(obs) - 1
        if not end_here:
            continue
        # timeout step (and the last sample) dropped; a real terminal step is kept.
        stop = i + 1 if terms[i] and i + 1 < len(obs) else i
        if stop > start:
            idx = np.arange(start, stop)
            nxt = np.minimum(idx + 1, len(obs) - 1)
            trajs.append(
                make_trajectory(
                    obs[idx],
                    act[idx],
                    rew[idx],
                    obs[nxt],
                    terms[idx],
                    truncated_at_end=not terms[stop - 1],
                )
            )
        start = i + 1
    return trajs


# --------------------------------------------------------------------------- dapg replay
def dapg_path(task: TaskSpec, data_dir: Path | None) -> Path | None:
    return None if data_dir is None else data_dir / f"{task.short}-v0_demos.pickle"


def load_dapg_demos(path: Path) -> list[dict]:
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    try:
        demos = safe_load_pickle(path.read_bytes())
    except Exception as exc:
        raise DatasetError(f"{path} is not a DAPG demo pickle: {exc}") from None
    if not isinstance(demos, list) or not all(
        isinstance(d, dict) and {"actions", "init_state_dict"} <= d.keys() for d in demos
    ):
        raise DatasetError(f"{path}: expected a list of dicts with actions and init_state_dict")
    return demos


def rebuild_qpos(env, task: TaskSpec, first_obs: np.ndarray) -> None:
    """Set the joint positions an observation records (gymnasium-robotics' ``_get_obs``).

    Door's observation starts with qpos[1:-2], the latch (qpos[-1]) and the door hinge, and holds
    the palm position (obs[29:32]) but not qpos[0], the arm's vertical slide (ARTz): that one is
    fitted to the recorded palm position (the palm moves linearly with a slide joint; two
    Gauss-Newton steps). Hammer's, pen's and relocate's observations start with qpos[:-6], the
    whole hand and arm; their objects' free joints keep the initial state's values, as do all
    velocities.
    """
    base = env.unwrapped
    qpos, qvel = base.data.qpos.ravel().copy(), base.data.qvel.ravel().copy()
    obs = np.asarray(first_obs, dtype=np.float64)
    n = len(qpos)
    if task.short != "door":
        qpos[: n - 6] = obs[: n - 6]
        base.set_state(qpos, qvel)
        return
    qpos[1 : n - 2] = obs[: n - 3]
    qpos[n - 1] = obs[n - 3]
    qpos[base.door_hinge_addrs] = obs[n - 2]
    palm = slice(n - 1, n + 2)  # obs: ..., latch, hinge, palm (3), handle (3), ...

    def palm_at(slide: float) -> np.ndarray:
        qpos[0] = slide
        base.set_state(qpos, qvel)
        return base._get_obs()[palm]

    slide, step = float(qpos[0]), 1e-3
    for _ in range(2):
        here = palm_at(slide)
        slope = (palm_at(slide + step) - here) / step
        slide += float(slope @ (obs[palm] - here) / max(float(slope @ slope), 1e-12))
    palm_at(slide)


def replay_dapg(
    task: TaskSpec, demos: list[dict], rebuild_from_obs: bool = False
) -> list[Trajectory]:
    """Replay each demo in the v1 env from its initial state (docs/human-data.md's recipe).

    Recorded actions are clipped to [-1, 1] as float32; the env's own observations and (restored
    D4RL) rewards are recorded; nothing terminates; the last step is dropped.

    ``rebuild_from_obs`` (not D4RL's or Minari's recipe, so off by default): after the initial
    state, the joint positions are set from the demo's first *recorded* observation
    (:func:`rebuild_qpos`). The recorded first door observations are 0.2–0.5 rad away from the
    all-zero initial qpos in the arm joints; rebuilt, the door replays' median mean-abs
    observation error against the recordings is 0.0043 instead of 0.0086
    (``tests/test_data_sources.py``).
    """
    if rebuild_from_obs and not all("observations" in d for d in demos):
        raise DatasetError("rebuilding qpos needs the demos' recorded observations; some have none")
    longest = max(len(d["actions"]) for d in demos)
    env = make_env(task, max_episode_steps=longest + 1)
    trajs = []
    try:
        for demo in tqdm(demos, desc=f"replaying {task.name} demos", unit="demo", leave=False):
            obs, _ = env.reset(seed=0)
            env.set_env_state(filter_state_dict(env, demo["init_state_dict"]))
            if rebuild_from_obs:
                rebuild_qpos(env, task, demo["observations"][0])
            obs = env.unwrapped._get_obs()
            actions = np.clip(np.asarray(demo["actions"]), -1.0, 1.0).astype(np.float32)
            o, r = [obs], []
            for a in actions:
                obs, reward, _, _, _ = env.step(a)
                o.append(obs)
                r.append(reward)
            o_arr = np.asarray(o)
            n = len(actions) - 1  # drop the last step
            trajs.append(
                make_trajectory(o_arr[:n], actions[:n], np.asarray(r[:n]), o_arr[1 : n + 1])
            )
    finally:
        env.close()
    return trajs


# --------------------------------------------------------------------------- synthetic
def policy_path(task: TaskSpec, data_dir: Path | None) -> Path | None:
    return (
        None
        if data_dir is None
        else data_dir / "dapg_policies" / f"{task.short}-v0_policy_weights.npz"
    )


class DapgPolicy:
    """The DAPG expert MLP (numpy); ``act`` adds its Gaussian exploration noise."""

    def __init__(self, path: Path):
        if not path.exists():
            raise DatasetError(f"{path} does not exist (DAPG policy weights for synthetic data)")
        w = np.load(path)
        self.p = {k: np.asarray(w[k], np.float64) for k in w.files}

    def mean(self, obs: np.ndarray) -> np.ndarray:
        p = self.p
        x = (obs - p["in_shift"]) / (p["in_scale"] + 1e-8)
        h = np.tanh(p["W0"] @ x + p["b0"])
        h = np.tanh(p["W1"] @ h + p["b1"])
        return (p["W2"] @ h + p["b2"]) * p["out_scale"] + p["out_shift"]

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mean = self.mean(obs)
        return mean + np.exp(self.p["log_std"]) * rng.standard_normal(mean.shape)


def synthetic_rollouts(
    task: TaskSpec, policy: DapgPolicy, n_episodes: int = 25, seed: int = 0
) -> list[Trajectory]:
    """Noisy expert rollouts at the task's horizon. NOT human data: callers label it synthetic."""
    env = make_env(task)
    rng = np.random.default_rng(seed)
    trajs = []
    try:
        for ep in tqdm(range(n_episodes), desc="synthetic rollouts", unit="episode", leave=False):
            obs, _ = env.reset(seed=seed * 1000 + ep)
            o, a, r, t = [obs], [], [], []
            done = False
            while not done:
                action = np.clip(policy.act(obs, rng), -1.0, 1.0).astype(np.float32)
                obs, reward, terminated, truncated, _ = env.step(action)
                o.append(obs)
                a.append(action)
                r.append(reward)
                t.append(terminated)
                done = terminated or truncated
            o_arr = np.asarray(o)
            traj = make_trajectory(o_arr[:-1], a, r, o_arr[1:], np.asarray(t, np.float32))
            traj["infos"] = {"source": "synthetic", "note": "DAPG expert rollout, not human data"}
            trajs.append(traj)
    finally:
        env.close()
    return trajs


# --------------------------------------------------------------------------- dispatch
def available_sources(task: TaskSpec, data_dir: Path | None) -> list[str]:
    """Human sources found locally, in the order they are preferred."""
    found = []
    if minari_available(task, data_dir):
        found.append("minari")
    for name, path in (("d4rl", d4rl_path(task, data_dir)), ("dapg", dapg_path(task, data_dir))):
        if path is not None and path.exists():
            found.append(name)
    return found


def missing_data_message(task: TaskSpec, data_dir: Path | None) -> str:
    where = data_dir if data_dir is not None else "$MAQ_DATA_DIR (unset)"
    return (
        f"no human data for {task.name} found locally: download it with "
        f"`minari download {minari_dataset_id(task)}`, or put {task.short}-human-v1.hdf5 (D4RL) or "
        f"{task.short}-v0_demos.pickle (DAPG) in {where} and pass --data_dir or set MAQ_DATA_DIR; "
        "--source synthetic makes clearly labelled non-human data for tests"
    )


def load_source(
    task: str | TaskSpec,
    source: str | None,
    data_dir: Path | None,
    seed: int = 0,
    rebuild_from_obs: bool = False,
) -> tuple[str, list[Trajectory]]:
    """Trajectories from ``source`` (``None``: the first human source available locally).

    ``rebuild_from_obs``: the DAPG replay's option (:func:`replay_dapg`); other sources refuse it.
    """
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    if source is None:
        found = available_sources(spec, data_dir)
        if not found:
            raise DatasetError(missing_data_message(spec, data_dir))
        source = found[0]
    if rebuild_from_obs and source != "dapg":
        raise DatasetError(
            f"--rebuild_qpos replays DAPG demos; the source here is {source!r}: pass --source dapg"
        )
    if source == "minari":
        return source, load_minari(spec, data_dir)
    if source == "d4rl":
        path = d4rl_path(spec, data_dir)
        if path is None:
            raise DatasetError(missing_data_message(spec, data_dir))
        return source, load_d4rl_hdf5(path)
    if source == "dapg":
        path = dapg_path(spec, data_dir)
        if path is None or not path.exists():
            raise DatasetError(missing_data_message(spec, data_dir))
        return source, replay_dapg(spec, load_dapg_demos(path), rebuild_from_obs)
    if source == "synthetic":
        path = policy_path(spec, data_dir)
        if path is None:
            raise DatasetError(
                "--source synthetic needs the DAPG policies: pass --data_dir or set "
                "MAQ_DATA_DIR to the folder holding dapg_policies/"
            )
        return source, synthetic_rollouts(spec, DapgPolicy(path), seed=seed)
    raise DatasetError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
