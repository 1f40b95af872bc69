"""``maq clip``: episodes rendered headless to GIF and MP4, one panel per agent, side by side.

Panels are named like ``--method``: a trained run (its best checkpoint, or ``model_paths``),
``Human`` (a held-out test demo, its recorded actions replayed) or ``Random`` (uniform random
actions, seeded as the Random reference row). Every panel starts from the same initial state:

* with a ``Human`` panel, test demo ``episode``'s recorded initial state where the data has it: the
  split's sidecar names the DAPG demo it came from, whose ``init_state_dict`` (qpos, qvel, door
  position) is set exactly as the data replay set it (:mod:`maq.data.sources`), and the state is
  checked against the demo's first recorded observation;
* otherwise the evaluation's episode ``episode`` (reset seed ``seed·200 + episode``).

Each panel's caption shows the agent, the step, success so far and the episode's DTW to the
held-out human test demos (mean over them, as in the results CSV; the Human panel's is to the other
test demos), raw and per warping-path step.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from maq.envs import get_task
from maq.errors import MaqError
from maq.evaluation.metrics import HumanReference, dtw_distance, dtw_normalized
from maq.evaluation.reference import RandomPolicy
from maq.policy import Policy
from maq.rollout import Episode, episode_seed
from maq.spec import RunSpec
from maq.viz.film import ReplayPolicy, StartState, film, recorded_start
from maq.viz.render import caption, grid, write_video

FORMATS = ("gif", "mp4")


def load_run_policy(spec: RunSpec, checkpoint: Path) -> Policy:
    """A trained run's checkpoint as a primitive-action policy, on the CPU (the one seam to
    the method table)."""
    from maq.methods import load_policy

    spec = replace(spec, device="cpu") if spec.device == "auto" else spec
    return load_policy(spec, checkpoint)


def run_label(spec: RunSpec) -> str:
    """``MAQ+RLPD L9 K16`` for methods over codes, the method name otherwise."""
    from maq.methods import get_method

    if get_method(spec.method).uses_codes:
        return f"{spec.method} L{spec.seq_len} K{spec.codebook_size}"
    return spec.method


@dataclass
class Panel:
    """One filmed episode: its frames, success so far per frame and its DTW."""

    label: str
    episode: Episode
    frames: list[np.ndarray]
    success: list[bool]
    dtw: float
    dtw_norm: float


@dataclass
class ClipResult:
    paths: list[Path]
    panels: list[Panel]
    start: str
    """Where the episodes started, in words."""
    wall_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        """What ``maq clip`` prints when it ends: the panels and the files."""
        lines = [f"clip of {len(self.panels)} panels from {self.start}, {self.wall_seconds:.1f} s:"]
        for p in self.panels:
            verdict = "success" if p.success[-1] else "no success"
            lines.append(f"  {p.label}: {p.episode.length} steps, {verdict}, DTW {p.dtw:.1f}")
        lines += [f"  {note}" for note in self.notes]
        return lines + [f"wrote {path}" for path in self.paths]


def _dtw(states: np.ndarray, humans: Sequence[np.ndarray]) -> tuple[float, float]:
    if not humans:
        return float("nan"), float("nan")
    raw = float(np.mean([dtw_distance(states, h) for h in humans]))
    return raw, float(np.mean([dtw_normalized(states, h) for h in humans]))


def compose(panels: Sequence[Panel]) -> list[np.ndarray]:
    """The clip's frames: each panel captioned, shorter episodes holding their last frame."""
    frames = []
    for t in range(max(len(p.frames) for p in panels)):
        row = []
        for p in panels:
            i = min(t, len(p.frames) - 1)
            lines = [
                p.label,
                f"step {i}/{p.episode.length}",
                "success: " + ("yes" if p.success[i] else "no"),
                f"DTW {p.dtw:.0f}  ({p.dtw_norm:.2f}/step)",
            ]
            row.append(caption(p.frames[i], lines))
        frames.append(grid(row))
    return frames


@dataclass(frozen=True)
class Shot:
    """How every panel is filmed."""

    width: int
    height: int
    smooth: bool
    """Multisampled (anti-aliased) frames, about 3x slower in software rendering."""
    max_steps: int | None
    """Steps per panel; None: the task's horizon (the Human panel: its whole demo)."""


def _panel(
    name: str, spec: RunSpec, model_path: str, test: list[dict], episode: int,
    human: HumanReference, start: StartState | None, shot: Shot,
) -> Panel:  # fmt: skip
    """Film one panel: ``Human`` (test demo ``episode``), ``Random`` or a trained run."""
    from maq.evaluation.evaluate import find_checkpoint

    task = get_task(spec.env_id)
    seed = episode_seed(spec.seed, episode)
    humans, steps = list(human.states), shot.max_steps or task.horizon
    if name == "Human":
        actions = test[episode]["actions"]
        policy, label = ReplayPolicy(actions), f"Human (test demo {episode})"
        steps = min(shot.max_steps or len(actions), len(actions))
        humans.pop(episode)  # its DTW is to the other held-out demos
    elif name == "Random":
        policy, label = RandomPolicy(task.act_dim, seed), "Random"
    else:
        from maq.methods import checkpoint_spec

        run = replace(spec, method=name)
        checkpoint = find_checkpoint(run, model_path)
        policy = load_run_policy(run, checkpoint)
        label = run_label(checkpoint_spec(run, checkpoint))
    size = (shot.width, shot.height)
    played, frames, success = film(task, policy, seed, start, size, steps, shot.smooth)
    return Panel(label, played, frames, success, *_dtw(played.states, humans))


def default_clip_path(spec: RunSpec, methods: Sequence[str], episode: int) -> Path:
    """``clips/<env>_seed<S>_ep<E>_<method>_<method>...`` under the repository root."""
    names = "_".join(m.replace("+", "-") for m in methods)
    return spec.root / "clips" / f"{spec.env_id}_seed{spec.seed}_ep{episode}_{names}"


def _check_clip_args(methods, model_paths, formats, fps, max_steps) -> None:
    if not methods:
        raise MaqError("name at least one --method to film (a trained method, Human or Random)")
    if model_paths and len(model_paths) != len(methods):
        raise MaqError(f"give one --model_path per --method ({len(methods)}), '' for the default")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise MaqError(f"--formats {' '.join(formats)}: choose from {' '.join(FORMATS)}")
    if fps < 1 or (max_steps is not None and max_steps < 1):
        raise MaqError("--fps and --max_steps must be at least 1")


def _test_split(spec: RunSpec) -> tuple[Path, list[dict]]:
    from maq.data.format import load_trajectories
    from maq.data.resolve import resolve_datasets

    task = get_task(spec.env_id)
    _, path = resolve_datasets(
        task.name, spec.seed, spec.root, spec.training_source, spec.testing_source, generate=False
    )
    return path, load_trajectories(path, task.obs_dim, task.act_dim)


def _start(
    spec: RunSpec, methods: Sequence[str], test_path: Path, episode: int, data_dir: Path | None
) -> tuple[StartState | None, str, list[str]]:
    """The panels' shared start, where it is in words, and a note when it falls back."""
    from maq.data.sources import data_dir_from_env

    seed_words = f"reset seed {episode_seed(spec.seed, episode)}"
    if "Human" not in methods:
        return None, seed_words, []
    start = recorded_start(test_path, episode, data_dir or data_dir_from_env())
    if start is None:
        note = "no recorded initial state for this demo: every panel starts from the seed"
        return None, seed_words, [note]
    return start, f"test demo {episode}'s recorded initial state", []


def _clip_paths(out: Path | None, spec, methods, episode, formats) -> list[Path]:
    stem = Path(out) if out is not None else default_clip_path(spec, methods, episode)
    if stem.suffix in (".gif", ".mp4"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    return [stem.with_name(f"{stem.name}.{fmt}") for fmt in formats]


def make_clip(
    *,
    spec: RunSpec,
    methods: Sequence[str],
    model_paths: Sequence[str] = (),
    episode: int = 0,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    max_steps: int | None = None,
    smooth: bool = False,
    formats: Sequence[str] = FORMATS,
    out: Path | None = None,
    data_dir: Path | None = None,
) -> ClipResult:
    """Film ``methods`` side by side from one initial state and write the clip in ``formats``.

    ``spec`` names the task, seed, L, K, tag, preset, root and test split shared by the panels
    (each panel's method replaces ``spec.method``); ``out`` is the file path without suffix
    (default :func:`default_clip_path`); ``data_dir`` holds the DAPG demos (default
    ``$MAQ_DATA_DIR``).
    """
    _check_clip_args(methods, model_paths, formats, fps, max_steps)
    started = time.perf_counter()
    test_path, test = _test_split(spec)
    if "Human" in methods and not 0 <= episode < len(test):
        raise MaqError(f"--episode {episode}: the test split has demos 0 to {len(test) - 1}")
    start, where, notes = _start(spec, methods, test_path, episode, data_dir)
    human, shot = HumanReference.from_trajectories(test), Shot(width, height, smooth, max_steps)
    panels = [
        _panel(name, spec, path, test, episode, human, start, shot)
        for name, path in zip(methods, model_paths or [""] * len(methods), strict=True)
    ]
    frames = compose(panels)
    paths = _clip_paths(out, spec, methods, episode, formats)
    for path in paths:
        write_video(frames, path, fps)
    return ClipResult(paths, panels, where, time.perf_counter() - started, notes)
