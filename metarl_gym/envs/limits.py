"""Allowed ranges of physical parameters, declared once per env class and checked wherever values come in.

An env class lists ``task_limits = {name: Interval}`` (e.g. CartPole's ``masspole: POSITIVE``); the
TorchVectorEnv checks constructor values, ``set_tasks``, ``task_ranges`` bounds and ``set_state`` against them,
and every error names the parameter, the offending value and the allowed range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import UserError


@dataclass(frozen=True)
class Interval:
    """A range of real numbers; ``low_open`` / ``high_open`` exclude the bound itself. Values must be finite."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = True
    high_open: bool = True

    def __str__(self) -> str:
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"{left}{_fmt(self.low)}, {_fmt(self.high)}{right}"

    def describe(self) -> str:
        """The range in words, e.g. ``(0, inf) (positive and finite)``."""
        words = {POSITIVE: " (positive and finite)", NONNEGATIVE: " (>= 0 and finite)", FINITE: " (finite)"}
        return f"{self}{words.get(self, ' (finite)')}"

    def contains(self, value: float) -> bool:
        """Whether the float ``value`` is finite and inside the range."""
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def mask(self, values: torch.Tensor) -> torch.Tensor:
        """Elementwise :meth:`contains` of a tensor (bool, same shape)."""
        above = values > self.low if self.low_open else values >= self.low
        below = values < self.high if self.high_open else values <= self.high
        return torch.isfinite(values) & above & below


FINITE = Interval()
POSITIVE = Interval(0.0, math.inf, low_open=True)
NONNEGATIVE = Interval(0.0, math.inf, low_open=False)


def check_values(what: str, values: torch.Tensor, interval: Interval) -> None:
    """Raise UserError naming ``what``, the first bad value (and its row) and the allowed range.

    Args:
        what: how the user wrote the value, e.g. ``"task 'masspole'"`` or ``"state column 'theta'"``.
        values: ``[N]`` (or 0-d) tensor; reading the result syncs with the device, so call it on input, not per step.
        interval: the allowed range.
    """
    ok = interval.mask(values)
    if bool(ok.all()):
        return
    flat_ok, flat = ok.reshape(-1), values.reshape(-1)
    row = int((~flat_ok).nonzero()[0, 0])
    where = f" (row {row})" if values.ndim > 0 and flat.numel() > 1 else ""
    raise UserError(f"{what} must lie in {interval.describe()}, got {float(flat[row])!r}{where}")


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


__all__ = ["Interval", "FINITE", "POSITIVE", "NONNEGATIVE", "check_values"]
