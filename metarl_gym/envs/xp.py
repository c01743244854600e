"""The two array namespaces the env physics is written against: torch batches and one numpy row.

Every MetaRL torch env writes its equations of motion ONCE, as a function of ``xp`` and of state *columns*
(one array per state variable), using only Python arithmetic, comparisons, ``&``/``|`` and the Array API names
below (``cos``, ``sin``, ``where``, ``clip``, ``remainder``, ``zeros_like``, ``ones_like``, ``bool``,
``float32``). Two namespaces run that one function:

* :data:`TORCH`: columns are torch tensors ``[B]`` (the vector env; torch's own functions, so results are
  what the hand-written torch code gave, bit for bit, and ``torch.compile`` traces them);
* :data:`ROW`: columns are numpy scalars of the env dtype (``gym.make`` single envs). One row as numpy
  scalars costs ~30 ns per arithmetic op; the same row as a 1-element torch tensor (or numpy array) costs
  ~0.3-5 us per op, which is what made single envs 20x slower than Gymnasium's.

Why not ``array_api_compat.array_namespace``: numpy's own ``where`` and ``clip`` take 1.6 and 2.9 us on a
scalar (measured), more than a whole CartPole step of Gymnasium, and its torch wrappers add Python calls
between the physics and torch. The names and semantics here are the Array API's, restricted to what the
physics needs.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

TORCH = SimpleNamespace(
    name="torch",
    cos=torch.cos,
    sin=torch.sin,
    where=torch.where,
    clip=torch.clamp,
    remainder=torch.remainder,
    zeros_like=torch.zeros_like,
    ones_like=torch.ones_like,
    bool=torch.bool,
    float32=torch.float32,
)
"""Batched columns: torch tensors ``[B]``."""


def _row_where(condition, x1, x2):
    return x1 if condition else x2


def _row_clip(x, min, max):  # noqa: A002  (Array API argument names)
    # like torch.clamp: NaN passes through, the result keeps x's dtype
    if x < min:
        return type(x)(min)
    if x > max:
        return type(x)(max)
    return x


def _row_zeros_like(x, dtype=None):
    return (dtype or type(x))(0)


def _row_ones_like(x, dtype=None):
    return (dtype or type(x))(1)


ROW = SimpleNamespace(
    name="numpy-row",
    cos=np.cos,
    sin=np.sin,
    where=_row_where,
    clip=_row_clip,
    remainder=np.remainder,
    zeros_like=_row_zeros_like,
    ones_like=_row_ones_like,
    bool=np.bool_,
    float32=np.float32,
)
"""One row: every column a numpy scalar (``np.float32`` / ``np.float64``; ``np.int64`` for Discrete actions)."""


__all__ = ["TORCH", "ROW"]
