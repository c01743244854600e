"""CarRacing-v3's random track, generated with the very numpy calls and constants of Gymnasium's ``_create_track``.

One track per row, on the host, at reset (once per episode): the same checkpoints, the same walk from checkpoint
to checkpoint, the same closed-loop search and rejection rule (retry until the head and tail glue together), the
same red-white borders on sharp turns and the same tile quadrilaterals. Drawing from a row's own
``numpy.random.Generator`` in the same order as ``CarRacing.reset`` does, a row whose generator was made by
``gymnasium.utils.seeding.np_random(seed)`` gets exactly the track of ``gym.make("CarRacing-v3").reset(seed=seed)``
(tests/envs/test_carracing.py compares the polygons float for float).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Gymnasium's car_racing.py constants (world units: metres of the Box2D world)
SCALE = 6.0
TRACK_RAD = 900 / SCALE
PLAYFIELD = 2000 / SCALE
TRACK_DETAIL_STEP = 21 / SCALE
TRACK_TURN_RATE = 0.31
TRACK_WIDTH = 40 / SCALE
BORDER = 8 / SCALE
BORDER_MIN_COUNT = 4
GRASS_DIM = PLAYFIELD / 20.0
CHECKPOINTS = 12
START_ALPHA = 2 * math.pi * (-0.5) / CHECKPOINTS


@dataclass
class Track:
    """One closed track.

    Attributes:
        points: ``[T, 4]`` float64 rows ``(alpha, beta, x, y)`` of the centre line (Gymnasium's ``env.track``).
        tiles: ``[T, 4, 2]`` float64 tile quadrilaterals ``(road1_l, road1_r, road2_r, road2_l)`` in drawing order.
        border: ``[T]`` bool, whether tile i has a red-white kerb.
        border_polys: ``[T, 4, 2]`` float64 kerb quadrilaterals (zeros where ``border`` is False).
    """

    points: np.ndarray
    tiles: np.ndarray
    border: np.ndarray
    border_polys: np.ndarray

    @property
    def num_tiles(self) -> int:
        return len(self.points)


def _try_track(np_random: np.random.Generator) -> Track | None:
    """One attempt of Gymnasium's ``CarRacing._create_track``; None where it returns False (a retry)."""
    checkpoints = []
    for c in range(CHECKPOINTS):
        noise = np_random.uniform(0, 2 * math.pi * 1 / CHECKPOINTS)
        alpha = 2 * math.pi * c / CHECKPOINTS + noise
        rad = np_random.uniform(TRACK_RAD / 3, TRACK_RAD)
        if c == 0:
            alpha = 0
            rad = 1.5 * TRACK_RAD
        if c == CHECKPOINTS - 1:
            alpha = 2 * math.pi * c / CHECKPOINTS
            rad = 1.5 * TRACK_RAD
        checkpoints.append((alpha, rad * math.cos(alpha), rad * math.sin(alpha)))

    x, y, beta = 1.5 * TRACK_RAD, 0, 0
    dest_i = 0
    laps = 0
    track = []
    no_freeze = 2500
    visited_other_side = False
    while True:
        alpha = math.atan2(y, x)
        if visited_other_side and alpha > 0:
            laps += 1
            visited_other_side = False
        if alpha < 0:
            visited_other_side = True
            alpha += 2 * math.pi
        while True:  # find the destination checkpoint
            failed = True
            while True:
                dest_alpha, dest_x, dest_y = checkpoints[dest_i % len(checkpoints)]
                if alpha <= dest_alpha:
                    failed = False
                    break
                dest_i += 1
                if dest_i % len(checkpoints) == 0:
                    break
            if not failed:
                break
            alpha -= 2 * math.pi
        r1x = math.cos(beta)
        r1y = math.sin(beta)
        p1x = -r1y
        p1y = r1x
        dest_dx = dest_x - x
        dest_dy = dest_y - y
        proj = r1x * dest_dx + r1y * dest_dy
        while beta - alpha > 1.5 * math.pi:
            beta -= 2 * math.pi
        while beta - alpha < -1.5 * math.pi:
            beta += 2 * math.pi
        prev_beta = beta
        proj *= SCALE
        if proj > 0.3:
            beta -= min(TRACK_TURN_RATE, abs(0.001 * proj))
        if proj < -0.3:
            beta += min(TRACK_TURN_RATE, abs(0.001 * proj))
        x += p1x * TRACK_DETAIL_STEP
        y += p1y * TRACK_DETAIL_STEP
        track.append((alpha, prev_beta * 0.5 + beta * 0.5, x, y))
        if laps > 4:
            break
        no_freeze -= 1
        if no_freeze == 0:
            break

    # the closed loop i1..i2: the first lap is ignored, the second kept
    i1, i2 = -1, -1
    i = len(track)
    while True:
        i -= 1
        if i == 0:
            return None
        pass_through_start = track[i][0] > START_ALPHA and track[i - 1][0] <= START_ALPHA
        if pass_through_start and i2 == -1:
            i2 = i
        elif pass_through_start and i1 == -1:
            i1 = i
            break
    track = track[i1 : i2 - 1]

    first_beta = track[0][1]
    first_perp_x = math.cos(first_beta)
    first_perp_y = math.sin(first_beta)
    well_glued_together = np.sqrt(
        np.square(first_perp_x * (track[0][2] - track[-1][2])) + np.square(first_perp_y * (track[0][3] - track[-1][3]))
    )
    if well_glued_together > TRACK_DETAIL_STEP:
        return None

    # red-white kerbs on hard turns
    n = len(track)
    border = [False] * n
    for i in range(n):
        good = True
        oneside = 0
        for neg in range(BORDER_MIN_COUNT):
            beta1 = track[i - neg - 0][1]
            beta2 = track[i - neg - 1][1]
            good &= abs(beta1 - beta2) > TRACK_TURN_RATE * 0.2
            oneside += np.sign(beta1 - beta2)
        good &= abs(oneside) == BORDER_MIN_COUNT
        border[i] = good
    for i in range(n):
        for neg in range(BORDER_MIN_COUNT):
            border[i - neg] |= border[i]

    tiles = np.zeros((n, 4, 2))
    border_polys = np.zeros((n, 4, 2))
    for i in range(n):
        _, beta1, x1, y1 = track[i]
        _, beta2, x2, y2 = track[i - 1]
        tiles[i] = [
            (x1 - TRACK_WIDTH * math.cos(beta1), y1 - TRACK_WIDTH * math.sin(beta1)),
            (x1 + TRACK_WIDTH * math.cos(beta1), y1 + TRACK_WIDTH * math.sin(beta1)),
            (x2 + TRACK_WIDTH * math.cos(beta2), y2 + TRACK_WIDTH * math.sin(beta2)),
            (x2 - TRACK_WIDTH * math.cos(beta2), y2 - TRACK_WIDTH * math.sin(beta2)),
        ]
        if border[i]:
            side = np.sign(beta2 - beta1)
            border_polys[i] = [
                (x1 + side * TRACK_WIDTH * math.cos(beta1), y1 + side * TRACK_WIDTH * math.sin(beta1)),
                (x1 + side * (TRACK_WIDTH + BORDER) * math.cos(beta1), y1 + side * (TRACK_WIDTH + BORDER) * math.sin(beta1)),
                (x2 + side * (TRACK_WIDTH + BORDER) * math.cos(beta2), y2 + side * (TRACK_WIDTH + BORDER) * math.sin(beta2)),
                (x2 + side * TRACK_WIDTH * math.cos(beta2), y2 + side * TRACK_WIDTH * math.sin(beta2)),
            ]
    return Track(np.array(track, dtype=np.float64), tiles, np.array(border, dtype=bool), border_polys)


def generate_track(np_random: np.random.Generator) -> Track:
    """A track from ``np_random``, retrying as ``CarRacing.reset`` does until an attempt closes the loop.

    Args:
        np_random: the row's generator (advanced exactly as Gymnasium's env advances its ``np_random``).
    """
    while True:
        track = _try_track(np_random)
        if track is not None:
            return track
