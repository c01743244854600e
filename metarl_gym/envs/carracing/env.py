"""MetaRL/CarRacing-v0: Gymnasium's CarRacing-v3 as a TorchVectorEnv (the env card is the class docstring)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium.utils import seeding
from torch import Tensor

from ...errors import UserError
from ..base import TorchVectorEnv
from ..limits import Interval
from . import car as C
from .render import STATE_H, STATE_W, Renderer
from .road import MAX_TILES, TrackBank, wheel_contacts
from .track import PLAYFIELD, generate_track

ON_ROAD = slice(C.CAR_COLUMNS, C.CAR_COLUMNS + 4)
STEPS, COUNT, PENDING, SLOT, SPEED = range(C.CAR_COLUMNS + 4, C.CAR_COLUMNS + 9)
VISITED = slice(C.CAR_COLUMNS + 9, C.CAR_COLUMNS + 9 + MAX_TILES)
STATE_NAMES = (
    *C.CAR_NAMES, "on_road_fl", "on_road_fr", "on_road_rl", "on_road_rr", "steps", "tiles_visited", "pending_reward",
    "track", "hull_speed", *(f"visited_{i}" for i in range(MAX_TILES)),
)


class CarRacing(TorchVectorEnv):
    """## Description
    Gymnasium's ``CarRacing-v3`` (Oleg Klimov; the pixel environment of both the Hebbian and the ga-openai-gym
    seeds) batched in torch: the same random tracks, the same car and tyre model, the same rewards and ends, and
    96x96 frames drawn straight at 96x96. ``gym.make("MetaRL/CarRacing-v0")`` is one row as a numpy env.

    - **Track**: generated per row at reset, on the host, by CarRacing-v3's own numpy code (:mod:`.track`) from
      the row's numpy generator: ``reset(seed=s)`` gives row ``i`` the track of ``CarRacing-v3`` reset with seed
      ``s + i`` (what Gymnasium's vector envs pass), and later resets continue that row's generator, as an
      ``AsyncVectorEnv`` of CarRacing-v3 does. Tile polygons are equal float for float (tested on 40 seeds).
    - **Car** (:mod:`.car`): ``car_dynamics.py`` with hull and wheels one rigid body (Box2D's joints made exact),
      plus two Box2D effects measured and reproduced: the hull's settling at reset and the steering joint's limit
      slop (full lock holds 0.4243 rad, not 0.4). Measured against CarRacing-v3 from the same ``reset(seed)``
      with the same scripted actions (``python -m metarl_gym.envs.carracing.compare``: 5 scripts — full gas,
      gas then left, weaving, gas then brake, hard right — x seeds 0-2; max over seeds of hull position /
      speed / angle difference; the tests check the 50-step bound):

      ============  ======================  ======================  ======================  ===================
      script        1 step                  10 steps                50 steps                200 steps
      ============  ======================  ======================  ======================  ===================
      gas           0.2 mm, 0.0, 1.5e-4     0.2 mm, 0.0, 2.9e-4     1.0 cm, 0.0, 6.4e-4     18 m, 3.9, 0.21
      gas, left     0.2 mm, 0.0, 1.5e-4     0.2 mm, 0.0, 2.9e-4     1.0 cm, 0.0, 6.4e-4     1.1 m, 0.66, 0.16
      weave         0.2 mm, 0.0, 1.5e-4     0.4 mm, 0.007, 2.9e-4   9.9 cm, 0.32, 0.018     3.1 m, 1.0, 0.14
      gas, brake    0.2 mm, 0.0, 2.0e-4     0.3 mm, 0.004, 2.6e-4   19 cm, 0.59, 0.0044     0.56 m, 0.0, 0.021
      hard right    0.2 mm, 0.0, 2.0e-4     0.4 mm, 0.007, 2.7e-4   25 cm, 0.88, 0.051      0.37 m, 0.0, 0.097
      ============  ======================  ======================  ======================  ===================

      (metres, m/s, radians). Up to 50 steps the twin follows CarRacing-v3 within 25 cm; skids (grass,
      sharp turns at speed) amplify the remaining difference (Box2D's iterative joint solver, float32), so after
      hundreds of steps trajectories part: the 18 m of full gas is the car leaving the road at a corner at a
      slightly different moment. Rewards of the same poses are equal (the tile contacts are Box2D's rule:
      polygons within 2 cm, updated before each step's integration, friction from the previous update),
      tested step by step on CarRacing-v3's own poses. Contacts are tested against the five tiles around the one
      nearest the car, so where a track crosses itself under the car the other branch's tiles are not visited
      (CarRacing-v3 visits both); a tile touched only by the hull (not a wheel) keeps its shading here, while
      CarRacing-v3 greys it.
    - **Frames** (:mod:`.render`): background, grass squares, tiles with their shading (plain grey once touched),
      kerbs, car (hull, wheels and their stripes), indicator bar (speed, four ABS bars, steering, gyro); the zoom-in
      over the first second. Not drawn: the score (CarRacing-v3 prints ``f"{reward:04}"``, the full float repr
      such as ``28.482758620689644``, centred at x = 60 so that only its last ~12 digits show: effectively noise
      digits in the black bar); skid marks (``state_pixels`` has none). Mean absolute difference against
      CarRacing-v3's own frames of the same poses (CarRacing-v3's hull pose, steering, wheel spins and phases,
      touched tiles and clock copied into a twin row; 3 seeds x 151 frames of three scripts,
      ``compare.run_pair(..., frames=True)``): **3.14 of 255** (zoom-in second 3.14, after it 3.14; the 84
      rows above the bar 2.1-2.2, the bar's 12 rows 9.7-10.5, nearly all of it the missing score digits);
      ``antialias=False`` 3.23. The tests check < 4.
    - **Transfer**: a hand-written pixel controller (:func:`.compare.road_follower`: steer towards the grey road
      in the rows ahead, gas 0.06) over 1,000-step episodes of seeds 0-3 scores 768.3 / 900.4 / 255.2 / 888.9
      (mean 703.2) on CarRacing-v3 and 768.3 / 900.6 / 482.1 / 888.9 (mean 760.0) on the twin: equal within 0.2 on
      three tracks, the fourth's trajectories part after a skid; the means within 8.1 % (slow test: < 10 %).
      With gas 0.1 (a faster, skiddier car) two of four tracks part and the means differ by 16 %. Evolved
      policies can exploit the differences: a GA conv net trained 10 generations on the twin scored 491.7 on it
      and 109.4 on CarRacing-v3 over the same 20 held-out tracks (examples/RESULTS.md) — score held-out on
      CarRacing-v3 itself.

    ## Action Space
    ``continuous=True``: ``Box([-1, 0, 0], [1, 1, 1], float32)`` (steering, gas, brake). ``continuous=False``:
    ``Discrete(5)`` (nothing, right, left, gas, brake).

    ## Observation Space
    ``Box(0, 255, (96, 96, 3), uint8)``. The torch batch returns float32 frames ``[N, 96, 96, 3]`` holding
    0-255 values (the pixel policies scale them); ``gym.make`` returns uint8, rounded.

    ## Physical State
    ``state_names``: the car (:data:`.car.CAR_NAMES`: hull position, angle, velocity, angular velocity, steering
    joint angle, rear gas, wheel spins and phases), which wheels were on a tile at the last contact update, the
    steps since reset, tiles visited, the reward of the tiles touched at reset (paid at the first step, as
    CarRacing-v3 does), the row's ``track`` slot, the hull speed and one visited flag per tile (up to 512).

    ## Rewards
    -0.1 every step and +1000/N for every tile visited for the first time (a wheel touched it; N tiles); -100
    (instead) on leaving the playfield (|x| or |y| > 333.3 m).

    ## Starting State
    At rest on the first tile, facing along the track.

    ## Episode End
    Terminated when every tile is visited, when tile 0 is first touched with more than ``lap_complete_percent`` of
    the tiles visited (CarRacing-v3's rule; the car starts on tile 0, so in practice the lap ends with every tile),
    or off the playfield; truncated after 1,000 steps (as registered).

    ## Arguments
    ``num_envs``, ``continuous=True``, ``lap_complete_percent=0.95``, ``texel=0.5`` (metres per texel of the
    key texture: 2 MB per row at 0.5, 0.5 MB at 1.0, a little blurrier), ``compile=False`` (``torch.compile``
    ``transition``, and ``observe`` when frames are drawn with torch ops: tens of seconds of compilation per batch
    shape on CPU, then ~3x faster physics), ``antialias=True`` (bilinear ground sampling; False: the nearest texel,
    about twice as fast, frames 3.23 instead of 3.14 from CarRacing-v3's), ``render_backend="auto"`` (CPU: the
    C++ kernel of :mod:`.render_cpu` where it builds, else torch ops; CUDA: torch ops; or ``"cpp"`` / ``"torch"``),
    ``device``, ``max_episode_steps``, ``autoreset_mode``, ``render_mode``. ``domain_randomize`` is not supported.
    """

    metadata = {**TorchVectorEnv.metadata, "render_fps": 50}
    state_names = STATE_NAMES
    task_defaults = {"lap_complete_percent": 0.95}
    task_limits = {"lap_complete_percent": Interval(0.0, 1.0)}

    def __init__(self, num_envs: int = 1, *, continuous: bool = True, lap_complete_percent: float = 0.95,
                 texel: float = 0.5, domain_randomize: bool = False, compile: bool = False, antialias: bool = True,
                 render_backend: str = "auto", **kwargs):
        if domain_randomize:
            raise UserError("MetaRL/CarRacing-v0 has no domain_randomize; use Gymnasium's CarRacing-v3 for it")
        if not 0.05 <= float(texel) <= 4.0:
            raise UserError(f"texel must be between 0.05 and 4 metres, got {texel!r}")
        self.continuous = bool(continuous)
        action_space = (gym.spaces.Box(np.array([-1, 0, 0], dtype=np.float32), np.array([1, 1, 1], dtype=np.float32))
                        if self.continuous else gym.spaces.Discrete(5))
        obs_space = gym.spaces.Box(0, 255, (STATE_H, STATE_W, 3), dtype=np.uint8)
        super().__init__(num_envs, obs_space, action_space, tasks={"lap_complete_percent": lap_complete_percent}, **kwargs)
        self.bank = TrackBank(self.num_envs, self.device, self.dtype, texel)
        self.renderer = Renderer(self.device, antialias=antialias, backend=render_backend)
        self.compiled = bool(compile)
        self._transition_fn = torch.compile(self._transition, dynamic=False) if self.compiled else self._transition
        compile_frames = self.compiled and self.renderer.backend == "torch"  # the C++ kernel is compiled already
        self._observe_fn = torch.compile(self._observe_rows, dynamic=False) if compile_frames else self._observe_rows
        self._track_rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._reset_seed: int | None = None

    # ---------------------------------------------------------------- reset
    def reset(self, *, seed=None, options=None):
        self._reset_seed = seed
        try:
            return super().reset(seed=seed, options=options)
        finally:
            self._reset_seed = None

    def _track_generators(self, mask: np.ndarray, keys: Tensor | None) -> list[np.random.Generator]:
        """The numpy generator of each row in ``mask`` (the one place random draws are made).

        ``reset(seed=s)`` seeds row i with ``s + i``, ``reset(seed=[s_0, ..., s_{N-1}])`` with ``s_i & (2**63 - 1)``
        (``gymnasium.utils.seeding.np_random``, as CarRacing-v3's own reset); a row never seeded is seeded from its
        episode key (or, without keys, from ``self.rng``); otherwise a row continues its generator, so its next
        track is the one CarRacing-v3 would draw next.
        """
        rows = np.flatnonzero(mask)
        seed = self._reset_seed
        if seed is not None and not isinstance(seed, (int, np.integer)):
            seed = [int(s) for s in (seed.tolist() if isinstance(seed, Tensor) else np.asarray(seed).tolist())]
        for i in rows:
            if seed is not None:
                # per-row int64 keys as rollout hands Gymnasium's own vector envs (engines.reset_seeds): the same
                # non-negative bits, so a twin row and a CarRacing-v3 env given one key drive the same track
                row_seed = int(seed) + int(i) if isinstance(seed, (int, np.integer)) else seed[i] & (2**63 - 1)
                self._track_rngs[i] = seeding.np_random(row_seed)[0]
            elif self._track_rngs[i] is None:
                if keys is not None:
                    row_seed = int(keys[i]) % (2**63)
                else:
                    row_seed = int(torch.randint(2**31 - 1, (1,), generator=self.rng, device=self.device))
                self._track_rngs[i] = seeding.np_random(row_seed)[0]
        return [self._track_rngs[i] for i in rows]

    def _reset_rows(self, mask: Tensor, keys: Tensor | None = None) -> None:
        host_mask = mask.cpu().numpy()
        rows = np.flatnonzero(host_mask)
        if len(rows) == 0:
            return
        for i, rng in zip(rows, self._track_generators(host_mask, keys)):
            self.bank.write(int(i), generate_track(rng))
        idx = torch.as_tensor(rows, device=self.device)
        self.state[idx] = self.start_state(idx)

    def start_state(self, slots: Tensor) -> Tensor:
        """Rows ``[B, state_dim]`` at the start of the tracks in ``slots [B]``: the car at rest, the tiles under its
        wheels visited (their reward pending for the first step)."""
        B = slots.shape[0]
        state = torch.zeros(B, len(self.state_names), dtype=self.dtype, device=self.device)
        state[:, : C.CAR_COLUMNS] = C.start_car(self.bank.start[slots])
        state[:, SLOT] = slots.to(self.dtype)
        wheel_xy, forward, side, _ = C.wheel_geometry(state)
        touch, cand = wheel_contacts(self.bank, slots, state[:, [C.X, C.Y]], wheel_xy, forward, side)
        visited = torch.zeros(B, MAX_TILES, dtype=self.dtype, device=self.device)
        visited.scatter_(1, cand, touch.any(1).to(self.dtype))
        state[:, VISITED] = visited
        state[:, ON_ROAD] = touch.any(-1).to(self.dtype)
        count = visited.sum(1)
        state[:, COUNT] = count
        state[:, PENDING] = count * 1000.0 / self.bank.num_tiles[slots].to(self.dtype)
        return state

    # ---------------------------------------------------------------- the functional face
    def transition(self, state: Tensor, tasks: dict[str, Tensor], actions: Tensor):
        """One 1/50 s step of B rows (pure; the track bank is only read): see the class card."""
        return self._transition_fn(state, tasks, actions)

    def observe(self, state: Tensor) -> Tensor:
        """Frames ``[B, 96, 96, 3]`` float32 (integers 0-255) of B rows (pure)."""
        return self._observe_fn(state)

    def _transition(self, state: Tensor, tasks: dict[str, Tensor], actions: Tensor):
        slots = state[:, SLOT].long()
        steer, gas, brake = C.controls(actions, self.continuous)
        steer, gas, brake = steer.to(state.dtype), gas.to(state.dtype), brake.to(state.dtype)
        # Box2D order: Car.step uses the contacts of the previous world step, then world.Step updates the contacts
        # at the current pose (rewards) and integrates.
        wheel_xy, forward, side, _ = C.wheel_geometry(state)
        touch, cand = wheel_contacts(self.bank, slots, state[:, [C.X, C.Y]], wheel_xy, forward, side)
        visited = state[:, VISITED]
        before = torch.gather(visited, 1, cand)
        touched = touch.any(1).to(state.dtype)
        new = (touched * (1 - before)).sum(1)
        visited = visited.scatter(1, cand, torch.maximum(before, touched))
        car, _ = C.car_step(state, steer, gas, brake, state[:, ON_ROAD] > 0.5)
        n = self.bank.num_tiles[slots].to(state.dtype)
        count = state[:, COUNT] + new
        zero_idx = (cand == 0) & (touched > 0) & (before < 0.5)
        new_lap = zero_idx.any(1) & (count / n > tasks["lap_complete_percent"])
        reward = -0.1 + new * 1000.0 / n + state[:, PENDING]
        off = (car[:, C.X].abs() > PLAYFIELD) | (car[:, C.Y].abs() > PLAYFIELD)
        reward = torch.where(off, torch.full_like(reward, -100.0), reward)
        terminated = (count >= n) | new_lap | off
        # the hull's own velocity (its centre of mass is 1 mm from the car's)
        speed = torch.sqrt(car[:, C.VX] ** 2 + car[:, C.VY] ** 2)
        extra = torch.stack([state[:, STEPS] + 1, count, torch.zeros_like(count), state[:, SLOT], speed], dim=1)
        out = torch.cat([car, touch.any(-1).to(state.dtype), extra, visited], dim=1)
        return out, reward.to(torch.float32), terminated

    def _observe_rows(self, state: Tensor) -> Tensor:
        slots = state[:, SLOT].long()
        frames = self.renderer(self.bank, slots, state.float(), state[:, VISITED] > 0.5,
                               {"steps": state[:, STEPS].float(), "speed": state[:, SPEED].float()})
        return frames if self.renderer.backend == "cpp" else frames.round_()  # integers, as a uint8 frame

    def _render_row(self, row: int) -> np.ndarray:
        return self.observe(self.state[row : row + 1])[0].clamp(0, 255).to(torch.uint8).cpu().numpy()
