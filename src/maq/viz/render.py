"""Offscreen frames of an Adroit env, captions drawn on them, and panels side by side.

Frames are rendered with MuJoCo's own :class:`mujoco.Renderer` on the env's model and data, so the
frame size is free (gymnasium's ``render_mode`` fixes it when the env is made) and the camera is
the env's default view. Headless machines render through EGL (``MUJOCO_GL=egl``; with no GPU, Mesa's
software rasterizer). Shadows and reflections are switched off, and so is multisampling unless
asked for (``smooth``): in software they cost most of the rendering time and show nothing about
the motion.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from maq.errors import MaqError

_OFF_FLAGS = ("mjRND_SHADOW", "mjRND_REFLECTION")
GAP = 4
"""Pixels between the panels of a grid."""

VIEWS: dict[str, dict[str, object]] = {
    "door": {"azimuth": 120.0, "elevation": -30.0, "distance": 1.2, "lookat": (0.0, -0.05, 0.2)},
}
"""Camera per task (short name): door's default view looks down from behind the forearm, which
hides the fingers and cuts the door off; this one shows hand, handle and door from the side.
Tasks not listed use the env's ``default_camera_config``."""


class FrameRenderer:
    """Renders the current state of one env (its unwrapped MuJoCo model and data) to RGB."""

    def __init__(
        self,
        env: gym.Env,
        width: int,
        height: int,
        view: dict[str, object] | None = None,
        smooth: bool = False,
    ):
        if width < 16 or height < 16:
            raise MaqError(f"frame size {width}x{height} is too small; use at least 16x16 pixels")
        os.environ.setdefault("MUJOCO_GL", "egl")
        import mujoco

        base = env.unwrapped
        model = base.model
        # The offscreen buffer must hold the frame (the model's default is 640x480).
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), width)
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), height)
        model.vis.quality.offsamples = 4 if smooth else 0  # multisampling (anti-aliased edges)
        try:
            self._renderer = mujoco.Renderer(model, height, width)
        except Exception as exc:  # mujoco raises plain Exceptions when no GL context can be made
            raise MaqError(
                f"cannot render offscreen ({exc}); set MUJOCO_GL=egl (or osmesa) on a headless "
                "machine"
            ) from None
        self._camera = _camera(mujoco, base, view)
        self._flags = [getattr(mujoco.mjtRndFlag, name) for name in _OFF_FLAGS]

    def __call__(self, env: gym.Env) -> np.ndarray:
        """``(height, width, 3)`` uint8 frame of the env's current state."""
        self._renderer.update_scene(env.unwrapped.data, camera=self._camera)
        for flag in self._flags:
            self._renderer.scene.flags[flag] = 0
        return self._renderer.render().copy()

    def close(self) -> None:
        self._renderer.close()


def _camera(mujoco, base, view: dict[str, object] | None):
    """A free camera set to ``view``, else as gymnasium's viewer sets it for the env."""
    camera = mujoco.MjvCamera()
    mujoco.mjv_defaultFreeCamera(base.model, camera)
    if view is None:
        # gymnasium keeps the env's camera config on its renderer object.
        renderer = getattr(base, "mujoco_renderer", None)
        view = getattr(renderer, "default_cam_config", None) or {}
    for key, value in view.items():
        if isinstance(value, np.ndarray | list | tuple):
            getattr(camera, key)[:] = value
        else:
            setattr(camera, key, value)
    return camera


@functools.lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's bundled font: no system fonts needed


def caption(frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``frame`` with ``lines`` written top left on a dark band (scaled to the frame height)."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    size = max(9, frame.shape[0] // 20)
    font = _font(size)
    draw = ImageDraw.Draw(image, "RGBA")
    step = size + 3
    width = max(draw.textlength(line, font=font) for line in lines) if lines else 0
    draw.rectangle((0, 0, int(width) + 8, step * len(lines) + 6), fill=(0, 0, 0, 150))
    for i, line in enumerate(lines):
        draw.text((4, 3 + i * step), line, fill=(255, 255, 255), font=font)
    return np.asarray(image)


def grid(panels: Sequence[np.ndarray]) -> np.ndarray:
    """Frames of equal size side by side, :data:`GAP` dark pixels apart, padded to even sizes.

    Even sizes let H.264 (yuv420p) encode the frame without rescaling it.
    """
    height = panels[0].shape[0]
    gap = np.zeros((height, GAP, 3), np.uint8)
    parts = [panels[0]]
    for panel in panels[1:]:
        parts += [gap, panel]
    frame = np.concatenate(parts, axis=1)
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    return np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0))) if pad_h or pad_w else frame


def write_video(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: int) -> None:
    """Write ``frames`` as a looping GIF (Pillow) or an H.264 MP4 (imageio), by the suffix."""
    path = str(path)
    if path.endswith(".gif"):
        _write_gif(frames, path, fps)
    elif path.endswith(".mp4"):
        import imageio.v3 as iio

        iio.imwrite(
            path, np.stack(frames), plugin="FFMPEG", fps=fps, codec="libx264",
            macro_block_size=2, ffmpeg_log_level="error",
        )  # fmt: skip
    else:
        raise MaqError(f"{path}: clips are written as .gif or .mp4")


def _write_gif(frames: Sequence[np.ndarray], path: str, fps: int) -> None:
    """One 256-colour palette for the whole clip, no dithering, only changed areas stored.

    Quantizing every frame on its own with dithering (imageio's default through Pillow) makes
    every pixel flicker between frames, so nothing compresses: the file grows many times over and
    takes longer to write.
    """
    from PIL import Image

    sample = np.concatenate(frames[:: max(1, len(frames) // 8)], axis=0)  # 8 frames stacked
    palette = Image.fromarray(sample).quantize(256, method=Image.Quantize.MEDIANCUT)
    images = [
        Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames
    ]
    # GIF delays are in 10 ms units; Pillow takes milliseconds.
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0,
        optimize=True,
    )  # fmt: skip
