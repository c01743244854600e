"""The torch-batched pybullet locomotion envs: N pybullet DIRECT clients in this process, stepped in a loop.

This is the registered ``vector_entry_point`` of the pybullet ids, so ``gym.make_vec(id, num_envs=N,
device=...)`` returns it: a :class:`~metarl_gym.envs.base.TorchVectorEnv` like every MetaRL env (torch tensors
on ``device``, next-step autoreset, ``reset_mask`` partial resets, ``max_episode_steps``), usable by every agent
and by the SB3 adapter. The physics runs on the CPU whatever ``device`` is; only the outputs move.

Which vectorisation is faster? ``benchmarks/bullet_throughput.py`` (MetaRL/AntBullet-v0, random actions),
env-steps/s on the project's 2-core machine while other jobs shared it (load average 5-12, so noisy; two runs):

=====  ==============================  ==============================
N      vector_entry_point (N clients)  async (N processes)
=====  ==============================  ==============================
1      1204 / 894                      1211 / 813
8      1601 / 1107                     884 / 595
64     1498 / 1548                     1130 / 1100
=====  ==============================  ==============================

The N-client env is as fast at N = 1 and faster at N = 8 and 64 (async pays a pipe round trip per env and step, and its N
processes compete for the same 2 cores), so it is the default: ``gym.make_vec(id, N)`` without
``vectorization_mode`` picks it. ``"async"`` can win on machines with many idle cores.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from torch import Tensor

from ..base import TorchVectorEnv
from .locomotion import OBS_CLIP, REWARD_TERMS, AntBulletEnv, HalfCheetahBulletEnv, LocomotionSim
from .robots import ANT, HALF_CHEETAH, RobotSpec, check_morphology

INFO_KEYS = ("distance", "x_position", *(f"reward_{name}" for name in REWARD_TERMS))
"""Keys of the step infos, each a float32 tensor ``[N]`` on ``device``."""


class BulletLocomotionVectorEnv(TorchVectorEnv):
    """N copies of a pybullet walker, one DIRECT client each, stepped in a loop; subclasses set ``robot``.

    Row ``i`` reset with ``seed=s`` follows exactly the single env (``gym.make``) reset with ``seed=s + i``,
    and so the ``i``-th env of Gymnasium's Sync/AsyncVectorEnv reset with ``seed=s``.

    Args:
        num_envs: N, the number of pybullet clients.
        morphology: one morphology name for every row (default ``"standard"``), or a sequence of N names.
            ``reset(options={"morphology": ...})`` changes the morphology of the reset rows (a name or N names).
            For one lifetime per (individual, morphology), as the Hebbian seed scores morphologies, pass
            ``names * pop`` with ``N = pop * len(names)``: :func:`~metarl_gym.evolution.rollout.rollout` gives each
            individual its ``len(names)`` adjacent rows, each a separate lifetime (``examples/hebbian_ant.py``).
        morphology_cycle: M morphology names that rows take in turn (replaces ``morphology``): row ``i``'s
            ``k``-th episode since the last full reset plays ``morphology_cycle[(i + k) % M]``. With
            :func:`metarl_gym.evolution.rollout.rollout` every individual then meets each morphology equally
            often — in its M side-by-side rows (static policies, ``episodes = M``) or in M consecutive episodes
            of its one row (plastic policies, one lifetime; the order differs between rows, and a later
            morphology starts from the weights adapted on the earlier ones) — so the fitness averages over the
            morphologies. A reset without ``reset_mask`` restarts the cycle.
        reward: ``"default"`` (pybullet_envs' reward), ``"distance"`` (torso x displacement per step, metres)
            or ``"progress"`` (pybullet_envs' progress term alone, the Hebbian seed's Ant fitness units).
        burn_in_steps: zero-action steps simulated inside each row's reset before its first observation.
        terminate_when_unhealthy: whether the Ant's ``alive < 0`` ends the episode (default True, as
            pybullet_envs); False lets a fallen Ant try to get up until the time limit.
        render_width, render_height: size of ``render()`` images.
        **kwargs: ``device``, ``max_episode_steps``, ``autoreset_mode``, ``render_mode`` (see
            :class:`~metarl_gym.envs.base.TorchVectorEnv`). There are no continuous task parameters.
    """

    metadata = {**TorchVectorEnv.metadata, "render_fps": 60}
    functional = False  # the state lives in the pybullet clients: no pure transition/observe
    robot: RobotSpec
    single_env_cls: type[gym.Env]

    def __init__(
        self,
        num_envs: int = 1,
        *,
        morphology: str | Sequence[str] | None = None,
        morphology_cycle: Sequence[str] | None = None,
        reward: str = "default",
        burn_in_steps: int = 0,
        terminate_when_unhealthy: bool = True,
        render_width: int = 320,
        render_height: int = 240,
        **kwargs,
    ):
        high = np.ones(self.robot.action_dim, dtype=np.float32)
        action_space = gym.spaces.Box(-high, high, dtype=np.float32)
        high = np.full(self.robot.obs_dim, OBS_CLIP, dtype=np.float32)
        observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        super().__init__(num_envs, observation_space, action_space, **kwargs)
        self.morphology_cycle = None
        if morphology_cycle is not None and morphology is not None:
            raise ValueError("pass either morphology (fixed per row) or morphology_cycle (per episode), not both")
        if morphology_cycle is not None:
            if isinstance(morphology_cycle, str) or len(morphology_cycle) == 0:
                raise ValueError(f"morphology_cycle must be a non-empty sequence of names, got {morphology_cycle!r}")
            self.morphology_cycle = [check_morphology(self.robot, name) for name in morphology_cycle]
            morphology = [self._cycle_morphology(i, 0) for i in range(self.num_envs)]
        morphologies = self._row_morphologies("standard" if morphology is None else morphology)
        self.cycle_episode = np.zeros(self.num_envs, dtype=np.int64)
        """Episodes each row started since the last full reset (0 for the first): its place in the morphology cycle."""
        self._full_reset = True
        self.sims: list[LocomotionSim] = []
        for name in morphologies:
            self.sims.append(LocomotionSim(
                    self.robot, name, reward=reward, burn_in_steps=burn_in_steps, terminate_when_unhealthy=terminate_when_unhealthy
                ))
        self.row_rngs = [seeding.np_random(None)[0] for _ in range(self.num_envs)]
        """One numpy generator per row (seeded ``seed + i``, or ``seed[i]``), as the rows of a Gymnasium vector env."""
        self.render_width, self.render_height = int(render_width), int(render_height)
        self._obs = np.zeros((self.num_envs, self.robot.obs_dim), dtype=np.float32)
        self._info = np.zeros((self.num_envs, len(INFO_KEYS)), dtype=np.float32)
        self._reset_rows(torch.ones(self.num_envs, dtype=torch.bool), None)  # a valid state even before reset()
        self._full_reset = False

    @property
    def morphologies(self) -> list[str]:
        """Morphology of every row, ``[N]`` names."""
        return [sim.morphology for sim in self.sims]

    def _cycle_morphology(self, row: int, episode: int) -> str:
        return self.morphology_cycle[(row + episode) % len(self.morphology_cycle)]

    def _row_morphologies(self, morphology: str | Sequence[str]) -> list[str]:
        names = [morphology] * self.num_envs if isinstance(morphology, str) else list(morphology)
        if len(names) != self.num_envs:
            raise ValueError(
                f"morphology must be one name or a sequence of num_envs={self.num_envs} names, got {len(names)} names"
            )
        return [check_morphology(self.robot, name) for name in names]

    # ---------------------------------------------------------------- Gymnasium API additions
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset all rows or those of ``options["reset_mask"]``.

        Args:
            seed: row ``i`` draws its starting noise from ``np_random(seed + i)`` (an int) or ``np_random(seed[i])``
                (N ints, one per row, as Gymnasium's vector envs; taken modulo 2**63).
            options: ``reset_mask`` (bool ``[N]``) and/or ``morphology`` (a name or N names, applied to the reset
                rows before they restart).

        Returns:
            ``(obs [N, obs_dim], info)``.
        """
        options = dict(options or {})
        morphology = options.pop("morphology", None)
        if options.get("state") is not None:
            raise ValueError("pybullet envs take no 'state' reset option; the start state is the XML pose plus noise")
        if seed is not None:
            if isinstance(seed, (int, np.integer)):
                seeds = [int(seed) + i for i in range(self.num_envs)]
            else:  # per-row keys (any int64): numpy seeds are non-negative
                seeds = [int(x) % 2**63 for x in seed]
            if len(seeds) != self.num_envs or min(seeds) < 0:
                raise ValueError(f"seed must be a non-negative int or {self.num_envs} ints (one per row), got {seed!r}")
            self.row_rngs = [seeding.np_random(x)[0] for x in seeds]
        if morphology is not None:
            if self.morphology_cycle is not None:
                raise ValueError("this env follows morphology_cycle; a 'morphology' reset option would fight it")
            mask = self._as_mask(options.get("reset_mask")).cpu().numpy()
            for sim, name, reset in zip(self.sims, self._row_morphologies(morphology), mask):
                if reset:
                    sim.load(name)
        self._full_reset = options.get("reset_mask") is None
        try:
            obs, info = super().reset(seed=seed, options=options)
        finally:
            self._full_reset = False
        return obs, {**info, **self._info_tensors()}

    def step(self, actions):
        """Step every row (rows that ended at the previous step restart instead).

        Returns:
            ``(obs [N, obs_dim], rewards [N], terminations [N], truncations [N], infos)``; ``infos`` holds
            ``distance``, ``x_position`` and ``reward_<term>``, float32 ``[N]`` each (zeros on restarting rows).
        """
        obs, rewards, terminations, truncations, infos = super().step(actions)
        return obs, rewards, terminations, truncations, {**infos, **self._info_tensors()}

    def set_state(self, state, mask: Tensor | None = None) -> None:
        raise NotImplementedError("the state of a pybullet env lives in its physics clients and cannot be set")

    # ---------------------------------------------------------------- TorchVectorEnv hooks
    def _reset_rows(self, mask: Tensor, keys: Tensor | None) -> None:
        # starting noise comes from each row's own numpy generator (pybullet's envs draw with numpy), not from keys
        for i in np.flatnonzero(mask.cpu().numpy()):
            self.cycle_episode[i] = 0 if self._full_reset else self.cycle_episode[i] + 1
            if self.morphology_cycle is not None:
                self.sims[i].load(self._cycle_morphology(i, self.cycle_episode[i]))
            self._obs[i] = self.sims[i].reset(self.row_rngs[i])
            self._info[i] = self._row_info(i)

    def _step(self, actions: Tensor) -> tuple[Tensor, Tensor]:
        actions = actions.detach().to("cpu", torch.float32).numpy()
        skip = np.zeros(self.num_envs, dtype=bool)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            skip = self.needs_reset.cpu().numpy()  # these rows only restart this step: no physics needed
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        terminations = np.zeros(self.num_envs, dtype=bool)
        for i, sim in enumerate(self.sims):
            if skip[i]:
                continue
            self._obs[i], rewards[i], terminations[i] = sim.step(actions[i])
            self._info[i] = self._row_info(i)
        return torch.as_tensor(rewards, device=self.device), torch.as_tensor(terminations, device=self.device)

    def _observe(self) -> Tensor:
        return torch.tensor(self._obs, device=self.device)

    def _render_row(self, row: int) -> np.ndarray:
        return self.sims[row].render(self.render_width, self.render_height)

    def close_extras(self, **kwargs):
        for sim in self.sims:
            sim.close()

    # ---------------------------------------------------------------- helpers
    def _row_info(self, i: int) -> list[float]:
        info = self.sims[i].info()
        return [info[key] for key in INFO_KEYS]

    def _info_tensors(self) -> dict[str, Tensor]:
        values = torch.tensor(self._info, device=self.device)
        return {key: values[:, k] for k, key in enumerate(INFO_KEYS)}


class AntBulletVectorEnv(BulletLocomotionVectorEnv):
    """The batched :class:`~metarl_gym.envs.bullet.locomotion.AntBulletEnv` (its env card applies per row)."""

    robot = ANT
    single_env_cls = AntBulletEnv


class HalfCheetahBulletVectorEnv(BulletLocomotionVectorEnv):
    """The batched :class:`~metarl_gym.envs.bullet.locomotion.HalfCheetahBulletEnv` (its env card applies per row)."""

    robot = HALF_CHEETAH
    single_env_cls = HalfCheetahBulletEnv
