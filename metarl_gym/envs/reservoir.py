"""Reservoir observation encoders: an echo-state network fed with the observation stream, as env wrappers.

ER-MRL (Léger, Hamon, Nisioti, Hinaut & Moulin-Frier 2024, "Evolving Reservoirs for Meta Reinforcement
Learning", EvoApplications, arXiv 2312.06695) feeds each observation (and the previous action and reward) into
a reservoir and lets an RL agent learn on the reservoir state. The reservoir is
:class:`~metarl_gym.envs.echo_state.EchoStateNetwork` (batched over env rows); these wrappers give it the
stream of a :class:`~metarl_gym.envs.base.TorchVectorEnv` (one reservoir state per row) or of one numpy
``gymnasium.Env``.

Classes:
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

from .base import vector_env_device
from .echo_state import RESERVOIR_KEYS, EchoStateNetwork

__all__ = ["MultiReservoirEncoder", "ReservoirEncoder", "ReservoirObservation", "RESERVOIR_KEYS"]


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
        env: a torch vector env (``TorchVectorEnv``, possibly wrapped, or Gymnasium's sync / async env behind
            ``NumpyToTorch``, e.g. MuJoCo's) with NEXT_STEP or DISABLED autoreset and flat Box observations;
            Discrete or Box (continuous) actions.
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
            vector_env_device(env),
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
