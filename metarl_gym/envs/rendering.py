"""Small headless drawing helpers (Pillow) shared by the classic-control renderers, and :func:`rgb_frame`: one RGB
image of any env, single or vector, for GIF writers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from ..errors import UserError
from .base import TorchVectorEnv

SIZE = 400


def rgb_frame(env: gym.Env | VectorEnv, row: int = 0) -> np.ndarray:
    """One RGB image ``[H, W, 3]`` uint8 of ``env``, built with ``render_mode="rgb_array"``.

    The render APIs differ by env kind, and this is where they meet: a single ``gymnasium.Env`` returns one frame;
    a :class:`~metarl_gym.envs.base.TorchVectorEnv` (under any wrappers) renders one row, ``row``; Gymnasium's
    sync / async vector envs (any non-MetaRL id, e.g. ``BipedalWalker-v3``, ``CarRacing-v3``, behind
    ``NumpyToTorch``) return a tuple with one frame per row, of which row ``row`` is taken.

    Args:
        env: a single env or a vector env.
        row: the row of a vector env to show (ignored for a single env).

    Returns:
        ``[H, W, 3]`` uint8.

    Raises:
        UserError: the env renders nothing (not built with ``render_mode="rgb_array"``), ``row`` is out of range,
            or the render is not an RGB image.
    """
    base = env.unwrapped
    if isinstance(base, TorchVectorEnv):
        image = base.render(row)
    else:
        image = env.render()
        if isinstance(env, VectorEnv) and image is not None:
            if not 0 <= row < env.num_envs:
                raise UserError(f"render row must be in [0, {env.num_envs}), got {row}")
            image = image[row]  # a tuple / list of frames, or an array [N, H, W, 3]
    if image is None:
        raise UserError(f"{env} rendered nothing; build it with render_mode='rgb_array' to record frames")
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"{env} rendered {image.dtype} {image.shape}, not an RGB image [H, W, 3] uint8; "
                        "build it with render_mode='rgb_array'")
    return image


def draw_chain(points: list[tuple[float, float]], *, scale: float, size: int = SIZE, text: str = "") -> np.ndarray:
    """Draw a pendulum chain: ``points`` in metres (x right, y up), the first one the pivot.

    Returns:
        An RGB image ``[size, size, 3]`` uint8 with the pivot in the centre.
    """
    from PIL import Image, ImageDraw  # here: `import metarl_gym` does not load Pillow

    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    c = size / 2
    pixels = [(c + scale * x, c - scale * y) for x, y in points]
    draw.line(pixels, fill=(204, 77, 77), width=max(2, size // 50))
    for px, py in pixels[1:]:
        r = size // 40
        draw.ellipse([px - r, py - r, px + r, py + r], fill=(60, 60, 60))
    r = size // 80
    draw.ellipse([c - r, c - r, c + r, c + r], fill=(0, 0, 0))
    if text:
        draw.text((6, 6), text, fill=(0, 0, 0))
    return np.asarray(image)


def draw_cartpole(x: float, theta: float, *, pole_length: float, x_threshold: float, width: int = 600, height: int = 400) -> np.ndarray:
    """Draw a cart at position ``x`` with a pole at angle ``theta`` (0 upright). Returns ``[H, W, 3]`` uint8."""
    from PIL import Image, ImageDraw  # here: `import metarl_gym` does not load Pillow

    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    scale = width / (2 * x_threshold)
    cart_y = height * 0.65
    cx = width / 2 + x * scale
    draw.line([(0, cart_y), (width, cart_y)], fill=(0, 0, 0))
    draw.rectangle([cx - 25, cart_y - 15, cx + 25, cart_y + 15], fill=(0, 0, 0))
    tip = (cx + np.sin(theta) * pole_length * scale, cart_y - np.cos(theta) * pole_length * scale)
    draw.line([(cx, cart_y), tip], fill=(202, 152, 101), width=10)
    return np.asarray(image)
