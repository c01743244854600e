"""HebbianPolicy against an independent per-individual numpy implementation of the seed's rules (§4.2)."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from metarl_gym.agents.hebbian import INIT_WEIGHTS, RULES, HebbianPolicy
from helpers import lifetime_keys

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
BOX = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
HIDDEN = (8, 6)
STEPS = 100
WEIGHT_CLIP = 1e4


def hebbian_delta(rule, c, pre, post):
    """ΔW for one synapse, written from the §4.2 table (c = the synapse's coefficient row, seed order)."""
    if rule == "A":
        return c[0] * pre * post
    if rule == "AD":
        return c[0] * pre * post + c[1]
    if rule == "AD_lr":
        return c[2] * (c[0] * pre * post + c[1])
    if rule == "ABC":
        return c[0] * pre * post + c[1] * pre + c[2] * post
    if rule == "ABC_lr":
        return c[3] * (c[0] * pre * post + c[1] * pre + c[2] * post)
    if rule == "ABCD":
        return c[0] * pre * post + c[1] * pre + c[2] * post + c[3]
    if rule == "ABCD_lr":
        return c[3] * (c[0] * pre * post + c[1] * pre + c[2] * post + c[4])
    if rule == "ABCD_lr_D_out":
        return c[3] * (c[0] * pre * post + c[1] * pre + c[2] * post) + c[4]
    if rule == "ABCD_lr_D_in_and_out":
        return c[3] * (c[0] * pre * post + c[1] * pre + c[2] * post + c[4]) + c[5]
    raise AssertionError(rule)


def reference_step(rule, coeffs, weights, obs, space, output="clip", normalize=False):
    """One seed-style step of one individual: forward, action, Hebbian update of every layer (float64).

    ``weights`` are W[j, i] (out × in); the coefficient row of synapse i -> j is ``offset + i·n_out + j``.
    Returns (action, new weights).
    """
    weights = [w.astype(np.float64).copy() for w in weights]
    o = [obs.astype(np.float64)]
    for k, w in enumerate(weights):
        h = w @ o[-1]
        o.append(np.tanh(h) if k < len(weights) - 1 else h)
    if isinstance(space, gym.spaces.Discrete):
        action = np.argmax(o[-1])
    elif output == "tanh_clip":
        o[-1] = np.tanh(o[-1])
        action = np.clip(o[-1], space.low, space.high)
    else:
        action = np.clip(o[-1], space.low, space.high)
    offset = 0
    for k, w in enumerate(weights):
        n_out, n_in = w.shape
        for i in range(n_in):
            for j in range(n_out):
                w[j, i] += hebbian_delta(rule, coeffs[offset + i * n_out + j], o[k][i], o[k + 1][j])
        offset += n_in * n_out
        np.clip(w, -WEIGHT_CLIP, WEIGHT_CLIP, out=w)  # metarl_gym's documented safety bound (not in the seed)
    if normalize:
        for w in weights:
            w /= np.abs(w).max()
    return action, weights


def reference_lifetime(rule, coeffs, weights0, obs_seq, space, output="clip", normalize=False):
    """Free-running lifetime of one individual: (actions per step, final weights)."""
    weights, actions = weights0, []
    for obs in obs_seq:
        action, weights = reference_step(rule, coeffs, weights, obs, space, output, normalize)
        actions.append(action)
    return np.array(actions), weights


def run_policy(policy, params, obs_seq, seed=0):
    """(actions [T, pop, ...], initial weights, final state)."""
    g = torch.Generator().manual_seed(seed)
    state = policy.initial_state(params, lifetime_keys(seed, params))
    weights0 = [w.clone() for w in state["weights"]]
    actions = []
    for obs in obs_seq:
        a, state = policy.act(params, obs, state)
        state = policy.learn(params, state, torch.randn(obs.shape[0], generator=g))
        actions.append(a.clone())
    return torch.stack(actions), weights0, state


@pytest.mark.parametrize("rule", list(RULES))
def test_every_rule_matches_numpy_reference(rule):
    """100 free-running steps, float32 policy vs float64 reference, coefficients mild enough that float32
    rounding stays below 1e-5 (strong rules amplify rounding: see the float64 test below)."""
    pop = 3
    policy = HebbianPolicy(OBS, BOX, hidden_sizes=HIDDEN, rule=rule, init_weights="uni", compile=False)
    n_coeffs = len(RULES[rule])
    assert policy.num_params == policy.n_synapses * n_coeffs == (3 * 8 + 8 * 6 + 6 * 2) * n_coeffs
    g = torch.Generator().manual_seed(10)
    params = torch.randn(pop, policy.num_params, generator=g) * 0.01
    if "eta" in RULES[rule]:  # η ~ N(0, 0.1²) so that the learning-rate rules move the weights too
        params.view(pop, policy.n_synapses, n_coeffs)[..., RULES[rule].index("eta")] *= 10
    obs_seq = torch.randn(STEPS, pop, 3, generator=g)
    actions, weights0, state = run_policy(policy, params, obs_seq)
    assert actions.dtype == torch.float32 and state["weights"][0].dtype == torch.float32
    for p in range(pop):
        coeffs = params[p].numpy().reshape(policy.n_synapses, n_coeffs)  # the seed's coefficient matrix
        w0 = [w[p].T.numpy() for w in weights0]  # policy stores [in, out]; the seed W[j, i]
        ref_actions, ref_weights = reference_lifetime(rule, coeffs, w0, obs_seq[:, p].numpy(), BOX)
        np.testing.assert_allclose(actions[:, p].numpy(), ref_actions, rtol=1e-5, atol=1e-5)
        moved = 0.0
        for w, w_start, ref in zip(state["weights"], w0, ref_weights):
            np.testing.assert_allclose(w[p].T.numpy(), ref, rtol=1e-5, atol=1e-5)
            moved = max(moved, np.abs(ref - w_start).max())
        assert moved > 1e-3  # the rule really changed the weights


@pytest.mark.parametrize("rule", list(RULES))
def test_every_rule_matches_numpy_reference_float64_strong(rule):
    """Strong coefficients over 100 steps: exact agreement when the policy runs on a float64 genome."""
    pop = 3
    policy = HebbianPolicy(OBS, BOX, hidden_sizes=HIDDEN, rule=rule, compile=False)
    g = torch.Generator().manual_seed(11)
    params = torch.randn(pop, policy.num_params, generator=g, dtype=torch.float64) * 0.1
    obs_seq = torch.randn(STEPS, pop, 3, generator=g, dtype=torch.float64)
    actions, weights0, state = run_policy(policy, params, obs_seq)
    for p in range(pop):
        coeffs = params[p].numpy().reshape(policy.n_synapses, -1)
        ref_actions, ref_weights = reference_lifetime(rule, coeffs, [w[p].T.numpy() for w in weights0], obs_seq[:, p].numpy(), BOX)
        np.testing.assert_allclose(actions[:, p].numpy(), ref_actions, rtol=1e-5, atol=1e-5)
        for w, ref in zip(state["weights"], ref_weights):
            np.testing.assert_allclose(w[p].T.numpy(), ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "space, output, normalize",
    [(BOX, "tanh_clip", False), (BOX, "clip", True), (gym.spaces.Discrete(3), "clip", True)],
)
def test_output_modes_and_normalisation_match_reference(space, output, normalize):
    pop, rule = 3, "ABCD_lr"
    policy = HebbianPolicy(OBS, space, hidden_sizes=HIDDEN, rule=rule, output=output, normalize_weights=normalize, compile=False)
    g = torch.Generator().manual_seed(3)
    params = torch.randn(pop, policy.num_params, generator=g, dtype=torch.float64) * 0.5
    obs_seq = torch.randn(STEPS, pop, 3, generator=g, dtype=torch.float64)
    actions, weights0, state = run_policy(policy, params, obs_seq)
    for p in range(pop):
        coeffs = params[p].numpy().reshape(policy.n_synapses, 5)
        ref_actions, ref_weights = reference_lifetime(
            rule, coeffs, [w[p].T.numpy() for w in weights0], obs_seq[:, p].numpy(), space, output, normalize
        )
        if isinstance(space, gym.spaces.Discrete):
            assert actions.dtype == torch.int64
            np.testing.assert_array_equal(actions[:, p].numpy(), ref_actions)
        else:
            np.testing.assert_allclose(actions[:, p].numpy(), ref_actions, rtol=1e-5, atol=1e-5)
        for w, ref in zip(state["weights"], ref_weights):
            np.testing.assert_allclose(w[p].T.numpy(), ref, rtol=1e-9, atol=1e-9)
            if normalize:
                assert np.isclose(np.abs(ref).max(), 1.0)


def test_coevolve_genome_holds_initial_weights():
    policy = HebbianPolicy(OBS, BOX, hidden_sizes=HIDDEN, rule="ABCD_lr", init_weights="coevolve", compile=False)
    n_syn = 3 * 8 + 8 * 6 + 6 * 2
    assert policy.num_params == n_syn * 5 + n_syn
    assert [policy.layout.shapes[f"w{k}_init"] for k in (1, 2, 3)] == [(8, 3), (6, 8), (2, 6)]  # nn.Linear (out, in)
    params = torch.randn(4, policy.num_params, generator=torch.Generator().manual_seed(0))
    parts = policy.layout.unflatten(params)
    state = policy.initial_state(params, lifetime_keys(1, params))
    for k, w in enumerate(state["weights"], start=1):
        torch.testing.assert_close(w, parts[f"w{k}_init"].transpose(1, 2))
    # the genome's initial weights are copied, not aliased: learning leaves params untouched
    before = params.clone()
    actions, state = policy.act(params, torch.randn(4, 3), state)
    policy.learn(params, state, torch.zeros(4))
    assert torch.equal(params, before)


@pytest.mark.parametrize("mode", [m for m in INIT_WEIGHTS if m != "coevolve"])
def test_init_weights_statistics(mode):
    n_in, n_out, pop = 40, 30, 50
    policy = HebbianPolicy(gym.spaces.Box(-1, 1, (n_in,)), gym.spaces.Box(-1, 1, (n_out,)), hidden_sizes=(30,), init_weights=mode)
    params = torch.zeros(pop, policy.num_params)
    w = policy.initial_state(params, lifetime_keys(0, params))["weights"][0]  # [pop, 40, 30]
    assert w.shape == (pop, n_in, n_out)
    uniform_bounds = {
        "uni": 0.1,
        "uni_big": 1.0,
        "xa_uni": 0.3 * math.sqrt(6 / (n_in + n_out)),
        "xa_uni_big": math.sqrt(6 / (n_in + n_out)),
        "ka_uni": math.sqrt(2 / (1 + 3**2)) * math.sqrt(3 / n_in),
        "default": 1 / math.sqrt(n_in),
    }
    if mode in uniform_bounds:
        bound = uniform_bounds[mode]
        assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
        assert abs(w.std().item() - bound / math.sqrt(3)) < 0.03 * bound
        assert abs(w.mean().item()) < 0.02 * bound
    elif mode == "normal":
        assert abs(w.std().item() - 0.024) < 0.001
    elif mode == "sparse":  # per input neuron, ceil(0.8 * 30) = 24 of its 30 outgoing weights are zero
        assert torch.all((w == 0).sum(dim=2) == 24)
        assert abs(w[w != 0].std().item() - 0.01) < 0.001
    elif mode == "zeros":
        assert torch.all(w == 0)
    elif mode == "ones":
        assert torch.all(w == 1)


def test_weights_redrawn_every_evaluation_and_reproducible():
    policy = HebbianPolicy(OBS, BOX, hidden_sizes=HIDDEN)
    params = policy.random_params(4, generator=torch.Generator().manual_seed(0))
    first, second = policy.initial_state(params, lifetime_keys(5, params)), policy.initial_state(params, lifetime_keys(6, params))
    assert not torch.equal(first["weights"][1], second["weights"][1])
    again = policy.initial_state(params, lifetime_keys(5, params))
    assert torch.equal(first["weights"][1], again["weights"][1])
    assert not torch.equal(first["weights"][1][0], first["weights"][1][1])  # each individual its own draw


def test_plasticity_off_keeps_weights_and_genome_size():
    kwargs = dict(hidden_sizes=HIDDEN, rule="ABCD_lr")
    plastic, frozen = HebbianPolicy(OBS, BOX, **kwargs), HebbianPolicy(OBS, BOX, plasticity=False, **kwargs)
    assert frozen.num_params == plastic.num_params and plastic.plastic and not frozen.plastic
    params = plastic.random_params(3, generator=torch.Generator().manual_seed(0))
    obs_seq = torch.randn(20, 3, 3, generator=torch.Generator().manual_seed(1))
    a_frozen, w0, state = run_policy(frozen, params, obs_seq)
    for w, w_start in zip(state["weights"], w0):
        assert torch.equal(w, w_start)
    a_plastic, _, _ = run_policy(plastic, params, obs_seq)
    torch.testing.assert_close(a_frozen[0], a_plastic[0])  # same network before any update
    assert not torch.allclose(a_frozen[5:], a_plastic[5:])


@pytest.mark.parametrize("rule", ["A", "ABCD", "ABCD_lr_D_in_and_out"])
def test_divergent_rules_are_marked_never_repaired(rule):
    """Non-finite genomes give marked (NaN / out-of-space) actions and non-finite weights, never valid-looking ones;
    sane rows next to them are untouched and stay inside the space."""
    policy = HebbianPolicy(OBS, BOX, hidden_sizes=HIDDEN, rule=rule, init_weights="uni_big", compile=False)
    params = torch.randn(5, policy.num_params, generator=torch.Generator().manual_seed(0)) * 0.1
    params[0] = float("inf")
    params[1] = float("nan")
    g = torch.Generator().manual_seed(0)
    state = policy.initial_state(params, lifetime_keys(0, params))
    for step in range(30):
        actions, state = policy.act(params, torch.randn(5, 3, generator=g) * 1e3, state)
        if step > 0:  # from the first update on (rollout rejects the genome itself before any step)
            assert torch.isnan(actions[1]).all()  # NaN rule: marked (an inf rule saturates at weight_clip; rollout
            # rejects both genomes by their params)
        assert all(BOX.contains(a.numpy()) for a in actions[2:])
        state = policy.learn(params, state, torch.zeros(5))
    assert policy.state_is_finite(state)[1:].tolist() == [False, True, True, True]
    for w in state["weights"]:
        assert w[2:].abs().max() <= 1e4
    discrete = HebbianPolicy(OBS, gym.spaces.Discrete(4), hidden_sizes=HIDDEN, rule=rule, compile=False)
    params = torch.randn(5, discrete.num_params, generator=g)
    params[3] = float("nan")
    state = discrete.initial_state(params, lifetime_keys(1, params))
    for step in range(10):
        actions, state = discrete.act(params, torch.randn(5, 3, generator=g), state)
        assert (actions[3] == -1 or step == 0) and actions.max() < 4 and (actions[[0, 1, 2, 4]] >= 0).all()
        state = discrete.learn(params, state, torch.zeros(5))


def test_weight_clip_saturates_growing_rules():
    policy = HebbianPolicy(OBS, BOX, hidden_sizes=HIDDEN, rule="AD", init_weights="uni", compile=False, weight_clip=10.0)
    params = torch.ones(2, policy.num_params) * 3.0  # A = D = 3: every weight grows without bound
    state = policy.initial_state(params, lifetime_keys(0, params))
    for _ in range(20):
        _, state = policy.act(params, torch.ones(2, 3), state)
        state = policy.learn(params, state, torch.zeros(2))
    for w in state["weights"]:
        assert torch.isfinite(w).all() and w.abs().max() <= 10.0
    assert policy.state_is_finite(state).all()


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match="ABCD_lr"):
        HebbianPolicy(OBS, BOX, rule="ABCDE")
    with pytest.raises(ValueError, match="uni"):
        HebbianPolicy(OBS, BOX, init_weights="glorot")
    with pytest.raises(ValueError, match="initial_state"):
        HebbianPolicy(OBS, BOX).act(torch.zeros(1, 1), torch.zeros(1, 3), None)


def test_compile_failure_falls_back_to_eager(monkeypatch):
    from metarl_gym.agents import hebbian

    def broken(name):
        def fail(*args):
            raise RuntimeError("no C++ compiler")

        return fail

    monkeypatch.setattr(hebbian, "_compiled", broken)
    monkeypatch.setattr(hebbian, "_COMPILE_BROKEN", False)
    kwargs = dict(hidden_sizes=HIDDEN, rule="ABCD_lr")
    fused, eager = HebbianPolicy(OBS, BOX, compile=True, **kwargs), HebbianPolicy(OBS, BOX, compile=False, **kwargs)
    params = eager.random_params(4, generator=torch.Generator().manual_seed(0)) * 0.1
    obs_seq = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(1))
    with pytest.warns(UserWarning, match="using eager torch"):
        a_fused, _, s_fused = run_policy(fused, params, obs_seq)
    a_eager, _, s_eager = run_policy(eager, params, obs_seq)
    torch.testing.assert_close(a_fused, a_eager)
    assert s_fused["compiled"] is False


@pytest.mark.slow
def test_compiled_kernels_match_eager():
    """torch.compile path (seconds to compile) equals the eager path; the benchmark runs this path."""
    kwargs = dict(hidden_sizes=(16, 16), rule="ABCD_lr", output="tanh_clip", normalize_weights=True)
    eager, fused = HebbianPolicy(OBS, BOX, compile=False, **kwargs), HebbianPolicy(OBS, BOX, compile=True, **kwargs)
    params = eager.random_params(8, generator=torch.Generator().manual_seed(0)) * 0.3
    obs_seq = torch.randn(30, 8, 3, generator=torch.Generator().manual_seed(1))
    a_eager, _, s_eager = run_policy(eager, params, obs_seq)
    a_fused, _, s_fused = run_policy(fused, params, obs_seq)
    torch.testing.assert_close(a_fused, a_eager, rtol=1e-4, atol=1e-4)
    for w_f, w_e in zip(s_fused["weights"], s_eager["weights"]):
        torch.testing.assert_close(w_f, w_e, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    policy = HebbianPolicy(OBS, BOX, hidden_sizes=HIDDEN, normalize_weights=True)
    params = policy.random_params(16, device="cuda")
    state = policy.initial_state(params, lifetime_keys(0, params))
    for _ in range(5):
        actions, state = policy.act(params, torch.randn(16, 3, device="cuda"), state)
        state = policy.learn(params, state, torch.zeros(16, device="cuda"))
    assert actions.device.type == "cuda" and torch.isfinite(actions).all()
