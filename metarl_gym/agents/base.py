"""The batched policy contract and the parameter layout shared by every agent.

A population is a tensor ``params`` of shape ``[pop, num_params]``. A policy turns it, together with a batch
of observations ``[pop, obs_dim]``, into a batch of actions in one call. Policies know nothing about
strategies; strategies know nothing about policies: :func:`metarl_gym.evolution.rollout.rollout` joins them.

The lifetime of one evaluation::

    state = policy.initial_state(params, keys)           # fast weights, recurrent states, ... (or None)
    for each env step:
        actions, state = policy.act(params, obs, state)
        obs, rewards, terminated, truncated, _ = env.step(actions)
        state = policy.learn(params, state, rewards)      # plastic policies update here; others return state

A plastic policy's state persists across the episodes of one evaluation and is created fresh for each
evaluation.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

State = Any
"""Whatever a policy carries through a lifetime: None, a tensor, or a dict of tensors."""


class ParamLayout:
    """Named tensor shapes <-> one flat parameter row per individual.

    Example:
        >>> layout = ParamLayout({"w1": (3, 32), "b1": (32,)})
        >>> layout.num_params
        128
        >>> parts = layout.unflatten(torch.zeros(10, 128))   # {"w1": [10, 3, 32], "b1": [10, 32]}

    Args:
        shapes: ordered mapping name -> shape of one individual's tensor (no population dimension).
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]]):
        self.shapes = {name: tuple(int(s) for s in shape) for name, shape in shapes.items()}
        self.sizes = {name: math.prod(shape) for name, shape in self.shapes.items()}
        self.offsets = {}
        offset = 0
        for name, size in self.sizes.items():
            self.offsets[name] = offset
            offset += size
        self.num_params = offset

    def unflatten(self, params: Tensor) -> dict[str, Tensor]:
        """Split ``params [pop, num_params]`` into views ``{name: [pop, *shape]}``."""
        check_params(params, self.num_params)
        return {
            name: params[:, self.offsets[name] : self.offsets[name] + self.sizes[name]].reshape(
                params.shape[0], *shape
            )
            for name, shape in self.shapes.items()
        }

    def flatten(self, tensors: dict[str, Tensor]) -> Tensor:
        """Inverse of :meth:`unflatten`: ``{name: [pop, *shape]}`` -> ``[pop, num_params]``."""
        missing = set(self.shapes) - set(tensors)
        if missing:
            raise ValueError(f"flatten() is missing tensors {sorted(missing)}; expected {list(self.shapes)}")
        pop = next(iter(tensors.values())).shape[0]
        return torch.cat([tensors[name].reshape(pop, -1) for name in self.shapes], dim=1)

    def __repr__(self) -> str:
        return f"ParamLayout({self.shapes}, num_params={self.num_params})"


def check_params(params: Tensor, num_params: int) -> None:
    """Raise a ValueError unless ``params`` is a float tensor of shape ``[pop, num_params]`` with ``pop >= 1``."""
    if not isinstance(params, Tensor):
        raise ValueError(f"params must be a torch.Tensor of shape [pop, {num_params}], got {type(params).__name__}")
    if params.ndim != 2 or params.shape[1] != num_params:
        raise ValueError(
            f"params must have shape [pop, {num_params}], got {tuple(params.shape)}; "
            f"ask the strategy for num_params={num_params} (policy.num_params)"
        )
    if not params.is_floating_point():
        raise ValueError(f"params must be a floating-point tensor, got dtype {params.dtype}")
    if params.shape[0] < 1:
        raise ValueError(f"params has no rows (shape {tuple(params.shape)}): a population needs at least one individual")


class Policy(ABC):
    """A batched policy: ``params [pop, num_params]`` and ``obs [pop, obs_dim]`` -> actions ``[pop, ...]``.

    Subclasses set ``self.layout`` (a :class:`ParamLayout`) in ``__init__`` and implement :meth:`act`.
    Plastic policies also override :meth:`initial_state` and :meth:`learn`.

    Args:
        observation_space: the env's single observation space (a 1-D Box).
        action_space: the env's single action space (Box or Discrete).
    """

    plastic: bool = False
    layout: ParamLayout

    def __init__(self, observation_space: gym.Space, action_space: gym.Space):
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(
                f"{type(self).__name__} needs a flat Box observation space, got {observation_space}; "
                "flatten image observations first or use a CNN policy"
            )
        if not isinstance(action_space, (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiBinary)) or (
            isinstance(action_space, gym.spaces.MultiBinary) and len(action_space.shape) != 1
        ):
            raise ValueError(
                f"{type(self).__name__} supports Box, Discrete and 1-D MultiBinary action spaces, got {action_space}"
            )
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_dim = int(observation_space.shape[0])
        self.action_dim = action_output_dim(action_space)

    @property
    def num_params(self) -> int:
        """Length of one individual's genome."""
        return self.layout.num_params

    def initial_state(self, params: Tensor, keys: Tensor | None = None) -> State:
        """State at the start of a lifetime (one evaluation). Static policies have none.

        Args:
            params: ``[pop, num_params]``.
            keys: ``[pop]`` int64 lifetime keys (:mod:`metarl_gym.keys`): every random draw of row i's lifetime
                (initial weights, noise) comes from ``keys[i]`` alone; None: fresh entropy.
        """
        return None

    @abstractmethod
    def act(self, params: Tensor, obs: Tensor, state: State) -> tuple[Tensor, State]:
        """Actions for one env step.

        Args:
            params: ``[pop, num_params]``.
            obs: ``[pop, obs_dim]`` float32, on the same device as params.
            state: what :meth:`initial_state` or the previous call returned.

        Returns:
            ``(actions, state)``: actions ``[pop, *action_shape]`` float32 for Box, ``[pop]`` int64 for
            Discrete, inside the action space, except for rows whose raw outputs were non-finite (marked by
            :func:`bound_actions`: NaN for Box, ``start - 1`` for Discrete).
        """

    def learn(self, params: Tensor, state: State, rewards: Tensor) -> State:
        """Lifetime learning after ``env.step``; ``rewards [pop]`` is the reward of the step just taken."""
        return state

    def state_is_finite(self, state: State) -> Tensor | None:
        """``[pop]`` bool: whether each individual's plastic state (e.g. its learned weights) is all finite.

        ``None`` for a policy without plastic weights. ``rollout`` calls it at the end of a lifetime and scores
        individuals whose state went non-finite ``-inf``.
        """
        return None

    def random_params(self, pop: int, *, generator: torch.Generator | None = None, device=None) -> Tensor:
        """A fresh population ``[pop, num_params]``, N(0, 1) unless a subclass knows better."""
        return torch.randn(pop, self.num_params, generator=generator, device=device)


def action_output_dim(action_space: gym.Space) -> int:
    """Number of network outputs needed for ``action_space`` (Box: its size; Discrete: n logits)."""
    if isinstance(action_space, gym.spaces.Discrete):
        return int(action_space.n)
    return int(math.prod(action_space.shape))


def check_output_bounds(action_space: gym.Space, output: str, owner: str) -> None:
    """Raise a ValueError if ``output`` cannot map into ``action_space``: ``"tanh"`` scales tanh onto
    [low, high], so a Box with an infinite bound would get NaN / inf actions and every individual would score -inf.

    Args:
        action_space: the policy's action space.
        output: the output mode (see :func:`bound_actions`).
        owner: the policy class name, for the message.
    """
    if output == "tanh" and isinstance(action_space, gym.spaces.Box) and not (
        np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()
    ):
        raise ValueError(f"{owner}(output='tanh') scales actions onto [low, high], but the action space {action_space} "
                         "has an infinite bound: every action would be NaN / inf and every individual would score -inf; "
                         "use output='clip' (raw outputs) or output='tanh_clip' (tanh in [-1, 1])")


def discrete_start(space: gym.spaces.Discrete, like: Tensor) -> int | Tensor:
    """``space.start`` (a numpy integer): a Python int eagerly; a tensor while ``torch.compile`` traces, where
    ``int()`` of it failed the inductor backend (``aten._local_scalar_dense``) and flooded stderr with warnings on
    every Discrete env (issue 19 audit)."""
    if torch.compiler.is_compiling():
        return torch.as_tensor(space.start, dtype=torch.int64, device=like.device)
    return int(space.start)


def bound_actions(raw: Tensor, action_space: gym.Space, mode: str = "tanh") -> Tensor:
    """Map raw network outputs ``[pop, action_dim]`` into ``action_space``.

    Box: ``"tanh"`` squashes and scales to [low, high]; ``"clip"`` clips the raw value (the Hebbian seed's rule
    for non-Bullet Box envs); ``"tanh_clip"`` applies tanh then clips (Bullet envs). Discrete: argmax over the
    logits (``mode`` is ignored). MultiBinary: float 0 / 1, a button pressed where its output is > 0 (``mode`` is
    ignored; tanh outputs > 0 press it too, the ga-openai-gym SlimeVolley rule).

    A row whose raw outputs are not all finite is marked, never silently repaired (a NaN genome must not get a
    finite, selectable fitness): Box rows become all NaN (tanh would map inf to a valid action), Discrete rows
    get the action ``start - 1``, just outside the space. :func:`invalid_action_rows` finds them; a validating
    env rejects them, and ``rollout`` scores such an individual ``-inf``.
    """
    if isinstance(action_space, gym.spaces.Discrete):
        start = discrete_start(action_space, raw)
        bad = ((raw - raw) != 0).any(dim=1)  # x - x is NaN exactly where x is NaN or ±inf
        best = torch.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0).argmax(dim=1) + start
        return torch.where(bad, start - 1, best)
    if isinstance(action_space, gym.spaces.MultiBinary):  # a button per output, pressed when the output is > 0
        pressed = (raw > 0).to(raw.dtype) + (raw - raw)  # float 0 / 1; NaN rows marked as for Box
        return pressed.reshape(raw.shape[0], *action_space.shape)
    low, high, half_range = _bounds(action_space, raw.dtype, raw.device)
    tanh = tanh_exp if torch.compiler.is_compiling() else torch.tanh
    if mode == "tanh":
        out = low + (tanh(raw) + 1.0) * half_range  # = low + (tanh + 1)·0.5·(high - low), bit for bit
    elif mode == "clip":
        out = torch.maximum(torch.minimum(raw, high), low)
    elif mode == "tanh_clip":
        out = torch.maximum(torch.minimum(tanh(raw), high), low)
    else:
        raise ValueError(f"unknown output mode {mode!r}; use 'tanh', 'clip' or 'tanh_clip'")
    out = out + (raw - raw)  # + 0 where raw is finite, NaN where it is not (two cheap ops, no host sync)
    return out.reshape(raw.shape[0], *action_space.shape)


def invalid_action_rows(actions: Tensor, action_space: gym.Space) -> Tensor:
    """``[pop]`` bool: rows that :func:`bound_actions` marked (non-finite raw outputs). No host sync."""
    if isinstance(action_space, gym.spaces.Discrete):
        return actions < discrete_start(action_space, actions)
    return ((actions - actions) != 0).reshape(actions.shape[0], -1).any(dim=1)  # NaN or ±inf anywhere in the row


_BOUNDS: dict[tuple, tuple] = {}


def _bounds(space: gym.spaces.Box, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """``(low, high, (high - low) / 2)`` of a Box as flat tensors on ``device``, made once per (space, dtype, device).

    Copying the numpy bounds to the device at every step would be a host-to-device transfer per step.
    """
    if torch.compiler.is_compiling():  # traced: the bounds become constants of the graph
        low = torch.as_tensor(space.low, dtype=dtype, device=device).reshape(-1)
        high = torch.as_tensor(space.high, dtype=dtype, device=device).reshape(-1)
        return low, high, 0.5 * (high - low)
    key = (id(space), dtype, device)
    hit = _BOUNDS.get(key)
    if hit is None or hit[0] is not space:  # the space object is kept in the entry, so its id stays unique
        if len(_BOUNDS) > 256:
            _BOUNDS.clear()
        low = torch.as_tensor(space.low, dtype=dtype, device=device).reshape(-1)
        high = torch.as_tensor(space.high, dtype=dtype, device=device).reshape(-1)
        hit = _BOUNDS[key] = (space, low, high, 0.5 * (high - low))
    return hit[1], hit[2], hit[3]


def tanh_exp(x: Tensor) -> Tensor:
    """tanh through exp, for compiled kernels: inductor's CPU exp is several times faster than its tanh
    (error ~2e-7; exp overflow to inf gives exactly ±1)."""
    return 1.0 - 2.0 / (torch.exp(2.0 * x) + 1.0)


ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "identity": lambda x: x}


def activation_fn(name: str):
    """The elementwise activation called ``name`` (one of ACTIVATIONS)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]
