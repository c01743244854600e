"""TorchVectorEnv: the batched contract every metarl_gym env implements, and its one-row numpy face.

A functional env (``functional = True``, the default) offers two PURE functions over any number of rows B
(nothing on ``self`` changes; configuration such as ``dt`` is only read):

* ``transition(state [B, D], tasks {name: [B]}, actions [B, ...]) -> (state [B, D], rewards [B], terminations [B])``;
* ``observe(state [B, D]) -> obs [B, *obs_shape]`` float32.

The stateful ``step``/``reset`` are built on them once, so an engine may run ``transition``/``observe`` itself
on any slice of rows (with ``tasks`` sliced the same way) and get exactly what ``step`` computes.

A subclass writes its physics once, against an array namespace ``xp`` and state *columns*
(:mod:`metarl_gym.envs.xp`): ``dynamics(xp, s, p, a) -> (s, reward, terminated)`` and ``observation(xp, s)``,
plus ``_start_state(keys)`` (one starting state per episode key, drawn with :mod:`metarl_gym.keys`). With ``xp = TORCH`` and
``[B]`` tensor columns they are ``transition``/``observe``; with ``xp = ROW`` and numpy scalars they are the
one-row fast path of ``gym.make`` (:class:`TorchSingleEnv`). Envs simulated outside torch (pybullet) set
``functional = False`` and write the stateful hooks ``_step(actions) -> (rewards, terminations)`` and
``_observe() -> obs`` instead.

Everything else — Gymnasium 1.x autoreset (next-step or same-step), partial resets, per-row episode clocks and
truncation, per-row task parameters and task distributions, action checking, seeding and rendering — lives here
once. ``gym.make(id)`` wraps the very same class with one row in :class:`TorchSingleEnv` (numpy in and out).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from torch import Tensor

from .. import keys as rk
from ..errors import UserError
from .limits import FINITE, Interval, check_values
from .xp import ROW, TORCH


def vector_env_device(env: VectorEnv) -> torch.device | None:
    """The torch device of a vector env's outputs: a TorchVectorEnv's own, else that of the outermost wrapper that
    names one (``NumpyToTorch`` over Gymnasium's sync / async env); None when nothing names one (the CPU)."""
    device = getattr(env.unwrapped, "device", None)
    while device is None and isinstance(env, gym.vector.VectorWrapper):
        device = getattr(env, "device", None)
        env = env.env
    return None if device is None else torch.device(device)


def resolve_device(device) -> torch.device:
    """``None`` -> CPU; anything torch accepts otherwise."""
    return torch.device("cpu") if device is None else torch.device(device)


class TorchVectorEnv(VectorEnv):
    """A batch of ``num_envs`` copies of one system, stepped in one call with torch tensors on ``device``.

    Observations ``[N, *obs_shape]`` float32, rewards ``[N]`` float32, terminations and truncations ``[N]`` bool,
    all torch tensors on ``device``. Actions may be torch tensors or numpy arrays of shape ``[N, *action_shape]``.

    Subclasses set the class attributes ``state_names`` (the physical state columns, in env-card order),
    ``task_defaults`` (physical parameters and their default values) and ``task_limits`` (their allowed ranges,
    :class:`~metarl_gym.envs.limits.Interval`; finite by default), then call ``super().__init__``.

    Physical inputs are checked where they come in (constructor, ``task_ranges``, ``set_tasks``, ``set_state``
    and the ``tasks``/``state`` reset options): a value outside its range raises :class:`UserError` (a
    ValueError) naming the parameter and the range. ``step`` on a non-CPU device makes no host syncs when
    ``validate_actions`` is False (rollout engines set it; actions are then converted, not checked).

    Args:
        num_envs: batch size N.
        single_observation_space: one row's observation space.
        single_action_space: one row's action space.
        device: torch device of every tensor (default CPU).
        dtype: precision of the physical state (observations are always float32): ``torch.float32`` /
            ``torch.float64``, or their names ``"float32"`` / ``"float64"`` (what a YAML config can write).
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
    task_limits: dict[str, Interval] = {}
    """Allowed range of each task parameter (names missing here: any finite value)."""
    velocity_indices: tuple[int, ...] = ()
    """Observation columns holding velocities (what MaskVelocity drops)."""

    def __init__(
        self,
        num_envs: int,
        single_observation_space: gym.spaces.Box,
        single_action_space: gym.Space,
        *,
        device=None,
        dtype: torch.dtype | Literal["float32", "float64"] = torch.float32,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        task_ranges: dict[str, tuple[float, float]] | None = None,
        render_mode: str | None = None,
        tasks: dict[str, float] | None = None,
    ):
        if isinstance(num_envs, (bool, np.bool_)) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise UserError(f"num_envs must be a positive integer, got {num_envs!r}")
        dtype = {"float32": torch.float32, "float64": torch.float64}.get(dtype, dtype) if isinstance(dtype, str) else dtype
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise UserError(f"dtype must be a floating-point torch dtype (torch.float32 or torch.float64): the state "
                            f"integrates physics in it, got {dtype!r}")
        if max_episode_steps is not None and (isinstance(max_episode_steps, (bool, np.bool_))
                                              or not isinstance(max_episode_steps, (int, np.integer)) or max_episode_steps < 1):
            raise UserError(f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}")
        if render_mode not in (None, "rgb_array"):
            raise UserError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
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
        for name, value in self.task_values.items():
            self._check_task(name, value, f"{name}={value!r}")
        self.task_ranges = self._check_task_ranges(task_ranges or {})
        self.resample_tasks = bool(self.task_ranges)
        """Whether an autoreset draws new task parameters (the Trial wrapper switches this off; an explicit
        ``reset()`` without a ``tasks`` option always draws from ``task_ranges``)."""

        self.rng = torch.Generator(device=self.device)
        self.rng.seed()
        n = self.num_envs
        self.row_keys = rk.random_keys(n, self.device)
        """``[N]`` int64: each row's key (set by ``reset(seed=...)``); every random draw of a row's episodes comes
        from it and the row's episode index alone (:mod:`metarl_gym.keys`), never from its neighbours."""
        self.episode_index = torch.zeros(n, dtype=torch.int64, device=self.device)
        """``[N]`` int64: episodes each row has started since its key was set."""
        self.tasks = {name: torch.full((n,), float(v), dtype=dtype, device=self.device) for name, v in self.task_values.items()}
        self.state = torch.zeros(n, len(self.state_names), dtype=dtype, device=self.device)
        self.elapsed = torch.zeros(n, dtype=torch.int64, device=self.device)
        self.needs_reset = torch.zeros(n, dtype=torch.bool, device=self.device)
        self.validate_actions = True
        """Whether ``step`` checks action values (a host sync on CUDA); trusted callers set it False."""
        self._host_checks = self.device.type == "cpu"
        # On CPU reading a tensor is free, so step() keeps its data-dependent branches (and with them the exact
        # random stream of earlier versions); elsewhere it restarts rows unconditionally through torch.where.
        self._discrete = isinstance(single_action_space, gym.spaces.Discrete)

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
        if not self.functional:
            raise NotImplementedError(f"{type(self).__name__} is not functional (functional=False); use step()")
        s, rewards, terminations = self.dynamics(TORCH, state.unbind(dim=1), tasks, self._action_columns(actions))
        return torch.stack(s, dim=1), rewards, terminations

    def observe(self, state: Tensor) -> Tensor:
        """Observation of B rows, pure: ``state [B, state_dim] -> obs [B, *obs_shape]`` float32."""
        if not self.functional:
            raise NotImplementedError(f"{type(self).__name__} is not functional (functional=False); use step()")
        return torch.stack(self.observation(TORCH, state.unbind(dim=1)), dim=1).to(torch.float32)

    def dynamics(self, xp, s: tuple, p: dict, a) -> tuple[tuple, Any, Any]:
        """The equations of motion, written once for both namespaces of :mod:`metarl_gym.envs.xp`.

        Args:
            xp: ``TORCH`` (columns are ``[B]`` tensors) or ``ROW`` (columns are numpy scalars of one row).
            s: the state columns, in ``state_names`` order.
            p: ``{name: column}`` task parameters.
            a: the action: Discrete, one integer column; Box ``(k,)``, a tuple of k columns.

        Returns:
            ``(next state columns, reward column, terminated column)``.
        """
        raise NotImplementedError(f"{type(self).__name__} writes no dynamics(xp, s, p, a)")

    def observation(self, xp, s: tuple) -> tuple:
        """The observation columns of state columns ``s`` (same namespaces as :meth:`dynamics`)."""
        raise NotImplementedError(f"{type(self).__name__} writes no observation(xp, s)")

    def _action_columns(self, actions: Tensor):
        return actions if self._discrete else actions.unbind(dim=1)

    # ---------------------------------------------------------------- stateful hooks
    def _start_state(self, keys: Tensor) -> Tensor:
        """Starting states ``[B, state_dim]``, row b drawn from episode key ``keys[b]`` alone (use
        ``metarl_gym.keys.uniform(rk.key(keys, rk.START), ...)``). A functional subclass writes it."""
        raise NotImplementedError(f"{type(self).__name__} writes no _start_state(keys)")

    def start_uniform(self, keys: Tensor, count: int) -> Tensor:
        """``[B, count]`` uniform draws in [0, 1) (env dtype) of episode keys ``keys [B]``: what ``_start_state``
        draws its noise from."""
        return rk.uniform(rk.key(keys, rk.START), count, self.dtype)

    def _reset_rows(self, mask: Tensor, keys: Tensor) -> None:
        """Set ``self.state[mask]`` to the starting states of episode keys ``keys [N]`` (``mask [N]`` bool).
        Non-functional envs override it."""
        self.state = torch.where(mask[:, None], self._start_state(keys), self.state)

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
            seed: an int (row i's key becomes ``keys.key(seed, i)``) or a sequence / int tensor of N ints (row i's
                key becomes ``keys.key(seed[i])``: how evaluations give each row a key that does not depend on
                the batch it is in). The same seed gives the same trajectories; None continues.
            options: ``reset_mask`` (bool ``[N]``: rows to reset; others keep running), ``state``
                (``[N, state_dim]``: physical state per row in ``state_names`` order, or ``[state_dim]`` for
                all rows), ``tasks`` (``{name: value or [N] tensor}``: task parameters of the reset rows).

        Returns:
            ``(obs [N, *obs_shape], info)``.
        """
        self._seed(seed)
        options = dict(options or {})
        unknown = set(options) - {"reset_mask", "state", "tasks"}
        if unknown:
            raise UserError(f"unknown reset options {sorted(unknown)}; use 'reset_mask', 'state' and/or 'tasks'")
        mask = self._as_mask(options.get("reset_mask"))
        state = None if options.get("state") is None else self._checked_state(options["state"], mask)  # before any change
        if options.get("tasks") is not None:
            self.set_tasks(options["tasks"], mask)
        self._restart_rows(mask, draw_tasks=options.get("tasks") is None)
        if state is not None:
            self.state = torch.where(mask[:, None], state, self.state)
        return self._observe(), {}

    def step(self, actions):
        """Step every row; rows that finished at the previous step are reset instead (NEXT_STEP).

        Returns:
            ``(obs, rewards, terminations, truncations, infos)`` as torch tensors with leading dim N. SAME_STEP:
            ``infos["final_obs"]`` / ``infos["_final_obs"]`` when some row ended (off CPU: at every step, the
            mask all False when none did, so that no host sync is needed to decide).
        """
        actions = self.check_actions(actions, validate=self.validate_actions)
        restarting = self.needs_reset if self.autoreset_mode == AutoresetMode.NEXT_STEP else None
        rewards, terminations = self._step(actions)
        self.elapsed += 1
        if self.max_episode_steps is None:
            truncations = torch.zeros_like(terminations)
        else:
            truncations = self.elapsed >= self.max_episode_steps
        infos: dict[str, Any] = {}
        if restarting is not None and (not self._host_checks or bool(restarting.any())):
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
        elif self.autoreset_mode == AutoresetMode.SAME_STEP and (not self._host_checks or bool(done.any())):
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
            raise UserError(f"render row must be in [0, {self.num_envs}), got {row}")
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
        """Set task parameters of the rows in ``mask`` (default all). Values: scalars or ``[N]`` tensors.

        Raises:
            UserError: an unknown name, a wrong shape, or a value outside the parameter's ``task_limits``.
        """
        mask = self._as_mask(mask)
        checked = {}
        for name, value in tasks.items():
            if name not in self.tasks:
                raise UserError(f"unknown task parameter {name!r}; {type(self).__name__} has {sorted(self.tasks)}")
            value = torch.as_tensor(value, dtype=self.dtype, device=self.device)
            if value.ndim == 0:
                value = value.expand(self.num_envs)
            if value.shape != (self.num_envs,):
                raise UserError(f"task {name!r} must be a scalar or have shape [{self.num_envs}], got {tuple(value.shape)}")
            check_values(f"task {name!r}", torch.where(mask, value, self.tasks[name]), self.task_limits.get(name, FINITE))
            checked[name] = value
        self._write_tasks(checked, mask)

    def _write_tasks(self, tasks: dict[str, Tensor], mask: Tensor) -> None:
        for name, value in tasks.items():
            self.tasks[name] = torch.where(mask, value, self.tasks[name])

    def set_state(self, state, mask: Tensor | None = None) -> None:
        """Set the physical state of the rows in ``mask``: ``[N, state_dim]`` or ``[state_dim]`` (all rows).

        Raises:
            UserError: a wrong shape or a non-finite value (naming the column and row).
        """
        mask = self._as_mask(mask)
        self.state = torch.where(mask[:, None], self._checked_state(state, mask), self.state)

    def _checked_state(self, state, mask: Tensor) -> Tensor:
        """``state`` as ``[N, state_dim]`` in ``dtype``; UserError for a wrong shape or non-finite masked rows."""
        dim = len(self.state_names)
        state = torch.as_tensor(np.asarray(state) if not isinstance(state, Tensor) else state)
        if state.is_complex() or not (state.is_floating_point() or state.dtype in (torch.int32, torch.int64)):
            raise UserError(f"state must be real numbers (columns {list(self.state_names)}), got dtype {state.dtype}")
        state = state.to(device=self.device, dtype=self.dtype)
        if state.shape == (dim,):
            state = state.expand(self.num_envs, dim)
        if state.shape != (self.num_envs, dim):
            raise UserError(
                f"state must have shape [{self.num_envs}, {dim}] or [{dim}] (columns {list(self.state_names)}), "
                f"got {tuple(state.shape)}"
            )
        for k, name in enumerate(self.state_names):
            check_values(f"state column {name!r}", torch.where(mask, state[:, k], 0.0), FINITE)
        return state

    def _seed(self, seed) -> None:
        """Set the row keys from ``seed`` (see :meth:`reset`) and restart the episode count; None: keep both."""
        if seed is None:
            return
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            super().reset(seed=int(seed) if seed >= 0 else None)
            self.rng.manual_seed(int(seed))
            self.row_keys = rk.key(int(seed), torch.arange(self.num_envs, device=self.device))
        else:
            seeds = torch.as_tensor(np.asarray(seed) if not isinstance(seed, Tensor) else seed, device=self.device)
            if seeds.shape != (self.num_envs,) or seeds.is_floating_point() or seeds.is_complex() or seeds.dtype == torch.bool:
                raise UserError(f"seed must be an int or {self.num_envs} ints (one per row), got {_describe(seed)}")
            super().reset(seed=None)
            self.rng.manual_seed(int(seeds[0]) % (2**63))
            self.row_keys = rk.key(seeds.to(torch.int64))
        self.episode_index = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)

    def episode_keys(self) -> Tensor:
        """``[N]`` int64: the key of the episode each row starts next (row key and episode index)."""
        return rk.key(self.row_keys, self.episode_index)

    def draw_tasks(self, keys: Tensor) -> dict[str, Tensor]:
        """Task parameters of episode keys ``keys [B]``: ``task_ranges`` names drawn uniformly, the others fixed."""
        u = rk.uniform(rk.key(keys, rk.TASK), len(self.task_values), self.dtype)
        tasks = {}
        for column, (name, value) in enumerate(self.task_values.items()):
            if name in self.task_ranges:
                low, high = self.task_ranges[name]
                tasks[name] = low + (high - low) * u[:, column]
            else:
                tasks[name] = torch.full(keys.shape, float(value), dtype=self.dtype, device=self.device)
        return tasks

    def _restart_rows(self, mask: Tensor, draw_tasks: bool) -> None:
        """Start a new episode in the rows of ``mask``: new tasks (if drawn), start state, clock 0. Every draw
        is a function of the row's episode key, so row i's episode does not depend on which other rows reset."""
        keys = self.episode_keys()
        if draw_tasks and self.task_ranges:
            self._write_tasks(self.draw_tasks(keys), mask)  # drawn inside checked ranges: no host-side check
        self._reset_rows(mask, keys)
        self.episode_index = self.episode_index + mask
        self.elapsed = torch.where(mask, 0, self.elapsed)
        self.needs_reset = self.needs_reset & ~mask

    # ---------------------------------------------------------------- input checking
    def _check_task(self, name: str, value, given: str) -> None:
        """UserError unless the task value, in the env dtype, lies in ``task_limits[name]``."""
        interval = self.task_limits.get(name, FINITE)
        try:
            number = float(torch.tensor(float(value), dtype=self.dtype))
        except (TypeError, ValueError):
            raise UserError(f"{type(self).__name__}: {given}: {name} must be a number in {interval.describe()}") from None
        if not interval.contains(number):
            raise UserError(f"{type(self).__name__}: {given}: {name} must lie in {interval.describe()}")

    def _check_task_ranges(self, task_ranges: dict) -> dict[str, tuple[float, float]]:
        if not isinstance(task_ranges, dict):
            raise UserError(f"task_ranges must be a dict {{name: (low, high)}}, got {task_ranges!r}")
        checked = {}
        for name, bounds in task_ranges.items():
            if name not in self.task_defaults:
                raise UserError(f"task_ranges names unknown parameter {name!r}; allowed: {sorted(self.task_defaults)}")
            try:
                low, high = (float(b) for b in bounds)
            except (TypeError, ValueError):
                raise UserError(f"task_ranges[{name!r}] must be a (low, high) pair, got {bounds!r}") from None
            if not (np.isfinite(low) and np.isfinite(high)) or low > high:
                raise UserError(f"task_ranges[{name!r}] = ({low}, {high}) must be finite with low <= high")
            for bound in (low, high):
                self._check_task(name, bound, f"task_ranges[{name!r}] = ({low}, {high})")
            checked[name] = (low, high)
        return checked

    def _as_mask(self, mask) -> Tensor:
        if mask is None:
            return torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask, device=self.device)
        if mask.dtype != torch.bool or mask.shape != (self.num_envs,):
            raise UserError(f"reset_mask must be a bool array of shape [{self.num_envs}], got {mask.dtype} {tuple(mask.shape)}")
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
                raise UserError(f"actions must be numeric with shape {expected}, got an object array")
            actions = torch.as_tensor(array, device=self.device)
        discrete = isinstance(space, gym.spaces.Discrete)
        if not validate:
            return actions.to(torch.int64 if discrete else self.dtype)
        if tuple(actions.shape) != expected:
            raise UserError(f"actions must have shape {expected} for {space}, got {tuple(actions.shape)}")
        if discrete:
            if actions.is_floating_point() or actions.is_complex() or actions.dtype == torch.bool:
                raise UserError(f"Discrete actions must be integers of shape {expected}, got dtype {actions.dtype}")
            actions = actions.to(torch.int64)
            low, high = int(space.start), int(space.start + space.n)
            if bool(((actions < low) | (actions >= high)).any()):
                raise UserError(f"Discrete actions must lie in [{low}, {high}), got values outside")
            return actions
        if actions.is_complex() or actions.dtype == torch.bool:
            raise UserError(f"Box actions must be real numbers of shape {expected}, got dtype {actions.dtype}")
        actions = actions.to(self.dtype)
        if not bool(torch.isfinite(actions).all()):
            raise UserError(f"actions of shape {expected} contain NaN or inf")
        return actions


def _autoreset_mode(mode) -> AutoresetMode:
    if isinstance(mode, AutoresetMode):
        return mode
    names = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP, "disabled": AutoresetMode.DISABLED}
    key = str(mode).lower()
    for m in AutoresetMode:
        names[m.value.lower()] = m
    if key not in names:
        raise UserError(f"unknown autoreset_mode {mode!r}; use one of {sorted(names)}")
    return names[key]


class TorchSingleEnv(gym.Env):
    """One row of a :class:`TorchVectorEnv` as a plain Gymnasium env: numpy in, numpy out.

    This is what ``gym.make(id)`` returns (inside Gymnasium's TimeLimit and checker wrappers). ``reset`` runs
    the vector class itself with ``num_envs=1`` (seeding, task draws and reset options are the batch's own);
    ``step`` runs the class's one ``dynamics``/``observation`` code on the row as numpy scalars
    (:data:`~metarl_gym.envs.xp.ROW`), ~20x faster per step than a one-row torch batch and the same equations.
    ``vector_env`` always shows the current row (it is brought up to date when read).

    Args:
        vector_cls: the TorchVectorEnv subclass.
        render_mode: ``None`` or ``"rgb_array"``.
        **kwargs: the vector class's keyword arguments (e.g. ``damping=0.0``, ``task_ranges=...``).
    """

    def __init__(self, vector_cls: type[TorchVectorEnv], render_mode: str | None = None, **kwargs):
        kwargs.setdefault("device", "cpu")
        self._vector_env = vector_cls(num_envs=1, autoreset_mode=AutoresetMode.DISABLED, render_mode=render_mode, **kwargs)
        env = self._vector_env
        self.observation_space = env.single_observation_space
        self.action_space = env.single_action_space
        self.metadata = {k: v for k, v in vector_cls.metadata.items() if k != "autoreset_mode"}
        self.render_mode = render_mode
        # the one-row path needs the physics written against xp (dynamics/observation)
        self._row_path = env.functional and type(env).dynamics is not TorchVectorEnv.dynamics
        self._scalar = np.dtype(torch.empty((), dtype=env.dtype).numpy().dtype).type
        self._dirty = False
        self._pull_row()

    @property
    def vector_env(self) -> TorchVectorEnv:
        """The one-row vector env underneath (state and clock up to date)."""
        if self._dirty:
            env = self._vector_env
            env.state = torch.tensor(np.array(self._row, dtype=self._scalar), device=env.device)[None]
            env.tasks = {name: torch.tensor([value], device=env.device) for name, value in self._tasks.items()}
            env.elapsed = torch.full((1,), self._elapsed, dtype=torch.int64, device=env.device)
            env.needs_reset = torch.zeros(1, dtype=torch.bool, device=env.device)
            self._dirty = False
        return self._vector_env

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if not options and self._row_path:
            return self._row_reset(seed)
        options = dict(options or {})
        if "reset_mask" in options:
            raise UserError("reset_mask is a vector-env option; a single env always resets its one row")
        if options.get("state") is not None:
            state = np.asarray(options["state"], dtype=np.float64)
            dim = len(self._vector_env.state_names)
            if state.shape != (dim,):
                raise UserError(
                    f"state must have shape ({dim},) (columns {list(self._vector_env.state_names)}), got {state.shape}"
                )
            options["state"] = state[None]
        obs, info = self.vector_env.reset(seed=seed, options=options)
        self._pull_row()
        return self._numpy_obs(obs), info

    def step(self, action):
        if not self._row_path:
            return self._vector_step(action)
        env = self._vector_env
        a = self._row_action(action)
        self._row, reward, terminated = env.dynamics(ROW, self._row, self._tasks, a)
        self._elapsed += 1
        self._dirty = True
        truncated = env.max_episode_steps is not None and self._elapsed >= env.max_episode_steps
        obs = np.array(env.observation(ROW, self._row), dtype=np.float32)
        return obs, float(np.float32(reward)), bool(terminated), truncated, {}  # float32 rewards, as the batch

    def render(self):
        return self.vector_env.render(0)

    def close(self):
        self._vector_env.close()
        super().close()

    @property
    def state(self) -> np.ndarray:
        """The physical state ``[state_dim]`` (columns ``vector_env.state_names``)."""
        return self.vector_env.state[0].cpu().numpy()

    # ---------------------------------------------------------------- helpers
    def _pull_row(self) -> None:
        """Copy the vector env's row (state, tasks, clock) into numpy scalars for the one-row path."""
        env = self._vector_env
        self._row = tuple(env.state[0].cpu().numpy())
        self._tasks = {name: value.cpu().numpy()[0] for name, value in env.tasks.items()}
        self._elapsed = int(env.elapsed[0])
        self._dirty = False

    def _row_reset(self, seed: int | None):
        """``vector_env.reset(seed=seed)`` for the one row, without stepping the batch machinery: the same keyed
        draws (tasks from ``task_ranges``, then the start state)."""
        env = self._vector_env
        env._seed(seed)
        keys = env.episode_keys()
        if env.task_ranges:
            self._tasks = {name: value.cpu().numpy()[0] for name, value in env.draw_tasks(keys).items()}
        self._row = tuple(env._start_state(keys)[0].cpu().numpy())
        env.episode_index = env.episode_index + 1
        self._elapsed = 0
        self._dirty = True
        return np.array(env.observation(ROW, self._row), dtype=np.float32), {}

    def _row_action(self, action):
        """Check one action in single-env shapes and convert it to the columns ``dynamics`` takes."""
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            value = action
            if isinstance(action, (np.ndarray, Tensor)):
                if action.ndim != 0 or action.dtype in (np.bool_, torch.bool) or not _is_integer(action):
                    raise UserError(f"a {space} action must be one integer, got {_describe(action)}")
                value = action.item()
            elif isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise UserError(f"a {space} action must be one integer, got {_describe(action)}")
            low = int(space.start)
            if not low <= value < low + int(space.n):
                raise UserError(f"a {space} action must lie in [{low}, {low + int(space.n)}), got {value}")
            return value
        array = action.detach().cpu().numpy() if isinstance(action, Tensor) else np.asarray(action)
        if array.shape != space.shape or array.dtype.kind not in "fiu":
            raise UserError(f"a {space} action must be real numbers of shape {space.shape}, got {_describe(action)}")
        columns = tuple(array.astype(self._scalar, copy=False).reshape(-1))
        for value in columns:
            if not math.isfinite(value):
                raise UserError(f"the {space} action {array.tolist()} contains NaN or inf")
        return columns

    def _vector_step(self, action):
        actions = np.asarray(action)[None] if not isinstance(action, Tensor) else action[None]
        obs, reward, terminated, truncated, info = self._vector_env.step(actions)
        self._pull_row()
        return self._numpy_obs(obs), float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def _numpy_obs(self, obs: Tensor) -> np.ndarray:
        return obs[0].cpu().numpy().astype(self.observation_space.dtype, copy=False)


def _is_integer(x) -> bool:
    if isinstance(x, Tensor):
        return not (x.is_floating_point() or x.is_complex())
    return x.dtype.kind in "iu"


def _describe(action) -> str:
    if isinstance(action, (np.ndarray, Tensor)):
        return f"{type(action).__name__} of shape {tuple(action.shape)} and dtype {action.dtype}"
    return f"{action!r} ({type(action).__name__})"
