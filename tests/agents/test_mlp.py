"""MLPPolicy: the batched forward pass equals a plain torch.nn.Sequential per individual."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from metarl_gym.agents.mlp import MLPPolicy
from helpers import lifetime_keys

OBS = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
BOX = gym.spaces.Box(np.array([-2.0, -1.0, 0.0], np.float32), np.array([2.0, 1.0, 3.0], np.float32))


def sequential_for(policy: MLPPolicy, row: torch.Tensor, activation) -> torch.nn.Sequential:
    """An nn.Sequential carrying individual ``row``'s weights (nn.Linear stores W as (out, in))."""
    parts = policy.layout.unflatten(row.unsqueeze(0))
    layers = []
    n_layers = len(policy.sizes) - 1
    for k, (n_in, n_out) in enumerate(zip(policy.sizes[:-1], policy.sizes[1:]), start=1):
        lin = torch.nn.Linear(n_in, n_out, bias=policy.bias)
        with torch.no_grad():
            lin.weight.copy_(parts[f"w{k}"][0].T)
            if policy.bias:
                lin.bias.copy_(parts[f"b{k}"][0])
        layers.append(lin)
        if k < n_layers:
            layers.append(activation())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("output", ["tanh", "clip", "tanh_clip"])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_sequential_loop_box(output, bias):
    policy = MLPPolicy(OBS, BOX, hidden_sizes=(7, 4), output=output, bias=bias)
    g = torch.Generator().manual_seed(1)
    params = torch.randn(6, policy.num_params, generator=g)
    obs = torch.randn(6, 5, generator=g)
    actions, state = policy.act(params, obs, policy.initial_state(params, lifetime_keys(1, params)))
    assert set(state) == set(policy.layout.shapes) and actions.shape == (6, 3) and actions.dtype == torch.float32
    low, high = torch.as_tensor(BOX.low), torch.as_tensor(BOX.high)
    for p in range(6):
        with torch.no_grad():
            raw = sequential_for(policy, params[p], torch.nn.Tanh)(obs[p])
        if output == "tanh":
            expected = low + (torch.tanh(raw) + 1) / 2 * (high - low)
        elif output == "clip":
            expected = torch.maximum(torch.minimum(raw, high), low)
        else:
            expected = torch.maximum(torch.minimum(torch.tanh(raw), high), low)
        torch.testing.assert_close(actions[p], expected, rtol=1e-5, atol=1e-5)
        assert BOX.contains(actions[p].numpy())


def test_discrete_argmax_and_relu():
    space = gym.spaces.Discrete(4)
    policy = MLPPolicy(OBS, space, hidden_sizes=(8,), activation="relu")
    assert policy.layout.shapes == {"w1": (5, 8), "b1": (8,), "w2": (8, 4), "b2": (4,)}
    g = torch.Generator().manual_seed(2)
    params = policy.random_params(5, generator=g)
    obs = torch.randn(5, 5, generator=g)
    actions, _ = policy.act(params, obs, None)
    assert actions.dtype == torch.int64 and actions.shape == (5,)
    for p in range(5):
        with torch.no_grad():
            logits = sequential_for(policy, params[p], torch.nn.ReLU)(obs[p])
        assert int(actions[p]) == int(logits.argmax())


def test_random_params_scale_and_finite_actions():
    policy = MLPPolicy(OBS, BOX, hidden_sizes=(64, 64))
    params = policy.random_params(200, generator=torch.Generator().manual_seed(0))
    w2 = policy.layout.unflatten(params)["w2"]
    assert abs(w2.std().item() - 1 / 8) < 0.01  # N(0, 1/fan_in)
    assert torch.all(policy.layout.unflatten(params)["b1"] == 0)
    huge = torch.full((3, policy.num_params), 1e30)
    actions, _ = policy.act(huge, torch.full((3, 5), 1e30), None)
    assert torch.isfinite(actions).all() and all(BOX.contains(a.numpy()) for a in actions)


def test_bad_params_shape_says_num_params():
    policy = MLPPolicy(OBS, BOX)
    with pytest.raises(ValueError, match=str(policy.num_params)):
        policy.act(torch.zeros(2, 3), torch.zeros(2, 5), None)
