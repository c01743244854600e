"""Side-by-side runs of the twin and Gymnasium's CarRacing-v3 (box2d extra): what the env card's figures measure.

``python -m metarl_gym.envs.carracing.compare`` prints the dynamics and frame differences written in the card of
:class:`~metarl_gym.envs.carracing.env.CarRacing`; tests/envs/test_carracing.py checks them.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch

from . import car as C
from .env import VISITED, CarRacing

SCRIPTS = {
    "gas": lambda k: (0.0, 1.0, 0.0),
    "gas_then_left": lambda k: (0.0, 1.0, 0.0) if k < 60 else (-1.0, 0.3, 0.0),
    "weave": lambda k: (float(np.sin(k / 15.0)), 0.5, 0.0),
    "gas_brake": lambda k: (0.3, 1.0, 0.0) if k < 80 else (0.0, 0.0, 0.6),
    "hard_right": lambda k: (1.0, 0.8 if k < 100 else 0.0, 0.0 if k < 150 else 1.0),
}
"""Scripted action sequences ``step -> (steer, gas, brake)`` for the dynamics comparison."""


def reference_pose(env) -> np.ndarray:
    """``[x, y, angle, vx, vy, omega]`` of CarRacing-v3's hull (its position is the hull origin)."""
    h = env.unwrapped.car.hull
    return np.array([h.position[0], h.position[1], h.angle, h.linearVelocity[0], h.linearVelocity[1], h.angularVelocity])


def twin_pose(state: torch.Tensor) -> np.ndarray:
    """The same columns of twin rows ``[B, state_dim] -> [B, 6]``."""
    return state[:, [C.X, C.Y, C.ANGLE, C.VX, C.VY, C.OMEGA]].double().cpu().numpy()


def run_pair(seed: int, script, steps: int, frames: bool = False, dtype=torch.float32):
    """Run CarRacing-v3 and the twin from ``reset(seed=seed)`` with the same actions.

    Returns:
        dict of ``ref`` / ``twin`` poses ``[steps + 1, 6]``, rewards ``[steps]`` and (``frames=True``) frames
        ``[steps + 1, 96, 96, 3]`` uint8 of both plus the twin's frames of CarRacing-v3's own poses.
    """
    ref = gym.make("CarRacing-v3", max_episode_steps=None)
    twin = CarRacing(1, dtype=dtype)
    obs_r, _ = ref.reset(seed=seed)
    obs_t, _ = twin.reset(seed=seed)
    state = twin.state
    out = {"ref": [reference_pose(ref)], "twin": [twin_pose(twin.state)[0]], "ref_reward": [], "twin_reward": []}
    if frames:
        out["ref_frames"] = [obs_r]
        out["twin_frames"] = [obs_t[0].clamp(0, 255).byte().numpy()]
        out["posed_frames"] = [_posed_frame(twin, ref)]
    for k in range(steps):
        a = np.array(script(k), dtype=np.float32)
        obs_r, r_r, term_r, _, _ = ref.step(a)
        state, r_t, term_t = twin.transition(state, twin.tasks, torch.as_tensor(a)[None].to(twin.dtype))
        twin.state = state
        out["ref"].append(reference_pose(ref))
        out["twin"].append(twin_pose(state)[0])
        out["ref_reward"].append(r_r)
        out["twin_reward"].append(float(r_t[0]))
        if frames:
            out["ref_frames"].append(obs_r)
            out["twin_frames"].append(twin.observe(state)[0].clamp(0, 255).byte().numpy())
            out["posed_frames"].append(_posed_frame(twin, ref))
        if term_r or bool(term_t[0]):
            break
    ref.close()
    return {k: np.asarray(v) for k, v in out.items()}


def _posed_frame(twin: CarRacing, ref) -> np.ndarray:
    """The twin's frame of CarRacing-v3's current pose: hull, steering, wheel spins and phases, visited tiles and
    step count copied from the reference into the twin's row."""
    env = ref.unwrapped
    s = twin.state.clone()
    h = env.car.hull
    s[0, C.X], s[0, C.Y], s[0, C.ANGLE] = h.position[0], h.position[1], h.angle
    s[0, C.VX], s[0, C.VY], s[0, C.OMEGA] = h.linearVelocity[0], h.linearVelocity[1], h.angularVelocity
    s[0, C.STEER] = env.car.wheels[0].joint.angle
    for k, w in enumerate(env.car.wheels):
        s[0, C.WOMEGA.start + k] = w.omega
        s[0, C.PHASE.start + k] = w.phase
    from .env import SPEED, STEPS

    s[0, SPEED] = float(np.hypot(*h.linearVelocity))
    s[0, STEPS] = round(env.t * 50) - 1
    visited = torch.zeros(s.shape[1] - VISITED.start, dtype=s.dtype)
    for i, tile in enumerate(env.road):
        visited[i] = float(tuple(tile.color) == tuple(env.road_color))
    s[0, VISITED] = visited
    return twin.observe(s)[0].clamp(0, 255).byte().numpy()


def road_follower(frames: torch.Tensor, gas: float = 0.06) -> torch.Tensor:
    """A hand-written pixel controller: steer towards the road ahead, gentle gas.

    Args:
        frames: ``[B, 96, 96, 3]`` (0-255, any dtype).

    Returns:
        ``[B, 3]`` float32 actions: steering proportional to the offset of the road's centre in the rows just
        ahead of the car (rows 50-65) from the car's column (48), constant ``gas``, no brake.
    """
    f = torch.as_tensor(frames).float()[:, 50:66]
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    road = ((r - g).abs() < 12) & ((g - b).abs() < 12) & (r > 80) & (r < 130)  # grey: tiles
    cols = torch.arange(96, dtype=torch.float32)
    weight = road.float().sum(1)  # [B, 96]
    total = weight.sum(1)
    centre = torch.where(total > 0, (weight * cols).sum(1) / total.clamp(min=1), torch.full_like(total, 47.5))
    steer = torch.clamp((centre - 47.5) / 12.0, -1.0, 1.0)
    return torch.stack([steer, torch.full_like(steer, gas), torch.zeros_like(steer)], dim=1)


def controller_scores(first_seed: int, count: int, steps: int = 1000) -> tuple[list[float], list[float]]:
    """Episode returns of :func:`road_follower` on CarRacing-v3 and on the twin (one batch of ``count`` rows),
    seeds ``first_seed ... first_seed + count - 1``."""
    seeds = range(first_seed, first_seed + count)
    ref_scores = []
    for seed in seeds:
        env = gym.make("CarRacing-v3", max_episode_steps=steps)
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            a = road_follower(torch.as_tensor(obs)[None])[0].numpy()
            obs, r, term, trunc, _ = env.step(a)
            total += r
            done = term or trunc
        ref_scores.append(total)
        env.close()
    twin = CarRacing(len(seeds), max_episode_steps=steps, autoreset_mode="disabled")
    obs, _ = twin.reset(seed=first_seed)
    total = torch.zeros(len(seeds), dtype=torch.float64)
    alive = torch.ones(len(seeds), dtype=torch.bool)
    for _ in range(steps):
        obs, r, term, trunc, _ = twin.step(road_follower(obs))
        total += torch.where(alive, r.double(), 0.0)
        alive &= ~(term | trunc)
        if not alive.any():
            break
    return ref_scores, total.tolist()


def dynamics_table(seeds=(0, 1, 2), horizons=(1, 10, 50, 200)) -> dict:
    """Max over seeds of |position| (m), |speed| (m/s) and |angle| (rad) differences at each horizon, per script."""
    table = {}
    for name, script in SCRIPTS.items():
        rows = {h: [0.0, 0.0, 0.0] for h in horizons}
        for seed in seeds:
            pair = run_pair(seed, script, max(horizons))
            for h in horizons:
                if h >= len(pair["ref"]):
                    continue
                r, t = pair["ref"][h], pair["twin"][h]
                d = [np.hypot(r[0] - t[0], r[1] - t[1]), abs(np.hypot(r[3], r[4]) - np.hypot(t[3], t[4])), abs(r[2] - t[2])]
                rows[h] = [max(a, b) for a, b in zip(rows[h], d)]
        table[name] = rows
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    table = dynamics_table(seeds=tuple(range(args.seeds)))
    print("dynamics: max over seeds of |dpos| m, |dspeed| m/s, |dangle| rad at steps 1/10/50/200")
    for name, rows in table.items():
        print(f"  {name:14s} " + "  ".join(f"{h}: {p:.3g}/{v:.3g}/{a:.3g}" for h, (p, v, a) in rows.items()))


if __name__ == "__main__":
    main()
