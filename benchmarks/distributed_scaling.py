"""Ray scale-out: env-steps/s against the number of Ray workers, against the local baselines.

Workloads (random params; the strategy does not matter for throughput):

* ``ant``: Hebbian ABCD_lr [128, 64] on MetaRL/AntBullet-v0 (pybullet). Local baseline: the runner's one
  rollout over the N-client pybullet vector env in this process.
* ``bipedal``: an MLP on Gymnasium's BipedalWalker-v3 (Box2D) through the generic path. Local baselines:
  Gymnasium's SyncVectorEnv in this process and AsyncVectorEnv (one subprocess per row).
* ``torch``: an MLP on MetaRL/Pendulum-v0 (200 steps) at pop 1,000 (a torch-batched env): the Ray per-generation
  overhead, measured as Ray with 1 worker minus the same slices evaluated locally.

Ray runs locally (``ray.init(address="local", num_cpus=2)``) with 1 CPU per worker; the driver uses one torch
thread. Every mode is timed over ``--generations`` generations after one warm-up generation (env build, actor
start); Ray runs with 1 and 2 workers use the same slices (``slice_size = pop / 2``), so their fitness must be
equal, and is checked. Compare ratios within one run: the machine is shared.

    flock /tmp/bench.lock python benchmarks/distributed_scaling.py [--generations 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from metarl_gym.config import resolve_evolve_config
from metarl_gym.distributed import build_backend
from metarl_gym.evolution.evaluate import build_env, build_policy

WORKLOADS = {
    "ant": {
        "env": {
            "id": "MetaRL/AntBullet-v0",
            "kwargs": {"reward": "distance", "burn_in_steps": 40, "terminate_when_unhealthy": False, "max_episode_steps": 200},
        },
        "policy": {"name": "hebbian", "kwargs": {"rule": "ABCD_lr", "hidden_sizes": [128, 64], "init_weights": "uni", "output": "tanh_clip"}},
        "pop": 16,
    },
    "bipedal": {
        "env": {"id": "BipedalWalker-v3", "kwargs": {"max_episode_steps": 300}},
        "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [32]}},
        "pop": 16,
    },
    "torch": {
        "env": {"id": "MetaRL/Pendulum-v0", "kwargs": {"max_episode_steps": 200}},
        "policy": {"name": "mlp", "kwargs": {"hidden_sizes": [16]}},
        "pop": 1000,
    },
}


def make_config(workload: dict, distributed: dict, vectorization_mode: str | None = None) -> dict:
    config = resolve_evolve_config({
        "env": {**workload["env"], "vectorization_mode": vectorization_mode},
        "policy": workload["policy"],
        "strategy": {"name": "openai_es", "pop_size": workload["pop"]},
        "episodes": 1,
        "seed": 0,
        "distributed": distributed,
    })
    return config


def measure(evaluator, params: torch.Tensor, generations: int) -> dict:
    """Warm up one generation, then time ``generations`` generations."""
    evaluator.evaluate(params, 0)
    steps = 0
    start = time.perf_counter()
    for generation in range(1, generations + 1):
        fitness, stats = evaluator.evaluate(params, generation)
        steps += stats["env_steps"]
    elapsed = time.perf_counter() - start
    evaluator.close()
    return {"steps_per_s": steps / elapsed, "s_per_gen": elapsed / generations, "env_steps_per_gen": steps // generations, "fitness": fitness}


def run_workload(name: str, generations: int) -> list[dict]:
    workload = WORKLOADS[name]
    pop = workload["pop"]
    half = math.ceil(pop / 2)
    probe_config = make_config(workload, {})
    env = build_env(probe_config, 1)
    params = 0.1 * torch.randn(pop, build_policy(probe_config, env).num_params, generator=torch.Generator().manual_seed(0))
    env.close()
    modes: list[tuple[str, dict, str | None]] = [("local (one rollout, this process)", {"backend": "local"}, None)]
    if name == "bipedal":
        modes.append(("local AsyncVectorEnv (one subprocess per row)", {"backend": "local"}, "async"))
    if name == "torch":
        modes.append(("local, Ray's slices", {"backend": "local", "slice_size": half}, None))
    modes += [
        ("ray 1 worker", {"backend": "ray", "num_workers": 1, "slice_size": half}, None),
        ("ray 2 workers", {"backend": "ray", "num_workers": 2, "slice_size": half}, None),
    ]
    rows = []
    for label, distributed, mode in modes:
        config = make_config(workload, distributed, mode)
        evaluator = build_backend(config)
        result = measure(evaluator, params, generations)
        rows.append({"workload": name, "mode": label, **result})
        print(f"{name:8s} {label:48s} {result['steps_per_s']:10.0f} env-steps/s  {result['s_per_gen']:7.3f} s/gen  "
              f"({result['env_steps_per_gen']} env-steps/gen)", flush=True)
    ray_rows = [r for r in rows if r["mode"].startswith("ray")]
    same = torch.equal(ray_rows[0]["fitness"], ray_rows[1]["fitness"])
    print(f"{name:8s} ray 1 worker fitness == ray 2 workers fitness: {same}")
    if name == "torch":
        local = next(r for r in rows if r["mode"] == "local, Ray's slices")
        print(f"{name:8s} Ray per-generation overhead at pop {pop}: {rows[-2]['s_per_gen'] - local['s_per_gen']:+.3f} s "
              f"(1 worker vs the same slices locally); 2 workers / one local rollout: "
              f"{rows[-1]['s_per_gen'] / rows[0]['s_per_gen']:.2f}x the time")
        same_local = torch.equal(local["fitness"], ray_rows[0]["fitness"])
        print(f"{name:8s} local sliced fitness == ray fitness: {same_local}")
    for r in rows:
        r.pop("fitness")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    try:
        for name in args.workloads:
            rows += run_workload(name, args.generations)
    finally:
        ray.shutdown()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
