"""LearnedRulePolicy against a per-individual, per-neuron, per-synapse numpy reference of MetaRL (§1.4-1.5)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from metarl_gym.agents.learned_rule import LearnedRulePolicy
from helpers import lifetime_keys
from metarl_gym import keys as rk

OBS3 = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
S, SD, INFO = 8, 1, 5


def split_genome(row):
    """The three rule nets of one genome, sliced by hand in the documented (seed) order."""
    nets, offset = {}, 0
    for name, n_in, n_out in (("node", INFO + SD, SD + 2), ("conn", 2 * INFO + SD + 2, SD + 1), ("reward", INFO + 1, SD)):
        sizes = {"ws": ((n_in + S, S)), "bs": (S,), "wo": (n_in + S, n_out), "bo": (n_out,)}
        net = {}
        for key, shape in sizes.items():
            n = int(np.prod(shape))
            net[key] = row[offset : offset + n].reshape(shape)
            offset += n
        nets[name] = net
    assert offset == len(row) == 520
    return nets


def cell(net, x, h):
    """MetaRL LearningRuleNetwork.forward_with_state for one row: (out, new_state); [state, input] order."""
    h_new = np.tanh(np.concatenate([h, x]) @ net["ws"] + net["bs"])
    out = np.tanh(np.concatenate([h_new, x]) @ net["wo"] + net["bo"])
    return out, h_new


def reference_lifetime(row, weights, biases, sigma0, obs_seq, reward_seq, noise_seq, scale=1.0, lr=0.01, wl=4.0, sl=1.0):
    """One individual's lifetime, written neuron by neuron and synapse by synapse from §1.4-1.5 (float64)."""
    nets = split_genome(row.astype(np.float64))
    W = [w.astype(np.float64).copy() for w in weights]  # [in, out]
    b = [x.astype(np.float64).copy() for x in biases]
    sig = [np.full(len(x), sigma0, dtype=np.float64) for x in biases]
    L = len(W)
    reward_h = np.zeros((W[-1].shape[1], S))
    node_h = [np.zeros((w.shape[1], S)) for w in W]
    conn_h = [np.zeros((w.shape[0], w.shape[1], S)) for w in W]
    actions = []
    for obs, r, noise in zip(obs_seq, reward_seq, noise_seq):
        x = obs.astype(np.float64)
        s_, z_, y_ = [], [], []
        h = x
        for k in range(L):  # forward: s = x·W + b; z ~ N(s, σ) (the drawn ε); y = tanh(z)
            s = h @ W[k] + b[k]
            z = s + sig[k] * noise[k]
            h = np.tanh(z)
            s_.append(s), z_.append(z), y_.append(h)
        actions.append(np.clip(scale * h, -1.0, 1.0))

        def info(k, j):
            return np.array([s_[k][j], z_[k][j], y_[k][j], b[k][j], sig[k][j]])

        # backward flow: reward net on every output neuron
        signal = np.zeros((W[-1].shape[1], SD))
        for j in range(W[-1].shape[1]):
            signal[j], reward_h[j] = cell(nets["reward"], np.concatenate([[r], info(L - 1, j)]), reward_h[j])
        for k in range(L - 1, -1, -1):
            n_in, n_out = W[k].shape
            node_signal = np.zeros((n_out, SD))
            for j in range(n_out):
                out, node_h[k][j] = cell(nets["node"], np.concatenate([info(k, j), signal[j]]), node_h[k][j])
                node_signal[j] = out[:SD]
                b[k][j] = np.clip(b[k][j] + lr * out[SD], -wl, wl)
                sig[k][j] = np.clip(sig[k][j] + lr * out[SD + 1], 0.0, sl)
            dW = np.zeros_like(W[k])
            lower = np.zeros((n_in, SD))
            for i in range(n_in):
                if k > 0:
                    pre, flag = info(k - 1, i), 0.0
                else:
                    pre, flag = np.array([0.0, 0.0, x[i], 0.0, 0.0]), 1.0
                for j in range(n_out):
                    inp = np.concatenate([info(k, j), pre, node_signal[j], [W[k][i, j], flag]])
                    out, conn_h[k][i, j] = cell(nets["conn"], inp, conn_h[k][i, j])
                    dW[i, j] = out[SD]
                    lower[i] += out[:SD] / n_out
            W[k] = np.clip(W[k] + lr * dW, -wl, wl)
            signal = lower
    return np.array(actions), W, b, sig


def run_policy(policy, params, obs_seq, reward_seq, seed=0):
    """Runs the policy; returns actions, initial (W, b), final state and the noise it drew, replayed."""
    keys = lifetime_keys(seed, params)
    state = policy.initial_state(params, keys)
    w0 = [w.clone() for w in state["weights"]]
    b0 = [b.clone() for b in state["biases"]]
    actions, noise = [], []
    for step, (obs, r) in enumerate(zip(obs_seq, reward_seq)):
        # the policy's noise, replayed: keyed by (row key, step, layer)
        step_keys = rk.key(keys, rk.POLICY_NOISE, step)
        noise.append([rk.normal(rk.key(step_keys, layer), n_out) for layer, (_, n_out) in enumerate(policy.layer_shapes)])
        a, state = policy.act(params, obs, state)
        state = policy.learn(params, state, r)
        actions.append(a.clone())
    return torch.stack(actions), w0, b0, state, noise


@pytest.mark.parametrize(
    "dtype, sigma_init, scale, tol",
    [(torch.float32, 0.0, 1.0, 1e-5), (torch.float32, 0.3, 2.0, 1e-5), (torch.float64, 0.3, 1.0, 1e-9)],
)
def test_matches_per_individual_reference(dtype, sigma_init, scale, tol):
    pop, steps = 3, 100
    policy = LearnedRulePolicy(OBS3, ACT, hidden_sizes=(4, 3), sigma_init=sigma_init, action_scale=scale)
    assert policy.num_params == 520
    g = torch.Generator().manual_seed(7)
    params = (torch.randn(pop, 520, generator=g) * 0.3).to(dtype)
    obs_seq = torch.randn(steps, pop, 3, generator=g).to(dtype)
    reward_seq = (torch.rand(steps, pop, generator=g) * 2).to(dtype)
    actions, w0, b0, state, noise = run_policy(policy, params, obs_seq, reward_seq)
    assert actions.dtype == torch.float32
    for p in range(pop):
        ref_actions, W, b, sig = reference_lifetime(
            params[p].numpy(), [w[p].numpy() for w in w0], [x[p].numpy() for x in b0], sigma_init,
            obs_seq[:, p].numpy(), reward_seq[:, p].numpy(), [[e[p].numpy() for e in step] for step in noise], scale,
        )
        np.testing.assert_allclose(actions[:, p].numpy(), ref_actions, rtol=tol, atol=max(tol, 1e-7))
        for k in range(3):
            np.testing.assert_allclose(state["weights"][k][p].numpy(), W[k], rtol=tol, atol=tol)
            np.testing.assert_allclose(state["biases"][k][p].numpy(), b[k], rtol=tol, atol=tol)
            np.testing.assert_allclose(state["sigmas"][k][p].numpy(), sig[k], rtol=tol, atol=tol)
        assert max(np.abs(W[k] - w0[k][p].numpy()).max() for k in range(3)) > 0.05  # the rule did learn
    if sigma_init > 0:
        assert any((s > 0).any() for s in state["sigmas"])  # the noise path was exercised


def test_genome_size_and_initialisation():
    for obs_dim in (3, 6):
        policy = LearnedRulePolicy(gym.spaces.Box(-1, 1, (obs_dim,)), ACT)
        assert policy.num_params == 520 and policy.sizes == (obs_dim, 8, 8, 1)
    assert list(policy.layout.shapes)[:4] == ["node_network.w_state", "node_network.b_state", "node_network.w_output", "node_network.b_output"]
    params = policy.random_params(2000, generator=torch.Generator().manual_seed(0))
    assert abs(params.std().item() - 0.1) < 0.002 and abs(params.mean().item()) < 0.002
    state = policy.initial_state(params, lifetime_keys(1, params))
    assert abs(state["weights"][1].std().item() - 0.4) < 0.01  # weight_init · weight_limit
    assert abs(state["biases"][1].std().item() - 0.4) < 0.01
    assert all(torch.all(s == 0) for s in state["sigmas"])
    assert state["conn_h"][1].shape == (2000, 8, 64) and state["node_h"][0].shape == (2000, 8, 8)


def test_state_persists_and_is_fresh_per_evaluation():
    policy = LearnedRulePolicy(OBS3, ACT)
    params = policy.random_params(4, generator=torch.Generator().manual_seed(0))
    state = policy.initial_state(params, lifetime_keys(1, params))
    for _ in range(5):
        _, state = policy.act(params, torch.randn(4, 3), state)
        state = policy.learn(params, state, torch.ones(4))
    assert state["conn_h"][0].abs().sum() > 0 and state["reward_h"].abs().sum() > 0
    fresh = policy.initial_state(params, lifetime_keys(1, params))
    assert fresh["conn_h"][0].abs().sum() == 0 and not torch.equal(fresh["weights"][0], state["weights"][0])


def test_discrete_and_unbounded_scale_options():
    policy = LearnedRulePolicy(OBS3, gym.spaces.Discrete(3))
    params = policy.random_params(5, generator=torch.Generator().manual_seed(0))
    state = policy.initial_state(params, lifetime_keys(0, params))
    actions, state = policy.act(params, torch.randn(5, 3), state)
    assert actions.dtype == torch.int64 and torch.equal(actions, state["y"][-1].argmax(1))
    box = gym.spaces.Box(np.array([0.0, -3.0], np.float32), np.array([2.0, 3.0], np.float32))
    policy = LearnedRulePolicy(OBS3, box, action_scale=None)
    state = policy.initial_state(params, lifetime_keys(0, params))
    actions, state = policy.act(params, torch.randn(5, 3), state)
    expected = torch.as_tensor(box.low) + (state["y"][-1] + 1) / 2 * torch.as_tensor(box.high - box.low)
    torch.testing.assert_close(actions, expected)
    with pytest.raises(ValueError, match="action_scale"):
        LearnedRulePolicy(OBS3, gym.spaces.Box(-np.inf, np.inf, (1,)), action_scale=None)


def test_huge_genomes_stay_valid_and_nan_genomes_are_marked():
    """Huge finite rules saturate (tanh nets, clamped weights): valid actions. NaN / inf rules are marked: their
    actions and learned weights go NaN (rollout scores them -inf), never silently repaired into valid ones."""
    policy = LearnedRulePolicy(OBS3, ACT)
    params = torch.randn(4, 520, generator=torch.Generator().manual_seed(0)) * 1e30
    params[0] = float("nan")
    params[1] = float("inf")
    state = policy.initial_state(params, lifetime_keys(0, params))
    g = torch.Generator().manual_seed(0)
    for step in range(20):
        actions, state = policy.act(params, torch.randn(4, 3, generator=g) * 1e6, state)
        assert all(ACT.contains(a.numpy()) for a in actions[2:])
        if step > 0:
            assert torch.isnan(actions[:2]).all()
        state = policy.learn(params, state, torch.full((4,), 1e30))
    for w in state["weights"][1:]:
        assert w[2:].abs().max() <= 4.0
    assert policy.state_is_finite(state).tolist() == [False, False, True, True]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    policy = LearnedRulePolicy(gym.spaces.Box(-1, 1, (6,)), ACT)
    params = policy.random_params(32, device="cuda")
    state = policy.initial_state(params, lifetime_keys(0, params))
    for _ in range(5):
        actions, state = policy.act(params, torch.randn(32, 6, device="cuda"), state)
        state = policy.learn(params, state, torch.ones(32, device="cuda"))
    assert actions.device.type == "cuda" and torch.isfinite(actions).all()
