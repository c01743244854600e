"""rollout() against independent per-individual loops on Gymnasium's own envs."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import metarl_gym  # noqa: F401
from metarl_gym.agents.base import Policy
from metarl_gym.agents.mlp import MLPPolicy
from metarl_gym.envs import make as make_env
from metarl_gym.evolution.rollout import EarlyStop, rollout
from metarl_gym.keys import row_keys


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
    probe.reset(seed=row_keys(seed, pop))  # the rows' keys of rollout(seed=seed)
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
    probe.reset(seed=row_keys(seed, pop, copies=episodes))  # the rows' keys of rollout(seed=seed)
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
    episode_returns = stats.pop("episode_returns")
    assert stats == {"env_steps": 3 * 4 * 7, "episodes": 12, "num_nonfinite": 0, "engine": "loop"}
    assert torch.isfinite(fitness).all() and episode_returns.shape == (3, 4)
    torch.testing.assert_close(episode_returns.mean(dim=1).float(), fitness)
    assert len(set(episode_returns[0].tolist())) == 4  # four different episodes, each with its own return


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


def _spy_tasks(env):
    """Record the task parameters every transition of the env sees: a list of ``{name: [N]}``."""
    base, seen = env.unwrapped, []
    original = base.transition

    def transition(state, tasks, actions):
        seen.append({k: v.clone() for k, v in tasks.items()})
        return original(state, tasks, actions)

    base.transition = transition
    return seen


@pytest.mark.parametrize("autoreset_mode", ["next_step", "same_step"])
def test_tasks_are_drawn_once_per_lifetime(autoreset_mode):
    """task_ranges: every episode of a lifetime (a row) sees the physics its first reset drew; lifetimes differ."""
    env = make_env("MetaRL/Pendulum-v0", 8, max_episode_steps=10, task_ranges={"g": (2.0, 20.0), "m": (0.5, 2.0)},
                   autoreset_mode=autoreset_mode)
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[4])
    params = torch.randn(4, policy.num_params, generator=torch.Generator().manual_seed(0))
    seen = _spy_tasks(env)
    _, stats = rollout(env, policy, params, num_episodes=6, seed=0, return_stats=True)  # 2 lifetimes x 3 episodes
    assert stats["episodes"] == 24 and len(seen) >= 30
    for name in ("g", "m"):
        steps = torch.stack([s[name] for s in seen[:30]])  # [steps, rows]: the 3 x 10 steps of the lifetimes
        assert (steps == steps[0]).all(), name  # the same physics in every step of every episode
        assert steps[0].unique().numel() == 8  # every lifetime (and so every individual) its own draw
    first = seen[0]["g"].clone()
    seen.clear()
    rollout(env, policy, params, num_episodes=6, seed=1)
    assert not torch.equal(seen[0]["g"], first)  # another evaluation seed, other draws


def test_explicit_tasks_and_trial_wrapped_envs_keep_the_lifetime_task():
    from metarl_gym.envs.wrappers import Trial

    tasks = {"g": torch.tensor([3.0, 6.0, 12.0])}
    env = make_env("MetaRL/Pendulum-v0", 3, max_episode_steps=8, task_ranges={"g": (2.0, 20.0)})
    policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[4])
    seen = _spy_tasks(env)
    rollout(env, policy, torch.zeros(3, policy.num_params), num_episodes=3, seed=0, tasks=tasks)
    lifetime = seen[:24]  # 3 episodes of 8 steps (steps after the lifetime, until the next alive check, earn nothing)
    assert len(seen) >= 24 and all(torch.equal(s["g"].to(torch.float32), tasks["g"]) for s in lifetime)

    trial = Trial(make_env("MetaRL/Pendulum-v0", 6, max_episode_steps=8, task_ranges={"g": (2.0, 20.0)}), episodes_per_trial=1)
    policy = MLPPolicy(trial.single_observation_space, trial.single_action_space, hidden_sizes=[4])
    params = torch.randn(3, policy.num_params, generator=torch.Generator().manual_seed(1))
    seen = _spy_tasks(trial)
    fitness, stats = rollout(trial, policy, params, num_episodes=6, seed=0, return_stats=True)
    g = torch.stack([s["g"] for s in seen[:24]])  # 3 episodes of 8 steps per row
    assert stats["engine"] == "loop" and torch.isfinite(fitness).all()
    assert (g == g[0]).all() and g[0].unique().numel() == 6
