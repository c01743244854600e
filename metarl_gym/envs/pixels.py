"""Pixel observation preprocessing as Gymnasium wrappers, for pixel envs such as ``CarRacing-v3``.

The pixel policies (:class:`~metarl_gym.agents.cnn.CNNPolicy`,
:class:`~metarl_gym.agents.pixel_hebbian.PixelHebbianPolicy`) accept whatever these wrappers return (``[H, W]``,
``[S, H, W]``, ``[S, H, W, C]`` frames) and can also grayscale and resize on the batch themselves. Doing it in the
env instead shrinks the observations the vector env copies and converts at every step::

    env = gym.make_vec("CarRacing-v3", num_envs=8, vectorization_mode="sync",
                       wrappers=pixel_wrappers(grayscale=True, frame_stack=4))     # obs [8, 4, 96, 96]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
from gymnasium.wrappers import FrameStackObservation, GrayscaleObservation, ResizeObservation

__all__ = ["pixel_wrappers"]


def pixel_wrappers(
    *, grayscale: bool = False, resize: Sequence[int] | None = None, frame_stack: int | None = None
) -> list[Callable[[gym.Env], gym.Env]]:
    """Per-single-env wrappers for ``gym.make_vec(..., wrappers=...)`` (or to apply to one ``gym.make`` env).

    Order: grayscale (``keep_dim=False``: ``[H, W]``), resize, then frame stacking (``[S, H, W]`` or
    ``[S, H, W, C]``). Gymnasium's ``ResizeObservation`` needs opencv-python; the policies' own ``resize`` option
    does not.

    Args:
        grayscale: convert RGB frames to luminance (``GrayscaleObservation``).
        resize: ``(height, width)`` of the frames (``ResizeObservation``), or None.
        frame_stack: stack the last S frames (``FrameStackObservation``), or None.

    Returns:
        The wrappers, each ``env -> wrapped env``, in the order to apply them.

    Raises:
        ValueError: ``frame_stack`` < 1 or ``resize`` not two positive sizes.
    """
    out: list[Callable[[gym.Env], gym.Env]] = []
    if grayscale:
        out.append(lambda env: GrayscaleObservation(env, keep_dim=False))
    if resize is not None:
        size = tuple(int(s) for s in resize)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"resize must be (height, width) with positive sizes, got {resize!r}")
        out.append(lambda env: ResizeObservation(env, size))
    if frame_stack is not None:
        if int(frame_stack) < 1:
            raise ValueError(f"frame_stack must be >= 1, got {frame_stack!r}")
        out.append(lambda env: FrameStackObservation(env, int(frame_stack)))
    return out
