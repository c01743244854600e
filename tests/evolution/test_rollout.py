"""rollout() against independent per-individual loops on Gymnasium's own envs."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import metarl_gym  # noqa: F401
from metarl_gym.agents.base import Policy
from metarl_gym.agents.mlp import MLPPolicy
from metarl_gym.evolution.rollout import EarlyStop, make_env, rollout


def plain_mlp(policy: MLPPolicy, params_row: torch.Tensor) -> torch.nn.Sequential:
    """A plain torch.nn MLP holding one individual's weights (layout w_k [in, out], b_k [out])."""
    parts = policy.layout.unflatten(params_row[None])
    layers = []
    for k in range(1, len(policy.sizes)):
        w, b = parts[f"w{k}"][0], parts[f"b{k}"][0]
        linear = torch.nn.Linear(w.shape[0], w.shape[1])
        linear.weight.data.copy_(w.T)
        linear.bias.data.copy_(b)
        layers += [linear, torch.nn.Tanh()]
    return torch.nn.Sequential(*layers[:-1])


def test_fitness_equals_a_per_individual_loop_on_gymnasium_pendulum():
    pop, seed = 6, 11
    env = make_env("MetaRL/PendulumSwingup-v1", pop, dtype=torch.float64)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[16, 16], output="tanh")
    params = torch.randn(pop, policy.num_params, generator=torch.Generator().manual_seed(0)) * 0.5
    fitness = rollout(env, policy, params, seed=seed)

    probe = make_env("MetaRL/PendulumSwingup-v1", pop, dtype=torch.float64)
    probe.reset(seed=seed)
    starts = probe.unwrapped.state.numpy()
    for i in range(pop):
        net = plain_mlp(policy, params[i])
        ref = gym.make("Pendulum-v1")
        ref.reset(seed=0)
        ref.unwrapped.state = starts[i].copy()
        obs = ref.unwrapped._get_obs()
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                action = 2.0 * torch.tanh(net(torch.as_tensor(obs)))  # tanh scaled to [-2, 2]
            obs, reward, terminated, truncated, _ = ref.step(action.numpy())
            total += reward
            done = terminated or truncated
        assert fitness[i].item() == pytest.approx(total, rel=1e-4, abs=1e-3)


def test_cartpole_parallel_episodes_equal_per_row_gymnasium_episodes():
    pop, episodes, seed = 4, 3, 5
    env = make_env("MetaRL/CartPole-v1", pop * episodes, dtype=torch.float64)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[8])
    params = torch.randn(pop, policy.num_params, generator=torch.Generator().manual_seed(1))
    fitness = rollout(env, policy, params, num_episodes=episodes, seed=seed)

    probe = make_env("MetaRL/CartPole-v1", pop * episodes, dtype=torch.float64)
    probe.reset(seed=seed)
    starts = probe.unwrapped.state.numpy()
    for i in range(pop):
        net = plain_mlp(policy, params[i])
        returns = []
        for e in range(episodes):
            ref = gym.make("CartPole-v1")
            ref.reset(seed=0)
            ref.unwrapped.state = starts[i * episodes + e].copy()
            obs, total, done = np.array(ref.unwrapped.state, dtype=np.float32), 0.0, False
            while not done:
                with torch.no_grad():
                    action = int(net(torch.as_tensor(obs)).argmax())
                obs, reward, terminated, truncated, _ = ref.step(action)
                total += reward
                done = terminated or truncated
            returns.append(total)
        assert fitness[i].item() == pytest.approx(np.mean(returns))


def test_sequential_episodes_count_per_row():
    env = make_env("MetaRL/Pendulum-v0", 3, max_episode_steps=7)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[4])
    fitness, stats = rollout(env, policy, torch.zeros(3, policy.num_params), num_episodes=4, seed=0, return_stats=True)
    assert stats == {"env_steps": 3 * 4 * 7, "episodes": 12, "num_nonfinite": 0, "engine": "loop"}
    assert torch.isfinite(fitness).all()


def test_same_seed_same_fitness_and_gymnasium_ids_without_torch_twin():
    env = make_env("Acrobot-v1", 4)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[8])
    params = torch.randn(4, policy.num_params, generator=torch.Generator().manual_seed(2))
    a = rollout(env, policy, params, seed=3, num_episodes=2)
    b = rollout(env, policy, params, seed=3, num_episodes=2)
    assert torch.equal(a, b) and a.shape == (4,)
    assert ((a >= -500) & (a <= 0)).all()


def test_early_stop_ends_episodes_after_a_run_of_negative_rewards():
    env = make_env("MetaRL/PendulumSwingup-v1", 2)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[4])
    params = torch.zeros(2, policy.num_params)
    _, full = rollout(env, policy, params, seed=0, return_stats=True)
    _, stopped = rollout(env, policy, params, seed=0, early_stop=EarlyStop(patience=10, after=20), return_stats=True)
    assert full["env_steps"] == 400
    assert stopped["env_steps"] == 2 * (20 + 11)  # every reward is negative on this task


class ExplodingPolicy(Policy):
    """Returns NaN actions for odd rows: rollout must never let them win."""

    def __init__(self, observation_space, action_space):
        super().__init__(observation_space, action_space)
        from metarl_gym.agents.base import ParamLayout

        self.layout = ParamLayout({"a": (1,)})

    def act(self, params, obs, state):
        actions = params[:, :1].clone()
        actions[1::2] = float("nan")
        return actions, state


def test_non_finite_actions_give_minus_inf_fitness():
    env = make_env("MetaRL/Pendulum-v0", 4, max_episode_steps=5)
    policy = ExplodingPolicy(env.single_observation_space, env.single_action_space)
    fitness = rollout(env, policy, torch.zeros(4, 1), seed=0)
    assert torch.isfinite(fitness[0::2]).all()
    assert (fitness[1::2] == -math.inf).all()


def test_bad_arguments_raise():
    env = make_env("MetaRL/Pendulum-v0", 6)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[4])
    with pytest.raises(ValueError, match="multiple of the population"):
        rollout(env, policy, torch.zeros(4, policy.num_params))
    with pytest.raises(ValueError, match="num_episodes"):
        rollout(env, policy, torch.zeros(3, policy.num_params), num_episodes=3)
    with pytest.raises(ValueError, match=r"\[pop, %d\]" % policy.num_params):
        rollout(env, policy, torch.zeros(6, 3))
    with pytest.raises(ValueError, match="unknown env id"):
        make_env("MetaRL/Nope-v0", 2)


def test_per_individual_tasks():
    env = make_env("MetaRL/Pendulum-v0", 4, max_episode_steps=50, init_noise=0.2)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[4])
    tasks = {"g": torch.tensor([1.0, 5.0, 9.81, 20.0])}
    fitness = rollout(env, policy, torch.zeros(2, policy.num_params).repeat(2, 1), tasks=tasks, seed=0)
    torch.testing.assert_close(env.unwrapped.tasks["g"], tasks["g"])
    assert fitness.unique().numel() == 4  # different gravity, different falls
