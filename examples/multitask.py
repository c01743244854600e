"""Multitask hard parameter sharing over CartPole + BipedalWalker, distilled from GA teachers (ga-openai-gym §3.5).

    metarl-gym evolve examples/configs/ga_bipedal.yaml --run-dir runs/ga_bipedal    # the Walker teacher
    python examples/multitask.py --walker-teacher runs/ga_bipedal

The seed (multitask_learning/*.py, Keras): one network reads both observations concatenated (4 + 24 = 28
inputs) through a shared trunk Dense 12 -> Dense 20 -> Dense 4 (no activations) into two heads, Dense 1 (CartPole)
and Dense 4 (Walker); trained with Adam 1e-3, MSE per head (weights 1, 1), 30 epochs, batch 32, on rows logged
from the teachers (CartPole rows truncated to the Walker row count). The test plays both games at once under 4
conditions: both inputs correct, CartPole inputs replaced by U(-1, 1) noise, Walker inputs by U(-100, 100) noise,
both noised. CartPole action = round(output) clipped to {0, 1}.

Here the CartPole teacher is evolved in-script (GA, MLP 4-2-2 with argmax, on the batched MetaRL/CartPole-v1:
seconds); the Walker teacher is the GA BipedalWalker run. Both games are played side by side in batches of
``--episodes`` episodes (one per row, first episode scored), so each condition's score is a mean over episodes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from metarl_gym.envs import make
from metarl_gym.evolution.evaluate import build_env, build_policy, load_solution
from metarl_gym.evolution.record import record_episodes
from metarl_gym.evolution.runner import evolve

CARTPOLE = "MetaRL/CartPole-v1"
CARTPOLE_TEACHER = {
    "env": {"id": CARTPOLE},
    "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [2], "activation": "relu"}},
    "strategy": {"name": "ga", "pop_size": 100, "kwargs": {"selection": "roulette", "crossover": "one_point",
                                                         "crossover_prob": 0.9, "big_mutation_prob": 0.4,
                                                         "mutation_prob": 0.1, "mutation_std": 0.5, "elitism": 2}},
    "generations": 20,
    "episodes": 3,
    "seed": 0,
}
"""The seed's CartPole GA (pop 100, 20 generations, p_cross 0.9, p_mut 0.4, roulette, one-point), 4-2-2 argmax."""
CONDITIONS = {"both correct": (False, False), "CartPole noise": (True, False), "Walker noise": (False, True), "both noise": (True, True)}
LOG_SEED = 0
HELDOUT_SEED = 300_000


def teacher_behaviour(run_dir: Path, episodes: int, max_steps: int):
    """(obs [rows, obs_dim], actions [rows, ...], returns [episodes]) of ``episodes`` episodes of the solution of
    the evolve run in ``run_dir``, each at most ``max_steps`` long."""
    config, params = load_solution(run_dir)
    config["env"]["kwargs"]["max_episode_steps"] = max_steps
    env = build_env(config, episodes)
    logged = record_episodes(env, build_policy(config, env), params.expand(episodes, -1), seed=LOG_SEED)
    env.close()
    return logged.observations.float().cpu(), logged.actions.cpu(), logged.returns.cpu()


class SharedNet(torch.nn.Module):
    """Trunk 28 -> 12 -> 20 -> 4 (linear), heads 4 -> 1 (CartPole) and 4 -> 4 (Walker)."""

    def __init__(self, cart_dim: int = 4, walker_dim: int = 24, walker_act: int = 4):
        super().__init__()
        self.cart_dim = cart_dim
        self.trunk = torch.nn.Sequential(torch.nn.Linear(cart_dim + walker_dim, 12), torch.nn.Linear(12, 20), torch.nn.Linear(20, 4))
        self.cart_head = torch.nn.Linear(4, 1)
        self.walker_head = torch.nn.Linear(4, walker_act)

    def forward(self, cart_obs, walker_obs):
        h = self.trunk(torch.cat([cart_obs, walker_obs], dim=1))
        return self.cart_head(h).squeeze(1), self.walker_head(h)


def train(net, cart_x, cart_y, walker_x, walker_y, *, epochs=30, batch=32, seed=0):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n = len(walker_x)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            i = order[start : start + batch]
            c, w = net(cart_x[i], walker_x[i])
            loss = torch.nn.functional.mse_loss(c, cart_y[i]) + torch.nn.functional.mse_loss(w, walker_y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return float(loss.detach())


@torch.no_grad()
def play_both(net, episodes, cart_noise, walker_noise, *, walker_steps, cart_steps=500, seed=HELDOUT_SEED):
    """Both games side by side, ``episodes`` rows each; (mean, std) of each game's first-episode returns."""
    cart_env = make(CARTPOLE, episodes, max_episode_steps=cart_steps)
    walker_env = make("BipedalWalker-v3", episodes, max_episode_steps=walker_steps)
    cart_obs, _ = cart_env.reset(seed=seed)
    walker_obs, _ = walker_env.reset(seed=seed)
    noise = torch.Generator().manual_seed(seed)
    cart_alive = torch.ones(episodes, dtype=torch.bool)
    walker_alive = torch.ones(episodes, dtype=torch.bool)
    cart_ret = torch.zeros(episodes, dtype=torch.float64)
    walker_ret = torch.zeros(episodes, dtype=torch.float64)
    while bool(cart_alive.any() | walker_alive.any()):
        c_in = torch.rand(cart_obs.shape, generator=noise) * 2 - 1 if cart_noise else cart_obs.float()
        w_in = torch.rand(walker_obs.shape, generator=noise) * 200 - 100 if walker_noise else walker_obs.float()
        c_out, w_out = net(c_in, w_in)
        cart_action = c_out.round().clamp(0, 1).long()
        walker_action = w_out.clamp(-1, 1)
        cart_obs, r, term, trunc, _ = cart_env.step(cart_action)
        cart_ret += torch.where(cart_alive, r.double(), 0.0)
        cart_alive &= ~(term | trunc)
        walker_obs, r, term, trunc, _ = walker_env.step(walker_action)
        walker_ret += torch.where(walker_alive, r.double(), 0.0)
        walker_alive &= ~(term | trunc)
    cart_env.close()
    walker_env.close()
    return (float(cart_ret.mean()), float(cart_ret.std())), (float(walker_ret.mean()), float(walker_ret.std()))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--walker-teacher", required=True, help="an evolve run directory of BipedalWalker-v3")
    parser.add_argument("--cart-runs", type=int, default=500, help="CartPole teacher episodes logged (seed: 500)")
    parser.add_argument("--walker-runs", type=int, default=20, help="Walker teacher episodes logged")
    parser.add_argument("--episodes", type=int, default=20, help="test episodes per condition")
    parser.add_argument("--max-steps", type=int, default=1600, help="Walker episode cap")
    parser.add_argument("--work-dir", default="runs/multitask")
    args = parser.parse_args(argv)
    start = time.time()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)

    cart_dir = work / "cartpole_teacher"
    if not (cart_dir / "best.pt").exists():
        evolve(CARTPOLE_TEACHER, cart_dir, progress=False, overwrite=True)
    cart_x, cart_a, cart_scores = teacher_behaviour(cart_dir, args.cart_runs, max_steps=500)
    walker_x, walker_a, walker_scores = teacher_behaviour(Path(args.walker_teacher), args.walker_runs, args.max_steps)
    n = min(len(cart_x), len(walker_x))  # the seed truncates the CartPole rows to the Walker row count
    perm = torch.randperm(len(cart_x), generator=torch.Generator().manual_seed(0))[:n]
    cart_x, cart_y = cart_x[perm], cart_a[perm].float()
    walker_x, walker_y = walker_x[:n], walker_a[:n].float()

    net = SharedNet()
    final_loss = train(net, cart_x, cart_y, walker_x, walker_y)
    table = {}
    for name, (cn, wn) in CONDITIONS.items():
        (cart, cart_std), (walker, walker_std) = play_both(net, args.episodes, cn, wn, walker_steps=args.max_steps)
        table[name] = {"cartpole": cart, "cartpole_std": cart_std, "walker": walker, "walker_std": walker_std}
        print(f"{name:15s} CartPole {cart:7.1f} +- {cart_std:5.1f}   Walker {walker:8.1f} +- {walker_std:5.1f}", flush=True)
    result = {
        "rows": n, "final_batch_loss": final_loss, "cartpole_teacher_logged_mean": float(cart_scores.mean()),
        "walker_teacher_logged_mean": float(walker_scores.mean()), "episodes_per_condition": args.episodes,
        "table": table, "wall_s": round(time.time() - start, 1),
    }
    (work / "multitask.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
