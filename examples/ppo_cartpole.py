"""PPO (Stable-Baselines3) on MetaRL/CartPole-v1 through the SB3 VecEnv adapter.

The env is the same torch batch that the evolution examples use; :class:`SB3VecEnv` turns it into an SB3
``VecEnv`` (numpy out, same-step resets, ``terminal_observation``), ``VecMonitor`` records episode returns.
With rl-baselines3-zoo's CartPole settings PPO reaches the maximum return (500) well within 100k steps.

    python examples/ppo_cartpole.py [--total-timesteps 100000] [--mask-velocity] [--reservoir]

``--mask-velocity`` hides the velocities; ``--reservoir`` adds an echo-state reservoir encoder (ER-MRL's idea,
see examples/er_mrl_cartpole_masked.py). The same run as a config: examples/configs/ppo_cartpole.yaml with
``metarl-gym baseline``.
"""

import argparse

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecMonitor

import metarl_gym  # noqa: F401  (registers MetaRL/* ids)
from metarl_gym.baselines.sb3 import SB3VecEnv
from metarl_gym.envs import make


def sb3_env(num_envs: int, mask_velocity: bool, reservoir: bool, seed: int, device: str | None):
    """The torch batch of ``num_envs`` rows as an SB3 VecEnv; observations [x, theta] when masked,
    the 100 reservoir units with the reservoir encoder."""
    encoder = dict(units=100, spectral_radius=0.9, leak_rate=0.3, seed=seed) if reservoir else None
    env = make("MetaRL/CartPole-v1", num_envs, device=device, mask_velocity=mask_velocity, reservoir=encoder)
    return VecMonitor(SB3VecEnv(env))


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total-timesteps", type=int, default=100_000)
    parser.add_argument("--num-envs", type=int, default=8, help="env rows (num_envs, as in the baseline configs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="torch device of the env and the model (default: CPU env, SB3 'auto')")
    parser.add_argument("--mask-velocity", action="store_true")
    parser.add_argument("--reservoir", action="store_true")
    args = parser.parse_args(argv)

    env = sb3_env(args.num_envs, args.mask_velocity, args.reservoir, args.seed, args.device)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=LinearSchedule(1e-3, 0.0, 1.0),  # rl-zoo lin_0.001: from 1e-3 to 0 over training
        clip_range=LinearSchedule(0.2, 0.0, 1.0),
        seed=args.seed,
        device=args.device or "auto",
        verbose=1,
    )
    model.learn(args.total_timesteps)

    returns, _ = evaluate_policy(model, env, n_eval_episodes=10, return_episode_rewards=True)
    print(f"mean return over 10 evaluation episodes: {np.mean(returns):.1f} ± {np.std(returns):.1f}")
    return float(np.mean(returns))


if __name__ == "__main__":
    main()
