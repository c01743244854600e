"""CNNPolicy / PixelHebbianPolicy against per-individual torch.nn / numpy references, and the seeds' parameter counts."""

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from metarl_gym.agents.cnn import CNNPolicy, Frames
from metarl_gym.agents.pixel_hebbian import PixelHebbianPolicy
from helpers import lifetime_keys

CAR_OBS = gym.spaces.Box(0, 255, (96, 96, 3), np.uint8)
CAR_ACT = gym.spaces.Box(np.array([-1, 0, 0], np.float32), np.array([1, 1, 1], np.float32))


def frames(n, shape=(96, 96, 3), seed=0):
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


class SeedConvNet(nn.Module):
    """ga-openai-gym's CarRacing ConvNet (scripts/nn/conv.py), on a channels-first float frame."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 12, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=3)
        self.fc1 = nn.Linear(12 * 32 * 32, 64)
        self.fc2 = nn.Linear(64, 3)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x))).reshape(1, -1)
        x = self.fc2(torch.relu(self.fc1(x)))[0]
        return torch.stack([torch.tanh(x[0]), torch.sigmoid(x[1]), torch.sigmoid(x[2])])


class SeedCNNHeb(nn.Module):
    """The Hebbian seed's CNN_heb (policies.py): returns (features, o1, o2, raw o3)."""

    def __init__(self, channels=3, act=3):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 6, 3, bias=False)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 8, 5, stride=2, bias=False)
        self.linear1 = nn.Linear(648, 128, bias=False)
        self.linear2 = nn.Linear(128, 64, bias=False)
        self.out = nn.Linear(64, act, bias=False)

    def forward(self, x):
        x3 = self.pool(torch.tanh(self.conv2(self.pool(torch.tanh(self.conv1(x)))))).reshape(-1)
        x4 = torch.tanh(self.linear1(x3))
        x5 = torch.tanh(self.linear2(x4))
        return x3, x4, x5, self.out(x5)


def car_head(o):
    return np.array([np.tanh(o[0]), 1 / (1 + np.exp(-o[1])), 1 / (1 + np.exp(-o[2]))])


# ---------------------------------------------------------------------- parameter counts
def test_parameter_counts_match_the_seeds():
    assert CNNPolicy(CAR_OBS, CAR_ACT, preset="ga_carracing").num_params == 787_027
    assert sum(p.numel() for p in SeedConvNet().parameters()) == 787_027
    assert CNNPolicy(CAR_OBS, CAR_ACT, preset="hebbian_carracing").num_params == 92_690  # static CNN_heb
    heb = PixelHebbianPolicy(CAR_OBS, CAR_ACT)
    assert heb.n_synapses == 91_328 and heb.num_params == 458_002  # 5 x 91,328 ABCD_lr + 1,362 CNN (§4.6)
    assert PixelHebbianPolicy(CAR_OBS, CAR_ACT, cnn_weights="random").num_params == 456_640
    assert PixelHebbianPolicy(CAR_OBS, CAR_ACT, init_weights="coevolve").num_params == 458_002 + 91_328


# ---------------------------------------------------------------------- CNNPolicy vs torch.nn
def test_ga_carracing_batched_equals_per_individual_seed_net():
    policy = CNNPolicy(CAR_OBS, CAR_ACT, preset="ga_carracing")
    params = policy.random_params(4, generator=torch.Generator().manual_seed(1))
    params[:, -195:] *= 30  # push the head out of its linear range so the check sees tanh / sigmoid
    obs = frames(4)
    actions, _ = policy.act(params, obs, policy.initial_state(params))
    assert actions.shape == (4, 3) and actions.dtype == torch.float32
    for i in range(4):
        net = SeedConvNet()
        nn.utils.vector_to_parameters(params[i], net.parameters())  # the seed's state_dict genome order
        with torch.no_grad():
            ref = net(obs[i].permute(2, 0, 1).float().unsqueeze(0) / 255)
        torch.testing.assert_close(actions[i], ref, atol=1e-5, rtol=0)
    assert not torch.allclose(actions[0], actions[1])


def test_hebbian_carracing_static_equals_cnn_heb_reference():
    policy = CNNPolicy(CAR_OBS, CAR_ACT, preset="hebbian_carracing")
    params = policy.random_params(3, generator=torch.Generator().manual_seed(2)) * 3
    obs = frames(3, seed=5)
    actions, _ = policy.act(params, obs, policy.initial_state(params))
    for i in range(3):
        net = SeedCNNHeb()
        nn.utils.vector_to_parameters(params[i], net.parameters())
        x = F.adaptive_avg_pool2d(obs[i].permute(2, 0, 1).float().unsqueeze(0) / 255, (84, 84))  # area resize
        with torch.no_grad():
            o3 = net(x)[3].numpy()
        np.testing.assert_allclose(actions[i].numpy(), car_head(o3), atol=1e-5)


@pytest.mark.parametrize("layout", ["hw", "hwc", "chw", "shwc"])
def test_general_cnn_equals_torch_nn_for_every_frame_layout(layout):
    base = torch.rand(3, 2, 20, 18, 3, generator=torch.Generator().manual_seed(3))  # [n, S, H, W, C] float frames
    if layout == "hw":
        obs, chw = base[:, 0, :, :, 0], base[:, 0, :, :, :1].permute(0, 3, 1, 2)
    elif layout == "hwc":
        obs, chw = base[:, 0], base[:, 0].permute(0, 3, 1, 2)
    elif layout == "chw":
        obs, chw = base[:, 0].permute(0, 3, 1, 2).contiguous(), base[:, 0].permute(0, 3, 1, 2)
    else:
        obs, chw = base, base.permute(0, 1, 4, 2, 3).reshape(3, 6, 20, 18)
    space = gym.spaces.Box(0.0, 1.0, tuple(obs.shape[1:]), np.float32)
    act = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    layers = [dict(out_channels=4, kernel_size=3, stride=2, padding=1, pool=2), dict(out_channels=5, kernel_size=2)]
    policy = CNNPolicy(space, act, conv_layers=layers, conv_activation="tanh", hidden_sizes=[7], activation="tanh",
                       output="tanh", scale=1.0, channels_last=False if layout == "chw" else None)
    params = policy.random_params(3, generator=torch.Generator().manual_seed(4)) * 2
    params[:, policy.layout.offsets["conv1_b"]:][:, :4] = 0.3  # non-zero biases
    actions, _ = policy.act(params, obs, policy.initial_state(params))
    c = chw.shape[1]
    for i in range(3):
        net = nn.Sequential(nn.Conv2d(c, 4, 3, stride=2, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.Conv2d(4, 5, 2), nn.Tanh(),
                            nn.Flatten(), nn.Linear(policy.conv.num_features, 7), nn.Tanh(), nn.Linear(7, 2))
        nn.utils.vector_to_parameters(params[i], net.parameters())
        with torch.no_grad():
            ref = -2.0 + (torch.tanh(net(chw[i : i + 1])[0]) + 1) * 2.0
        torch.testing.assert_close(actions[i], ref, atol=1e-5, rtol=0)


def test_discrete_actions_and_float64_and_no_state():
    space = gym.spaces.Box(0, 255, (12, 12, 3), np.uint8)
    policy = CNNPolicy(space, gym.spaces.Discrete(4), conv_layers=[dict(out_channels=2, kernel_size=3)], hidden_sizes=[5])
    params = policy.random_params(5, generator=torch.Generator().manual_seed(0)).double()
    obs = frames(5, (12, 12, 3))
    a, _ = policy.act(params, obs, policy.initial_state(params))
    b, _ = policy.act(params.float(), obs, None)
    assert a.dtype == torch.int64 and a.shape == (5,) and ((0 <= a) & (a < 4)).all()
    assert torch.equal(a, b)


def test_in_policy_grayscale_equals_gymnasium_wrapper():
    env = gym.make("CarRacing-v3")
    wrapped = gym.wrappers.GrayscaleObservation(gym.make("CarRacing-v3"), keep_dim=False)
    obs, _ = env.reset(seed=0)
    gray, _ = wrapped.reset(seed=0)
    for _ in range(3):
        obs, *_ = env.step(np.array([0.0, 1.0, 0.0], np.float32))
        gray, *_ = wrapped.step(np.array([0.0, 1.0, 0.0], np.float32))
    mine = Frames(env.observation_space, grayscale=True, scale=1.0)(torch.as_tensor(obs).unsqueeze(0), torch.float32)
    theirs = Frames(wrapped.observation_space, scale=1.0)(torch.as_tensor(gray).unsqueeze(0), torch.float32)
    assert mine.shape == theirs.shape == (1, 1, 96, 96)
    assert (mine - theirs).abs().max() <= 1.0  # the wrapper rounds to uint8
    env.close(), wrapped.close()


def test_bad_input_errors_name_the_fix():
    with pytest.raises(ValueError, match="mlp"):
        CNNPolicy(gym.spaces.Box(-1, 1, (4,)), CAR_ACT)
    with pytest.raises(ValueError, match="carracing"):
        CNNPolicy(CAR_OBS, gym.spaces.Box(-1, 1, (2,)), output="carracing")
    with pytest.raises(ValueError, match="preset"):
        CNNPolicy(CAR_OBS, CAR_ACT, preset="nope")
    with pytest.raises(ValueError, match="leaves no pixels"):
        CNNPolicy(gym.spaces.Box(0, 255, (8, 8, 3), np.uint8), CAR_ACT, conv_layers=[dict(out_channels=2, kernel_size=9)])
    with pytest.raises(ValueError, match="conv_layers\\[0\\]"):
        CNNPolicy(CAR_OBS, CAR_ACT, conv_layers=[dict(out_channel=2, kernel_size=3)])
    policy = CNNPolicy(CAR_OBS, CAR_ACT, preset="ga_carracing")
    with pytest.raises(ValueError, match="obs must have shape"):
        policy.act(policy.random_params(2), frames(2, (84, 84, 3)), None)
    with pytest.raises(ValueError, match="cnn_weights"):
        PixelHebbianPolicy(CAR_OBS, CAR_ACT, cnn_weights="random", init_weights="coevolve")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    for policy in (CNNPolicy(CAR_OBS, CAR_ACT, preset="ga_carracing"), PixelHebbianPolicy(CAR_OBS, CAR_ACT)):
        params = policy.random_params(3, generator=torch.Generator().manual_seed(0))
        obs = frames(3)
        cpu, _ = policy.act(params, obs, policy.initial_state(params, lifetime_keys(1, params)))
        cuda, state = policy.act(params.cuda(), obs.cuda(), policy.initial_state(params.cuda(), lifetime_keys(1, params.cuda())))
        assert cuda.device.type == "cuda"
        if isinstance(policy, CNNPolicy):
            torch.testing.assert_close(cuda.cpu(), cpu, atol=1e-4, rtol=0)


# ---------------------------------------------------------------------- Hebbian over pixels
def reference_pixel_hebbian(params, obs_seq, policy):
    """The seed's lifetime loop for one individual (coevolve genome, float64 numpy weights, ABCD_lr).

    Forward with CNN_heb, action [tanh, sigmoid, sigmoid], then per layer W[j, i] += η(A·pre·post + B·pre + C·post + D)
    with coefficient row offset + i·n_out + j, clip at ±1e4 (metarl_gym's safety bound), W /= max|W|.
    """
    n_syn = policy.n_synapses
    coeffs = params[: n_syn * 5].reshape(n_syn, 5)
    rest = params[n_syn * 5 :]
    sizes = [(648, 128), (128, 64), (64, 3)]
    weights, off = [], 0
    for n_in, n_out in sizes:
        weights.append(rest[off : off + n_in * n_out].reshape(n_out, n_in).copy())
        off += n_in * n_out
    conv1 = torch.tensor(rest[off : off + 162].reshape(6, 3, 3, 3))
    conv2 = torch.tensor(rest[off + 162 :].reshape(8, 6, 5, 5))
    actions = []
    for frame in obs_seq:
        x = F.adaptive_avg_pool2d(torch.tensor(frame).permute(2, 0, 1).double().unsqueeze(0) / 255, (84, 84))
        x = F.max_pool2d(torch.tanh(F.conv2d(x, conv1)), 2)
        x = F.max_pool2d(torch.tanh(F.conv2d(x, conv2, stride=2)), 2)
        o = [x.reshape(-1).numpy()]
        for k, w in enumerate(weights):
            h = w @ o[-1]
            o.append(np.tanh(h) if k < 2 else h)
        actions.append(car_head(o[-1]))
        row = 0
        for k, (w, (n_in, n_out)) in enumerate(zip(weights, sizes)):
            c = coeffs[row : row + n_in * n_out].reshape(n_in, n_out, 5).transpose(1, 0, 2)  # [j, i, coeff]
            row += n_in * n_out
            pre, post = o[k][None, :], o[k + 1][:, None]
            w += c[..., 3] * (c[..., 0] * pre * post + c[..., 1] * pre + c[..., 2] * post + c[..., 4])
            np.clip(w, -1e4, 1e4, out=w)
            w /= np.abs(w).max()
    return np.array(actions)


def test_pixel_hebbian_equals_the_seed_loop_for_a_few_steps():
    policy = PixelHebbianPolicy(CAR_OBS, CAR_ACT, init_weights="coevolve")
    pop, steps = 2, 4
    params = policy.random_params(pop, generator=torch.Generator().manual_seed(0)).double()
    n_syn = policy.n_synapses
    params[:, : n_syn * 5] *= 0.1  # tame coefficients so the lifetime does not saturate immediately
    # the genome order is [coeffs, w1_init, w2_init, w3_init, conv1, conv2]; the reference unpacks it itself
    seq = frames(steps * pop, seed=7).reshape(steps, pop, 96, 96, 3)
    state = policy.initial_state(params)
    got = []
    for t in range(steps):
        a, state = policy.act(params, seq[t], state)
        state = policy.learn(params, state, torch.zeros(pop))
        got.append(a)
    got = torch.stack(got, dim=1).numpy()
    for i in range(pop):
        ref = reference_pixel_hebbian(params[i].numpy(), seq[:, i].numpy(), policy)
        np.testing.assert_allclose(got[i], ref, atol=1e-5)
    assert np.abs(got[:, 0] - got[:, -1]).max() > 1e-3  # the weights did change within the lifetime


def test_pixel_hebbian_random_cnn_is_redrawn_per_lifetime_and_plasticity_off_is_frozen():
    policy = PixelHebbianPolicy(CAR_OBS, CAR_ACT, cnn_weights="random")
    params = policy.random_params(2, generator=torch.Generator().manual_seed(0))
    s1 = policy.initial_state(params, lifetime_keys(1, params))
    s2 = policy.initial_state(params, lifetime_keys(2, params))
    s1b = policy.initial_state(params, lifetime_keys(1, params))
    assert not torch.equal(s1["conv"]["conv1_w"], s2["conv"]["conv1_w"])
    assert torch.equal(s1["conv"]["conv1_w"], s1b["conv"]["conv1_w"])
    frozen = PixelHebbianPolicy(CAR_OBS, CAR_ACT, plasticity=False)
    assert frozen.num_params == 458_002 and not frozen.plastic
    params = frozen.random_params(2, generator=torch.Generator().manual_seed(0))
    state = frozen.initial_state(params, lifetime_keys(3, params))
    obs = frames(2)
    a1, state = frozen.act(params, obs, state)
    state = frozen.learn(params, state, torch.zeros(2))
    a2, _ = frozen.act(params, obs, state)
    assert torch.equal(a1, a2)
    assert CAR_ACT.contains(a1[0].numpy())


def test_non_finite_outputs_are_marked_not_repaired():
    policy = CNNPolicy(CAR_OBS, CAR_ACT, preset="ga_carracing")
    params = policy.random_params(3, generator=torch.Generator().manual_seed(0))
    params[1, -1] = float("inf")  # fc2 bias of brake -> raw output inf for individual 1
    a, _ = policy.act(params, frames(3), None)
    assert torch.isnan(a[1]).all() and torch.isfinite(a[[0, 2]]).all()
    heb = PixelHebbianPolicy(CAR_OBS, CAR_ACT)
    p = heb.random_params(2, generator=torch.Generator().manual_seed(0))
    p[0, : heb.n_synapses * 5] = 1e30  # an exploding rule: inf - inf -> NaN weights
    state = heb.initial_state(p, lifetime_keys(0, p))
    for _ in range(3):
        _, state = heb.act(p, frames(2), state)
        state = heb.learn(p, state, torch.zeros(2))
    assert heb.state_is_finite(state).tolist() == [False, True]  # the Policy contract: non-finite plastic state
