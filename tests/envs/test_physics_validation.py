"""Invalid physics is refused where it comes in (constructor, task_ranges, set_tasks, set_state, reset options),
with an error naming the parameter and its allowed range."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import metarl_gym  # noqa: F401
from metarl_gym.envs import TORCH_ENVS
from metarl_gym.envs.limits import POSITIVE
from metarl_gym.errors import UserError
import helpers

IDS = sorted(TORCH_ENVS)


def make_vec(env_id, n=3, **kwargs):
    return helpers.make_vec(env_id, n, **kwargs).unwrapped


def params(env_id):
    cls = TORCH_ENVS[env_id].load()
    return [(name, cls.task_limits[name]) for name in cls.task_defaults]


def bad_values(interval):
    values = [math.nan, math.inf, -math.inf]
    return values + ([0.0, -1.0] if interval == POSITIVE else [-1.0])


def test_the_cartpole_cases_of_the_report():
    for kwargs, name, allowed in (
        ({"gravity": math.nan}, "gravity", "[0, inf)"),
        ({"masspole": -1.0}, "masspole", "(0, inf)"),
        ({"length": 0.0}, "length", "(0, inf)"),
    ):
        with pytest.raises(ValueError, match=rf"{name}.*{re_escape(allowed)}"):
            gym.make("MetaRL/CartPole-v1", **kwargs)
        with pytest.raises(UserError, match=name):
            make_vec("MetaRL/CartPole-v1", **kwargs)


def re_escape(text):
    import re

    return re.escape(text)


@pytest.mark.parametrize("env_id", IDS)
def test_every_task_parameter_is_checked_at_construction(env_id):
    cls = TORCH_ENVS[env_id].load()
    for name, interval in params(env_id):
        assert interval.contains(cls.task_defaults[name])
        for value in bad_values(interval):
            with pytest.raises(UserError, match=rf"{name}.*{re_escape(str(interval))}"):
                make_vec(env_id, **{name: value})
        # the boundary itself is allowed when the range is closed there
        if not interval.low_open:
            make_vec(env_id, **{name: interval.low})


@pytest.mark.parametrize("env_id", IDS)
def test_task_ranges_outside_the_allowed_range_are_refused(env_id):
    for name, interval in params(env_id):
        with pytest.raises(UserError, match=rf"task_ranges\['{name}'\].*{re_escape(str(interval))}"):
            make_vec(env_id, task_ranges={name: (-1.0, 2.0)})
        with pytest.raises(UserError, match="finite"):
            make_vec(env_id, task_ranges={name: (1.0, math.nan)})
        with pytest.raises(UserError, match="low <= high"):
            make_vec(env_id, task_ranges={name: (2.0, 1.0)})
        with pytest.raises(UserError, match="pair"):
            make_vec(env_id, task_ranges={name: 1.0})
        make_vec(env_id, task_ranges={name: (0.5, 2.0)})  # a valid range still works


@pytest.mark.parametrize("env_id", IDS)
def test_set_tasks_and_the_tasks_reset_option_are_checked(env_id):
    env = make_vec(env_id)
    env.reset(seed=0)
    before = {k: v.clone() for k, v in env.tasks.items()}
    for name, interval in params(env_id):
        bad = torch.tensor([1.0, bad_values(interval)[-1], 1.0])
        with pytest.raises(UserError, match=rf"task '{name}'.*{re_escape(str(interval))}.*row 1"):
            env.set_tasks({name: bad})
        with pytest.raises(UserError, match=name):
            env.reset(options={"tasks": {name: math.nan}})
        # a bad value in a row that is not reset is ignored (only the masked rows are used)
        env.set_tasks({name: bad}, mask=torch.tensor([True, False, True]))
        assert env.tasks[name][1] == before[name][1]
        env.set_tasks({name: before[name]})
    for name in before:
        assert torch.equal(env.tasks[name], before[name])


@pytest.mark.parametrize("env_id", IDS)
def test_non_finite_states_are_refused(env_id):
    env = make_vec(env_id)
    env.reset(seed=0)
    dim = len(env.state_names)
    state = env.state.clone()
    for value in (math.nan, math.inf):
        bad = state.clone()
        bad[2, dim - 1] = value
        with pytest.raises(UserError, match=rf"state column '{env.state_names[-1]}'.*finite.*row 2"):
            env.set_state(bad)
        with pytest.raises(UserError, match="finite"):
            env.reset(options={"state": [value] * dim})
    assert torch.equal(env.state[:2], state[:2])
    single = gym.make(env_id)
    with pytest.raises(ValueError, match="finite"):
        single.reset(options={"state": [math.nan] * dim})
    with pytest.raises(ValueError, match=rf"shape \({dim},\)"):
        single.reset(options={"state": [0.0] * (dim + 1)})


def test_checks_use_the_env_dtype():
    # 1e-50 is positive in float64 but 0 in float32: a division by zero the check must catch
    with pytest.raises(UserError, match="masspole"):
        make_vec("MetaRL/CartPole-v1", masspole=1e-50)
    make_vec("MetaRL/CartPole-v1", masspole=1e-50, dtype=torch.float64)


def test_common_pendulum_settings_are_checked():
    for kwargs, name in (({"dt": 0.0}, "dt"), ({"dt": math.inf}, "dt"), ({"max_torque": math.nan}, "max_torque"),
                         ({"init_noise": -0.1}, "init_noise")):
        for env_id in ("MetaRL/Pendulum-v0", "MetaRL/DoublePendulum-v0"):
            with pytest.raises(UserError, match=name):
                make_vec(env_id, **kwargs)


def test_sampled_tasks_stay_inside_the_range():
    env = make_vec("MetaRL/CartPole-v1", 512, task_ranges={"masspole": (0.01, 0.5)})
    env.reset(seed=0)
    values = env.tasks["masspole"].numpy()
    assert values.min() >= np.float32(0.01) and values.max() <= np.float32(0.5)
