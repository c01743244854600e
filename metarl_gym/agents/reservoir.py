"""Batched leaky echo-state reservoirs as observation encoders (ER-MRL's reservoir, over whole batches).

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

Classes:
    EchoStateNetwork: the batched reservoir itself (``[N, units]`` state, per-row sr / lr / input scaling).
    MultiReservoirEncoder / ReservoirEncoder: vector observation wrappers over torch vector envs.
    ReservoirObservation: the same encoder over one numpy ``gymnasium.Env``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space
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


# ---------------------------------------------------------------------------------------------- shared encoder
class _Encoder:
    """The part shared by the vector and single-env wrappers: input building, reservoirs, output building."""

    def _setup(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        num_rows: int,
        reservoirs: Sequence[dict[str, Any]],
        use_action: bool,
        use_reward: bool,
        skip_connection: bool,
        seed: int | None,
        device,
    ) -> gym.spaces.Box:
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(
                f"a reservoir encodes flat Box observations, got {observation_space}; flatten the observation first "
                "(e.g. gymnasium.wrappers.FlattenObservation)"
            )
        if isinstance(action_space, gym.spaces.Discrete):
            action_dim = int(action_space.n)
        elif isinstance(action_space, gym.spaces.Box):
            action_dim = int(np.prod(action_space.shape))
        else:
            raise ValueError(f"a reservoir takes Discrete or Box actions as input, got {action_space}; or pass use_action=False")
        if isinstance(reservoirs, dict) or not reservoirs or not all(isinstance(r, dict) for r in reservoirs):
            raise ValueError(
                f"reservoirs must be a non-empty list of dicts of reservoir arguments (keys {list(RESERVOIR_KEYS)}), "
                f"got {reservoirs!r}; for one reservoir use ReservoirEncoder(env, units=..., ...)"
            )
        self.use_action, self.use_reward, self.skip_connection = bool(use_action), bool(use_reward), bool(skip_connection)
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.num_rows = num_rows
        self.obs_dim = int(observation_space.shape[0])
        self.action_dim = action_dim if self.use_action else 0
        self._action_space = action_space
        input_dim = self.obs_dim + self.action_dim + int(self.use_reward)
        self.reservoirs: list[EchoStateNetwork] = []
        for k, kwargs in enumerate(reservoirs):
            unknown = set(kwargs) - set(RESERVOIR_KEYS)
            if unknown:
                raise ValueError(f"reservoir {k} has unknown keys {sorted(unknown)}; allowed: {list(RESERVOIR_KEYS)}")
            kwargs = dict(kwargs)
            if kwargs.get("seed") is None:
                kwargs["seed"] = None if seed is None else int(seed) + k
            self.reservoirs.append(EchoStateNetwork(input_dim, num_rows, device=self.device, **kwargs))
        self.total_units = sum(r.units for r in self.reservoirs)
        self._prev_action = torch.zeros(num_rows, self.action_dim, device=self.device)
        self._prev_reward = torch.zeros(num_rows, 1, device=self.device)

        low = np.full(self.total_units, -1.0, dtype=np.float32)
        high = np.full(self.total_units, 1.0, dtype=np.float32)
        if self.skip_connection:
            low = np.concatenate([low, observation_space.low.astype(np.float32)])
            high = np.concatenate([high, observation_space.high.astype(np.float32)])
        return gym.spaces.Box(low, high, dtype=np.float32)

    def _encode_action(self, actions) -> Tensor:
        """Actions ``[N, *action_shape]`` -> reservoir input ``[N, action_dim]`` (one-hot for Discrete)."""
        actions = torch.as_tensor(np.asarray(actions) if not isinstance(actions, Tensor) else actions, device=self.device)
        if isinstance(self._action_space, gym.spaces.Discrete):
            index = actions.reshape(self.num_rows).to(torch.int64) - int(self._action_space.start)
            return torch.nn.functional.one_hot(index, int(self._action_space.n)).to(torch.float32)
        return actions.reshape(self.num_rows, -1).to(torch.float32)

    def _inputs(self, obs: Tensor) -> Tensor:
        parts = [obs.to(self.device, torch.float32).reshape(self.num_rows, self.obs_dim)]
        if self.use_action:
            parts.append(self._prev_action)
        if self.use_reward:
            parts.append(self._prev_reward)
        return torch.cat(parts, dim=1)

    def _start(self, obs: Tensor, mask: Tensor | None) -> Tensor:
        """Episode start of the rows in ``mask``: zero state, zero action and reward inputs, one update."""
        if mask is None:
            mask = torch.ones(self.num_rows, dtype=torch.bool, device=self.device)
        self._prev_action = torch.where(mask[:, None], torch.zeros((), device=self.device), self._prev_action)
        self._prev_reward = torch.where(mask[:, None], torch.zeros((), device=self.device), self._prev_reward)
        inputs = self._inputs(obs)
        for reservoir in self.reservoirs:
            reservoir.reset(mask)
            reservoir.step(inputs, mask)
        return self._output(obs)

    def _advance(self, obs: Tensor, actions, rewards, restarting: Tensor | None) -> Tensor:
        """One env step: inputs (obs, previous action, reward); rows in ``restarting`` begin an episode."""
        if self.use_action:
            self._prev_action = self._encode_action(actions)
        if self.use_reward:
            rewards = torch.as_tensor(rewards, device=self.device, dtype=torch.float32)
            self._prev_reward = rewards.reshape(self.num_rows, 1)
        if restarting is not None and bool(restarting.any()):
            zero = torch.zeros((), device=self.device)
            self._prev_action = torch.where(restarting[:, None], zero, self._prev_action)
            self._prev_reward = torch.where(restarting[:, None], zero, self._prev_reward)
            for reservoir in self.reservoirs:
                reservoir.reset(restarting)
        inputs = self._inputs(obs)
        for reservoir in self.reservoirs:
            reservoir.step(inputs)
        return self._output(obs)

    def _output(self, obs: Tensor) -> Tensor:
        parts = [reservoir.state for reservoir in self.reservoirs]
        if self.skip_connection:
            parts.append(obs.to(self.device, torch.float32).reshape(self.num_rows, self.obs_dim))
        return torch.cat(parts, dim=1)


def _reservoir_list(reservoirs, kwargs) -> list[dict[str, Any]]:
    if reservoirs is None:
        return [kwargs]
    if kwargs:
        raise ValueError(f"pass reservoir arguments either as reservoirs=[...] or as keywords, not both (got {sorted(kwargs)})")
    return [dict(r) for r in reservoirs]


# ---------------------------------------------------------------------------------------------- wrappers
class MultiReservoirEncoder(VectorWrapper):
    """Observation -> concatenated states of several echo-state reservoirs, over a torch vector env.

    ER-MRL's ``MultiReservoirWrapper``: reservoir k has its own hyper-parameters and seed ``seed + k``; the
    policy observes the concatenation of the states (plus the observation with ``skip_connection=True``).

    Each step the reservoirs take ``u = [obs, previous action, previous reward]`` (``[N, obs_dim +
    action_dim + 1]``; the action one-hot for Discrete spaces; the real action the agent took — ER-MRL's
    code, by a bug, feeds zeros instead). At an episode start — ``reset``, a partial reset
    ``reset(options={"reset_mask": mask})``, or a row that the env restarts by next-step autoreset — the
    row's state is zeroed and its action and reward inputs are zero.

    Args:
        env: a torch vector env (``TorchVectorEnv``, possibly wrapped) with NEXT_STEP or DISABLED autoreset
            and flat Box observations.
        reservoirs: one dict of :class:`EchoStateNetwork` arguments per reservoir (keys ``RESERVOIR_KEYS``;
            ``spectral_radius``, ``leak_rate`` and ``input_scaling`` may be ``[N]`` tensors: per-row values).
        use_action: feed the previous action into the reservoirs.
        use_reward: feed the previous reward into the reservoirs.
        skip_connection: output ``[states, obs]`` instead of ``states``.
        seed: seed of reservoir k is ``seed + k`` unless its dict names one.

    Observation space: ``Box(-1, 1, (sum units,), float32)`` (with the env's own bounds appended under
    ``skip_connection``).
    """

    def __init__(
        self,
        env: VectorEnv,
        reservoirs: Sequence[dict[str, Any]],
        *,
        use_action: bool = True,
        use_reward: bool = True,
        skip_connection: bool = False,
        seed: int | None = None,
    ):
        if isinstance(env, gym.Env):
            raise TypeError("MultiReservoirEncoder wraps a vector env; for one gymnasium.Env use ReservoirObservation")
        super().__init__(env)
        self.autoreset_mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if self.autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED):
            raise ValueError(
                f"reservoir encoders need NEXT_STEP or DISABLED autoreset, got {self.autoreset_mode}; make the env with "
                "autoreset_mode='next_step' (SB3VecEnv turns next-step envs into same-step resets itself)"
            )
        self.encoder = _Encoder()
        single = self.encoder._setup(
            env.single_observation_space,
            env.single_action_space,
            env.num_envs,
            reservoirs,
            use_action,
            use_reward,
            skip_connection,
            seed,
            getattr(env.unwrapped, "device", None),
        )
        self.single_observation_space = single
        self.observation_space = batch_space(single, env.num_envs)
        self._restarting = torch.zeros(env.num_envs, dtype=torch.bool, device=self.encoder.device)

    @property
    def reservoirs(self) -> list[EchoStateNetwork]:
        """The :class:`EchoStateNetwork` of each reservoir."""
        return self.encoder.reservoirs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the env (all rows or ``options["reset_mask"]``) and start those rows' reservoirs afresh."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._check_torch(obs)
        mask = (options or {}).get("reset_mask")
        if mask is not None:
            mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask, device=self.encoder.device)
            self._restarting = self._restarting & ~mask
        else:
            self._restarting = torch.zeros_like(self._restarting)
        return self.encoder._start(obs, mask), info

    def step(self, actions):
        """Step the env and the reservoirs; returns ``(states [N, out_dim], rewards, terminations, truncations, infos)``."""
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        self._check_torch(obs)
        restarting = self._restarting if self.autoreset_mode == AutoresetMode.NEXT_STEP else None
        out = self.encoder._advance(obs, actions, rewards, restarting)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._restarting = torch.as_tensor(terminations | truncations, device=self.encoder.device)
        return out, rewards, terminations, truncations, infos

    @staticmethod
    def _check_torch(obs) -> None:
        if not isinstance(obs, Tensor):
            raise TypeError(
                f"reservoir encoders take torch observations, got {type(obs).__name__}; put the encoder below any "
                "numpy conversion (e.g. ToNumpy(ReservoirEncoder(env)))"
            )


class ReservoirEncoder(MultiReservoirEncoder):
    """One echo-state reservoir as a vector observation wrapper (ER-MRL's ``ReservoirWrapper``, batched).

    Example:
        >>> env = gym.make_vec("MetaRL/CartPole-v1", num_envs=8, vectorization_mode="vector_entry_point")
        >>> env = ReservoirEncoder(env, units=100, spectral_radius=0.9, leak_rate=0.3, seed=0)
        >>> obs, _ = env.reset(seed=0)     # [8, 100] reservoir states

    Args:
        env: a torch vector env (see :class:`MultiReservoirEncoder`).
        units, spectral_radius, leak_rate, input_scaling, rc_connectivity, input_connectivity, bias_scaling:
            see :class:`EchoStateNetwork` (reservoirpy: units, sr, lr, input_scaling, rc_connectivity,
            input_connectivity, bias_scaling).
        use_action, use_reward, skip_connection: see :class:`MultiReservoirEncoder`.
        seed: seed of the random matrices.
    """

    def __init__(
        self,
        env: VectorEnv,
        units: int = 100,
        spectral_radius: float | Tensor = 1.0,
        leak_rate: float | Tensor = 1.0,
        input_scaling: float | Tensor = 1.0,
        rc_connectivity: float = 0.1,
        input_connectivity: float = 0.1,
        bias_scaling: float = 1.0,
        *,
        use_action: bool = True,
        use_reward: bool = True,
        skip_connection: bool = False,
        seed: int | None = None,
    ):
        reservoir = dict(
            units=units,
            spectral_radius=spectral_radius,
            leak_rate=leak_rate,
            input_scaling=input_scaling,
            rc_connectivity=rc_connectivity,
            input_connectivity=input_connectivity,
            bias_scaling=bias_scaling,
        )
        super().__init__(env, [reservoir], use_action=use_action, use_reward=use_reward, skip_connection=skip_connection, seed=seed)

    @property
    def reservoir(self) -> EchoStateNetwork:
        """The one :class:`EchoStateNetwork`."""
        return self.encoder.reservoirs[0]


class ReservoirObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The reservoir encoder over one numpy ``gymnasium.Env`` (numpy float32 observations out).

    Example:
        >>> env = ReservoirObservation(gym.make("CartPole-v1"), units=50, spectral_radius=0.9, leak_rate=0.5, seed=0)
        >>> env = ReservoirObservation(gym.make("CartPole-v1"), reservoirs=[dict(units=50), dict(units=50)], seed=0)

    Args:
        env: a Gymnasium env with a flat Box observation space.
        reservoirs: several reservoirs (as :class:`MultiReservoirEncoder`), or None for one built from
            ``**reservoir_kwargs`` (as :class:`ReservoirEncoder`).
        use_action, use_reward, skip_connection, seed: see :class:`MultiReservoirEncoder`.
        **reservoir_kwargs: one reservoir's arguments (``units``, ``spectral_radius``, ...).
    """

    def __init__(
        self,
        env: gym.Env,
        reservoirs: Sequence[dict[str, Any]] | None = None,
        *,
        use_action: bool = True,
        use_reward: bool = True,
        skip_connection: bool = False,
        seed: int | None = None,
        **reservoir_kwargs,
    ):
        if isinstance(env, VectorEnv):
            raise TypeError("ReservoirObservation wraps one gymnasium.Env; for a vector env use ReservoirEncoder")
        gym.utils.RecordConstructorArgs.__init__(
            self, reservoirs=reservoirs, use_action=use_action, use_reward=use_reward, skip_connection=skip_connection, seed=seed, **reservoir_kwargs
        )
        gym.Wrapper.__init__(self, env)
        self.encoder = _Encoder()
        self.observation_space = self.encoder._setup(
            env.observation_space,
            env.action_space,
            1,
            _reservoir_list(reservoirs, reservoir_kwargs),
            use_action,
            use_reward,
            skip_connection,
            seed,
            None,
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        out = self.encoder._start(torch.as_tensor(np.asarray(obs, dtype=np.float32))[None], None)
        return out[0].numpy(), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32))[None]
        out = self.encoder._advance(obs_t, np.asarray(action)[None], np.array([reward], dtype=np.float32), None)
        return out[0].numpy(), reward, terminated, truncated, info
