"""Distil a GA-evolved BipedalWalker teacher into a 4-4-4 student by behaviour cloning (ga-openai-gym §3.4).

    metarl-gym evolve examples/configs/ga_bipedal.yaml --run-dir runs/ga_bipedal    # the teacher
    python examples/bipedal_distill.py --teacher runs/ga_bipedal

The seed: roll the teacher for N_RUNS = 20 episodes, log (observation, action) rows, train a student
DeepMLPTorch(k, [k], 4) (linear hidden layer, tanh output) on the first k observation columns with Adam
(lr 1e-3), batch 64, 50 epochs, MSE with sum reduction; its README result is k = 4 (hull angle, angular
velocity, vx, vy). Here the same recipe, and teacher and students are scored through ``rollout`` on the same
held-out terrains (reset seeds the teacher's data never used). Budget: seconds after the teacher run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from metarl_gym.envs import make
from metarl_gym.evolution import rollout
from walker_teachers import load_teacher, log_episodes, student_as_mlp_genome

HELDOUT_SEED = 200_000


def train_student(obs: torch.Tensor, actions: torch.Tensor, k: int, *, epochs: int = 50, batch: int = 64, seed: int = 0):
    """The seed's student: Linear(k, k) -> Linear(k, 4) -> tanh, Adam 1e-3, MSE (sum) on the first k columns."""
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(k, k), torch.nn.Linear(k, actions.shape[1])]
    net = torch.nn.Sequential(*layers, torch.nn.Tanh())
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = obs[:, :k], actions.float()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            loss = torch.nn.functional.mse_loss(net(x[idx]), y[idx], reduction="sum")
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        mse = float(torch.nn.functional.mse_loss(net(x), y))
    return layers, mse


def heldout(env_id, policy, params, episodes, max_steps):
    env = make(env_id, episodes, max_episode_steps=max_steps)
    fitness = rollout(env, policy, params.reshape(1, -1).repeat(episodes, 1), seed=HELDOUT_SEED)
    env.close()
    return fitness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", required=True, help="an evolve run directory (best.pt, config.yaml)")
    parser.add_argument("--runs", type=int, default=20, help="teacher episodes logged (seed: N_RUNS = 20)")
    parser.add_argument("--k", type=int, nargs="+", default=[4, 8, 24], help="student input columns (seed README: 4)")
    parser.add_argument("--episodes", type=int, default=20, help="held-out episodes per network")
    parser.add_argument("--max-steps", type=int, default=1600)
    parser.add_argument("--out", default=None, help="result JSON (default: <teacher>/distill.json)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    start = time.time()
    config, teacher, params = load_teacher(args.teacher)
    env_id = config["env"]["id"]
    obs, actions, teacher_train = log_episodes(env_id, teacher, params, args.runs, seed=0, max_steps=args.max_steps)
    result = {"teacher": str(args.teacher), "rows": len(obs), "teacher_logged_mean": float(teacher_train.mean())}
    t = heldout(env_id, teacher, params, args.episodes, args.max_steps)
    result["teacher_heldout_mean"], result["teacher_heldout_std"] = float(t.mean()), float(t.std())
    result["teacher_params"] = teacher.num_params
    probe = make(env_id, 1)
    for k in args.k:
        layers, mse = train_student(obs, actions, k)
        student, genome = student_as_mlp_genome(probe.single_observation_space, probe.single_action_space, layers, k)
        s = heldout(env_id, student, genome, args.episodes, args.max_steps)
        result[f"student_{k}-{k}-4"] = {"params": sum(p.numel() for layer in layers for p in layer.parameters()),
                                        "train_mse": mse, "heldout_mean": float(s.mean()), "heldout_std": float(s.std())}
    probe.close()
    result["wall_s"] = round(time.time() - start, 1)
    out = Path(args.out or Path(args.teacher) / "distill.json")
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
