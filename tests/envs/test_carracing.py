"""MetaRL/CarRacing-v0 against Gymnasium's CarRacing-v3 itself (box2d extra): track, rewards, dynamics, frames."""

from __future__ import annotations

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
pytest.importorskip("Box2D")
from gymnasium.utils import seeding  # noqa: E402

from metarl_gym.envs.carracing.track import generate_track  # noqa: E402


def _reference(seed: int):
    env = gym.make("CarRacing-v3").unwrapped
    env.reset(seed=seed)
    return env


@pytest.mark.parametrize("seeds", [range(0, 40)])
def test_track_polygons_equal_carracing_v3(seeds):
    env = gym.make("CarRacing-v3").unwrapped
    for seed in seeds:
        env.reset(seed=seed)
        track = generate_track(seeding.np_random(seed)[0])
        np.testing.assert_array_equal(track.points, np.array(env.track))
        ours = []
        for i in range(track.num_tiles):
            ours.append((track.tiles[i], None))
            if track.border[i]:
                ours.append((track.border_polys[i], i))
        assert len(ours) == len(env.road_poly)
        for (poly, border), (ref_poly, ref_color) in zip(ours, env.road_poly):
            np.testing.assert_array_equal(poly, np.array(ref_poly))
            if border is not None:
                assert tuple(ref_color) == ((255, 255, 255) if border % 2 == 0 else (255, 0, 0))
    env.close()


# ---------------------------------------------------------------- the twin against CarRacing-v3
import torch  # noqa: E402

from metarl_gym.envs.carracing import CARRACING_ID  # noqa: E402
from metarl_gym.envs.carracing import car as C  # noqa: E402
from metarl_gym.envs.carracing.compare import SCRIPTS, controller_scores, run_pair  # noqa: E402
from metarl_gym.envs.carracing.env import COUNT, VISITED, CarRacing  # noqa: E402

DYNAMICS_BOUND_50 = {"position": 0.5, "speed": 1.2, "angle": 0.1}
"""At 50 steps (the env card's table: at most 0.25 m, 0.88 m/s, 0.051 rad over 5 scripts x 3 seeds)."""
FRAME_BOUND = 4.0
"""Mean |pixel difference| (0-255) of the twin's frame of CarRacing-v3's pose (the card: 3.2)."""


def test_reset_pose_and_first_reward_equal_carracing_v3():
    ref = _reference(7)
    twin = CarRacing(1)
    twin.reset(seed=7)
    h = ref.car.hull
    s = twin.state[0].double()
    assert abs(float(s[C.X]) - h.position[0]) < 1e-3 and abs(float(s[C.Y]) - h.position[1]) < 1e-3
    assert abs(float(s[C.ANGLE]) - h.angle) < 1e-4
    a = np.array([0.0, 0.0, 0.0], dtype=np.float32)
    _, r_ref, *_ = ref.step(a)
    _, r_twin, *_ = twin.step(torch.as_tensor(a)[None])
    assert float(r_twin[0]) == pytest.approx(r_ref, abs=1e-4)
    ref.close()


def test_same_reward_for_the_same_visited_tiles():
    """The twin's contacts and rewards from CarRacing-v3's own poses, step by step, equal CarRacing-v3's rewards."""
    ref = gym.make("CarRacing-v3", max_episode_steps=None)
    ref.reset(seed=3)
    car = ref.unwrapped.car
    twin = CarRacing(1)
    twin.reset(seed=3)
    state = twin.state
    for k in range(150):
        a = np.array(SCRIPTS["weave"](k), dtype=np.float32)
        s = state.clone()  # CarRacing-v3's pose before the step, into the twin's row
        h = car.hull
        s[0, C.X], s[0, C.Y], s[0, C.ANGLE] = h.position[0], h.position[1], h.angle
        s[0, C.STEER] = car.wheels[0].joint.angle
        _, r_ref, term, _, _ = ref.step(a)
        state, r_twin, _ = twin.transition(s, twin.tasks, torch.as_tensor(a)[None])
        assert float(r_twin[0]) == pytest.approx(r_ref, abs=1e-3), f"step {k}"
        assert int(state[0, COUNT]) == ref.unwrapped.tile_visited_count
        if term:
            break
    visited = [t.road_visited for t in ref.unwrapped.road]
    assert state[0, VISITED][: len(visited)].bool().tolist() == visited
    ref.close()


@pytest.mark.parametrize("script", ["gas", "weave", "hard_right"])
def test_dynamics_within_the_measured_bound_at_50_steps(script):
    pair = run_pair(1, SCRIPTS[script], 50)
    ref, twin = pair["ref"][50], pair["twin"][50]
    assert np.hypot(ref[0] - twin[0], ref[1] - twin[1]) < DYNAMICS_BOUND_50["position"]
    assert abs(np.hypot(ref[3], ref[4]) - np.hypot(twin[3], twin[4])) < DYNAMICS_BOUND_50["speed"]
    assert abs(ref[2] - twin[2]) < DYNAMICS_BOUND_50["angle"]
    # and the integration is not trivially matching: the car moved
    assert np.hypot(ref[0] - pair["ref"][0][0], ref[1] - pair["ref"][0][1]) > 3.0


def test_frames_of_the_same_poses_within_the_measured_bound():
    pair = run_pair(2, SCRIPTS["weave"], 70, frames=True)
    ref, posed = pair["ref_frames"].astype(float), pair["posed_frames"].astype(float)
    diff = np.abs(ref - posed).mean(axis=(1, 2, 3))
    assert diff.mean() < FRAME_BOUND, diff
    assert diff.max() < 2 * FRAME_BOUND, diff
    # not a blank image: a frame differs far more from another track's frame
    other = run_pair(5, SCRIPTS["weave"], 0, frames=True)["ref_frames"][0].astype(float)
    assert np.abs(ref[60] - other).mean() > 2 * diff[60]


def test_functional_face_equals_step_on_row_slices():
    env = CarRacing(4, max_episode_steps=1000)
    env.reset(seed=11)
    start = env.state.clone()
    actions = torch.tensor([[0.3, 0.5, 0.0], [-0.2, 1.0, 0.0], [0.0, 0.0, 0.5], [1.0, 0.2, 0.0]])
    obs, rewards, *_ = env.step(actions)
    for rows in (slice(0, 2), slice(2, 4)):
        s, r, _ = env.transition(start[rows], {k: v[rows] for k, v in env.tasks.items()}, actions[rows])
        torch.testing.assert_close(s, env.state[rows])
        torch.testing.assert_close(r, rewards[rows])
        torch.testing.assert_close(env.observe(s), obs[rows])


def test_rows_get_the_tracks_of_consecutive_seeds_and_autoreset_continues_the_stream():
    env = CarRacing(2)
    env.reset(seed=20)
    for i in range(2):
        track = generate_track(seeding.np_random(20 + i)[0])
        assert int(env.bank.num_tiles[i]) == track.num_tiles
        np.testing.assert_allclose(env.bank.tiles[i, : track.num_tiles].double().numpy(), track.tiles, atol=1e-4)
    rng = seeding.np_random(21)[0]
    generate_track(rng)
    second = generate_track(rng)  # what CarRacing-v3 draws on its next reset
    env.reset(options={"reset_mask": torch.tensor([False, True])})
    assert int(env.bank.num_tiles[1]) == second.num_tiles


def test_single_env_passes_check_env_and_discrete_actions():
    from gymnasium.utils.env_checker import check_env

    env = gym.make(CARRACING_ID)
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.uint8 and obs.shape == (96, 96, 3)
    discrete = gym.make(CARRACING_ID, continuous=False)
    assert discrete.action_space == gym.spaces.Discrete(5)
    discrete.reset(seed=0)
    for a in (3, 3, 1, 2, 4, 0):
        discrete.step(a)
    assert env.spec.max_episode_steps == 1000


def test_off_playfield_terminates_with_minus_100():
    env = CarRacing(1)
    env.reset(seed=0)
    s = env.state.clone()
    s[0, C.X] = 333.2  # the playfield ends at 333.33 m
    s[0, C.VY], s[0, C.ANGLE] = 0.0, -np.pi / 2  # heading +x
    s[0, C.VX] = 20.0
    s[0, C.WOMEGA] = 20.0 / C.WHEEL_RAD  # rolling: no tyre force
    _, r, term = env.transition(env.state, env.tasks, torch.tensor([[0.0, 0.0, 0.0]]))
    assert not bool(term[0]) and float(r[0]) > -100.0
    _, r, term = env.transition(s, env.tasks, torch.tensor([[0.0, 0.0, 0.0]]))
    assert bool(term[0]) and float(r[0]) == -100.0


@pytest.mark.slow
def test_pixel_controller_scores_within_10_percent_on_twin_and_carracing_v3():
    ref, twin = controller_scores(0, 4, steps=1000)
    assert abs(np.mean(twin) - np.mean(ref)) <= 0.1 * abs(np.mean(ref)), (ref, twin)
    assert np.mean(ref) > 100  # the controller drives


def test_blocked_engine_runs_the_twin_as_the_loop_engine_does():
    from metarl_gym.agents import CNNPolicy
    from metarl_gym.evolution.rollout import rollout

    env = CarRacing(3, max_episode_steps=25)
    policy = CNNPolicy(env.single_observation_space, env.single_action_space, preset="hebbian_carracing")
    params = 0.5 * torch.randn(3, policy.num_params, generator=torch.Generator().manual_seed(0))
    loop = rollout(env, policy, params, seed=4, engine="loop")
    blocked = rollout(env, policy, params, seed=4, engine="blocked", block_size=2, compile=False)
    torch.testing.assert_close(loop, blocked)
    assert loop.abs().sum() > 0


@pytest.mark.parametrize("antialias", [True, False])
def test_cpp_frame_kernel_draws_what_the_torch_drawing_draws(antialias):
    from metarl_gym.envs.carracing import render_cpu

    if render_cpu.kernel() is None:
        pytest.skip("no C++ compiler: the torch drawing is used")
    a = CarRacing(6, render_backend="torch", antialias=antialias)
    b = CarRacing(6, render_backend="cpp", antialias=antialias)
    a.reset(seed=30)
    b.reset(seed=30)
    gen = torch.Generator().manual_seed(0)
    for _ in range(60):  # past the zoom-in, wheels turned and spinning
        a.step(torch.rand(6, 3, generator=gen) * torch.tensor([2.0, 1.0, 0.3]) - torch.tensor([1.0, 0.0, 0.0]))
    diff = (a.observe(a.state) - b.observe(a.state)).abs()
    assert diff.mean() < 0.01 and (diff > 2).float().mean() < 1e-3
    early = a.start_state(torch.arange(6))
    assert (a.observe(early) - b.observe(early)).abs().mean() < 0.01


@pytest.mark.parametrize("name", ["hebbian_carracing_twin.yaml", "cnn_carracing_twin.yaml", "ga_carracing_twin.yaml"])
def test_metarl_gym_evolve_runs_the_twin_configs(name, tmp_path):
    from pathlib import Path

    import yaml

    from metarl_gym.cli import main

    path = Path(__file__).resolve().parents[2] / "examples" / "configs" / "pixels" / name
    config = yaml.safe_load(path.read_text())
    assert config["env"]["id"] == CARRACING_ID and config["rollout"]["early_stop"]["patience"] == 20
    overrides = ["generations=2", "strategy.pop_size=4", "env.kwargs.max_episode_steps=12"]
    if config["strategy"]["name"] == "ga":
        overrides.append("strategy.kwargs.num_survivors=2")
    run = tmp_path / "run"
    assert main(["evolve", str(path), "--run-dir", str(run), "--no-progress", *overrides]) in (0, None)
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 3
