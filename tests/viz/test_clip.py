"""Clips: headless door frames, panels started from a demo's recorded state, GIF and MP4 files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maq.data.format import load_trajectories, save_trajectories
from maq.envs import get_task, make_env
from maq.errors import MaqError
from maq.spec import RunSpec
from maq.viz.clip import make_clip
from maq.viz.film import ReplayPolicy, StartState, apply_start, film, recorded_start
from maq.viz.render import VIEWS, FrameRenderer, caption, grid
from tests.conftest import make_fake_trajectories

DOOR = get_task("door-human-v1")


def test_a_rendered_door_frame_is_not_blank() -> None:
    env = make_env(DOOR)
    env.reset(seed=0)
    renderer = FrameRenderer(env, 64, 48, VIEWS["door"])
    frame = renderer(env)
    renderer.close()
    env.close()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    assert frame.std() > 20 and len(np.unique(frame.reshape(-1, 3), axis=0)) > 100


def test_caption_and_grid() -> None:
    frame = np.full((40, 60, 3), 200, np.uint8)
    written = caption(frame, ["MAQ+RLPD", "step 3/200"])
    assert written.shape == frame.shape and (written[:10, :20] != 200).any()
    assert (written[-5:, -5:] == 200).all()  # the caption stays top left
    assert grid([frame[:39, :33]] * 3).shape == (40, 3 * 33 + 2 * 4 + 1, 3)  # even sizes


@pytest.mark.door
def test_a_clip_from_a_demo_starts_at_its_first_observation(
    door_split: tuple[Path, Path], data_dir: Path
) -> None:
    _, test = door_split
    demos = load_trajectories(test)
    start = recorded_start(test, 1, data_dir)
    assert start is not None
    np.testing.assert_allclose(start.first_obs, demos[1]["observations"][0])
    replay = ReplayPolicy(demos[1]["actions"])
    episode, frames, success = film(DOOR, replay, 200, start, (32, 24), max_steps=5)
    assert len(frames) == len(success) == 6 and episode.length == 5
    # The replayed human matches the recorded demo from its first observation on.
    np.testing.assert_allclose(episode.states, demos[1]["observations"][:5], atol=1e-5)
    wrong = StartState(start.state, demos[0]["observations"][0])
    env = make_env(DOOR)
    env.reset(seed=0)
    with pytest.raises(MaqError, match="does not reproduce"):
        apply_start(env, DOOR, wrong)
    env.close()


class SwayPolicy:
    """A deterministic stand-in for a trained policy."""

    def reset(self) -> None:
        self.t = 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.t += 1
        return np.full(DOOR.act_dim, 0.5 * np.sin(self.t), np.float32)


@pytest.mark.door
def test_make_clip_writes_a_three_panel_gif_and_mp4(
    door_split: tuple[Path, Path], data_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    import imageio.v3 as iio

    monkeypatch.setattr("maq.viz.clip.load_run_policy", lambda spec, ckpt: SwayPolicy())
    monkeypatch.setattr("maq.evaluation.evaluate.find_checkpoint", lambda spec, path: Path(path))
    train, test = door_split
    spec = RunSpec(root=tmp_path, seed=1, training_source=str(train), testing_source=str(test))
    result = make_clip(spec=spec, methods=["Human", "RLPD", "Random"], model_paths=["", "x", ""],
                       episode=2, width=48, height=32, max_steps=6, data_dir=data_dir)  # fmt: skip
    gif, mp4 = result.paths
    assert gif.name == "door-human-v1_seed1_ep2_Human_RLPD_Random.gif" and mp4.suffix == ".mp4"
    assert iio.improps(gif).shape[:3] == (7, 32, 3 * 48 + 2 * 4)
    assert iio.imread(mp4, plugin="FFMPEG", index=None).shape[0] == 7
    first = [p.episode.states[0] for p in result.panels]
    np.testing.assert_allclose(first[1], first[0])  # every panel starts where the demo did
    np.testing.assert_allclose(first[2], load_trajectories(test)[2]["observations"][0], atol=1e-5)
    assert [p.label for p in result.panels] == ["Human (test demo 2)", "RLPD", "Random"]
    assert result.start == "test demo 2's recorded initial state"
    assert result.summary_lines()[-1] == f"wrote {mp4}"


def test_without_a_recorded_state_every_panel_starts_from_the_seed(tmp_path: Path) -> None:
    data = tmp_path / "offline_data"
    save_trajectories(make_fake_trajectories(n=2, length=4, seed=1), data / "train.pkl")
    save_trajectories(make_fake_trajectories(n=2, length=4, seed=2), data / "test.pkl")
    spec = RunSpec(root=tmp_path, seed=1, training_source="train.pkl", testing_source="test.pkl")
    out = tmp_path / "clips" / "mine.gif"
    result = make_clip(spec=spec, methods=["Human", "Random"], episode=1, width=32, height=24,
                       max_steps=3, formats=["gif"], out=out)  # fmt: skip
    assert result.paths == [out] and out.exists()
    assert result.start == "reset seed 201" and "starts from the seed" in result.notes[0]
    np.testing.assert_array_equal(result.panels[0].episode.states[0],
                                  result.panels[1].episode.states[0])  # fmt: skip
    assert result.panels[0].episode.length == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(methods=[]), "at least one --method"),
        (dict(methods=["Human"], model_paths=["a", "b"]), "one --model_path per --method"),
        (dict(methods=["Random"], formats=["avi"]), "--formats"),
        (dict(methods=["Human"], episode=5), "the test split has demos 0 to 1"),
    ],
)
def test_bad_clip_requests_say_what_to_fix(tmp_path: Path, kwargs: dict, message: str) -> None:
    data = tmp_path / "offline_data"
    save_trajectories(make_fake_trajectories(n=2, length=4), data / "test.pkl")
    save_trajectories(make_fake_trajectories(n=2, length=4), data / "train.pkl")
    spec = RunSpec(root=tmp_path, training_source="train.pkl", testing_source="test.pkl")
    with pytest.raises(MaqError, match=message):
        make_clip(spec=spec, **kwargs)
