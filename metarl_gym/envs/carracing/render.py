"""CarRacing-v3's ``state_pixels`` frame, rendered straight at 96x96 for a batch in torch.

CarRacing-v3 draws a 1000x800 window with pygame (background, grass squares, road tiles and kerbs in a camera that
follows the car, the car, the indicator bar), flips it and shrinks it to 96x96 with ``smoothscale``, an area
average. Here each output pixel is computed directly from the scene:

* **ground** (background, grass squares, tiles, kerbs): the row's key texture (:class:`~.road.TrackBank`, tile and
  kerb ids rasterised at reset) is sampled at the pixel centre's world position through one affine map per row
  (camera position, angle, zoom) with bilinear filtering of the four neighbouring texels' colours — the texel
  (0.5 m by default) is close to the pixel's footprint (0.64 x 0.51 m after the zoom-in), so this approximates the
  area average. Tiles a wheel touched are drawn in the plain road grey, untouched ones with their shading;
* **car**: the hull's coverage per pixel is precomputed for every zoom level (it is fixed in the car-aligned
  camera); the wheels (turned front wheels, the grey stripe of their rolling phase) are supersampled 3x3 in a
  small window around each wheel;
* **indicator bar**: axis-aligned rectangles, whose exact area coverage is separable.

Not drawn: the score digits (pygame's font, 4 characters a few pixels wide at 96x96, in the black bar).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from .car import HULL_POLYS, SIZE, WHEEL_R, WHEEL_W
from .track import GRASS_DIM, PLAYFIELD, SCALE
from ...errors import UserError
from . import render_cpu
from .road import TEXTURE_EXTENT

STATE_W = STATE_H = 96
WINDOW_W, WINDOW_H = 1000, 800
ZOOM = 2.7
FPS = 50
VIEW_ROWS = 84
"""Rows above the indicator bar (the bar covers window rows 700-800, output rows 84-95)."""
ROAD = (102.0, 102.0, 102.0)
BG = (102.0, 204.0, 102.0)
GRASS = (102.0, 230.0, 102.0)
HULL = (204.0, 0.0, 0.0)
WHEEL_WHITE = 77.0
CAR_ROWS = (62, 82)
CAR_COLS = (43, 54)
"""The output window the car lies in once zoomed in (window x 500 +- 23 px, flipped y 600 +- 42 px)."""
WHEEL_SUB = 3


def zoom_at(steps: Tensor) -> Tensor:
    """Window pixels per metre at ``steps`` steps after reset (``t = (steps + 1) / 50`` s; the zoom-in lasts 1 s)."""
    t = (steps + 1.0) / FPS
    return 0.1 * SCALE * torch.clamp(1 - t, min=0) + ZOOM * SCALE * torch.clamp(t, max=1)


def _polygon_inside(px: Tensor, py: Tensor, poly) -> Tensor:
    """Points inside a convex polygon (vertex list, either orientation)."""
    n = len(poly)
    area = sum(poly[i][0] * poly[(i + 1) % n][1] - poly[i][1] * poly[(i + 1) % n][0] for i in range(n))
    sign = 1.0 if area > 0 else -1.0
    inside = torch.ones(torch.broadcast_shapes(px.shape, py.shape), dtype=torch.bool, device=px.device)
    for i in range(n):
        (ax, ay), (bx, by) = poly[i], poly[(i + 1) % n]
        inside &= sign * ((bx - ax) * (py - ay) - (by - ay) * (px - ax)) >= 0
    return inside


@functools.lru_cache(maxsize=None)
def hull_coverage(zoom: float, sub: int = 8) -> Tensor:
    """``[rows, cols]`` fraction of each output pixel of the car window (:data:`CAR_ROWS` x :data:`CAR_COLS`) the
    hull covers at ``zoom`` (supersampled ``sub`` x ``sub``; the hull is fixed in the car-aligned camera)."""
    k = (torch.arange(sub, dtype=torch.float64) + 0.5) / sub
    xs = ((torch.arange(*CAR_COLS, dtype=torch.float64)[:, None] + k).reshape(-1)) * WINDOW_W / STATE_W
    ys = ((torch.arange(*CAR_ROWS, dtype=torch.float64)[:, None] + k).reshape(-1)) * WINDOW_H / STATE_H
    lx = (xs[None, :] - WINDOW_W / 2) / zoom  # car-frame metres
    ly = (WINDOW_H - ys[:, None] - WINDOW_H / 4) / zoom
    inside = torch.zeros(len(ys), len(xs), dtype=torch.bool)
    for poly in HULL_POLYS:
        inside |= _polygon_inside(lx, ly, [(x * SIZE, y * SIZE) for x, y in poly])
    rows, cols = CAR_ROWS[1] - CAR_ROWS[0], CAR_COLS[1] - CAR_COLS[0]
    return inside.double().reshape(rows, sub, cols, sub).mean(dim=(1, 3)).float()


def _ground_1d(index: Tensor, texel: float) -> Tensor:
    """``[..., 2]``: whether texel column/row ``index`` (its centre) lies in the playfield, and in a grass square's
    column/row (CarRacing-v3 draws grass squares at every other ``GRASS_DIM`` cell, x and y from -20 to 19)."""
    w = (index + 0.5) * texel - TEXTURE_EXTENT
    cell = torch.floor(w / GRASS_DIM)
    field = (w.abs() <= PLAYFIELD).float()
    grass = ((torch.remainder(cell, 2) == 0) & (cell >= -20) & (cell < 20)).float()
    return torch.stack([field, grass], dim=-1)


def _key_table(bank, slots: Tensor, visited: Tensor) -> tuple[Tensor, int]:
    """The flat ``[B * width]`` value of every key of the rows' textures: tile ``2 i`` its grey (its shading, or
    the road grey once touched), kerb ``2 i + 1`` 255 (white) or -255 (red), and a last entry 0 (no road)."""
    B = slots.shape[0]
    grey = torch.where(visited, ROAD[0], bank.shade[slots])  # [B, T]
    kerb = torch.where(torch.arange(grey.shape[1], device=grey.device) % 2 == 0, 255.0, -255.0).expand_as(grey)
    width = 2 * grey.shape[1] + 1
    table = torch.cat([torch.stack([grey, kerb], dim=-1).reshape(B, -1), torch.zeros(B, 1, device=grey.device)], 1)
    return table.reshape(-1), width


def _lerp2(a: Tensor, b: Tensor, f: Tensor) -> Tensor:
    return a + (b - a) * f[..., None]


WHEEL_POS = [(-55, 80), (55, 80), (-55, -82), (55, -82)]


def _wheel_window(wx: float, wy: float) -> tuple[int, int, int, int]:
    """``(row0, row1, col0, col1)``: output pixels a wheel centred at ``(wx, wy)`` m (car frame) can touch at any
    zoom (0.6-16.2 px/m) and steering angle (the wheel within 0.62 m of its centre)."""
    reach = math.hypot(WHEEL_W, WHEEL_R) * SIZE + 0.01
    cols, rows = [], []
    for z in (0.1 * SCALE, ZOOM * SCALE):
        for sign in (-1, 1):
            cols.append((WINDOW_W / 2 + (wx + sign * reach) * z) * STATE_W / WINDOW_W)
            rows.append((WINDOW_H - WINDOW_H / 4 - (wy + sign * reach) * z) * STATE_H / WINDOW_H)
    window = (math.floor(min(rows)), math.ceil(max(rows)), math.floor(min(cols)), math.ceil(max(cols)))
    assert CAR_ROWS[0] <= window[0] and window[1] <= CAR_ROWS[1] and CAR_COLS[0] <= window[2] and window[3] <= CAR_COLS[1]
    return window


class Renderer:
    """Frames ``[B, 96, 96, 3]`` float32 (integer-valued 0-255 up to the anti-aliasing) for states of a batch.

    Args:
        device: torch device.
        antialias: sample the ground bilinearly (True) or at the nearest texel (False, ~2x faster; measured mean
            difference between the two 0.27 of 255).
    """

    def __init__(self, device: torch.device, antialias: bool = True, backend: str = "auto"):
        if backend not in ("auto", "cpp", "torch"):
            raise UserError(f"render_backend must be 'auto', 'cpp' or 'torch', got {backend!r}")
        self.device = device
        self.antialias = bool(antialias)
        self.kernel = None
        if backend != "torch" and device.type == "cpu":
            self.kernel = render_cpu.kernel()
            if self.kernel is None and backend == "cpp":
                raise RuntimeError("the C++ frame kernel could not be built (see the warning); use backend='torch'")
        self.backend = "cpp" if self.kernel is not None else "torch"
        zooms = [float(zoom_at(torch.tensor(float(s)))) for s in range(FPS)]
        self.hull = torch.stack([hull_coverage(z) for z in zooms]).to(device)  # [50, Y, X]; index min(steps, 49)
        rows = torch.arange(VIEW_ROWS, dtype=torch.float32, device=device)
        cols = torch.arange(STATE_W, dtype=torch.float32, device=device)
        # pixel centres as car-frame window offsets (before dividing by the zoom)
        self.off_x = (cols + 0.5) * WINDOW_W / STATE_W - WINDOW_W / 2  # [96]
        self.off_y = WINDOW_H - (rows + 0.5) * WINDOW_H / STATE_H - WINDOW_H / 4  # [84]
        k = (torch.arange(WHEEL_SUB, dtype=torch.float32, device=device) + 0.5) / WHEEL_SUB
        self.wheel_windows, self.wheel_samples = [], []
        for wx, wy in WHEEL_POS:  # the output pixels a wheel can cover, over every zoom and steering angle
            window = _wheel_window(wx * SIZE, wy * SIZE)
            wr0, wr1, wc0, wc1 = window
            sx = ((torch.arange(wc0, wc1, dtype=torch.float32, device=device)[:, None] + k).reshape(-1)) * WINDOW_W / STATE_W - WINDOW_W / 2
            sy = WINDOW_H - ((torch.arange(wr0, wr1, dtype=torch.float32, device=device)[:, None] + k).reshape(-1)) * WINDOW_H / STATE_H - WINDOW_H / 4
            self.wheel_windows.append(window)
            self.wheel_samples.append((sx, sy))
        bar_x = torch.arange(STATE_W + 1, dtype=torch.float32, device=device) * WINDOW_W / STATE_W
        bar_y = torch.arange(STATE_H + 1, dtype=torch.float32, device=device) * WINDOW_H / STATE_H
        self.px_lo, self.px_hi = bar_x[:-1], bar_x[1:]
        self.py_lo, self.py_hi = bar_y[VIEW_ROWS:-1], bar_y[VIEW_ROWS + 1 :]

    def __call__(self, bank, slots: Tensor, state: Tensor, visited: Tensor, car: dict) -> Tensor:
        """Render B frames.

        Args:
            bank: :class:`~.road.TrackBank`; ``slots [B]`` the rows' slots.
            state: ``[B, >= 16]`` car columns (:data:`~.car.CAR_NAMES`).
            visited: ``[B, MAX_TILES]`` bool, tiles touched so far.
            car: ``{"steps": [B], "speed": [B]}`` (steps since reset, the hull's speed).

        Returns:
            ``[B, 96, 96, 3]`` float32.
        """
        steps = car["steps"]
        zoom = zoom_at(steps)
        if self.kernel is not None:
            table, width = _key_table(bank, slots, visited)
            windows = [v for window in self.wheel_windows for v in window]
            return self.kernel(bank.keys, slots.contiguous(), state.contiguous(), steps.contiguous(), car["speed"].contiguous(),
                               table.reshape(-1, width), self.hull, zoom.contiguous(), windows, bank.texel, TEXTURE_EXTENT,
                               GRASS_DIM, PLAYFIELD, self.antialias, CAR_ROWS[0], CAR_COLS[0], WHEEL_SUB)
        ground = (self._ground if self.antialias else self._ground_nearest)(bank, slots, state, visited, zoom)  # [B, 84, 96, 3]
        ground = self._car(ground, state, zoom, steps)
        bar = self._indicators(state, car["speed"])  # [B, 12, 96, 3]
        return torch.cat([ground, bar], dim=1)

    def _texel_coords(self, state, zoom, texel: float, shift: float) -> tuple[Tensor, Tensor]:
        """``(u, v)`` ``[B, 84, 96]``: texel coordinates of the pixel centres, ``(x, y) + R(angle) (off_x, off_y) /
        zoom`` on the world-aligned texel grid, less ``shift`` (0.5: relative to texel centres, for bilinear)."""
        x, y, angle = state[:, 0], state[:, 1], state[:, 2]
        c, s = torch.cos(angle), torch.sin(angle)
        k = 1.0 / (zoom * texel)
        ox, oy = self.off_x[None, None, :], self.off_y[None, :, None]
        u = ((x + TEXTURE_EXTENT) / texel - shift)[:, None, None] + (c * k)[:, None, None] * ox - (s * k)[:, None, None] * oy
        v = ((y + TEXTURE_EXTENT) / texel - shift)[:, None, None] + (s * k)[:, None, None] * ox + (c * k)[:, None, None] * oy
        return u, v

    def _ground_nearest(self, bank, slots, state, visited, zoom) -> Tensor:
        """The ground point-sampled at each pixel centre (one texel per pixel: ~2x faster than bilinear)."""
        B = state.shape[0]
        t = bank.texel
        u, v = self._texel_coords(state, zoom, t, 0.0)
        size = bank.size
        u0, v0 = torch.floor(u), torch.floor(v)
        inside = (u0 >= 0) & (u0 < size) & (v0 >= 0) & (v0 < size)
        idx = (slots * (size * size))[:, None, None] + (v0.clamp(0, size - 1) * size + u0.clamp(0, size - 1)).long()
        key = bank.keys.reshape(-1)[idx].long()
        table, width = _key_table(bank, slots, visited)
        row = (torch.arange(B, device=slots.device) * width)[:, None, None]
        val = table[torch.where(inside & (key >= 0), row + key, row + width - 1)]
        wx, wy = u * t - TEXTURE_EXTENT, v * t - TEXTURE_EXTENT
        gx, gy = torch.floor(wx / GRASS_DIM), torch.floor(wy / GRASS_DIM)
        grass = (torch.remainder(gx, 2) == 0) & (torch.remainder(gy, 2) == 0) & (gx >= -20) & (gx < 20) & (gy >= -20) & (gy < 20)
        field = (wx.abs() <= PLAYFIELD) & (wy.abs() <= PLAYFIELD)
        road, red = val != 0, val < 0
        r = torch.where(road, torch.where(red, 255.0, val), torch.where(field, BG[0], 0.0))
        g = torch.where(road, torch.where(red, 0.0, val), torch.where(field, torch.where(grass, GRASS[1], BG[1]), 0.0))
        b = torch.where(road, torch.where(red, 0.0, val), torch.where(field, BG[2], 0.0))
        return torch.stack([r, g, b], dim=-1)

    def _ground(self, bank, slots, state, visited, zoom) -> Tensor:
        """The ground sampled bilinearly from the four texels around each pixel centre."""
        B = state.shape[0]
        t = bank.texel
        u, v = self._texel_coords(state, zoom, t, 0.5)
        u0, v0 = torch.floor(u), torch.floor(v)
        fu, fv = u - u0, v - v0
        size = bank.size
        # ground (background, grass squares, black beyond the playfield) is separable in x and y: its bilinear
        # interpolation over the texel grid is the product of two linear interpolations
        fx = _lerp2(_ground_1d(u0, t), _ground_1d(u0 + 1, t), fu)  # [B, 84, 96, 2]: (in field, grass square)
        fy = _lerp2(_ground_1d(v0, t), _ground_1d(v0 + 1, t), fv)
        field = fx[..., 0] * fy[..., 0]
        grass = fx[..., 1] * fy[..., 1]
        table, width = _key_table(bank, slots, visited)
        texture = bank.keys.reshape(-1)
        base = (slots * (size * size))[:, None, None]
        row_base = (torch.arange(B, device=slots.device) * width + width - 1)[:, None, None]  # the "no road" entry
        road = torch.zeros_like(u)
        grey_sum = torch.zeros_like(u)
        red = torch.zeros_like(u)
        for du in (0, 1):
            for dv in (0, 1):
                uu, vv = u0 + du, v0 + dv
                w = (fu if du else 1 - fu) * (fv if dv else 1 - fv)
                inside = (uu >= 0) & (uu < size) & (vv >= 0) & (vv < size)
                idx = base + (vv.clamp(0, size - 1) * size + uu.clamp(0, size - 1)).long()
                key = texture[idx].long()
                entry = torch.where(inside & (key >= 0), row_base - (width - 1) + key, row_base)
                val = table[entry]
                road = road + w * (val != 0)
                grey_sum = grey_sum + w * val.clamp(min=0)
                red = red + w * (val < 0)
        ground = 1 - road
        r = grey_sum + 255.0 * red + ground * BG[0] * field
        g = grey_sum + ground * (BG[1] * field + (GRASS[1] - BG[1]) * grass)
        b = grey_sum + ground * BG[2] * field
        return torch.stack([r, g, b], dim=-1)

    def _car(self, ground: Tensor, state: Tensor, zoom: Tensor, steps: Tensor) -> Tensor:
        B = state.shape[0]
        r0, r1 = CAR_ROWS
        c0, c1 = CAR_COLS
        inv = (1.0 / zoom)[:, None, None]
        steer = state[:, 6]
        phase = state[:, 12:16]
        wheel = torch.zeros(B, r1 - r0, c1 - c0, device=state.device)
        stripe = torch.zeros_like(wheel)
        n = WHEEL_SUB
        for k, (wx, wy) in enumerate(WHEEL_POS):
            (wr0, wr1, wc0, wc1), (sx, sy) = self.wheel_windows[k], self.wheel_samples[k]
            lx = sx[None, None, :] * inv  # [B, 1, X] car-frame metres
            ly = sy[None, :, None] * inv  # [B, Y, 1]
            a = steer if k < 2 else torch.zeros_like(steer)
            ca, sa = torch.cos(a)[:, None, None], torch.sin(a)[:, None, None]
            dx, dy = lx - wx * SIZE, ly - wy * SIZE
            qx = ca * dx + sa * dy  # wheel-frame coordinates
            qy = -sa * dx + ca * dy
            on = (qx.abs() <= WHEEL_W * SIZE) & (qy.abs() <= WHEEL_R * SIZE)
            a1, a2 = phase[:, k], phase[:, k] + 1.2
            s1, s2, c1_, c2_ = torch.sin(a1), torch.sin(a2), torch.cos(a1), torch.cos(a2)
            c1_ = torch.where(s1 > 0, torch.sign(c1_), c1_)
            c2_ = torch.where(s2 > 0, torch.sign(c2_), c2_)
            lo = (torch.minimum(c1_, c2_) * WHEEL_R * SIZE)[:, None, None]
            hi = (torch.maximum(c1_, c2_) * WHEEL_R * SIZE)[:, None, None]
            drawn = ~((s1 > 0) & (s2 > 0))[:, None, None]
            white = on & drawn & (qy >= lo) & (qy <= hi)
            h, w = wr1 - wr0, wc1 - wc0
            cov = on.float().reshape(B, h, n, w, n).mean(dim=(2, 4))
            st = white.float().reshape(B, h, n, w, n).mean(dim=(2, 4))
            pad = (wc0 - c0, c1 - wc1, wr0 - r0, r1 - wr1)
            wheel = wheel + torch.nn.functional.pad(cov, pad)
            stripe = stripe + torch.nn.functional.pad(st, pad)
        wheel = wheel.clamp(max=1.0)
        patch = ground[:, r0:r1, c0:c1]
        colour = patch * (1 - wheel[..., None]) + WHEEL_WHITE * stripe[..., None]
        h = self.hull[steps.long().clamp(max=FPS - 1)][..., None]  # [B, Y, X, 1]
        hull_c = torch.tensor(HULL, device=state.device)
        ground = ground.clone()
        ground[:, r0:r1, c0:c1] = colour * (1 - h) + h * hull_c
        return ground

    def _indicators(self, state: Tensor, speed: Tensor) -> Tensor:
        B = state.shape[0]
        W, H = WINDOW_W, WINDOW_H
        s, h = W / 40.0, H / 40.0
        out = torch.zeros(B, STATE_H - VIEW_ROWS, STATE_W, 3, device=state.device)
        scale = (W / STATE_W) * (H / STATE_H)

        def rect(x0, x1, y0, y1, colour, value):
            xl, xh = torch.minimum(x0, x1), torch.maximum(x0, x1)
            yl, yh = torch.minimum(y0, y1), torch.maximum(y0, y1)
            cx = (torch.minimum(self.px_hi, xh[:, None]) - torch.maximum(self.px_lo, xl[:, None])).clamp(min=0)  # [B, 96]
            cy = (torch.minimum(self.py_hi, yh[:, None]) - torch.maximum(self.py_lo, yl[:, None])).clamp(min=0)  # [B, 12]
            cov = cy[:, :, None] * cx[:, None, :] / scale * (value.abs() > 1e-4).float()[:, None, None]
            return cov[..., None], torch.tensor(colour, dtype=torch.float32, device=state.device)

        def vertical(place, val, colour, value):
            x0 = torch.full_like(val, place * s)
            return rect(x0, x0 + s, H - (h + h * val), torch.full_like(val, H - h), colour, value)

        def horizontal(place, val, colour, value):
            x0 = torch.full_like(val, place * s)
            return rect(x0, (place + val) * s, torch.full_like(val, H - 4 * h), torch.full_like(val, H - 2 * h), colour, value)

        womega = state[:, 8:12]
        parts = [
            vertical(5, 0.02 * speed, (255, 255, 255), speed),
            vertical(7, 0.01 * womega[:, 0], (0, 0, 255), womega[:, 0]),
            vertical(8, 0.01 * womega[:, 1], (0, 0, 255), womega[:, 1]),
            vertical(9, 0.01 * womega[:, 2], (51, 0, 255), womega[:, 2]),
            vertical(10, 0.01 * womega[:, 3], (51, 0, 255), womega[:, 3]),
            horizontal(20, -10.0 * state[:, 6], (0, 255, 0), state[:, 6]),
            horizontal(30, -0.8 * state[:, 5], (255, 0, 0), state[:, 5]),
        ]
        for cov, colour in parts:
            out = out * (1 - cov) + cov * colour
        return out
