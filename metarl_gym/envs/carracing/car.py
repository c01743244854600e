"""The car of Gymnasium's CarRacing-v3 (``car_dynamics.py``) for a whole batch in torch, hull and wheels one rigid body.

Gymnasium simulates five Box2D bodies (hull and four wheels) tied by revolute joints, solved by Box2D's iterative
joint solver (180 velocity and 60 position iterations per step). Here the joints are exact: the four wheels are
rigidly fixed to the hull (the front two turned by the steering angle), so the car is one rigid body with the
combined mass and moment of inertia, and each wheel's tyre force acts at the wheel centre. Everything else is
``Car.step`` line for line: the steering motor (speed ``sign(e) * min(50 |e|, 3)`` rad/s towards the target, joint
limit +-0.4 rad), rear-wheel drive with the engine power divided by ``|omega| + 5``, gas rising at most 0.1 per step,
brakes (>= 0.9 locks the wheel), wheel moment of inertia, the friction limit (road 1.0, grass 0.6) and the
force normalisation of a skid, integrated as Box2D integrates (semi-implicit Euler at 50 FPS). The measured
difference to CarRacing-v3 is in the env card of :class:`~metarl_gym.envs.carracing.env.CarRacing`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

SIZE = 0.02
ENGINE_POWER = 100000000 * SIZE * SIZE
WHEEL_MOMENT_OF_INERTIA = 4000 * SIZE * SIZE
FRICTION_LIMIT = 1000000 * SIZE * SIZE
WHEEL_R = 27
WHEEL_W = 14
WHEELPOS = [(-55, +80), (+55, +80), (-55, -82), (+55, -82)]
HULL_POLY1 = [(-60, +130), (+60, +130), (+60, +110), (-60, +110)]
HULL_POLY2 = [(-15, +120), (+15, +120), (+20, +20), (-20, 20)]
HULL_POLY3 = [(+25, +20), (+50, -10), (+50, -40), (+20, -90), (-20, -90), (-50, -40), (-50, -10), (-25, +20)]
HULL_POLY4 = [(-50, -120), (+50, -120), (+50, -90), (-50, -90)]
HULL_POLYS = [HULL_POLY1, HULL_POLY2, HULL_POLY3, HULL_POLY4]
WHEEL_POLY = [(-WHEEL_W, +WHEEL_R), (+WHEEL_W, +WHEEL_R), (+WHEEL_W, -WHEEL_R), (-WHEEL_W, -WHEEL_R)]
HULL_DENSITY = 1.0
WHEEL_DENSITY = 0.1
WHEEL_RAD = WHEEL_R * SIZE
FORCE_GAIN = 205000 * SIZE * SIZE
BRAKE_FORCE = 15.0
STEER_LIMIT = 0.4
ANGULAR_SLOP = 2.0 / 180.0 * math.pi
MAX_ANGULAR_CORRECTION = 8.0 / 180.0 * math.pi
FPS = 50
DT = 1.0 / FPS
CONTACT_MARGIN = 0.02
"""Box2D's polygons overlap within twice ``b2_polygonRadius`` (0.01 m): a wheel touches a tile within 2 cm."""


def polygon_mass(poly: np.ndarray, density: float) -> tuple[float, np.ndarray, float]:
    """Mass, centroid ``[2]`` and moment of inertia about the centroid of a convex polygon (Box2D's formulas;
    vertices in either order, as Box2D re-orders them counter-clockwise)."""
    signed = sum(poly[i][0] * poly[(i + 1) % len(poly)][1] - poly[i][1] * poly[(i + 1) % len(poly)][0] for i in range(len(poly)))
    if signed < 0:
        poly = poly[::-1]
    area = 0.0
    center = np.zeros(2)
    inertia = 0.0
    for i in range(len(poly)):
        e1, e2 = poly[i], poly[(i + 1) % len(poly)]
        d = e1[0] * e2[1] - e1[1] * e2[0]
        tri = 0.5 * d
        area += tri
        center += tri * (e1 + e2) / 3.0
        intx2 = e1[0] ** 2 + e2[0] * e1[0] + e2[0] ** 2
        inty2 = e1[1] ** 2 + e2[1] * e1[1] + e2[1] ** 2
        inertia += (0.25 / 3.0 * d) * (intx2 + inty2)
    center /= area
    mass = density * area
    inertia_origin = density * inertia
    return mass, center, inertia_origin - mass * float(center @ center)


def _rigid_body() -> tuple[float, np.ndarray, float]:
    """Total mass, centre of mass in the hull frame and moment of inertia of hull plus four wheels."""
    parts = []
    for poly in HULL_POLYS:
        parts.append(polygon_mass(np.array(poly, dtype=np.float64) * SIZE, HULL_DENSITY))
    for wx, wy in WHEELPOS:
        m, c, i = polygon_mass(np.array(WHEEL_POLY, dtype=np.float64) * SIZE, WHEEL_DENSITY)
        parts.append((m, c + np.array([wx, wy]) * SIZE, i))
    mass = sum(m for m, _, _ in parts)
    com = sum(m * c for m, c, _ in parts) / mass
    inertia = sum(i + m * float((c - com) @ (c - com)) for m, c, i in parts)
    return mass, com, inertia


MASS, COM, INERTIA = _rigid_body()
"""Rigid car: 7.302 kg, centre of mass (0, -0.0805) m in the hull frame, 19.17 kg m^2 about it."""
_WHEEL_MASS = polygon_mass(np.array(WHEEL_POLY, dtype=np.float64) * SIZE, WHEEL_DENSITY)[0]
RESET_SETTLE = _WHEEL_MASS * sum((wx * SIZE - COM[0]) ** 2 + (wy * SIZE - COM[1]) ** 2 for wx, wy in WHEELPOS) / INERTIA
"""``Car.__init__`` places the wheels at unrotated offsets from the hull while the joints expect rotated ones, so
the first ``world.Step`` (in ``reset``) turns the hull by ``-RESET_SETTLE`` (0.0484) times its start angle while the
wheels keep theirs (measured on CarRacing-v3: 0.0483-0.0484 over seeds 0-5)."""
HULL_MASS = sum(polygon_mass(np.array(p, dtype=np.float64) * SIZE, HULL_DENSITY)[0] for p in HULL_POLYS)

WHEEL_X = [wx * SIZE for wx, _ in WHEELPOS]
WHEEL_Y = [wy * SIZE for _, wy in WHEELPOS]

# state columns of the car (the env appends its own bookkeeping after these)
X, Y, ANGLE, VX, VY, OMEGA, STEER, GAS = range(8)
WOMEGA = slice(8, 12)
PHASE = slice(12, 16)
CAR_COLUMNS = 16
CAR_NAMES = ("x", "y", "angle", "vx", "vy", "angular_velocity", "steer_angle", "gas",
             "wheel_omega_fl", "wheel_omega_fr", "wheel_omega_rl", "wheel_omega_rr",
             "wheel_phase_fl", "wheel_phase_fr", "wheel_phase_rl", "wheel_phase_rr")
"""``x, y``: the hull's origin (Box2D's ``hull.position``); ``vx, vy``: the velocity of the car's centre of mass;
``angle``, ``angular_velocity`` of the hull; ``steer_angle``: the front wheels' joint angle; ``gas``: the rear wheels'
current gas; per wheel (front left, front right, rear left, rear right): spin ``omega`` (rad/s) and ``phase``."""


def controls(actions: Tensor, continuous: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``(steer target, gas, brake)`` ``[B]`` each, as ``CarRacing.step`` converts an action.

    Args:
        actions: ``[B, 3]`` (steer, gas, brake) or ``[B]`` int64 Discrete(5) (noop, right, left, gas, brake).
        continuous: which of the two.
    """
    if continuous:
        return -actions[:, 0], actions[:, 1], actions[:, 2]
    a = actions
    f = torch.float32 if not torch.is_floating_point(a) else a.dtype
    steer = -0.6 * (a == 1).to(f) + 0.6 * (a == 2).to(f)
    return steer, 0.2 * (a == 3).to(f), 0.8 * (a == 4).to(f)


def wheel_geometry(state: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Wheel centres ``[B, 4, 2]``, their forward / side unit vectors ``[B, 4, 2]`` and angles ``[B, 4]``."""
    x, y, angle = state[:, X], state[:, Y], state[:, ANGLE]
    c, s = torch.cos(angle), torch.sin(angle)
    wx = torch.tensor(WHEEL_X, dtype=state.dtype, device=state.device)
    wy = torch.tensor(WHEEL_Y, dtype=state.dtype, device=state.device)
    px = x[:, None] + c[:, None] * wx - s[:, None] * wy
    py = y[:, None] + s[:, None] * wx + c[:, None] * wy
    steer = state[:, STEER]
    zero = torch.zeros_like(steer)
    wheel_angle = angle[:, None] + torch.stack([steer, steer, zero, zero], dim=1)
    wc, ws = torch.cos(wheel_angle), torch.sin(wheel_angle)
    forward = torch.stack([-ws, wc], dim=-1)
    side = torch.stack([wc, ws], dim=-1)
    return torch.stack([px, py], dim=-1), forward, side, wheel_angle


def steer_joint(angle: Tensor, motor: Tensor) -> Tensor:
    """The front joints' angle after one step of Box2D's revolute joint with motor and limit (+-0.4 rad).

    Box2D decides the limit state before integrating: a joint inside the limits moves freely (it may overshoot the
    limit within the step), a joint at or past a limit cannot move further out and is pulled back to
    ``limit +- b2_angularSlop`` (2 degrees) at most ``b2_maxAngularCorrection`` (8 degrees) a step. So a steered
    car holds e.g. -0.4243 rad at full lock, not -0.4 (measured on CarRacing-v3)."""
    lower, upper = angle <= -STEER_LIMIT, angle >= STEER_LIMIT
    speed = torch.where(lower, torch.clamp(motor, min=0.0), torch.where(upper, torch.clamp(motor, max=0.0), motor))
    out = angle + DT * speed
    low_c = torch.clamp(out + STEER_LIMIT + ANGULAR_SLOP, -MAX_ANGULAR_CORRECTION, 0.0)
    up_c = torch.clamp(out - STEER_LIMIT - ANGULAR_SLOP, 0.0, MAX_ANGULAR_CORRECTION)
    return out - torch.where(lower, low_c, torch.where(upper, up_c, torch.zeros_like(out)))


def car_step(state: Tensor, steer_target: Tensor, gas: Tensor, brake: Tensor, on_road: Tensor) -> tuple[Tensor, Tensor]:
    """One 1/50 s step of ``Car.step`` + ``world.Step`` for B rigid cars.

    Args:
        state: ``[B, >= 16]`` rows whose first 16 columns are :data:`CAR_NAMES`.
        steer_target, gas, brake: ``[B]`` controls (:func:`controls`).
        on_road: ``[B, 4]`` bool, whether each wheel touched a tile at the last contact update (Box2D's
            ``w.tiles``: road friction 1.0, else grass 0.6).

    Returns:
        ``(car columns [B, 16], skid [B, 4] bool)`` — skid: the tyre force exceeded twice the friction limit
        (where Gymnasium lays a skid mark).
    """
    dt = DT
    x, y, angle = state[:, X], state[:, Y], state[:, ANGLE]
    vx, vy, omega = state[:, VX], state[:, VY], state[:, OMEGA]
    steer, gas_now = state[:, STEER], state[:, GAS]
    womega, phase = state[:, WOMEGA], state[:, PHASE]

    # controls: gas rises by at most 0.1 a step (rear wheels), brake on all four
    gas_c = gas.clamp(0.0, 1.0)
    gas_now = gas_now + torch.clamp(gas_c - gas_now, max=0.1)
    zero = torch.zeros_like(gas_now)
    wheel_gas = torch.stack([zero, zero, gas_now, gas_now], dim=1)
    brake = brake[:, None].expand(-1, 4)

    # steering motor (front joints): speed towards the target; rear joints are held at 0
    err = steer_target - steer
    motor = torch.sign(err) * torch.clamp(50.0 * err.abs(), max=3.0)

    pos, forward, side, _ = wheel_geometry(state)
    c, s = torch.cos(angle), torch.sin(angle)
    comx = x + c * COM[0] - s * COM[1]
    comy = y + s * COM[0] + c * COM[1]
    rx = pos[..., 0] - comx[:, None]
    ry = pos[..., 1] - comy[:, None]
    wvx = vx[:, None] - omega[:, None] * ry
    wvy = vy[:, None] + omega[:, None] * rx
    vf = forward[..., 0] * wvx + forward[..., 1] * wvy
    vs = side[..., 0] * wvx + side[..., 1] * wvy

    womega = womega + dt * ENGINE_POWER * wheel_gas / WHEEL_MOMENT_OF_INERTIA / (womega.abs() + 5.0)
    val = torch.minimum(BRAKE_FORCE * brake, womega.abs())
    braked = womega - torch.sign(womega) * val
    womega = torch.where(brake >= 0.9, torch.zeros_like(womega), torch.where(brake > 0, braked, womega))
    phase = phase + womega * dt

    friction_limit = torch.where(on_road, FRICTION_LIMIT * 1.0, FRICTION_LIMIT * 0.6)
    f_force = (-vf + womega * WHEEL_RAD) * FORCE_GAIN
    p_force = -vs * FORCE_GAIN
    force = torch.sqrt(f_force * f_force + p_force * p_force)
    skid = force > 2.0 * friction_limit
    scale = torch.where(force > friction_limit, friction_limit / torch.clamp(force, min=1e-30), torch.ones_like(force))
    f_force = f_force * scale
    p_force = p_force * scale
    womega = womega - dt * f_force * WHEEL_RAD / WHEEL_MOMENT_OF_INERTIA

    fx = p_force * side[..., 0] + f_force * forward[..., 0]
    fy = p_force * side[..., 1] + f_force * forward[..., 1]
    torque = (rx * fy - ry * fx).sum(dim=1)
    vx = vx + dt * fx.sum(dim=1) / MASS
    vy = vy + dt * fy.sum(dim=1) / MASS
    omega = omega + dt * torque / INERTIA
    comx = comx + dt * vx
    comy = comy + dt * vy
    angle = angle + dt * omega
    c, s = torch.cos(angle), torch.sin(angle)
    x = comx - (c * COM[0] - s * COM[1])
    y = comy - (s * COM[0] + c * COM[1])
    steer = steer_joint(steer, motor)
    cols = [x, y, angle, vx, vy, omega, steer, gas_now]
    out = torch.cat([torch.stack(cols, dim=1), womega, phase], dim=1)
    return out, skid


def start_car(points: Tensor) -> Tensor:
    """Car columns ``[B, 16]`` at rest at ``Car(world, *track[0][1:4])`` after reset's first world step:
    ``points [B, 3]`` = (angle, x, y); the hull settled by :data:`RESET_SETTLE`, the front wheels still at the
    start angle."""
    out = torch.zeros(points.shape[0], CAR_COLUMNS, dtype=points.dtype, device=points.device)
    out[:, ANGLE] = points[:, 0] * (1 - RESET_SETTLE)
    out[:, STEER] = points[:, 0] * RESET_SETTLE
    out[:, X] = points[:, 1]
    out[:, Y] = points[:, 2]
    return out
