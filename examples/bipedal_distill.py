"""Distil a GA-evolved BipedalWalker teacher into a 4-4-4 student by behaviour cloning (ga-openai-gym §3.4).

    metarl-gym evolve examples/configs/ga_bipedal.yaml --run-dir runs/ga_bipedal    # the teacher
    python examples/bipedal_distill.py --teacher runs/ga_bipedal

The seed: roll the teacher for N_RUNS = 20 episodes, log (observation, action) rows, train a student
DeepMLPTorch(k, [k], 4) (linear hidden layer, tanh output) on the first k observation columns with Adam
(lr 1e-3), batch 64, 50 epochs, MSE with sum reduction; its README result is k = 4 (hull angle, angular
velocity, vx, vy). Here the same recipe; each student is written as the genome of a batched MLPPolicy, so teacher
and students are scored by the same ``score`` on the same held-out terrains (keys the logged episodes never used),
run to the time limit. Budget: seconds after the teacher run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from metarl_gym.agents import MLPPolicy
from metarl_gym.config import apply_overrides, resolve_evolve_config
from metarl_gym.evolution.evaluate import build_env, build_policy, load_solution, score
from metarl_gym.evolution.record import record_episodes

LOG_SEED = 0
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


def student_genome(policy: MLPPolicy, layers: list[torch.nn.Linear], k: int) -> torch.Tensor:
    """The ``[D]`` genome of ``policy`` (an MLPPolicy with identity hidden activations and a tanh output) that computes
    the student ``tanh(L_2(L_1(obs[:, :k])))``: the first layer's weights on the other observation columns are 0."""
    parts = {}
    for i, layer in enumerate(layers, start=1):
        w = layer.weight.detach().T  # [in, out]
        if i == 1:
            w = torch.cat([w, torch.zeros(policy.obs_dim - k, w.shape[1])])
        parts[f"w{i}"] = w.unsqueeze(0)
        parts[f"b{i}"] = layer.bias.detach().unsqueeze(0)
    return policy.layout.flatten(parts)[0]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", required=True, help="an evolve run directory of BipedalWalker-v3 (best.pt, config.yaml)")
    parser.add_argument("--runs", type=int, default=20, help="teacher episodes logged (seed: N_RUNS = 20)")
    parser.add_argument("--k", type=int, nargs="+", default=[4, 8, 24], help="student input columns (seed README: 4)")
    parser.add_argument("--episodes", type=int, default=20, help="held-out episodes per network")
    parser.add_argument("--max-steps", type=int, default=1600)
    parser.add_argument("--out", default=None, help="result JSON (default: <teacher>/distill.json)")
    args = parser.parse_args(argv)
    start = time.time()

    # 1. The teacher's behaviour: (observation, action) rows of --runs episodes.
    config, params = load_solution(args.teacher)
    config = resolve_evolve_config(apply_overrides(config, [f"env.kwargs.max_episode_steps={args.max_steps}", "rollout.early_stop=null"]))
    probe = build_env(config, 1)
    teacher = build_policy(config, probe)
    env = build_env(config, args.runs)
    logged = record_episodes(env, teacher, params.expand(args.runs, -1), seed=LOG_SEED)
    env.close()
    obs, actions = logged.observations.float().cpu(), logged.actions.cpu()
    t = score(config, params, args.episodes, HELDOUT_SEED, static_episodes=1)
    result = {"teacher": str(args.teacher), "rows": len(obs), "teacher_logged_mean": float(logged.returns.mean()),
              "teacher_heldout_mean": float(t.mean()), "teacher_heldout_std": float(t.std()),
              "teacher_params": teacher.num_params}

    # 2. One student per k, trained by behaviour cloning, scored as an MLPPolicy genome on the same held-out episodes.
    for k in args.k:
        layers, mse = train_student(obs, actions, k)
        student_config = resolve_evolve_config({**config, "policy": {"name": "mlp", "kwargs": {
            "hidden_sizes": [k], "activation": "identity", "output": "tanh"}}})
        genome = student_genome(build_policy(student_config, probe), layers, k)
        s = score(student_config, genome, args.episodes, HELDOUT_SEED, static_episodes=1)
        result[f"student_{k}-{k}-4"] = {"params": sum(p.numel() for layer in layers for p in layer.parameters()),
                                        "train_mse": mse, "heldout_mean": float(s.mean()), "heldout_std": float(s.std())}
    probe.close()
    result["wall_s"] = round(time.time() - start, 1)
    out = Path(args.out or Path(args.teacher) / "distill.json")
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
