"""Small headless drawing helpers (Pillow) shared by the classic-control renderers."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SIZE = 400


def draw_chain(points: list[tuple[float, float]], *, scale: float, size: int = SIZE, text: str = "") -> np.ndarray:
    """Draw a pendulum chain: ``points`` in metres (x right, y up), the first one the pivot.

    Returns:
        An RGB image ``[size, size, 3]`` uint8 with the pivot in the centre.
    """
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
