"""The tracks of a batch as tensors (one slot per row) and the wheels' tile contacts, batched.

A :class:`TrackBank` holds, per slot, the tile quadrilaterals of that slot's track (padded to :data:`MAX_TILES`),
their centres, colours and kerbs, and the rasterised key texture the renderer samples
(:mod:`~metarl_gym.envs.carracing.render`). A state row names its slot in its ``track`` column, so the pure
functions ``transition`` / ``observe`` work on any slice of rows: the bank is configuration they only read, written
when a row resets.

Contacts: a wheel touches a tile where their polygons overlap within Box2D's 2 cm (separating-axis test). The
tiles tested are the five around the tile whose centre is nearest the car (one per-row lookup over all tiles),
which covers every tile a wheel can reach unless the track crosses itself under the car.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import Tensor

from .car import CONTACT_MARGIN, WHEEL_R, WHEEL_W, SIZE
from .track import Track

MAX_TILES = 512
"""Tiles per track the bank holds (CarRacing-v3 tracks have 224-366 tiles over seeds 0-299)."""
CANDIDATES = 5
"""Tiles tested per wheel: the nearest tile and two on each side of it."""
TEXTURE_EXTENT = 256.0
"""The key texture covers [-256, 256]^2 m (tracks stay within +-247 m; the playfield is +-333 m)."""
_FAR = 1.0e4


class TrackBank:
    """Per-slot track tensors on ``device``.

    Attributes:
        tiles: ``[S, MAX_TILES, 4, 2]`` tile corners (padding far away).
        centres: ``[S, MAX_TILES, 2]``.
        num_tiles: ``[S]`` int64.
        shade: ``[S, MAX_TILES]`` the unvisited tile's grey (102, 104 or 107: ``road_color + 0.01 (i % 3) 255``).
        keys: ``[S, G, G]`` int16 texture: for each ``texel`` m cell, ``2 i`` where tile i is drawn last over the
            cell centre, ``2 i + 1`` where its kerb is, -1 elsewhere (see :mod:`.render`).
    """

    def __init__(self, slots: int, device: torch.device, dtype: torch.dtype, texel: float):
        self.device, self.dtype, self.texel = device, dtype, float(texel)
        self.size = int(round(2 * TEXTURE_EXTENT / self.texel))
        self.tiles = torch.full((slots, MAX_TILES, 4, 2), _FAR, dtype=dtype, device=device)
        self.centres = torch.full((slots, MAX_TILES, 2), _FAR, dtype=dtype, device=device)
        self.num_tiles = torch.ones(slots, dtype=torch.int64, device=device)
        self.shade = torch.full((slots, MAX_TILES), 102.0, dtype=torch.float32, device=device)
        self.start = torch.zeros(slots, 3, dtype=dtype, device=device)
        self.keys = torch.full((slots, self.size, self.size), -1, dtype=torch.int16, device=device)

    def write(self, slot: int, track: Track) -> None:
        """Store ``track`` in ``slot`` (host work: the key texture is rasterised with numpy)."""
        n = track.num_tiles
        if n > MAX_TILES:
            raise ValueError(f"a track of {n} tiles exceeds MAX_TILES={MAX_TILES}; raise MAX_TILES in road.py")
        tiles = np.full((MAX_TILES, 4, 2), _FAR)
        tiles[:n] = track.tiles
        self.tiles[slot] = torch.as_tensor(tiles, dtype=self.dtype)
        self.centres[slot] = torch.as_tensor(tiles.mean(axis=1), dtype=self.dtype)
        self.num_tiles[slot] = n
        shade = np.full(MAX_TILES, 102.0, dtype=np.float32)
        shade[:n] = [int(102 + 0.01 * (i % 3) * 255) for i in range(n)]
        self.shade[slot] = torch.as_tensor(shade)
        self.start[slot] = torch.as_tensor(track.points[0, 1:4], dtype=self.dtype)
        self.keys[slot] = torch.as_tensor(rasterize_keys(track, self.texel, self.size))


def rasterize_keys(track: Track, texel: float, size: int) -> np.ndarray:
    """The key texture ``[size, size]`` int16 of one track: texel (r, c) has centre
    ``(-TEXTURE_EXTENT + (c + 0.5) texel, -TEXTURE_EXTENT + (r + 0.5) texel)``; tiles and kerbs painted in
    CarRacing-v3's drawing order (tile 0, its kerb, tile 1, ...), the last one over a centre wins."""
    polys, keys = [], []
    for i in range(track.num_tiles):
        polys.append(track.tiles[i])
        keys.append(2 * i)
        if track.border[i]:
            polys.append(track.border_polys[i])
            keys.append(2 * i + 1)
    polys = np.asarray(polys)  # [P, 4, 2]
    keys = np.asarray(keys, dtype=np.int16)
    out = np.full((size, size), -1, dtype=np.int16)
    lo = np.floor((polys.min(axis=1) + TEXTURE_EXTENT) / texel - 0.5).astype(int)  # [P, 2] first texel (x, y)
    hi = np.ceil((polys.max(axis=1) + TEXTURE_EXTENT) / texel - 0.5).astype(int)
    span = int((hi - lo).max()) + 1
    offs = np.arange(span)
    cx = lo[:, 0:1] + offs  # [P, span]
    cy = lo[:, 1:2] + offs
    px = (-TEXTURE_EXTENT + (cx + 0.5) * texel)[:, None, :]  # [P, 1, span]
    py = (-TEXTURE_EXTENT + (cy + 0.5) * texel)[:, :, None]  # [P, span, 1]
    inside = np.ones((len(polys), span, span), dtype=bool)
    area2 = 0.0
    for e in range(4):
        a, b = polys[:, e], polys[:, (e + 1) % 4]
        area2 = area2 + a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    sign = np.sign(area2)[:, None, None]
    for e in range(4):
        a, b = polys[:, e], polys[:, (e + 1) % 4]
        cross = (b[:, 0] - a[:, 0])[:, None, None] * (py - a[:, 1][:, None, None]) - (b[:, 1] - a[:, 1])[:, None, None] * (px - a[:, 0][:, None, None])
        inside &= sign * cross >= 0
    valid = (cx >= 0)[:, None, :] & (cx < size)[:, None, :] & (cy >= 0)[:, :, None] & (cy < size)[:, :, None]
    inside &= valid
    p_idx, r, c = np.nonzero(inside)
    rows, cols = cy[p_idx, r], cx[p_idx, c]
    order = np.argsort(p_idx, kind="stable")  # later polygons overwrite earlier ones
    out[rows[order], cols[order]] = keys[p_idx[order]]
    return out


def _outward_normals(quads: Tensor) -> Tensor:
    """Unit outward normals ``[..., 4, 2]`` of convex quadrilaterals ``[..., 4, 2]`` (either orientation)."""
    edges = torch.roll(quads, -1, dims=-2) - quads
    normals = torch.stack([edges[..., 1], -edges[..., 0]], dim=-1)
    normals = normals / torch.clamp(normals.norm(dim=-1, keepdim=True), min=1e-12)
    centre = quads.mean(dim=-2, keepdim=True)
    outward = ((quads - centre) * normals).sum(-1, keepdim=True) >= 0
    return torch.where(outward, normals, -normals)


def wheel_contacts(bank: TrackBank, slots: Tensor, car_xy: Tensor, wheel_xy: Tensor, forward: Tensor, side: Tensor) -> tuple[Tensor, Tensor]:
    """Which candidate tiles each wheel touches.

    Args:
        bank: the tracks; ``slots [B]`` int64 the rows' slots.
        car_xy: ``[B, 2]`` hull position (picks the nearest tile).
        wheel_xy, forward, side: ``[B, 4, 2]`` wheel centres and unit axes.

    Returns:
        ``(touch [B, 4, CANDIDATES] bool, candidates [B, CANDIDATES] int64 tile indices)``.
    """
    centres = bank.centres[slots]  # [B, T, 2]
    d2 = ((centres - car_xy[:, None, :]) ** 2).sum(-1)
    nearest = d2.argmin(dim=1)
    n = bank.num_tiles[slots]
    offsets = torch.arange(-(CANDIDATES // 2), CANDIDATES // 2 + 1, device=slots.device)
    cand = torch.remainder(nearest[:, None] + offsets, n[:, None])  # [B, K]
    quads = bank.tiles[slots[:, None], cand]  # [B, K, 4, 2]
    normals = _outward_normals(quads)
    hw = WHEEL_W * SIZE + CONTACT_MARGIN
    hl = WHEEL_R * SIZE + CONTACT_MARGIN
    # wheel axes: project the quad corners relative to each wheel centre
    rel = quads[:, None] - wheel_xy[:, :, None, None, :]  # [B, 4, K, 4, 2]
    du = (rel * side[:, :, None, None, :]).sum(-1)
    df = (rel * forward[:, :, None, None, :]).sum(-1)
    sep = (du.min(-1).values > hw) | (du.max(-1).values < -hw) | (df.min(-1).values > hl) | (df.max(-1).values < -hl)
    # quad axes: the wheel's interval against the quad's own interval along each outward normal
    q_on_n = (quads[:, :, None, :, :] * normals[:, :, :, None, :]).sum(-1)  # [B, K, 4 normals, 4 corners]
    qmax, qmin = q_on_n.max(-1).values, q_on_n.min(-1).values  # [B, K, 4]
    centre_on_n = (wheel_xy[:, :, None, None, :] * normals[:, None]).sum(-1)  # [B, 4w, K, 4n]
    ext = (WHEEL_W * SIZE) * (side[:, :, None, None, :] * normals[:, None]).sum(-1).abs() + (WHEEL_R * SIZE) * (
        forward[:, :, None, None, :] * normals[:, None]
    ).sum(-1).abs()
    sep = sep | ((centre_on_n - ext > qmax[:, None] + CONTACT_MARGIN) | (centre_on_n + ext < qmin[:, None] - CONTACT_MARGIN)).any(-1)
    return ~sep, cand
