"""metarl_gym.envs.make: single / torch-batched / Gymnasium-numpy envs, MaskVelocity and reservoir layers
against the same layers composed by hand, and the errors (nearest id, unknown kwargs, option types)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import metarl_gym  # noqa: F401
from metarl_gym.envs import TorchVectorEnv, make
from metarl_gym.envs.reservoir import MultiReservoirEncoder, ReservoirEncoder, ReservoirObservation
from metarl_gym.envs.wrappers import MaskVelocity, MaskVelocityObservation
from metarl_gym.errors import UserError

RESERVOIR = {"units": 12, "spectral_radius": 0.9, "leak_rate": 0.4, "input_scaling": 0.7, "seed": 3}


def vec_reference(env_id, n, **kwargs):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)


def assert_same_trajectory(env, reference, actions, seed=0):
    """Same observations and rewards step by step (torch or numpy)."""
    as_np = lambda x: x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)  # noqa: E731
    a, _ = env.reset(seed=seed)
    b, _ = reference.reset(seed=seed)
    np.testing.assert_array_equal(as_np(a), as_np(b))
    for action in actions:
        a, ra, ta, *_ = env.step(action)
        b, rb, tb, *_ = reference.step(action)
        np.testing.assert_array_equal(as_np(a), as_np(b))
        np.testing.assert_array_equal(as_np(ra), as_np(rb))
        np.testing.assert_array_equal(as_np(ta), as_np(tb))


def test_single_env_is_gym_make():
    env = make("MetaRL/CartPole-v1")
    assert isinstance(env, gym.Env) and not isinstance(env, gym.vector.VectorEnv)
    obs, _ = env.reset(seed=1)
    assert isinstance(obs, np.ndarray) and obs.shape == (4,)
    assert_same_trajectory(env, gym.make("MetaRL/CartPole-v1"), [0, 1, 1, 0, 1], seed=1)


def test_vector_env_is_the_torch_batch_with_kwargs():
    env = make("MetaRL/Pendulum-v0", 3, device="cpu", max_episode_steps=4, damping=0.1)
    assert isinstance(env, TorchVectorEnv) and env.num_envs == 3
    actions = [torch.full((3, 1), 0.3 * k) for k in range(6)]
    assert_same_trajectory(env, vec_reference("MetaRL/Pendulum-v0", 3, max_episode_steps=4, damping=0.1), actions)
    env.reset(seed=0)
    truncated = [bool(env.step(torch.zeros(3, 1))[3].all()) for _ in range(4)]
    assert truncated == [False, False, False, True]


def test_other_gymnasium_ids_come_as_torch_tensors():
    env = make("Acrobot-v1", 2)
    obs, _ = env.reset(seed=0)
    assert isinstance(obs, torch.Tensor) and obs.shape == (2, 6)
    reference = gym.make_vec("Acrobot-v1", num_envs=2, vectorization_mode="sync")
    ref_obs, _ = reference.reset(seed=0)
    np.testing.assert_allclose(obs.numpy(), ref_obs)


def test_mask_velocity_vector_and_single():
    env = make("MetaRL/CartPole-v1", 4, mask_velocity=True)
    assert isinstance(env, MaskVelocity) and env.single_observation_space.shape == (2,)
    actions = [torch.tensor([0, 1, 0, 1])] * 5
    assert_same_trajectory(env, MaskVelocity(vec_reference("MetaRL/CartPole-v1", 4)), actions)
    full = vec_reference("MetaRL/CartPole-v1", 4)
    masked, _ = env.reset(seed=7)
    unmasked, _ = full.reset(seed=7)
    torch.testing.assert_close(masked, unmasked[:, [0, 2]])

    single = make("MetaRL/CartPole-v1", mask_velocity=True)
    assert isinstance(single, MaskVelocityObservation) and single.observation_space.shape == (2,)
    assert_same_trajectory(single, MaskVelocityObservation(gym.make("MetaRL/CartPole-v1")), [1, 0, 1], seed=2)


def test_reservoir_layers_match_the_hand_built_stack():
    env = make("MetaRL/CartPole-v1", 3, mask_velocity=True, reservoir=RESERVOIR)
    assert isinstance(env, ReservoirEncoder) and env.single_observation_space.shape == (12,)
    assert env.reservoir.input_dim == 2 + 2 + 1  # masked obs, one-hot action, reward
    reference = ReservoirEncoder(MaskVelocity(vec_reference("MetaRL/CartPole-v1", 3)), **RESERVOIR)
    assert_same_trajectory(env, reference, [torch.tensor([0, 1, 1])] * 6)

    multi = {"reservoirs": [{"units": 5, "leak_rate": 0.5}, {"units": 7}], "use_reward": False, "seed": 1}
    env = make("MetaRL/PendulumSwingup-v1", 2, reservoir=multi)
    assert isinstance(env, MultiReservoirEncoder) and env.single_observation_space.shape == (12,)
    reference = MultiReservoirEncoder(vec_reference("MetaRL/PendulumSwingup-v1", 2), **multi)
    assert_same_trajectory(env, reference, [torch.full((2, 1), 0.5)] * 4)

    single = make("MetaRL/CartPole-v1", mask_velocity=True, reservoir=RESERVOIR)
    assert isinstance(single, ReservoirObservation) and single.observation_space.shape == (12,)
    reference = ReservoirObservation(MaskVelocityObservation(gym.make("MetaRL/CartPole-v1")), **RESERVOIR)
    assert_same_trajectory(single, reference, [0, 1, 1, 0])


def test_unknown_id_suggests_the_nearest():
    with pytest.raises(UserError, match=r"unknown env id 'MetaRL/CartPol-v1'; did you mean 'MetaRL/CartPole-v1'"):
        make("MetaRL/CartPol-v1", 2)
    with pytest.raises(UserError, match="unknown env id 'NoSuchThingAtAll'"):
        make("NoSuchThingAtAll")


def test_unknown_kwarg_lists_the_accepted_ones():
    with pytest.raises(UserError, match=r"unknown kwarg\(s\) \['gravty'\] \(did you mean 'gravity'\?\); accepted: \[.*'masspole'"):
        make("MetaRL/CartPole-v1", 2, gravty=1.0)
    with pytest.raises(UserError, match=r"unknown kwarg\(s\) \['autoreset_mode'\]"):
        make("MetaRL/CartPole-v1", autoreset_mode="disabled")  # a single env has no autoreset to choose
    assert make("MetaRL/CartPole-v1", 2, autoreset_mode="disabled").metadata["autoreset_mode"].name == "DISABLED"


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((2,), dict(mask_velocity="false"), "mask_velocity must be true or false"),
        ((2,), dict(reservoir=100), "reservoir must be None or a dict"),
        ((2,), dict(reservoir={"units": 10, "sr": 1.0}), r"reservoir has unknown key\(s\) \['sr'\]"),
        ((2,), dict(reservoir={"reservoirs": [{"units": 4, "lr": 0.1}]}), r"reservoir.reservoirs.0 has unknown key\(s\) \['lr'\]"),
        ((2,), dict(reservoir={"reservoirs": []}), "non-empty list"),
        ((2,), dict(reservoir={"units": 10, "use_action": "yes"}), "reservoir.use_action must be true or false"),
        ((), dict(vectorization_mode="sync"), "needs num_envs"),
        ((2,), dict(vectorization_mode="threads"), "vectorization_mode must be None or one of"),
        ((0,), {}, "num_envs must be a positive integer"),
        ((True,), {}, "num_envs must be a positive integer"),
    ],
)
def test_option_errors(args, kwargs, match):
    with pytest.raises(UserError, match=match):
        make("MetaRL/CartPole-v1", *args, **kwargs)


def test_vector_entry_point_needs_a_torch_env():
    with pytest.raises(UserError, match="has no torch vector entry point"):
        make("Acrobot-v1", 2, vectorization_mode="vector_entry_point")
