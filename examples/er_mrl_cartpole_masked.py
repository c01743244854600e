"""ER-MRL on velocity-masked CartPole: evolve reservoir hyper-parameters with CMA-ES, then test them.

Léger, Hamon, Nisioti, Hinaut & Moulin-Frier 2024, "Evolving Reservoirs for Meta Reinforcement Learning"
(arXiv 2312.06695). Without its velocities, CartPole is partially observable: a memory-less policy sees only the
cart position and pole angle. An echo-state reservoir fed with the observation stream keeps a fading memory of
it, from which PPO can read the velocities. CMA-ES tunes the reservoir (spectral radius, leak rate, input
scaling); each candidate is scored by training PPO on the reservoir states. Finally the best reservoir + PPO is
compared with plain PPO on the same masked observations over 5 seeds (comparison.png, test_summary.json).

    python examples/er_mrl_cartpole_masked.py --run-dir runs/er_mrl_cartpole_masked [key=value ...]
    python examples/er_mrl_cartpole_masked.py --config examples/configs/er_mrl_mujoco.yaml --run-dir runs/er_mrl_mujoco

The second line runs the same study on Gymnasium MuJoCo ids (``pip install -e .[mujoco]``): evolve on
Swimmer-v5 + HalfCheetah-v5 (normalised fitness), test on the held-out Hopper-v5 (examples/RESULTS.md).

e.g. ``search.generations=5 workers=1``. Re-running with the same --run-dir resumes the study (Ctrl-C is
safe: the study is saved after every generation); ``--overwrite`` starts afresh; a config error prints one
line and exits with status 2. The run directory gets fitness.png (the study), comparison.png (the test).

Measured with the default config (the study on evolution.CMAES, 2 CPU cores shared with other jobs, load
average ~12): 16.9 min wall, 6.2 min CPU. Best reservoir sr 0.33, lr 0.258, input scaling 1.46 (fitness 146.9,
found in generation 1 of 3); test over 5 seeds at 40k steps: reservoir + PPO 215.1 ± 95.3 against plain PPO
42.1 ± 5.0 (mean return of the last 10 episodes) — the evolved reservoir beats plain PPO on masked CartPole, at
these small budgets (the paper trains 300k steps per candidate).
"""

import sys
from pathlib import Path

from metarl_gym.baselines.er_mrl import main

CONFIG = Path(__file__).parent / "configs" / "er_mrl_cartpole_masked.yaml"

if __name__ == "__main__":  # needed: the worker processes are spawned
    sys.exit(main(default_config=str(CONFIG), default_run_dir="runs/er_mrl_cartpole_masked", prog="er_mrl_cartpole_masked.py"))
