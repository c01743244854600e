"""MetaRL/SlimeVolley-v0: slimevolleygym's game (Ha 2020), batched in torch, with its built-in opponent and self-play."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from ..errors import UserError
from ..slimevolley_rnn import BIAS, NUM_UNITS, THRESHOLD, WEIGHT, rnn_step
from .base import TorchSingleEnv, TorchVectorEnv
from .xp import ROW, TORCH

# ---------------------------------------------------------------- slimevolleygym 0.1.0's constants, same expressions
REF_W = 24 * 2
REF_H = REF_W
REF_U = 1.5
REF_WALL_WIDTH = 1.0
REF_WALL_HEIGHT = 3.5
PLAYER_SPEED_X = 10 * 1.75
PLAYER_SPEED_Y = 10 * 1.35
MAX_BALL_SPEED = 15 * 1.5
TIMESTEP = 1 / 30.0
NUDGE = 0.1
INIT_DELAY_FRAMES = 30
GRAVITY = -9.8 * 2 * 1.5
MAXLIVES = 5
AGENT_R = 1.5
BALL_R = 0.5
STUB_R = REF_WALL_WIDTH / 2

# derived once, in the order slimevolleygym's expressions evaluate them
_G_T = GRAVITY * TIMESTEP
_ON_GROUND = REF_U + NUDGE * TIMESTEP
_AGENT_MIN_X = REF_WALL_WIDTH / 2 + AGENT_R
_AGENT_MAX_X = REF_W / 2 - AGENT_R
_LEFT_WALL = BALL_R - REF_W / 2
_LEFT_WALL_SET = BALL_R - REF_W / 2 + NUDGE * TIMESTEP
_RIGHT_WALL = REF_W / 2 - BALL_R
_RIGHT_WALL_SET = REF_W / 2 - BALL_R - NUDGE * TIMESTEP
_GROUND = BALL_R + REF_U
_GROUND_SET = BALL_R + REF_U + NUDGE * TIMESTEP
_CEILING = REF_H - BALL_R
_CEILING_SET = REF_H - BALL_R - NUDGE * TIMESTEP
_FENCE_R = REF_WALL_WIDTH / 2 + BALL_R
_FENCE_R_SET = REF_WALL_WIDTH / 2 + BALL_R + NUDGE * TIMESTEP
_FENCE_L = -REF_WALL_WIDTH / 2 - BALL_R
_FENCE_L_SET = -REF_WALL_WIDTH / 2 - BALL_R - NUDGE * TIMESTEP
_AGENT_HIT2 = (BALL_R + AGENT_R) * (BALL_R + AGENT_R)
_STUB_HIT2 = (BALL_R + STUB_R) * (BALL_R + STUB_R)
_MAX_SPEED2 = MAX_BALL_SPEED * MAX_BALL_SPEED
_LAUNCH_X, _LAUNCH_Y = 0.0, REF_W / 4
_SCALE = 10.0
_GAME_COLUMNS = 35
"""State columns the game updates; the 16 serve columns after them never change within a game."""

MAX_NUDGES = {_AGENT_HIT2: 22, _STUB_HIT2: 12}
"""Upper bound on the iterations of slimevolleygym's ``while isColliding: move by NUDGE`` loop (radius sum / 0.1,
plus rounding) per body, for the fixed-length masked loop of compiled / GPU steps."""

NUM_LAUNCHES = 2 * MAXLIVES - 1
"""Ball launches a game can use: the first one and one after each of the at most 8 points before the last."""

ATARI_ACTIONS = ((0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1), (0, 1, 1), (0, 1, 0))
"""slimevolleygym's ``action_table`` for its Discrete(6) (atari) mode: NOOP, forward, forward+jump, jump,
backward+jump, backward."""

_BALL = ("ball_x", "ball_y", "ball_vx", "ball_vy", "ball_prev_x")
_AGENTS = ("left_x", "left_y", "left_vx", "left_vy", "right_x", "right_y", "right_vx", "right_vy")
_SEEN = tuple(f"seen_{name}" for name in ("ball_x", "ball_y", "ball_vx", "ball_vy") + _AGENTS)
STATE_NAMES = (
    _BALL + _AGENTS + ("delay", "left_lives", "right_lives") + _SEEN
    + tuple(f"opponent_h{k}" for k in range(NUM_UNITS))
    + tuple(f"launch{k}_{v}" for k in range(1, NUM_LAUNCHES) for v in ("vx", "vy"))
)

# night palette of slimevolleygym (its default)
_COLORS = {
    "background": (11, 16, 19), "fence": (102, 56, 35), "ground": (116, 114, 117), "ball": (217, 79, 0),
    "left": (35, 93, 188), "right": (255, 236, 0), "coin": (102, 56, 35),
}


class SlimeVolley(TorchVectorEnv):
    """## Description
    slimevolleygym's SlimeVolley-v0 (David Ha, 2020; a port of Neural Slime Volleyball, otoro.net 2015): two slimes,
    a ball and a fence, with the same constants, update order, collision rules (ball against both slimes and the
    fence stub, nudged out in steps of 0.1, then reflected; walls, ceiling, fence sides), 30-frame delay before
    each serve and random serve velocity after every point, batched over N games in torch. The agent plays the
    right (blue in slimevolleygym's wording) side; by default the left side is slimevolleygym's built-in
    opponent, its 112-parameter recurrent baseline. Equal to slimevolleygym 0.1.0 in float64 over whole games
    (tests/envs/test_slimevolley.py).

    ## Action Space
    ``MultiBinary(3)``: [forward (towards the fence), backward, jump]; a button is pressed when its value is
    > 0 (slimevolleygym's rule, so the raw tanh outputs of the ga-openai-gym seed also work).
    ``action_type="discrete"``: ``Discrete(6)``, slimevolleygym's atari table :data:`ATARI_ACTIONS`.
    ``opponent="self"``: ``MultiBinary(6)``, the right agent's three buttons then the left agent's.

    ## Observation Space
    ``Box(-3.4e38, 3.4e38, (12,), float32)``: slimevolleygym's ``agent_right.getObservation()``: own x, y, vx, vy,
    ball x, y, vx, vy, opponent x, y, vx, vy, each divided by 10, x axes pointing away from the agent's own
    side (the right agent's x is positive). As in slimevolleygym, the observation of the step that scores a
    point is the one of the step before (the game skips its state update on that step).
    ``opponent="self"``: ``(24,)``, the right agent's 12 then the left agent's own mirrored 12 (slimevolleygym's
    ``info["otherObs"]``), so one network can play either side.

    ## Rewards
    ``reward="score"`` (default): +1 when the ball lands on the left side, -1 on the right side, 0 otherwise.
    ``reward="shaped"``: the ga-openai-gym seed's fitness per step: score + 0.01 x right lives + 0.05 x
    (5 - left lives) + 0.001, lives after the step (summed over a game it is the seed's
    ``R + 0.01 sum lives + 0.05 sum (5 - enemy lives) + 0.001 steps``).

    ## Starting State
    Slimes at x = -12 and 12 on the ground, at rest; ball at (0, 12) with velocity U(-20, 20) x U(10, 25), held
    for 30 steps. All serve velocities of the game (the first and those after each point) are drawn at reset, in
    one method (:meth:`_launches`), from the row's own random stream; they sit in the state columns
    ``launch{k}_vx/vy``, so ``transition`` stays a pure function.

    ## Episode End
    Terminated when a side has lost its 5 lives; truncated after 3,000 steps (``max_episode_steps``).
    ``info["lives"]`` / ``info["other_lives"]`` ([N] int64; single env: also slimevolleygym's ``"ale.lives"`` /
    ``"ale.otherLives"``) are the right / left agent's lives.

    ## Physical State
    ``state_names`` (51 columns): the ball (x, y, vx, vy, previous x), both slimes (x, y, vx, vy), serve delay,
    both lives, the 12 values the agents last observed, the built-in opponent's 7 recurrent outputs, 8 future serves.

    ## Arguments
    ``num_envs``; ``opponent``: ``"baseline"`` (default) or ``"self"``; ``action_type``: ``"multibinary"``
    (default) or ``"discrete"`` (with the baseline opponent); ``reward``: ``"score"`` or ``"shaped"``; ``device``,
    ``dtype`` (``torch.float64`` for slimevolleygym's own precision), ``max_episode_steps``, ``autoreset_mode``,
    ``render_mode`` (``"rgb_array"``).

    Differences from slimevolleygym: the built-in opponent's recurrent state starts at zero every game
    (slimevolleygym keeps it across ``reset`` of one env object); its 15-term sums are taken in a fixed order
    (numpy's BLAS may differ by 1e-16, which flips a button only at an exact tie). The ball is never launched on
    the step after the last point (slimevolleygym draws one more serve there, unused).

    Exactness: eager CPU steps in float64 give slimevolleygym's numbers bit for bit (square roots go through
    numpy: torch's float64 CPU ``sqrt`` misses by one ulp near ties). GPU steps (torch's ``sqrt``) and compiled
    steps (the nudge-out loop taken in one multiply, exp-based tanh, fused float32 arithmetic) differ by round-off,
    which the game's collisions amplify over a rally: same game, other trajectories.
    """

    state_names = STATE_NAMES
    metadata = {**TorchVectorEnv.metadata, "render_fps": 30}
    masked_nudges: bool = False
    """Run the nudge-out loop as a fixed-length masked loop over all rows (what compiled and GPU steps do) instead
    of over the colliding rows only (eager CPU); both give the same bits. Tests switch it on."""

    def __init__(
        self,
        num_envs: int = 1,
        *,
        opponent: str = "baseline",
        action_type: str = "multibinary",
        reward: str = "score",
        **kwargs,
    ):
        if opponent not in ("baseline", "self"):
            raise UserError(f"opponent must be 'baseline' (slimevolleygym's built-in policy) or 'self', got {opponent!r}")
        if action_type not in ("multibinary", "discrete"):
            raise UserError(f"action_type must be 'multibinary' or 'discrete', got {action_type!r}")
        if action_type == "discrete" and opponent == "self":
            raise UserError("action_type='discrete' drives one agent; with opponent='self' use action_type='multibinary' "
                            "(MultiBinary(6): the right agent's 3 buttons, then the left agent's)")
        if reward not in ("score", "shaped"):
            raise UserError(f"reward must be 'score' (points won minus lost) or 'shaped' (the ga-openai-gym fitness), got {reward!r}")
        self.opponent, self.action_type, self.reward_mode = opponent, action_type, reward
        self.self_play = opponent == "self"
        obs_dim = 24 if self.self_play else 12
        high = np.full(obs_dim, np.finfo(np.float32).max, dtype=np.float32)
        if action_type == "discrete":
            action_space = gym.spaces.Discrete(len(ATARI_ACTIONS))
        else:
            action_space = gym.spaces.MultiBinary(6 if self.self_play else 3)
        self.velocity_indices = tuple(i for i in range(obs_dim) if i % 4 in (2, 3))
        super().__init__(num_envs, gym.spaces.Box(-high, high, dtype=np.float32), action_space, **kwargs)
        self._weight = {}

    # ---------------------------------------------------------------- random serves: the one place of randomness
    def _launches(self, keys: Tensor) -> Tensor:
        """Serve velocities of ``B`` games ``[B, NUM_LAUNCHES, 2]`` (vx ~ U(-20, 20), vy ~ U(10, 25), as
        slimevolleygym's ``np_random.uniform`` calls), each game drawn from its own random stream.

        Args:
            keys: ``[B]`` int64 episode keys (:meth:`TorchVectorEnv.start_uniform` draws from them).
        """
        u = self.start_uniform(keys, 2 * NUM_LAUNCHES).view(-1, NUM_LAUNCHES, 2)
        return torch.stack([-20.0 + 40.0 * u[..., 0], 10.0 + 15.0 * u[..., 1]], dim=-1)

    def _start_state(self, keys: Tensor) -> Tensor:
        launches = self._launches(keys)
        b = launches.shape[0]
        columns = dict.fromkeys(self.state_names, 0.0)
        columns.update(ball_y=_LAUNCH_Y, left_x=-REF_W / 4, left_y=AGENT_R, right_x=REF_W / 4, right_y=AGENT_R,
                       delay=float(INIT_DELAY_FRAMES), left_lives=float(MAXLIVES), right_lives=float(MAXLIVES))
        state = torch.tensor([columns[name] for name in self.state_names], dtype=self.dtype, device=self.device)
        state = state.repeat(b, 1)
        index = {name: i for i, name in enumerate(self.state_names)}
        state[:, index["ball_vx"]] = launches[:, 0, 0]
        state[:, index["ball_vy"]] = launches[:, 0, 1]
        first = index["launch1_vx"]
        state[:, first:] = launches[:, 1:].reshape(b, -1)
        for name in ("ball_x", "ball_y", "ball_vx", "ball_vy") + _AGENTS:  # updateState at reset
            state[:, index[f"seen_{name}"]] = state[:, index[name]]
        return state.t().contiguous().t()  # column-major (see transition)

    def _reset_rows(self, mask: Tensor, keys: Tensor) -> None:
        """Start states of episode keys ``keys [N]`` in the rows of ``mask``, the state kept column-major (see
        :meth:`transition`)."""
        self.state = torch.where(mask[None, :], self._start_state(keys).t(), self.state.t()).contiguous().t()

    # ---------------------------------------------------------------- the game, written once for torch rows and numpy rows
    def dynamics(self, xp, s: tuple, p: dict, a) -> tuple[tuple, Any, Any]:
        state, reward, terminated = self._game(xp, s[:_GAME_COLUMNS], s[_GAME_COLUMNS:], a)
        return (*state, *s[_GAME_COLUMNS:]), reward, terminated

    def transition(self, state: Tensor, tasks: dict[str, Tensor], actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`dynamics` on torch columns, with the serve columns passed through as one block.

        States are column-major (``[B, 51]`` views of ``[51, B]`` storage, as :meth:`_start_state` makes them and as
        this returns them): each column is contiguous, so eager ops read whole columns and a compiled step (same
        layout in and out, so it compiles once) becomes loops over rows that vectorise. Values do not depend on
        the layout.
        """
        launches = state[:, _GAME_COLUMNS:]
        game, rewards, terminations = self._game(TORCH, state[:, :_GAME_COLUMNS].unbind(dim=1), launches,
                                                 self._action_columns(actions))
        columns = torch.cat([torch.stack(game, dim=0), launches.t()], dim=0)
        return columns.t(), rewards, terminations

    def _game(self, xp, s: tuple, launches, a) -> tuple[tuple, Any, Any]:
        """One step of the game: the 35 columns it updates ``s``, the serves (a tuple of columns, or a ``[B, 16]``
        tensor), the action columns -> (new columns, reward, terminated)."""
        f = (lambda v: v) if xp is TORCH else type(s[0])  # numpy rows keep the env dtype
        (bx, by, bvx, bvy, bpx, lx, ly, lvx, lvy, rx, ry, rvx, rvy, delay, left_lives, right_lives) = s[:16]
        seen = s[16:28]
        hidden = s[28:28 + NUM_UNITS]
        zero = xp.zeros_like(bx)

        # buttons of both agents (slimevolleygym: env.step asks the baseline with the observation before the step)
        right_buttons, left_buttons, hidden = self._buttons(xp, a, seen, hidden, zero)

        # Game.step: agents, then the ball (unless the serve is delayed), collisions, edges
        lx, ly, lvx, lvy = _agent_update(xp, f, -1, lx, ly, lvx, lvy, left_buttons, zero)
        rx, ry, rvx, rvy = _agent_update(xp, f, 1, rx, ry, rvx, rvy, right_buttons, zero)
        moving = delay == 0
        delay = xp.where(moving, delay, delay - 1)
        mvy = bvy + _G_T
        mvx = bvx + 0.0  # applyAcceleration(0, GRAVITY)
        mag2 = mvx * mvx + mvy * mvy
        fast = mag2 > _MAX_SPEED2
        mag = _sqrt(xp, xp.where(fast, mag2, f(1.0) + zero))
        mvx = xp.where(fast, (mvx / mag) * MAX_BALL_SPEED, mvx)
        mvy = xp.where(fast, (mvy / mag) * MAX_BALL_SPEED, mvy)
        bpx = xp.where(moving, bx, bpx)
        bx = xp.where(moving, bx + mvx * TIMESTEP, bx)
        by = xp.where(moving, by + mvy * TIMESTEP, by)
        bvx, bvy = xp.where(moving, mvx, bvx), xp.where(moving, mvy, bvy)
        ball = (bx, by, bvx, bvy)
        ball = self._bounce(xp, ball, (lx, ly, lvx, lvy), _AGENT_HIT2)
        ball = self._bounce(xp, ball, (rx, ry, rvx, rvy), _AGENT_HIT2)
        ball = self._bounce(xp, ball, (zero, f(REF_WALL_HEIGHT) + zero, zero, zero), _STUB_HIT2)
        bx, by, bvx, bvy = ball

        # Particle.checkEdges, its ifs in order (the ground returns before the ceiling and fence checks)
        hit = bx <= _LEFT_WALL
        bvx, bx = xp.where(hit, -bvx, bvx), xp.where(hit, f(_LEFT_WALL_SET) + zero, bx)
        hit = bx >= _RIGHT_WALL
        bvx, bx = xp.where(hit, -bvx, bvx), xp.where(hit, f(_RIGHT_WALL_SET) + zero, bx)
        ground = by <= _GROUND
        point_left = ground & (bx <= 0)  # the ball landed on the left side: the right agent scores
        air = by > _GROUND
        hit = air & (by >= _CEILING)
        bvy, by = xp.where(hit, -bvy, bvy), xp.where(hit, f(_CEILING_SET) + zero, by)
        hit = air & (bx <= _FENCE_R) & (bpx > _FENCE_R) & (by <= REF_WALL_HEIGHT)
        bvx, bx = xp.where(hit, -bvx, bvx), xp.where(hit, f(_FENCE_R_SET) + zero, bx)
        hit = air & (bx >= _FENCE_L) & (bpx < _FENCE_L) & (by <= REF_WALL_HEIGHT)
        bvx, bx = xp.where(hit, -bvx, bvx), xp.where(hit, f(_FENCE_L_SET) + zero, bx)
        # (the ground bounce itself is overwritten by the new serve below)

        # a point: lives, new serve, no state update for the observers
        score = xp.where(ground, xp.where(point_left, f(1.0) + zero, f(-1.0) + zero), zero)
        left_lives = xp.where(ground & point_left, left_lives - 1, left_lives)
        right_lives = xp.where(ground & (bx > 0), right_lives - 1, right_lives)
        serve = (2 * MAXLIVES - left_lives - right_lives) - 1  # launches used after this point: 0, 1, ...
        svx, svy = _pick(xp, serve, launches)
        bx, by = xp.where(ground, f(_LAUNCH_X) + zero, bx), xp.where(ground, f(_LAUNCH_Y) + zero, by)
        bvx, bvy = xp.where(ground, svx, bvx), xp.where(ground, svy, bvy)
        bpx = xp.where(ground, f(_LAUNCH_X) + zero, bpx)
        delay = xp.where(ground, f(float(INIT_DELAY_FRAMES)) + zero, delay)
        live = (bx, by, bvx, bvy, lx, ly, lvx, lvy, rx, ry, rvx, rvy)
        seen = tuple(xp.where(ground, old, new) for old, new in zip(seen, live))

        terminated = (left_lives <= 0) | (right_lives <= 0)
        if self.reward_mode == "shaped":
            reward = score + 0.01 * right_lives + 0.05 * (MAXLIVES - left_lives) + 0.001
        else:
            reward = score
        state = (bx, by, bvx, bvy, bpx, lx, ly, lvx, lvy, rx, ry, rvx, rvy, delay, left_lives, right_lives,
                 *seen, *hidden)
        return state, reward, terminated

    def observation(self, xp, s: tuple) -> tuple:
        bx, by, bvx, bvy, lx, ly, lvx, lvy, rx, ry, rvx, rvy = s[16:28]
        right = (rx, ry, rvx, rvy, bx, by, bvx, bvy, -lx, ly, -lvx, lvy)
        if not self.self_play:
            return tuple(v / _SCALE for v in right)
        left = (-lx, ly, -lvx, lvy, -bx, by, -bvx, bvy, rx, ry, rvx, rvy)
        return tuple(v / _SCALE for v in right + left)

    # ---------------------------------------------------------------- helpers
    def _buttons(self, xp, a, seen, hidden, zero):
        """``(right buttons, left buttons, new opponent state)``; buttons are (forward, backward, jump) bool columns."""
        if self.action_type == "discrete":
            right = ((a == 1) | (a == 2), (a == 4) | (a == 5), (a == 2) | (a == 3) | (a == 4))
        else:
            right = tuple(a[k] > 0 for k in range(3))
        if self.self_play:
            return right, tuple(a[k] > 0 for k in range(3, 6)), hidden
        bx, by, bvx, bvy, lx, ly, lvx, lvy = seen[:8]
        inputs = tuple(v / _SCALE for v in (-lx, ly, -lvx, lvy, -bx, by, -bvx, bvy))
        if xp is TORCH:  # rnn_step's sums, units first ([7, B]: rows contiguous), in the same order
            weight, bias = self._baseline_weights(zero)
            x = inputs + tuple(hidden)
            acc = bias[:, None] + weight[:, 0:1] * x[0][None, :]
            for j in range(1, len(x)):
                acc = acc + weight[:, j : j + 1] * x[j][None, :]
            hidden = (_tanh_exp(acc) if torch.compiler.is_compiling() else torch.tanh(acc)).unbind(dim=0)
            left = tuple(hidden[k] > THRESHOLD for k in range(3))
        else:
            dtype = type(zero)
            x = np.array([inputs + tuple(hidden)], dtype=dtype)
            out = rnn_step(x, np.array(WEIGHT, dtype=dtype), np.array(BIAS, dtype=dtype), tanh=np.tanh)[0]
            hidden = tuple(out)
            left = tuple(out[k] > THRESHOLD for k in range(3))
        return right, left, hidden

    def _baseline_weights(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """The opponent's weights on ``like``'s device and dtype (made once; constants of a compiled graph)."""
        key = (like.dtype, like.device)
        if torch.compiler.is_compiling():
            return (torch.tensor(WEIGHT, dtype=like.dtype, device=like.device),
                    torch.tensor(BIAS, dtype=like.dtype, device=like.device))
        if key not in self._weight:
            self._weight[key] = (torch.tensor(WEIGHT, dtype=like.dtype, device=like.device),
                                 torch.tensor(BIAS, dtype=like.dtype, device=like.device))
        return self._weight[key]

    def _bounce(self, xp, ball: tuple, body: tuple, hit2: float) -> tuple:
        """``Particle.bounce`` of the ball off ``body`` for the rows where they collide (``isColliding``)."""
        bx, by = ball[0], ball[1]
        px, py = body[0], body[1]
        dx, dy = px - bx, py - by
        hit = hit2 > dx * dx + dy * dy
        if xp is ROW:
            return _bounce_rows(xp, ball, body, hit2, None) if hit else ball
        if torch.compiler.is_compiling():
            return _bounce_rows(xp, ball, body, hit2, hit, analytic=True)
        if self.masked_nudges or bx.device.type != "cpu":
            return _bounce_rows(xp, ball, body, hit2, hit)
        rows = hit.nonzero()[:, 0]
        if rows.numel() == 0:
            return ball
        sub = _bounce_rows(xp, tuple(v[rows] for v in ball), tuple(v[rows] for v in body), hit2, None)
        return tuple(v.index_put((rows,), w) for v, w in zip(ball, sub))

    # ---------------------------------------------------------------- info and rendering
    def step(self, actions):
        obs, rewards, terminations, truncations, infos = super().step(actions)
        infos = {**infos, **self.lives_info()}
        return obs, rewards, terminations, truncations, infos

    def reset(self, *, seed=None, options=None):
        obs, infos = super().reset(seed=seed, options=options)
        return obs, {**infos, **self.lives_info()}

    def lives_info(self) -> dict[str, Tensor]:
        """``{"lives": [N], "other_lives": [N]}`` int64: the right (trained) / left agent's lives (and ``_`` masks)."""
        index = self.state_names.index
        lives = self.state[:, index("right_lives")].to(torch.int64)
        other = self.state[:, index("left_lives")].to(torch.int64)
        mask = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        return {"lives": lives, "_lives": mask, "other_lives": other, "_other_lives": mask}

    def _render_row(self, row: int) -> np.ndarray:
        values = dict(zip(self.state_names, (float(v) for v in self.state[row])))
        return draw_slimevolley(values)


def _tanh_exp(x: Tensor) -> Tensor:
    """tanh through exp for compiled steps (inductor's CPU tanh is slow; error ~2e-7, exactly ±1 at overflow)."""
    return 1.0 - 2.0 / (torch.exp(2.0 * x) + 1.0)


def _sqrt(xp, x):
    """Square root, correctly rounded on CPU as Python's ``math.sqrt`` (torch's float64 CPU ``sqrt`` misses by one ulp
    near ties, e.g. sqrt(550.9249156455562)); compiled and GPU steps use torch's own."""
    if xp is ROW:
        return np.sqrt(x)
    if x.device.type == "cpu" and not torch.compiler.is_compiling():
        return torch.from_numpy(np.sqrt(x.numpy()))
    return torch.sqrt(x)


def _pick(xp, index, launches):
    """Serve ``index`` (clamped to the stored ones) of the serve columns ``(vx1, vy1, vx2, vy2, ...)``: a tuple of
    numpy scalars (one row) or a ``[B, 16]`` tensor."""
    count = NUM_LAUNCHES - 1
    if xp is ROW:
        k = min(max(int(index), 0), count - 1)
        return launches[2 * k], launches[2 * k + 1]
    if torch.compiler.is_compiling():  # pointwise selects: no indirect loads, so the compiled loop vectorises
        k = index.clamp(0, count - 1)
        vx, vy = launches[:, 0], launches[:, 1]
        for j in range(1, count):
            vx, vy = torch.where(k == j, launches[:, 2 * j], vx), torch.where(k == j, launches[:, 2 * j + 1], vy)
        return vx, vy
    k = 2 * index.clamp(0, count - 1).to(torch.int64)[:, None]
    return launches.gather(1, k)[:, 0], launches.gather(1, k + 1)[:, 0]


def _agent_update(xp, f, direction: int, x, y, vx, vy, buttons, zero):
    """``Agent.setAction`` then ``Agent.update`` of one side (direction -1 left, 1 right)."""
    forward, backward, jump = buttons
    desired_vx = xp.where(forward, xp.where(backward, zero, f(-PLAYER_SPEED_X) + zero),
                          xp.where(backward, f(PLAYER_SPEED_X) + zero, zero))
    desired_vy = xp.where(jump, f(PLAYER_SPEED_Y) + zero, zero)
    vy = vy + _G_T
    vy = xp.where(y <= _ON_GROUND, desired_vy, vy)
    vx = desired_vx * direction
    x = x + vx * TIMESTEP
    y = y + vy * TIMESTEP
    low = y <= REF_U
    y, vy = xp.where(low, f(REF_U) + zero, y), xp.where(low, zero, vy)
    side = x * direction
    inner = side <= _AGENT_MIN_X
    vx, x = xp.where(inner, zero, vx), xp.where(inner, f(direction * _AGENT_MIN_X) + zero, x)
    outer = x * direction >= _AGENT_MAX_X
    vx, x = xp.where(outer, zero, vx), xp.where(outer, f(direction * _AGENT_MAX_X) + zero, x)
    return x, y, vx, vy


def _bounce_rows(xp, ball: tuple, body: tuple, hit2: float, mask, analytic: bool = False):
    """``Particle.bounce`` on rows that collide: all given rows (``mask`` None) or those of ``mask`` (a fixed-length
    masked loop, for GPU steps: the same bits as slimevolleygym's loop).

    ``analytic`` (compiled steps): the ball moves out along the normal in ``k = ceil((r - d) / 0.1)`` nudges at once
    (``x + k * step`` instead of k roundings of ``x + step``; a 1e-15 relative difference, and at an exact tie one
    nudge more or less), which keeps the compiled graph ~450 ops per step smaller.
    """
    bx, by, bvx, bvy = ball
    px, py, pvx, pvy = body
    abx, aby = bx - px, by - py
    abd = _sqrt(xp, abx * abx + aby * aby)
    nx, ny = abx / abd, aby / abd
    sx, sy = nx * NUDGE, ny * NUDGE

    def colliding(x, y):
        dx, dy = px - x, py - y
        return hit2 > dx * dx + dy * dy

    if mask is None and xp is ROW:
        while colliding(bx, by):
            bx, by = bx + sx, by + sy
    elif mask is None:
        active = colliding(bx, by)
        while bool(active.any()):
            bx, by = torch.where(active, bx + sx, bx), torch.where(active, by + sy, by)
            active = active & colliding(bx, by)
    elif analytic:
        nudges = torch.ceil((math.sqrt(hit2) - abd) / NUDGE).clamp(min=1.0)
        bx, by = torch.where(mask, bx + nudges * sx, bx), torch.where(mask, by + nudges * sy, by)
    else:
        active = mask
        for _ in range(MAX_NUDGES[hit2]):
            active = active & colliding(bx, by)
            bx, by = torch.where(active, bx + sx, bx), torch.where(active, by + sy, by)
    ux, uy = bvx - pvx, bvy - pvy
    un = ux * nx + uy * ny
    ux, uy = ux - nx * (un * 2.0), uy - ny * (un * 2.0)
    nvx, nvy = ux + pvx, uy + pvy
    if mask is not None:
        nvx, nvy = torch.where(mask, nvx, bvx), torch.where(mask, nvy, bvy)
    return bx, by, nvx, nvy


def draw_slimevolley(v: dict[str, float], width: int = 600, height: int = 250) -> np.ndarray:
    """Draw one game state (``{state name: value}``) as slimevolleygym's night-palette picture, ``[H, W, 3]`` uint8.

    Pure numpy: every shape is a mask over the pixel grid (the game is a few circles and rectangles).
    """
    factor = width / REF_W
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = _COLORS["background"]
    ys, xs = np.mgrid[0:height, 0:width]
    gx = (xs + 0.5) / factor - REF_W / 2  # game coordinates of each pixel centre (y up)
    gy = (height - ys - 0.5) / factor

    def paint(mask, color):
        image[mask] = color

    def disc(cx, cy, r):
        return (gx - cx) ** 2 + (gy - cy) ** 2 <= r * r

    paint((np.abs(gx) <= REF_WALL_WIDTH / 2) & (gy <= REF_WALL_HEIGHT), _COLORS["fence"])
    paint(disc(0.0, REF_WALL_HEIGHT, STUB_R), _COLORS["fence"])
    for side, direction in (("left", -1), ("right", 1)):
        x, y = v[f"{side}_x"], v[f"{side}_y"]
        paint(disc(x, y, AGENT_R) & (gy >= y), _COLORS[side])
        angle = math.pi * (120 if direction == 1 else 60) / 180
        ex, ey = x + 0.6 * AGENT_R * math.cos(angle), y + 0.6 * AGENT_R * math.sin(angle)
        paint(disc(ex, ey, 0.3 * AGENT_R), (255, 255, 255))
        dx, dy = v["ball_x"] - ex, v["ball_y"] - ey
        dist = math.hypot(dx, dy) or 1.0
        paint(disc(ex + dx / dist * 0.15 * AGENT_R, ey + dy / dist * 0.15 * AGENT_R, 0.1 * AGENT_R), (0, 0, 0))
        for i in range(1, int(v[f"{side}_lives"])):  # the coins: lives left beyond the one in play
            paint(disc(direction * (REF_W / 2 + 0.5 - i * 2.0), REF_H * height / width - 1.5, 0.5), _COLORS["coin"])
    paint(disc(v["ball_x"], v["ball_y"], BALL_R), _COLORS["ball"])
    paint(gy <= REF_U, _COLORS["ground"])
    return image


class SlimeVolleySingle(TorchSingleEnv):
    """``gym.make("MetaRL/SlimeVolley-v0")``: one game, numpy in and out, with slimevolleygym's lives in ``info``
    (``"ale.lives"`` / ``"ale.otherLives"``, and ``"lives"`` / ``"other_lives"``)."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        return obs, {**info, **self._lives()}

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        info = {k: val for k, val in info.items() if not (isinstance(val, Tensor) or k.startswith("_"))}
        return obs, reward, terminated, truncated, {**info, **self._lives()}

    def _lives(self) -> dict[str, int]:
        names = self._vector_env.state_names
        lives, other = int(self._row[names.index("right_lives")]), int(self._row[names.index("left_lives")])
        return {"lives": lives, "other_lives": other, "ale.lives": lives, "ale.otherLives": other}


SlimeVolley.single_env_class = SlimeVolleySingle

__all__ = ["SlimeVolley", "SlimeVolleySingle", "ATARI_ACTIONS", "STATE_NAMES", "draw_slimevolley"]
