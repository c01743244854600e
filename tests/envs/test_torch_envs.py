"""The TorchVectorEnv contract, checked on every torch-batched id of the registry."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import metarl_gym  # noqa: F401
from metarl_gym.envs import TORCH_ENVS
from helpers import make_vec, random_actions

IDS = sorted(TORCH_ENVS)


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_passes(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_make_vec_runs_2000_random_steps_with_torch_outputs(env_id):
    env = make_vec(env_id, 1024)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (1024, *env.single_observation_space.shape) and obs.dtype == torch.float32
    for actions in random_actions(env, 2000):
        obs, rewards, terminated, truncated, _ = env.step(actions)
    assert rewards.shape == (1024,) and rewards.dtype == torch.float32
    assert terminated.dtype == torch.bool and truncated.dtype == torch.bool
    assert torch.isfinite(obs).all() and torch.isfinite(rewards).all()


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_gives_identical_trajectories(env_id):
    env = make_vec(env_id, 16, max_episode_steps=50)
    actions = random_actions(env, 120)

    def trajectory():
        obs, _ = env.reset(seed=0)
        out = [obs]
        for a in actions:
            obs, r, te, tr, _ = env.step(a)
            out += [obs, r[:, None], te[:, None].float(), tr[:, None].float()]
        return torch.cat([o.reshape(16, -1) for o in out], dim=1)

    assert torch.equal(trajectory(), trajectory())
    first = trajectory()
    env.reset(seed=1)
    obs_other, _ = env.reset(seed=1)
    assert not torch.equal(obs_other, first[:, : obs_other.shape[1]])


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("dtype, steps", [(torch.float64, 150), (torch.float32, 50)])
def test_batch_equals_single_envs_from_same_states(env_id, dtype, steps):
    # gym.make steps its one row through the class's own dynamics() on numpy scalars. numpy's and torch's sin/cos
    # differ in the last bit for ~0.2% (float64) / ~18% (float32) of arguments; everything else rounds alike.
    # float64: observations and rewards equal, states to 1e-12; float32: a shorter stretch (chaos amplifies).
    n = 5
    batch = make_vec(env_id, n, autoreset_mode="disabled", dtype=dtype)
    batch.reset(seed=3)
    states = batch.unwrapped.state.clone()
    actions = random_actions(batch, steps, seed=4)
    batch_out = [batch.step(a)[:3] for a in actions]
    for row in range(n):
        single = gym.make(env_id, dtype=dtype).unwrapped
        single.reset(options={"state": states[row].numpy()})
        for t in range(steps):
            obs, reward, terminated, *_ = single.step(actions[t, row].numpy())
            b_obs, b_reward, b_terminated = (x[row].numpy() for x in batch_out[t])
            if dtype == torch.float64:
                np.testing.assert_array_equal(obs, b_obs)
                assert reward == float(b_reward) and terminated == bool(b_terminated)
            else:
                np.testing.assert_allclose(obs, b_obs, rtol=1e-4, atol=1e-5)
                assert reward == pytest.approx(float(b_reward), rel=1e-4, abs=1e-5)
        # float32: an absolute floor as for the observations (a velocity near 0 has no meaningful relative error)
        np.testing.assert_allclose(single.state, batch.unwrapped.state[row].numpy(), rtol=1e-12 if dtype == torch.float64 else 1e-3,
                                   atol=0 if dtype == torch.float64 else 1e-5)


@pytest.mark.parametrize("env_id", IDS)
def test_seeded_single_reset_draws_row_0_of_the_batch(env_id):
    # the start state of row 0 is the first draw of the stream whatever N is; task draws take N numbers each,
    # so with task_ranges the single env is the N = 1 batch
    ranges = {name: (0.5 * v, 1.5 * v) for name, v in TORCH_ENVS[env_id].load().task_defaults.items() if v > 0}
    for n, kwargs in ((4, {}), (1, {"task_ranges": ranges})):
        batch = make_vec(env_id, n, **kwargs)
        single = gym.make(env_id, **kwargs)
        for seed in (0, 7):
            batch.reset(seed=seed)
            single.reset(seed=seed)
            np.testing.assert_array_equal(single.unwrapped.state, batch.unwrapped.state[0].numpy())
            for name, value in batch.unwrapped.tasks.items():
                assert single.unwrapped.vector_env.tasks[name].item() == value[0].item()


@pytest.mark.parametrize(
    "env_id, gym_id", [("MetaRL/CartPole-v1", "CartPole-v1"), ("MetaRL/PendulumSwingup-v1", "Pendulum-v1")]
)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-5), (torch.float32, 2e-4)])
def test_twin_matches_gymnasium_over_whole_episodes(env_id, gym_id, dtype, tol):
    # Gymnasium integrates in float64: dtype=float64 agrees to 1e-5; the float32 default drifts slightly.
    ours = gym.make(env_id, dtype=dtype)
    theirs = gym.make(gym_id)
    rng = np.random.default_rng(0)
    for episode in range(3):
        their_obs, _ = theirs.reset(seed=episode)
        state = np.array(theirs.unwrapped.state, dtype=np.float64)
        our_obs, _ = ours.reset(options={"state": state})
        np.testing.assert_allclose(our_obs, their_obs, atol=1e-5)
        for _ in range(600):
            action = theirs.action_space.sample() if gym_id == "CartPole-v1" else rng.uniform(-2.5, 2.5, 1).astype(np.float32)
            their = theirs.step(action)
            our = ours.step(action)
            np.testing.assert_allclose(our[0], their[0], atol=tol, rtol=tol)
            assert our[1] == pytest.approx(their[1], abs=tol, rel=tol)
            assert (our[2], our[3]) == (their[2], their[3])
            if their[2] or their[3]:
                break
        assert their[2] or their[3], "the episode must end inside the loop"


def test_double_pendulum_conserves_energy_without_damping_and_torque():
    moderate = torch.tensor([[0.5, 0.0, -0.5, 0.0], [0.3, 1.0, 0.6, 1.0], [0.8, 0.2, 0.4, -0.3]])
    larger = torch.tensor([[1.0, 0.5, -0.8, 0.0], [-1.2, 0.0, 0.4, 0.7], [0.8, 0.2, 0.4, -0.3]])
    # At the default dt the RK4 error stays under 0.5%; with a smaller dt it vanishes (dt^4), as exact dynamics should.
    for states, dt, steps, tolerance in [(moderate, 0.05, 200, 0.005), (larger, 0.01, 1000, 1e-4)]:
        env = make_vec("MetaRL/DoublePendulum-v0", 3, damping=0.0, dt=dt)
        env.reset(options={"state": states})
        e0 = env.unwrapped.energy().clone()
        for _ in range(steps):
            env.step(torch.zeros(3, 1))
            drift = (env.unwrapped.energy() - e0).abs() / e0.abs()
            assert (drift < tolerance).all(), (dt, drift)
    # and the seed's default damping does dissipate energy
    env = make_vec("MetaRL/DoublePendulum-v0", 1)
    env.reset(options={"state": torch.tensor([1.0, 0.5, -0.8, 0.0])})
    e0 = env.unwrapped.energy().clone()
    for _ in range(200):
        env.step(torch.zeros(1, 1))
    assert env.unwrapped.energy()[0] < e0[0] - 0.1


def test_pendulum_dynamics_match_an_analytic_small_angle_period():
    # Hanging pendulum, no damping, small swing: period 2π·sqrt(l/g).
    env = make_vec("MetaRL/Pendulum-v0", 1, damping=0.0, l=2.0, g=9.81, dt=0.01)
    env.reset(options={"state": torch.tensor([0.05, 0.0])})
    crossings, previous = [], 0.05
    for t in range(1, 1000):
        env.step(torch.zeros(1, 1))
        theta = float(env.unwrapped.state[0, 0])
        if previous > 0 >= theta:
            crossings.append(t * 0.01)
        previous = theta
    period = crossings[1] - crossings[0]
    assert period == pytest.approx(2 * math.pi * math.sqrt(2.0 / 9.81), rel=0.01)


@pytest.mark.parametrize("env_id", IDS)
def test_next_step_autoreset(env_id):
    env = make_vec(env_id, 3, max_episode_steps=4)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    env.reset(seed=0)
    actions = random_actions(env, 6)
    for t in range(4):
        obs, rewards, terminated, truncated, _ = env.step(actions[t])
    done = terminated | truncated
    assert done.all()
    obs, rewards, terminated, truncated, _ = env.step(actions[4])
    assert (rewards == 0).all() and not terminated.any() and not truncated.any()
    assert (env.unwrapped.elapsed == 0).all()


def test_same_step_autoreset_reports_final_obs():
    env = make_vec("MetaRL/Pendulum-v0", 3, max_episode_steps=2, autoreset_mode="same_step")
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    env.reset(seed=0)
    env.step(torch.zeros(3, 1))
    obs, rewards, terminated, truncated, infos = env.step(torch.zeros(3, 1))
    assert truncated.all() and infos["_final_obs"].all()
    assert not torch.equal(infos["final_obs"], obs)
    assert (rewards > 0).all()
    assert (env.unwrapped.elapsed == 0).all()


def test_cartpole_rows_terminate_and_restart_independently():
    env = make_vec("MetaRL/CartPole-v1", 2)
    env.reset(options={"state": torch.tensor([[2.39, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])})
    _, _, terminated, _, _ = env.step(torch.tensor([1, 0]))
    assert terminated.tolist() == [True, False]
    obs, rewards, terminated, _, _ = env.step(torch.tensor([1, 0]))
    assert rewards.tolist() == [0.0, 1.0]
    assert obs[0].abs().max() <= 0.05 and env.unwrapped.elapsed.tolist() == [0, 2]


def test_partial_reset_keeps_other_rows():
    env = make_vec("MetaRL/DoublePendulum-v0", 4)
    env.reset(seed=0)
    for _ in range(10):
        env.step(torch.ones(4, 1))
    before = env.unwrapped.state.clone()
    mask = torch.tensor([True, False, True, False])
    env.reset(options={"reset_mask": mask})
    after = env.unwrapped.state
    assert torch.equal(after[~mask], before[~mask])
    assert not torch.equal(after[mask], before[mask])
    assert env.unwrapped.elapsed.tolist() == [0, 10, 0, 10]


def test_state_and_task_options():
    env = make_vec("MetaRL/Pendulum-v0", 3)
    obs, _ = env.reset(options={"state": [0.0, 0.0], "tasks": {"g": torch.tensor([1.0, 2.0, 3.0])}})
    torch.testing.assert_close(obs, torch.tensor([[0.0, 1.0, 0.0]] * 3))
    assert env.unwrapped.tasks["g"].tolist() == [1.0, 2.0, 3.0]
    single = gym.make("MetaRL/DoublePendulum-v0", damping=0.0)
    obs, _ = single.reset(options={"state": [math.pi / 2, 0.0, 0.0, 0.0]})
    np.testing.assert_allclose(obs, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], atol=1e-6)
    assert single.unwrapped.vector_env.tasks["damping"].item() == 0.0


def test_task_ranges_draw_new_physics_per_row_at_each_reset():
    env = make_vec("MetaRL/DoublePendulum-v0", 64, task_ranges={"g": (8.0, 12.0), "l2": (0.5, 1.5)}, max_episode_steps=3)
    env.reset(seed=0)
    g = env.unwrapped.tasks["g"].clone()
    assert g.min() >= 8.0 and g.max() <= 12.0 and g.std() > 0.5
    assert (env.unwrapped.tasks["m1"] == 1.0).all()
    for _ in range(4):
        env.step(torch.zeros(64, 1))
    assert not torch.equal(env.unwrapped.tasks["g"], g)
    sampled = env.unwrapped.sample_tasks(1000)
    assert sampled["l2"].min() >= 0.5 and sampled["l2"].max() <= 1.5 and sampled["g"].shape == (1000,)


def test_init_noise_zero_gives_the_deterministic_upright_start():
    env = make_vec("MetaRL/Pendulum-v0", 2, init_noise=0.0)
    env.reset(seed=5)
    torch.testing.assert_close(env.unwrapped.state, torch.tensor([[math.pi, 0.0]] * 2))
    obs, rewards, *_ = env.step(torch.zeros(2, 1))
    assert rewards[0] == pytest.approx(2.0, abs=1e-4)


@pytest.mark.parametrize("env_id", ["MetaRL/Pendulum-v0", "MetaRL/DoublePendulum-v0"])
def test_height_delta_reward_weighs_losses_by_1_1(env_id):
    env = make_vec(env_id, 1, reward_type="height_delta", init_noise=0.0)
    env.reset(options={"state": [2.0] + [0.0] * (len(env.unwrapped.state_names) - 1)})
    total = 0.0
    for _ in range(20):
        _, r, *_ = env.step(torch.zeros(1, 1))
        total += float(r[0])
    assert total < 0  # it falls, and falling is weighted by 1.1


def test_actions_numpy_and_torch_give_the_same_result():
    a = make_vec("MetaRL/PendulumSwingup-v1", 4)
    b = make_vec("MetaRL/PendulumSwingup-v1", 4)
    a.reset(seed=2)
    b.reset(seed=2)
    actions = np.linspace(-2, 2, 4, dtype=np.float32)[:, None]
    torch.testing.assert_close(a.step(actions)[0], b.step(torch.from_numpy(actions))[0])


@pytest.mark.parametrize(
    "actions, message",
    [
        (torch.zeros(4), r"shape \(4, 1\)"),
        (torch.zeros(3, 1), r"shape \(4, 1\)"),
        (torch.full((4, 1), float("nan")), "NaN"),
        (torch.zeros(4, 1, dtype=torch.bool), "dtype"),
    ],
)
def test_bad_box_actions_raise(actions, message):
    env = make_vec("MetaRL/Pendulum-v0", 4)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(actions)


def test_bad_discrete_actions_raise():
    env = make_vec("MetaRL/CartPole-v1", 2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        env.step(np.zeros((2, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="integers"):
        env.step(np.zeros(2, dtype=np.float32))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        env.step(np.array([0, 2]))


def test_bad_constructor_arguments_raise():
    with pytest.raises(TypeError, match="wobble"):
        gym.make("MetaRL/Pendulum-v0", wobble=1.0)
    with pytest.raises(ValueError, match="low <= high"):
        make_vec("MetaRL/Pendulum-v0", 2, task_ranges={"g": (12.0, 8.0)})
    with pytest.raises(ValueError, match="allowed"):
        make_vec("MetaRL/Pendulum-v0", 2, task_ranges={"gravity": (8.0, 12.0)})
    with pytest.raises(ValueError, match="reward_type"):
        make_vec("MetaRL/DoublePendulum-v0", 2, reward_type="speed")
    with pytest.raises(ValueError, match="reset options"):
        make_vec("MetaRL/Pendulum-v0", 2).reset(options={"mask": None})
    with pytest.raises(ValueError, match=r"\[2, 2\] or \[2\]"):
        make_vec("MetaRL/Pendulum-v0", 2).reset(options={"state": [1.0, 2.0, 3.0]})


@pytest.mark.parametrize("env_id", IDS)
def test_rgb_array_render_of_a_chosen_row(env_id):
    env = make_vec(env_id, 3, render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert env.unwrapped.render(row=2).shape == image.shape
    with pytest.raises(ValueError, match="row"):
        env.unwrapped.render(row=3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("env_id", IDS)
def test_runs_on_cuda(env_id):
    env = make_vec(env_id, 8, device="cuda")
    obs, _ = env.reset(seed=0)
    obs, r, *_ = env.step(random_actions(env, 1)[0].cuda())
    assert obs.is_cuda and r.is_cuda


def seed_alpha1(th1, w1, th2, w2, torque, l1=1.0, l2=1.0, m1=1.0, m2=1.0, g=9.81, damping=0.1):
    """The MetaRL seed's joint-1 angular acceleration (myphysicslab form, torque in the numerator)."""
    d = th1 - th2
    den = 2 * m1 + m2 - m2 * math.cos(2 * d)
    num = -g * (2 * m1 + m2) * math.sin(th1) - m2 * g * math.sin(th1 - 2 * th2)
    num += -2 * math.sin(d) * m2 * (w2**2 * l2 + w1**2 * l1 * math.cos(d)) + torque
    return num / (l1 * den) - damping * w1


@pytest.mark.parametrize("actor_force, l1, state", [
    (1.0, 1.0, (math.pi * 1.00001, 0.0, math.pi, 0.0)),  # the seed's base config, from its start state at rest
    (5.0, 1.0, (math.pi * 1.00001, 0.0, math.pi, 0.0)),  # the seed's test config
    (1.0, 0.7, (2.0, 0.0, 0.4, 0.0)),  # any configuration, any l1, at rest
])
def test_double_pendulum_seed_matched_torque_gives_the_seeds_joint_1_acceleration(actor_force, l1, state):
    from metarl_gym.envs import DoublePendulum

    max_torque = DoublePendulum.seed_matched_max_torque(actor_force, l1)
    dt = 1e-7  # one RK4 step from rest: ω1 / dt is α1 to ~1e-7

    def alpha1(action):
        env = DoublePendulum(1, max_torque=max_torque, l1=l1, dt=dt, dtype=torch.float64)
        next_state, _, _ = env.transition(torch.tensor([state], dtype=torch.float64), env.tasks, torch.tensor([[action]], dtype=torch.float64))
        return float(next_state[0, 1]) / dt

    for action in (1.0, -0.5):
        ours = alpha1(action) - alpha1(0.0)
        seed = seed_alpha1(*state, actor_force * action, l1=l1) - seed_alpha1(*state, 0.0, l1=l1)
        assert ours == pytest.approx(seed, rel=1e-5)
    # with max_torque = actor_force (the seed's number used as is), joint 1 gets 2 / l1 times the seed's push
    max_torque = actor_force
    seed_push = seed_alpha1(*state, actor_force, l1=l1) - seed_alpha1(*state, 0.0, l1=l1)
    assert alpha1(1.0) - alpha1(0.0) == pytest.approx(2 / l1 * seed_push, rel=1e-5)
    assert DoublePendulum.seed_matched_max_torque() == 0.5


def test_single_env_action_errors_speak_in_single_env_shapes():
    pend = gym.make("MetaRL/Pendulum-v0")
    pend.reset(seed=0)
    for bad in (np.zeros((1, 1), dtype=np.float32), np.float32(0.5), "left"):
        with pytest.raises(ValueError, match=r"must be real numbers of shape \(1,\)"):
            pend.step(bad)
    with pytest.raises(ValueError, match="NaN"):
        pend.step(np.array([np.nan], dtype=np.float32))
    pend.step(torch.tensor([0.5]))  # a torch tensor of the right shape is fine
    cart = gym.make("MetaRL/CartPole-v1")
    cart.reset(seed=0)
    for bad, message in ((np.array([1]), "one integer"), (1.0, "one integer"), (True, "one integer"), (2, r"\[0, 2\)")):
        with pytest.raises(ValueError, match=message):
            cart.step(bad)
    cart.step(np.int64(1))
    cart.step(np.array(0))
