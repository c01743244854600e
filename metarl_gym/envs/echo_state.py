"""The batched leaky echo-state network behind the reservoir observation encoders (ER-MRL's reservoir).

An echo-state network (Jaeger 2001, "The 'echo state' approach to analysing and training recurrent neural
networks", GMD Report 148) is a fixed random recurrent network whose state is a rich, fading memory of its
input stream. ER-MRL (Léger, Hamon, Nisioti, Hinaut & Moulin-Frier 2024, "Evolving Reservoirs for
Meta Reinforcement Learning", EvoApplications, arXiv 2312.06695) feeds each observation (and the previous
action and reward) into such a reservoir and lets an RL agent (SB3 PPO) learn a policy on the reservoir state;
an outer CMA-ES evolves the reservoir's hyper-parameters. ER-MRL uses reservoirpy's ``Reservoir``; here it is
re-implemented in torch over a batch of rows, so every env row of a
:class:`~metarl_gym.envs.base.TorchVectorEnv` carries its own reservoir state, and rows may even carry their
own hyper-parameters (a whole population of reservoirs in one batch).

Leaky update (reservoirpy's "internal" equation, tanh activation, no noise)::

    x[t+1] = (1 - lr) * x[t] + lr * tanh(W x[t] + W_in u[t+1] + b)

Argument names and reservoirpy's (``reservoirpy.nodes.Reservoir``):

==================  ===================  ===========================================================
here                reservoirpy          initialisation (reservoirpy's defaults, reproduced)
==================  ===================  ===========================================================
units               units                number of neurons
spectral_radius     sr                   W: normal entries at density rc_connectivity, rescaled so
                                         that max |eig(W)| = sr
leak_rate           lr                   leak rate in (0, 1]
input_scaling       input_scaling        W_in: Bernoulli ±1 at density input_connectivity, × scaling
rc_connectivity     rc_connectivity      density of W
input_connectivity  input_connectivity   density of W_in (and of the bias)
bias_scaling        bias_scaling         bias: Bernoulli ±1 at density input_connectivity, × scaling
seed                seed                 the random matrices (ER-MRL uses the RL seed)
==================  ===================  ===========================================================

A density d over an ``m × n`` matrix places exactly ``round(d·m·n)`` non-zeros at uniformly drawn positions
(``scipy.sparse.random``'s rule, which reservoirpy uses).

This module holds the network itself, :class:`EchoStateNetwork` (``[N, units]`` state, per-row sr / lr /
input scaling). The observation wrappers built on it (``ReservoirEncoder``, ``MultiReservoirEncoder``,
``ReservoirObservation``) are in :mod:`metarl_gym.envs.reservoir`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

RESERVOIRPY_NAMES = {
    "units": "units",
    "spectral_radius": "sr",
    "leak_rate": "lr",
    "input_scaling": "input_scaling",
    "rc_connectivity": "rc_connectivity",
    "input_connectivity": "input_connectivity",
    "bias_scaling": "bias_scaling",
    "seed": "seed",
}
"""Argument name here -> reservoirpy ``Reservoir`` argument name."""

RESERVOIR_KEYS = ("units", "spectral_radius", "leak_rate", "input_scaling", "rc_connectivity", "input_connectivity", "bias_scaling", "seed")
"""The keyword arguments of one reservoir (one entry of ``MultiReservoirEncoder(reservoirs=[...])``)."""


# ---------------------------------------------------------------------------------------------- validation
def _check_units(units) -> int:
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
        raise ValueError(f"units must be a positive integer (number of reservoir neurons), got {units!r}")
    return int(units)


def _check_density(value, name: str) -> float:
    value = float(value)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be in (0, 1] (the fraction of non-zero weights), got {value}")
    return value


def _per_row(value, num_rows: int, name: str, low: float, high: float | None, low_open: bool = True) -> Tensor:
    """A hyper-parameter as a float64 CPU tensor ``[num_rows]``, checked to lie in its range."""
    tensor = torch.as_tensor(value.detach().cpu() if isinstance(value, Tensor) else np.asarray(value, dtype=np.float64), dtype=torch.float64)
    if tensor.ndim == 0:
        tensor = tensor.expand(num_rows).clone()
    if tensor.shape != (num_rows,):
        raise ValueError(f"{name} must be a number or have one value per row, shape [{num_rows}], got shape {tuple(tensor.shape)}")
    bad_low = (tensor <= low) if low_open else (tensor < low)
    bad = ~torch.isfinite(tensor) | bad_low
    if high is not None:
        bad |= tensor > high
    if bool(bad.any()):
        left = "(" if low_open else "["
        right = f"{high}]" if high is not None else "inf)"
        raise ValueError(f"{name} must be in {left}{low}, {right}, got {tensor[bad][0].item()!r}")
    return tensor


# ---------------------------------------------------------------------------------------------- the reservoir
def _sparse_positions(numel: int, density: float, generator: torch.Generator) -> Tensor:
    count = int(round(density * numel))
    return torch.randperm(numel, generator=generator)[:count]


def _sparse_normal(rows: int, cols: int, density: float, generator: torch.Generator) -> Tensor:
    """``[rows, cols]`` float64 with ``round(density·rows·cols)`` standard-normal entries, zeros elsewhere."""
    flat = torch.zeros(rows * cols, dtype=torch.float64)
    positions = _sparse_positions(rows * cols, density, generator)
    flat[positions] = torch.randn(len(positions), generator=generator, dtype=torch.float64)
    return flat.reshape(rows, cols)


def _sparse_bernoulli(rows: int, cols: int, density: float, generator: torch.Generator) -> Tensor:
    """``[rows, cols]`` float64 with ``round(density·rows·cols)`` entries ±1 (p = 1/2), zeros elsewhere."""
    flat = torch.zeros(rows * cols, dtype=torch.float64)
    positions = _sparse_positions(rows * cols, density, generator)
    signs = torch.randint(0, 2, (len(positions),), generator=generator).to(torch.float64) * 2 - 1
    flat[positions] = signs
    return flat.reshape(rows, cols)


def spectral_radius(matrix: Tensor) -> float:
    """Largest absolute eigenvalue of a square matrix (computed in float64 on CPU)."""
    return float(torch.linalg.eigvals(matrix.detach().to("cpu", torch.float64)).abs().max())


class EchoStateNetwork:
    """A batch of ``num_rows`` leaky echo-state reservoirs sharing one set of random matrices.

    The random matrices are drawn once from ``seed`` (on CPU, so every device gets the same reservoir); the
    recurrent matrix is stored with spectral radius 1 and scaled per row by ``spectral_radius``, the input
    matrix likewise by ``input_scaling``. So each row is exactly reservoirpy's
    ``Reservoir(units, sr=spectral_radius[i], lr=leak_rate[i], input_scaling=input_scaling[i], ...)``.

    Args:
        input_dim: size D of one input vector ``u``.
        num_rows: batch size N (one reservoir state per row).
        units: number of neurons U (> 0).
        spectral_radius: sr, > 0; a number or one value per row ``[N]``.
        leak_rate: lr, in (0, 1]; a number or ``[N]``.
        input_scaling: > 0; a number or ``[N]``.
        rc_connectivity: density of W, in (0, 1].
        input_connectivity: density of W_in and of the bias, in (0, 1].
        bias_scaling: >= 0 (0 removes the bias).
        seed: seed of the random matrices (None: a random seed).
        device: torch device of the state and matrices.

    Attributes:
        state: ``[N, U]`` float32 reservoir states.
        W: ``[U, U]`` recurrent matrix with spectral radius 1 (float32).
        W_in: ``[U, D]`` input matrix of ±1 and 0 (float32).
        bias: ``[U]`` bias (float32).
    """

    def __init__(
        self,
        input_dim: int,
        num_rows: int,
        *,
        units: int = 100,
        spectral_radius: float | Sequence[float] | Tensor = 1.0,
        leak_rate: float | Sequence[float] | Tensor = 1.0,
        input_scaling: float | Sequence[float] | Tensor = 1.0,
        rc_connectivity: float = 0.1,
        input_connectivity: float = 0.1,
        bias_scaling: float = 1.0,
        seed: int | None = None,
        device=None,
    ):
        self.units = _check_units(units)
        if isinstance(input_dim, bool) or not isinstance(input_dim, (int, np.integer)) or input_dim <= 0:
            raise ValueError(f"input_dim must be a positive integer, got {input_dim!r}")
        if isinstance(num_rows, bool) or not isinstance(num_rows, (int, np.integer)) or num_rows <= 0:
            raise ValueError(f"num_rows must be a positive integer, got {num_rows!r}")
        self.input_dim, self.num_rows = int(input_dim), int(num_rows)
        self.rc_connectivity = _check_density(rc_connectivity, "rc_connectivity")
        self.input_connectivity = _check_density(input_connectivity, "input_connectivity")
        self.bias_scaling = float(bias_scaling)
        if not np.isfinite(self.bias_scaling) or self.bias_scaling < 0:
            raise ValueError(f"bias_scaling must be a finite number >= 0, got {bias_scaling!r}")
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.seed = seed
        sr = _per_row(spectral_radius, self.num_rows, "spectral_radius", 0.0, None)
        lr = _per_row(leak_rate, self.num_rows, "leak_rate", 0.0, 1.0)
        iss = _per_row(input_scaling, self.num_rows, "input_scaling", 0.0, None)

        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
        w_unit = self._draw_recurrent(generator)
        w_in = _sparse_bernoulli(self.units, self.input_dim, self.input_connectivity, generator)
        bias = _sparse_bernoulli(self.units, 1, self.input_connectivity, generator)[:, 0] * self.bias_scaling

        self.W = w_unit.to(self.device, torch.float32)
        self.W_in = w_in.to(self.device, torch.float32)
        self.bias = bias.to(self.device, torch.float32)
        self.spectral_radius = sr.to(self.device, torch.float32)
        self.leak_rate = lr.to(self.device, torch.float32)
        self.input_scaling = iss.to(self.device, torch.float32)
        self.state = torch.zeros(self.num_rows, self.units, device=self.device)

    def _draw_recurrent(self, generator: torch.Generator) -> Tensor:
        """W at density rc_connectivity with normal entries, rescaled to spectral radius 1 (float64)."""
        for _ in range(10):
            w = _sparse_normal(self.units, self.units, self.rc_connectivity, generator)
            rho = spectral_radius(w)
            if rho > 1e-8:
                return w / rho
        raise ValueError(
            f"the recurrent matrix drawn with units={self.units}, rc_connectivity={self.rc_connectivity} has "
            "spectral radius 0 (too few connections to form a cycle); increase units or rc_connectivity"
        )

    def recurrent_matrix(self, row: int = 0) -> Tensor:
        """Row ``row``'s recurrent matrix ``sr[row] · W``, ``[U, U]`` (reservoirpy's ``W``)."""
        return self.spectral_radius[row] * self.W

    def input_matrix(self, row: int = 0) -> Tensor:
        """Row ``row``'s input matrix ``input_scaling[row] · W_in``, ``[U, D]`` (reservoirpy's ``Win``)."""
        return self.input_scaling[row] * self.W_in

    def reset(self, mask: Tensor | None = None) -> None:
        """Zero the state of the rows in ``mask`` (``[N]`` bool; default all)."""
        if mask is None:
            self.state = torch.zeros_like(self.state)
        else:
            self.state = torch.where(mask[:, None], torch.zeros((), device=self.device), self.state)

    def step(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        """One leaky update of every row (or only of the rows in ``mask``; the others keep their state).

        Args:
            inputs: ``[N, D]`` input vectors ``u``.
            mask: ``[N]`` bool, rows to update (default all).

        Returns:
            The new state ``[N, U]``.
        """
        inputs = inputs.to(self.device, torch.float32)
        if inputs.shape != (self.num_rows, self.input_dim):
            raise ValueError(f"reservoir inputs must have shape [{self.num_rows}, {self.input_dim}], got {tuple(inputs.shape)}")
        pre = (
            self.spectral_radius[:, None] * (self.state @ self.W.T)
            + self.input_scaling[:, None] * (inputs @ self.W_in.T)
            + self.bias
        )
        lr = self.leak_rate[:, None]
        new = (1 - lr) * self.state + lr * torch.tanh(pre)
        self.state = new if mask is None else torch.where(mask[:, None], new, self.state)
        return self.state
