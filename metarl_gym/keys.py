"""Counter-based random numbers keyed per row: one individual, one answer.

A torch ``Generator`` is one stream shared by every row of a batch, so what row i draws depends on how many numbers
the rows before it drew (its neighbours, the batch it happened to land in). Here every random draw is a pure
function of an int64 *key*, as JAX's explicit keys are: a row's key is derived from (evaluation seed, global row
index), an episode's from (row key, episode index), and every consumer derives its own stream from it with
:func:`key`. Whatever else runs in the batch, on which device, in which block or slice, row i draws the same
numbers.

The generator is SplitMix64 (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators"): number
``c`` of the stream of key ``k`` is ``fmix64(k + (c + 1) * GOLDEN)``, computed for all rows and counters in one
int64 tensor expression (wrapping multiplication, logical shifts), so it runs inside ``torch.compile`` graphs and
on any device, bit for bit the same integers everywhere.

Streams used by the package (each consumer keys its draws with one of these, so streams never overlap):
"""

from __future__ import annotations

import math
import secrets

import torch
from torch import Tensor

START = 1
"""Env starting states (episode key)."""
TASK = 2
"""Task parameters drawn from ``task_ranges`` (episode key)."""
POLICY_INIT = 3
"""A policy's initial lifetime state: random initial weights (row key)."""
POLICY_NOISE = 4
"""A policy's per-step noise (row key, step)."""
ENV_EVENT = 5
"""Random events inside an episode (e.g. a ball launch after a point): (episode key, event counter)."""


def _signed(value: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    value %= 1 << 64
    return value - (1 << 64) if value >= 1 << 63 else value


GOLDEN = _signed(0x9E3779B97F4A7C15)
_M1 = _signed(0xBF58476D1CE4E5B9)
_M2 = _signed(0x94D049BB133111EB)


def _shr(z: Tensor, s: int) -> Tensor:
    """Logical right shift of int64 bits (torch's ``>>`` is arithmetic)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def fmix(z: Tensor) -> Tensor:
    """SplitMix64's finaliser: a bijection of int64 that spreads every input bit over every output bit."""
    z = (z ^ _shr(z, 30)) * _M1
    z = (z ^ _shr(z, 27)) * _M2
    return z ^ _shr(z, 31)


def _as_int64(part, device) -> Tensor:
    if isinstance(part, Tensor):
        if part.is_floating_point() or part.is_complex() or part.dtype == torch.bool:
            raise TypeError(f"keys are integers, got a {part.dtype} tensor")
        return part.to(device=device if device is not None else part.device, dtype=torch.int64)
    if isinstance(part, bool) or not isinstance(part, int):
        raise TypeError(f"keys are integers or int64 tensors, got {part!r}")
    return torch.tensor(_signed(part), dtype=torch.int64, device=device)


def key(*parts, device=None) -> Tensor:
    """One key from several integers or int64 tensors (broadcast together), in order: ``key(a, b) != key(b, a)``.

    Example: ``key(seed, generation, rows)`` gives ``[len(rows)]`` keys, one per row.
    """
    if not parts:
        raise TypeError("key() needs at least one part")
    if device is None:
        device = next((p.device for p in parts if isinstance(p, Tensor)), None)
    k = fmix(_as_int64(parts[0], device) + GOLDEN)
    for part in parts[1:]:
        k = fmix((k + GOLDEN) ^ _as_int64(part, device))
    return k


def random_keys(n: int, device=None) -> Tensor:
    """``[n]`` fresh keys from the operating system's entropy (for draws nobody asked to be reproducible)."""
    return key(secrets.randbits(63), torch.arange(n, device=device))


def bits(keys: Tensor, count: int) -> Tensor:
    """``[*keys.shape, count]`` int64: the first ``count`` numbers of every key's SplitMix64 stream."""
    counters = torch.arange(1, count + 1, dtype=torch.int64, device=keys.device) * GOLDEN
    return fmix(keys.unsqueeze(-1) + counters)


CPU_CHUNK = 1 << 14
"""Hashes per chunk on the CPU: the int64 temporaries of a chunk (128 KB) stay in the L2 cache. One pass over the
whole batch instead streams ~10 temporaries of the full size through DRAM: measured 10x slower than torch.rand at
11.5 M draws (a Hebbian population of 10,000 initial weight sets), chunked about as fast. Other devices hash the
whole batch in one pass (kernel launches are what costs there)."""


def _fmix_(z: Tensor) -> Tensor:
    """:func:`fmix` in place (``z`` is a fresh temporary)."""
    z ^= _shr(z, 30)
    z *= _M1
    z ^= _shr(z, 27)
    z *= _M2
    z ^= _shr(z, 31)
    return z


def uniform(keys: Tensor, shape: tuple[int, ...] | int = (), dtype: torch.dtype = torch.float32) -> Tensor:
    """``[*keys.shape, *shape]`` uniform draws in [0, 1), each row a function of its key alone.

    float64: 53 random bits per number, number c of a row from hash c of its stream (:func:`bits`). Other dtypes:
    24 bits per number, two numbers per hash: with h = ceil(n / 2) hashes per row, number c < h takes the high 24
    bits of hash c, number h + c the low-middle 24 bits of hash c.
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    count = math.prod(shape)
    flat = keys.reshape(-1)
    wide = dtype == torch.float64
    hashes = count if wide else (count + 1) // 2
    out = torch.empty(flat.shape[0], hashes if wide else 2 * hashes, dtype=torch.float64 if wide else torch.float32,
                      device=keys.device)
    counters = torch.arange(1, hashes + 1, dtype=torch.int64, device=keys.device) * GOLDEN
    step = max(1, CPU_CHUNK // max(1, hashes)) if keys.device.type == "cpu" else max(1, flat.shape[0])
    for start in range(0, flat.shape[0], step):
        z = _fmix_(flat[start : start + step, None] + counters)
        if wide:
            out[start : start + step] = _shr(z, 11).to(torch.float64)
        else:
            out[start : start + step, :hashes] = _shr(z, 40).to(torch.float32)
            out[start : start + step, hashes:] = (_shr(z, 8) & 0xFFFFFF).to(torch.float32)
    out *= 2.0**-53 if wide else 2.0**-24
    return out[:, :count].to(dtype).reshape(*keys.shape, *shape)


def normal(keys: Tensor, shape: tuple[int, ...] | int = (), dtype: torch.dtype = torch.float32) -> Tensor:
    """``[*keys.shape, *shape]`` standard normal draws (Box-Muller on two uniforms per number)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    n = math.prod(shape)
    u = uniform(keys, 2 * n, dtype)
    radius = torch.sqrt(-2.0 * torch.log1p(-u[..., :n]))  # 1 - u lies in (0, 1]: the log is finite
    z = radius * torch.cos((2.0 * math.pi) * u[..., n:])
    return z.reshape(*keys.shape, *shape)


def row_keys(seed: int | Tensor | None, pop: int, copies: int = 1, device=None) -> Tensor:
    """``[pop * copies]`` int64: the key of every row of an evaluation.

    Individual j's key is ``keys.key(seed, j)`` for an int ``seed``, ``seed[j]`` for a ``[pop]`` int64 tensor of
    individual keys (how :mod:`~metarl_gym.evolution.evaluate` keys global indices), fresh entropy for None. Copy c
    of individual j (row ``j * copies + c``) gets ``keys.key(individual key, c)``. Env starts, tasks and the
    policy's lifetime draws of a row all derive from its key, so a row's lifetime depends on nothing else.
    """
    if seed is None:
        individual = random_keys(pop, device)
    elif isinstance(seed, Tensor):
        if seed.shape != (pop,) or seed.is_floating_point() or seed.dtype == torch.bool:
            raise ValueError(f"seed as a tensor must hold one int64 key per individual, shape [{pop}], got {seed.dtype} {tuple(seed.shape)}")
        individual = seed.to(device=device, dtype=torch.int64)
    else:
        individual = key(int(seed), torch.arange(pop, device=device))
    copy = torch.arange(copies, device=device).repeat(pop)
    return key(individual.repeat_interleave(copies), copy)


__all__ = ["ENV_EVENT", "POLICY_INIT", "POLICY_NOISE", "START", "TASK", "bits", "fmix", "key", "normal", "random_keys", "row_keys", "uniform"]
