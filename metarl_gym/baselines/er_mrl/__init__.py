"""ER-MRL: evolving reservoir hyper-parameters with CMA-ES around an SB3 PPO learner, on MetaRL envs and on any
Gymnasium env with a flat Box observation (the paper's MuJoCo envs: Swimmer-v5, HalfCheetah-v5, Hopper-v5, ...).

Léger, Hamon, Nisioti, Hinaut & Moulin-Frier 2024, "Evolving Reservoirs for Meta Reinforcement Learning",
EvoApplications (LNCS), arXiv 2312.06695 — the reservoir is Jaeger's echo-state network
(:mod:`metarl_gym.envs.echo_state`, fed by :mod:`metarl_gym.envs.reservoir`); the outer loop is CMA-ES
(Hansen & Ostermeier 2001) through :class:`metarl_gym.evolution.CMAES`.

The two nested loops:

* **inner (a lifetime)**: PPO learns a policy on the states of reservoirs that encode the (velocity-masked)
  observation, the previous action and the previous reward; a run's score is the mean return of its last
  ``fitness.last_episodes`` episodes.
* **outer (evolution)**: CMA-ES searches per reservoir the spectral radius ∈ [1e-4, 1e2], leak rate ∈ [1e-2, 1]
  and input scaling ∈ [1e-1, 10] in log scale; a candidate's fitness is its mean score over ``fitness.seeds``
  PPO seeds (each seed also draws the reservoir's random matrices: hyper-parameters are evolved, not weights).

Then the test protocol: the best reservoirs + PPO against plain PPO on the test env over ``test.seeds`` seeds.

The config: :mod:`metarl_gym.config.er_mrl`. Modules: :mod:`.search_space` (coordinates <-> hyper-parameters), :mod:`.workers`
(``run_trial(spec) -> dict`` and map functions), :mod:`.fitness` (the CMA-ES strategy and the backend that
scores a population by PPO trials, run by the runner's generation loop), :mod:`.protocol` (the test),
:mod:`.plots`, :mod:`.experiment` (``run_er_mrl`` / ``resume_er_mrl``; ``metarl-gym er-mrl`` on the command line).
"""

from ...config.er_mrl import TARGET_SCORES, resolve_er_mrl_config
from .experiment import resume_er_mrl, run_er_mrl
from .fitness import ReservoirFitness, build_strategy, evaluate_candidates
from .protocol import run_test_protocol
from .search_space import SEARCH_BOUNDS, decode, encode, parameter_names, reservoir_config
from .workers import LocalMap, ppo_config, random_policy_score, run_trial

__all__ = [
    "LocalMap", "ReservoirFitness", "SEARCH_BOUNDS", "TARGET_SCORES", "build_strategy", "decode", "encode",
    "evaluate_candidates", "parameter_names", "ppo_config", "random_policy_score", "reservoir_config",
    "resolve_er_mrl_config", "resume_er_mrl", "run_er_mrl", "run_test_protocol", "run_trial",
]
