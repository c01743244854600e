"""pixel_wrappers: the Gymnasium preprocessing wrappers give frames the pixel policies accept."""

import gymnasium as gym
import pytest
import torch

from metarl_gym.agents.cnn import CNNPolicy
from metarl_gym.envs.pixels import pixel_wrappers

pytest.importorskip("Box2D")


def test_pixel_wrappers_give_shapes_the_policy_accepts():
    env = gym.make("CarRacing-v3")
    for wrap in pixel_wrappers(grayscale=True, frame_stack=4):  # (resize needs opencv: resize in the policy)
        env = wrap(env)
    assert env.observation_space.shape == (4, 96, 96)
    policy = CNNPolicy(env.observation_space, env.action_space, conv_layers=[dict(out_channels=3, kernel_size=4, stride=4)],
                       hidden_sizes=[8], output="carracing", resize=(48, 48))
    assert policy.frames.shape == (4, 48, 48)
    obs, _ = env.reset(seed=0)
    params = policy.random_params(1)
    a, _ = policy.act(params, torch.as_tensor(obs).unsqueeze(0), policy.initial_state(params))
    assert env.action_space.contains(a[0].numpy())
    env.close()


def test_vector_env_takes_the_wrappers():
    env = gym.make_vec("CarRacing-v3", num_envs=2, vectorization_mode="sync", wrappers=pixel_wrappers(grayscale=True, frame_stack=2))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2, 2, 96, 96)
    env.close()


@pytest.mark.parametrize("kwargs, match", [(dict(frame_stack=0), "frame_stack"), (dict(resize=(84,)), "resize")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pixel_wrappers(**kwargs)
