"""rgb_frame: one RGB image from every kind of env (single, MetaRL torch batch, Gymnasium's vector envs)."""

import gymnasium as gym
import numpy as np
import pytest

import metarl_gym  # noqa: F401
from metarl_gym.envs import MaskVelocity, make
from metarl_gym.envs.rendering import rgb_frame
from metarl_gym.errors import UserError


def test_single_env_frame():
    env = make("MetaRL/CartPole-v1", render_mode="rgb_array")
    env.reset(seed=0)
    frame = rgb_frame(env)
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    np.testing.assert_array_equal(frame, env.render())


def test_torch_batch_frame_is_the_row_asked_for_under_wrappers():
    env = MaskVelocity(make("MetaRL/CartPole-v1", 3, render_mode="rgb_array"))
    env.reset(seed=0)
    for row in range(3):
        np.testing.assert_array_equal(rgb_frame(env, row), env.unwrapped.render(row))
    assert not np.array_equal(rgb_frame(env, 0), rgb_frame(env, 1))  # different start states
    with pytest.raises(UserError, match="render row"):
        rgb_frame(env, 3)


@pytest.mark.parametrize("env_id", ["BipedalWalker-v3", "CarRacing-v3"])
def test_gymnasium_vector_env_frame(env_id):
    pytest.importorskip("Box2D", reason="needs the box2d extra: pip install -e .[box2d]")
    env = make(env_id, 2, render_mode="rgb_array")  # Gymnasium's sync vector env behind NumpyToTorch
    env.reset(seed=0)
    frames = env.render()
    assert isinstance(frames, tuple) and len(frames) == 2  # the shape the GIF writer could not take
    for row in range(2):
        frame = rgb_frame(env, row)
        assert frame.dtype == np.uint8 and frame.shape == frames[row].shape and frame.shape[2] == 3
    with pytest.raises(UserError, match="render row"):
        rgb_frame(env, 2)
    env.close()


class _Frames(gym.vector.VectorWrapper):
    """A vector env whose render() is a tuple of distinct frames (row i filled with the value i)."""

    def render(self):
        return tuple(np.full((4, 5, 3), i, np.uint8) for i in range(self.num_envs))


def test_gymnasium_vector_env_frame_is_the_row_asked_for():
    env = _Frames(gym.make_vec("Acrobot-v1", 3, vectorization_mode="sync"))
    for row in range(3):
        np.testing.assert_array_equal(rgb_frame(env, row), np.full((4, 5, 3), row, np.uint8))


@pytest.mark.parametrize("num_envs", [None, 2])
def test_no_render_mode_is_a_clear_error(num_envs):
    env = make("MetaRL/CartPole-v1", num_envs)
    env.reset(seed=0)
    with pytest.raises(UserError, match="render_mode='rgb_array'"):
        rgb_frame(env)


@pytest.mark.filterwarnings("ignore:.*render method without specifying any render mode")
def test_gymnasium_vector_env_without_render_mode_is_a_clear_error():
    env = gym.make_vec("Acrobot-v1", 2, vectorization_mode="sync")
    env.reset(seed=0)
    with pytest.raises(UserError, match="render_mode='rgb_array'"):
        rgb_frame(env)
