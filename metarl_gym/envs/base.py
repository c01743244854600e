"""TorchVectorEnv: the batched contract every metarl_gym env implements, and its one-row numpy face.

A functional subclass (``functional = True``, the default) describes one physical system with two PURE
functions over any number of rows B (nothing on ``self`` changes; configuration such as ``dt`` is read only):

* ``transition(state [B, D], tasks {name: [B]}, actions [B, ...]) -> (state [B, D], rewards [B], terminations [B])``;
* ``observe(state [B, D]) -> obs [B, *obs_shape]`` float32;

plus one stateful hook, ``_reset_rows(mask)``, which puts the rows where ``mask`` is True into a starting state
drawn with ``self.rng``. The stateful ``step``/``reset`` are built on these once, so an engine may run
``transition``/``observe`` itself on any slice of rows (with ``tasks`` sliced the same way) and get exactly
what ``step`` computes. Envs whose state lives outside torch (pybullet) set ``functional = False`` and write the
stateful hooks ``_step(actions) -> (rewards, terminations)`` and ``_observe() -> obs`` instead.

Everything else — Gymnasium 1.x autoreset (next-step or same-step), partial resets, per-row episode clocks and
truncation, per-row task parameters and task distributions, action checking, seeding and rendering — lives here
once. ``gym.make(id)`` wraps the very same class with one row in :class:`TorchSingleEnv` (numpy in and out).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from torch import Tensor


def resolve_device(device) -> torch.device:
    """``None`` -> CPU; anything torch accepts otherwise."""
    return torch.device("cpu") if device is None else torch.device(device)


class TorchVectorEnv(VectorEnv):
    """A batch of ``num_envs`` copies of one system, stepped in one call with torch tensors on ``device``.

    Observations ``[N, *obs_shape]`` float32, rewards ``[N]`` float32, terminations and truncations ``[N]`` bool,
    all torch tensors on ``device``. Actions may be torch tensors or numpy arrays of shape ``[N, *action_shape]``.

    Subclasses set the class attributes ``state_names`` (the physical state columns, in env-card order) and
    ``task_defaults`` (physical parameters and their default values), then call ``super().__init__``.

    Args:
        num_envs: batch size N.
        single_observation_space: one row's observation space.
        single_action_space: one row's action space.
        device: torch device of every tensor (default CPU).
        dtype: precision of the physical state (observations are always float32).
        max_episode_steps: truncate a row after this many steps (``make_vec`` passes the registered value).
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default, as Gymnasium's own vector envs), ``SAME_STEP``
            (the final observation is in ``infos["final_obs"]`` where ``infos["_final_obs"]`` is True), or
            ``DISABLED``. Strings ("next_step", "same_step", "disabled") are accepted too.
        task_ranges: ``{name: (low, high)}``; every reset of a row draws that task parameter uniformly from the
            range (the meta-RL task distribution). Parameters not named keep their constructor value.
        render_mode: ``None`` or ``"rgb_array"``.
        tasks: constructor values of the task parameters (defaults: ``task_defaults``).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"], "render_fps": 20}
    functional: bool = True
    """Whether ``transition``/``observe`` are pure functions of tensors (False for envs simulated outside torch)."""
    state_names: tuple[str, ...] = ()
    task_defaults: dict[str, float] = {}
    velocity_indices: tuple[int, ...] = ()
    """Observation columns holding velocities (what MaskVelocity drops)."""

    def __init__(
        self,
        num_envs: int,
        single_observation_space: gym.spaces.Box,
        single_action_space: gym.Space,
        *,
        device=None,
        dtype: torch.dtype = torch.float32,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        task_ranges: dict[str, tuple[float, float]] | None = None,
        render_mode: str | None = None,
        tasks: dict[str, float] | None = None,
    ):
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.num_envs = int(num_envs)
        self.device = resolve_device(device)
        self.dtype = dtype
        self.max_episode_steps = max_episode_steps
        self.autoreset_mode = _autoreset_mode(autoreset_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.render_mode = render_mode
        self.render_row = 0
        self.single_observation_space = single_observation_space
        self.single_action_space = single_action_space
        self.observation_space = batch_space(single_observation_space, self.num_envs)
        self.action_space = batch_space(single_action_space, self.num_envs)

        self.task_values = {**self.task_defaults, **(tasks or {})}
        self.task_ranges = _check_task_ranges(task_ranges or {}, self.task_defaults)
        self.resample_tasks = bool(self.task_ranges)
        """Whether an autoreset draws new task parameters (the Trial wrapper switches this off; an explicit
        ``reset()`` without a ``tasks`` option always draws from ``task_ranges``)."""

        self.rng = torch.Generator(device=self.device)
        self.rng.seed()
        n = self.num_envs
        self.tasks = {name: torch.full((n,), float(v), dtype=dtype, device=self.device) for name, v in self.task_values.items()}
        self.state = torch.zeros(n, len(self.state_names), dtype=dtype, device=self.device)
        self.elapsed = torch.zeros(n, dtype=torch.int64, device=self.device)
        self.needs_reset = torch.zeros(n, dtype=torch.bool, device=self.device)

    # ---------------------------------------------------------------- the functional face (a subclass writes it)
    def transition(self, state: Tensor, tasks: dict[str, Tensor], actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One step of B rows, pure: nothing on ``self`` changes.

        Args:
            state: ``[B, state_dim]`` physical state (columns ``state_names``), any row count B.
            tasks: ``{name: [B]}`` task parameters of those rows.
            actions: ``[B, *action_shape]`` actions already converted by :meth:`check_actions`.

        Returns:
            ``(next_state [B, state_dim], rewards [B], terminations [B] bool)``.
        """
        raise NotImplementedError(f"{type(self).__name__} is not functional (functional=False); use step()")

    def observe(self, state: Tensor) -> Tensor:
        """Observation of B rows, pure: ``state [B, state_dim] -> obs [B, *obs_shape]`` float32."""
        raise NotImplementedError(f"{type(self).__name__} is not functional (functional=False); use step()")

    # ---------------------------------------------------------------- stateful hooks
    def _reset_rows(self, mask: Tensor) -> None:
        """Set ``self.state[mask]`` to a starting state drawn with ``self.rng``. ``mask [N]`` bool."""
        raise NotImplementedError

    def _step(self, actions: Tensor) -> tuple[Tensor, Tensor]:
        """Advance every row one step in place; returns ``(rewards [N], terminations [N])``.

        Functional envs get it from :meth:`transition`; non-functional envs (pybullet) override it.
        """
        self.state, rewards, terminations = self.transition(self.state, self.tasks, actions)
        return rewards, terminations

    def _observe(self) -> Tensor:
        """Observation of every row, ``[N, *obs_shape]`` float32 (functional envs: :meth:`observe`)."""
        return self.observe(self.state)

    def _render_row(self, row: int) -> np.ndarray:
        """An RGB image ``[H, W, 3]`` uint8 of one row."""
        raise NotImplementedError(f"{type(self).__name__} has no renderer")

    # ---------------------------------------------------------------- the Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset all rows, or the rows of ``options["reset_mask"]``.

        Args:
            seed: reseeds the env's generator; the same seed gives the same trajectories.
            options: ``reset_mask`` (bool ``[N]``: rows to reset; others keep running), ``state``
                (``[N, state_dim]``: physical state per row in ``state_names`` order, or ``[state_dim]`` for
                all rows), ``tasks`` (``{name: value or [N] tensor}``: task parameters of the reset rows).

        Returns:
            ``(obs [N, *obs_shape], info)``.
        """
        super().reset(seed=seed)
        if seed is not None:
            self.rng.manual_seed(int(seed))
        options = dict(options or {})
        unknown = set(options) - {"reset_mask", "state", "tasks"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; use 'reset_mask', 'state' and/or 'tasks'")
        mask = self._as_mask(options.get("reset_mask"))
        if options.get("tasks") is not None:
            self.set_tasks(options["tasks"], mask)
        self._restart_rows(mask, draw_tasks=options.get("tasks") is None)
        if options.get("state") is not None:
            self.set_state(options["state"], mask)
        return self._observe(), {}

    def step(self, actions):
        """Step every row; rows that finished at the previous step are reset instead (NEXT_STEP).

        Returns:
            ``(obs, rewards, terminations, truncations, infos)`` as torch tensors with leading dim N.
        """
        actions = self.check_actions(actions)
        restarting = self.needs_reset if self.autoreset_mode == AutoresetMode.NEXT_STEP else None
        rewards, terminations = self._step(actions)
        self.elapsed += 1
        if self.max_episode_steps is None:
            truncations = torch.zeros_like(terminations)
        else:
            truncations = self.elapsed >= self.max_episode_steps
        infos: dict[str, Any] = {}
        if restarting is not None and bool(restarting.any()):
            # Next-step autoreset: these rows ended last step; this step only resets them.
            self._restart_rows(restarting, draw_tasks=self.resample_tasks)
            zero = torch.zeros((), dtype=rewards.dtype, device=self.device)
            rewards = torch.where(restarting, zero, rewards)
            terminations = terminations & ~restarting
            truncations = truncations & ~restarting
        obs = self._observe()
        done = terminations | truncations
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self.needs_reset = done
        elif self.autoreset_mode == AutoresetMode.SAME_STEP and bool(done.any()):
            infos["final_obs"] = obs
            infos["_final_obs"] = done
            self._restart_rows(done, draw_tasks=self.resample_tasks)
            obs = self._observe()
        return obs, rewards.to(torch.float32), terminations, truncations, infos

    def render(self, row: int | None = None) -> np.ndarray | None:
        """RGB image ``[H, W, 3]`` uint8 of ``row`` (default ``self.render_row``); None unless rgb_array."""
        if self.render_mode != "rgb_array":
            return None
        row = self.render_row if row is None else int(row)
        if not 0 <= row < self.num_envs:
            raise ValueError(f"render row must be in [0, {self.num_envs}), got {row}")
        return self._render_row(row)

    def close_extras(self, **kwargs):
        pass

    # ---------------------------------------------------------------- tasks and state
    def sample_tasks(self, n: int | None = None) -> dict[str, Tensor]:
        """Draw ``n`` (default N) task parameter sets from ``task_ranges`` (fixed values for the others).

        Returns:
            ``{name: [n]}`` tensors on ``device``.
        """
        n = self.num_envs if n is None else int(n)
        tasks = {}
        for name, value in self.task_values.items():
            if name in self.task_ranges:
                low, high = self.task_ranges[name]
                u = torch.rand(n, generator=self.rng, device=self.device, dtype=self.dtype)
                tasks[name] = low + (high - low) * u
            else:
                tasks[name] = torch.full((n,), float(value), dtype=self.dtype, device=self.device)
        return tasks

    def set_tasks(self, tasks: dict[str, Any], mask: Tensor | None = None) -> None:
        """Set task parameters of the rows in ``mask`` (default all). Values: scalars or ``[N]`` tensors."""
        mask = self._as_mask(mask)
        for name, value in tasks.items():
            if name not in self.tasks:
                raise ValueError(f"unknown task parameter {name!r}; {type(self).__name__} has {sorted(self.tasks)}")
            value = torch.as_tensor(value, dtype=self.dtype, device=self.device)
            if value.ndim == 0:
                value = value.expand(self.num_envs)
            if value.shape != (self.num_envs,):
                raise ValueError(f"task {name!r} must be a scalar or have shape [{self.num_envs}], got {tuple(value.shape)}")
            if not torch.isfinite(value).all():
                raise ValueError(f"task {name!r} has non-finite values")
            self.tasks[name] = torch.where(mask, value, self.tasks[name])

    def set_state(self, state, mask: Tensor | None = None) -> None:
        """Set the physical state of the rows in ``mask``: ``[N, state_dim]`` or ``[state_dim]`` (all rows)."""
        mask = self._as_mask(mask)
        dim = len(self.state_names)
        state = torch.as_tensor(np.asarray(state) if not isinstance(state, Tensor) else state)
        state = state.to(device=self.device, dtype=self.dtype)
        if state.shape == (dim,):
            state = state.expand(self.num_envs, dim)
        if state.shape != (self.num_envs, dim):
            raise ValueError(
                f"state must have shape [{self.num_envs}, {dim}] or [{dim}] (columns {list(self.state_names)}), "
                f"got {tuple(state.shape)}"
            )
        self.state = torch.where(mask[:, None], state, self.state)

    def _restart_rows(self, mask: Tensor, draw_tasks: bool) -> None:
        """Start a new episode in the rows of ``mask``: new tasks (if drawn), start state, clock 0."""
        if draw_tasks and self.task_ranges:
            self.set_tasks(self.sample_tasks(), mask)
        self._reset_rows(mask)
        self.elapsed = torch.where(mask, 0, self.elapsed)
        self.needs_reset = self.needs_reset & ~mask

    # ---------------------------------------------------------------- input checking
    def _as_mask(self, mask) -> Tensor:
        if mask is None:
            return torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask, device=self.device)
        if mask.dtype != torch.bool or mask.shape != (self.num_envs,):
            raise ValueError(f"reset_mask must be a bool array of shape [{self.num_envs}], got {mask.dtype} {tuple(mask.shape)}")
        return mask

    def check_actions(self, actions, validate: bool = True) -> Tensor:
        """Convert actions to a tensor on ``device`` (Discrete: int64, Box: ``dtype``) and check them.

        Args:
            actions: ``[N, *action_shape]`` torch tensor or array.
            validate: True: ValueError naming the expected shape for a wrong shape or dtype, out-of-range
                Discrete actions or non-finite Box actions (the value checks read the tensor on the host, a
                device sync on CUDA). False: conversion only, for trusted callers such as rollout engines, which
                may pass any row count B.

        Returns:
            the converted ``[N or B, *action_shape]`` tensor.
        """
        space = self.single_action_space
        expected = (self.num_envs, *space.shape)
        if isinstance(actions, Tensor):
            actions = actions.to(self.device)
        else:
            array = np.asarray(actions)
            if array.dtype == object:
                raise ValueError(f"actions must be numeric with shape {expected}, got an object array")
            actions = torch.as_tensor(array, device=self.device)
        discrete = isinstance(space, gym.spaces.Discrete)
        if not validate:
            return actions.to(torch.int64 if discrete else self.dtype)
        if tuple(actions.shape) != expected:
            raise ValueError(f"actions must have shape {expected} for {space}, got {tuple(actions.shape)}")
        if discrete:
            if actions.is_floating_point() or actions.is_complex() or actions.dtype == torch.bool:
                raise ValueError(f"Discrete actions must be integers of shape {expected}, got dtype {actions.dtype}")
            actions = actions.to(torch.int64)
            low, high = int(space.start), int(space.start + space.n)
            if bool(((actions < low) | (actions >= high)).any()):
                raise ValueError(f"Discrete actions must lie in [{low}, {high}), got values outside")
            return actions
        if actions.is_complex() or actions.dtype == torch.bool:
            raise ValueError(f"Box actions must be real numbers of shape {expected}, got dtype {actions.dtype}")
        actions = actions.to(self.dtype)
        if not bool(torch.isfinite(actions).all()):
            raise ValueError(f"actions of shape {expected} contain NaN or inf")
        return actions


def _autoreset_mode(mode) -> AutoresetMode:
    if isinstance(mode, AutoresetMode):
        return mode
    names = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP, "disabled": AutoresetMode.DISABLED}
    key = str(mode).lower()
    for m in AutoresetMode:
        names[m.value.lower()] = m
    if key not in names:
        raise ValueError(f"unknown autoreset_mode {mode!r}; use one of {sorted(names)}")
    return names[key]


def _check_task_ranges(task_ranges: dict, defaults: dict) -> dict[str, tuple[float, float]]:
    checked = {}
    for name, bounds in task_ranges.items():
        if name not in defaults:
            raise ValueError(f"task_ranges names unknown parameter {name!r}; allowed: {sorted(defaults)}")
        try:
            low, high = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise ValueError(f"task_ranges[{name!r}] must be a (low, high) pair, got {bounds!r}") from None
        if not (np.isfinite(low) and np.isfinite(high)) or low > high:
            raise ValueError(f"task_ranges[{name!r}] = ({low}, {high}) must be finite with low <= high")
        checked[name] = (low, high)
    return checked


class TorchSingleEnv(gym.Env):
    """One row of a :class:`TorchVectorEnv` as a plain Gymnasium env: numpy in, numpy out.

    This is what ``gym.make(id)`` returns (inside Gymnasium's TimeLimit and checker wrappers); the physics is
    the vector class's own code, with ``num_envs=1`` and autoreset disabled.

    Args:
        vector_cls: the TorchVectorEnv subclass.
        render_mode: ``None`` or ``"rgb_array"``.
        **kwargs: the vector class's keyword arguments (e.g. ``damping=0.0``, ``task_ranges=...``).
    """

    def __init__(self, vector_cls: type[TorchVectorEnv], render_mode: str | None = None, **kwargs):
        kwargs.setdefault("device", "cpu")
        self.vector_env = vector_cls(num_envs=1, autoreset_mode=AutoresetMode.DISABLED, render_mode=render_mode, **kwargs)
        self.observation_space = self.vector_env.single_observation_space
        self.action_space = self.vector_env.single_action_space
        self.metadata = {k: v for k, v in vector_cls.metadata.items() if k != "autoreset_mode"}
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        if "reset_mask" in options:
            raise ValueError("reset_mask is a vector-env option; a single env always resets its one row")
        if options.get("state") is not None:
            options["state"] = np.asarray(options["state"], dtype=np.float64).reshape(1, -1)
        obs, info = self.vector_env.reset(seed=seed, options=options)
        return self._numpy_obs(obs), info

    def step(self, action):
        actions = np.asarray(action)[None] if not isinstance(action, Tensor) else action[None]
        obs, reward, terminated, truncated, info = self.vector_env.step(actions)
        return self._numpy_obs(obs), float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self):
        return self.vector_env.render(0)

    def _numpy_obs(self, obs: Tensor) -> np.ndarray:
        return obs[0].cpu().numpy().astype(self.observation_space.dtype, copy=False)

    @property
    def state(self) -> np.ndarray:
        """The physical state ``[state_dim]`` (columns ``vector_env.state_names``)."""
        return self.vector_env.state[0].cpu().numpy()
