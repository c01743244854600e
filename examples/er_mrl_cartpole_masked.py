"""ER-MRL on velocity-masked CartPole: evolve reservoir hyper-parameters with CMA-ES, then test them.

Léger, Hamon, Nisioti, Hinaut & Moulin-Frier 2024, "Evolving Reservoirs for Meta Reinforcement Learning"
(arXiv 2312.06695). Without its velocities, CartPole is partially observable: a memory-less policy sees only the
cart position and pole angle. An echo-state reservoir fed with the observation stream keeps a fading memory of
it, from which PPO can read the velocities. Two nested loops:

* outer: an evolution run on metarl-gym's generation loop (ask -> evaluate -> tell -> metrics.csv, checkpoint.pt),
  CMA-ES over the reservoir's spectral radius, leak rate and input scaling (log-scaled);
* inner: each candidate's fitness is the mean return of PPO's last episodes, trained on the reservoir states
  (``fitness.seeds`` PPO runs per candidate).

Finally the best reservoir + PPO is compared with plain PPO on the same masked observations over 5 seeds
(comparison.png, test_summary.json). The same run from the command line:

    metarl-gym er-mrl examples/configs/er_mrl_cartpole_masked.yaml --run-dir runs/er_mrl_cartpole_masked
    metarl-gym er-mrl --resume runs/er_mrl_cartpole_masked           # after Ctrl-C / a kill

This file:

    python examples/er_mrl_cartpole_masked.py [--run-dir runs/er_mrl_cartpole_masked] [key=value ...]
    python examples/er_mrl_cartpole_masked.py --config examples/configs/er_mrl_mujoco.yaml --run-dir runs/er_mrl_mujoco

The second line runs the same study on Gymnasium MuJoCo ids (``pip install -e .[mujoco]``): evolve on
Swimmer-v5 + HalfCheetah-v5 (normalised fitness), test on the held-out Hopper-v5 (examples/RESULTS.md).
Overrides such as ``search.generations=5 workers=1`` change the config. Running again with the same --run-dir
and config resumes the study (Ctrl-C stops after the current generation, saved; twice stops at once).

Measured with the default config (2 CPU cores shared with other jobs, load average ~12): 16.9 min wall, 6.2 min
CPU. Best reservoir sr 0.33, lr 0.258, input scaling 1.46 (fitness 146.9, found in the first of 3 generations); test
over 5 seeds at 40k steps: reservoir + PPO 215.1 ± 95.3 against plain PPO 42.1 ± 5.0 (mean return of the last
10 episodes) — the evolved reservoir beats plain PPO on masked CartPole, at these small budgets (the paper
trains 300k steps per candidate).
"""

from __future__ import annotations

import argparse

from metarl_gym.baselines.er_mrl import run_er_mrl
from metarl_gym.config import apply_overrides, load_yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="examples/configs/er_mrl_cartpole_masked.yaml", help="ER-MRL YAML config")
    parser.add_argument("--run-dir", default="runs/er_mrl_cartpole_masked", help="run directory (resumed if it holds this study)")
    parser.add_argument("overrides", nargs="*", help="key.path=value, e.g. search.generations=5")
    args = parser.parse_args()

    config = apply_overrides(load_yaml(args.config), args.overrides)
    summary = run_er_mrl(config, args.run_dir)  # the study (CMA-ES, PPO inside), then the test against plain PPO

    best = summary["best"]
    print("best reservoir:", {name: round(value, 4) for name, value in best["params"].items()},
          f"fitness {best['fitness']:.4g} (generation {best['generation']})")
    test = summary["test"]
    for condition, result in test["conditions"].items():
        print(f"{condition:8s} final return {result['final_mean']:7.1f} ± {result['final_std']:5.1f} over {test['seeds']} seeds")
    verdict = "beats" if test["reservoir_beats_ppo"] else "does not beat"
    print(f"the evolved reservoir + PPO {verdict} plain PPO on {test['env']['id']} ({summary['wall_s'] / 60:.1f} min; "
          f"plots: {args.run_dir}/fitness.png, {args.run_dir}/comparison.png)")


if __name__ == "__main__":  # needed: the PPO worker processes are spawned
    main()
