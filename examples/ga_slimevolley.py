"""ga-openai-gym's SlimeVolley experiment, batched: a GA evolves a 12-[20,20]-3 network against slimevolleygym's baseline.

The seed's setup (shared/reference/seed-methods.md §3.3): the right slime is driven by a 12-[20,20]-3 network with
tanh outputs (a button is pressed where its output is > 0), the left one by slimevolleygym's built-in 112-parameter
recurrent baseline; fitness is the shaped reward of one game (env ``reward="shaped"``); the GA uses ranking
selection, BLX-alpha crossover (alpha 0.1, p 0.8), the single-gene "big" mutation (p 0.1) and keeps a child pair
only if it beats its parents. The whole population (pop x games) is one torch batch of games stepped together.
Individual j of tell g is keyed (seed, g, j) exactly as ``metarl-gym evolve`` keys it, so this loop plays the same
generations as the resumable run:

    metarl-gym evolve examples/configs/ga_slimevolley.yaml --run-dir runs/ga_slimevolley

At the end the evolved agent is chosen on validation games and scored on held-out games against the baseline
(plain score: points won minus points lost, in [-5, 5]), beside a random agent and the baseline itself, and the
figures and the learning curve are written to ``--out``.

``--variant baseline-es`` instead evolves slimevolleygym's own 112-parameter baseline network with OpenAI-ES,
starting from its published weights, on the plain game score (does a better agent sit next to the baseline?).

Run: python examples/ga_slimevolley.py [--minutes 40] [--generations 4000] [--pop-size 30] [--games 4]
     python examples/ga_slimevolley.py --variant baseline-es --pop-size 32 --games 4 --minutes 40
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

import metarl_gym  # noqa: F401  (registers the MetaRL/* ids)
from metarl_gym import keys
from metarl_gym.agents import MLPPolicy
from metarl_gym.agents.slimevolley_baseline import SlimeVolleyBaselinePolicy
from metarl_gym.envs import make
from metarl_gym.evolution import GA, OpenAIES, rollout
from metarl_gym.evolution.evaluate import generation_keys

ENV_ID = "MetaRL/SlimeVolley-v0"
VALIDATION_SEED = 777_001
"""Keys of the games that pick the final agent (never used in training)."""
TEST_SEED = 999_001
"""Keys of the held-out test games (never used in training or validation)."""


def _game_keys(seed: int, games: torch.Tensor) -> torch.Tensor:
    """Keys of games ``games [n]`` of an evaluation seed: game k is keyed (seed, k) whichever agent plays it."""
    return keys.key(seed, games)


def score_games(policy, params: torch.Tensor, games: int, seed: int, device: str, max_steps: int = 3000) -> torch.Tensor:
    """Scores ``[games]`` (points won minus lost) of one agent ``params [num_params]`` against the baseline."""
    env = make(ENV_ID, games, device=device, max_episode_steps=max_steps)
    return rollout(env, policy, params.expand(games, -1), seed=_game_keys(seed, torch.arange(games, device=device)))


def score_random_agent(games: int, seed: int, device: str, max_steps: int = 3000) -> torch.Tensor:
    """Scores ``[games]`` of an agent pressing each button with probability 1/2 at every step."""
    env = make(ENV_ID, games, device=device, autoreset_mode="disabled", max_episode_steps=max_steps)
    env.reset(seed=seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    total = torch.zeros(games, device=device)
    alive = torch.ones(games, dtype=torch.bool, device=device)
    for _ in range(env.max_episode_steps):
        buttons = torch.randint(0, 2, (games, 3), generator=generator, device=device).float()
        _, rewards, terminated, _, _ = env.step(buttons)
        total += torch.where(alive, rewards, 0.0)
        alive &= ~terminated
        if not alive.any():
            break
    return total


def summary(scores: torch.Tensor) -> dict[str, float]:
    """Mean score with its standard error and the win / draw / loss rates of ``scores [games]``."""
    s = scores.double().cpu()
    return {"games": len(s), "mean": float(s.mean()), "se": float(s.std() / math.sqrt(len(s))),
            "win": float((s > 0).double().mean()), "draw": float((s == 0).double().mean()),
            "loss": float((s < 0).double().mean())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the GA and of every training game")
    parser.add_argument("--pop-size", type=int, default=30, help="individuals (the seed's 30)")
    parser.add_argument("--generations", type=int, default=4000, help="tells (two per seed generation: 4,000 = the seed's 2,000)")
    parser.add_argument("--minutes", type=float, default=None, help="stop evolving after this wall time")
    parser.add_argument("--games", type=int, default=4, help="games per fitness evaluation (mean shaped return)")
    parser.add_argument("--curve-every", type=int, default=50, help="tells between learning-curve points")
    parser.add_argument("--curve-games", type=int, default=100, help="validation games per learning-curve point")
    parser.add_argument("--validation-games", type=int, default=100, help="games per candidate when picking the agent")
    parser.add_argument("--test-games", type=int, default=1000, help="held-out games scored at the end")
    parser.add_argument("--variant", default="seed", choices=["seed", "baseline-es"],
                        help="seed: the seed's GA on a fresh 12-[20,20]-3 MLP with the shaped fitness; baseline-es: "
                             "OpenAI-ES on slimevolleygym's own baseline network from its published weights, fitness "
                             "the game score (is there a better agent next to the baseline?)")
    parser.add_argument("--sigma", type=float, default=0.05, help="baseline-es: sampling std")
    parser.add_argument("--lr", type=float, default=0.02, help="baseline-es: Adam step size")
    parser.add_argument("--max-steps", type=int, default=3000, help="steps per game (slimevolleygym's 3,000; less for smoke tests)")
    parser.add_argument("--device", default="cpu", help="torch device of the games, the population and the policy")
    parser.add_argument("--out", default="runs/ga_slimevolley", help="folder for results.json, curve.csv, best.pt")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.variant == "seed":  # the seed's GA on a fresh MLP, shaped fitness
        env = make(ENV_ID, args.pop_size * args.games, device=args.device, reward="shaped", max_episode_steps=args.max_steps)
        policy = MLPPolicy(env.single_observation_space, env.single_action_space, hidden_sizes=[20, 20], activation="tanh")
        strategy = GA(
            policy.num_params, pop_size=args.pop_size, seed=args.seed, device=args.device, init_std=0.5,
            selection="truncation", num_survivors=min(6, args.pop_size),  # the seed's ranking selection, over the top 6
            crossover="blx_alpha", blx_alpha=0.1, crossover_prob=0.8,
            mutation_prob=0.0, big_mutation_prob=0.1,          # the seed's single-gene mutation only
            replace_parents_if_better=True,                    # children replace their parents if better
        )
    else:  # "baseline-es": OpenAI-ES on the baseline's own 112-parameter network, starting from its published weights
        env = make(ENV_ID, args.pop_size * args.games, device=args.device, max_episode_steps=args.max_steps)
        policy = SlimeVolleyBaselinePolicy(env.single_observation_space, env.single_action_space)
        strategy = OpenAIES(policy.num_params, pop_size=args.pop_size, seed=args.seed, device=args.device,
                            init_params=policy.published_params()[0], sigma=args.sigma, lr=args.lr)
    start = time.time()
    curve, env_steps = [], 0
    generation = 0
    while generation < args.generations and (args.minutes is None or time.time() - start < 60 * args.minutes):
        params = strategy.ask()                                                     # [pop, num_params]
        tell_keys = generation_keys(args.seed, generation, 0, args.pop_size, args.device)  # individual j: (seed, g, j)
        fitness, stats = rollout(env, policy, params, num_episodes=args.games, seed=tell_keys, return_stats=True)
        metrics = strategy.tell(params, fitness)
        env_steps += stats["env_steps"]
        generation += 1
        if generation % args.curve_every == 0 or generation == 1:
            champion = params[int(torch.argmax(fitness))]  # this tell's best (its noisy fitness picked it)
            point = {"tell": generation, "minutes": (time.time() - start) / 60, "env_steps": env_steps,
                     "fitness_best": metrics["best"], "fitness_mean": metrics["mean"],
                     **{f"score_{k}": v for k, v in summary(score_games(policy, champion, args.curve_games,
                                                                          VALIDATION_SEED, args.device, args.max_steps)).items()}}
            curve.append(point)
            print(f"tell {generation:5d}  {point['minutes']:6.1f} min  fitness best {metrics['best']:7.2f} "
                  f"mean {metrics['mean']:7.2f}  champion score {point['score_mean']:+.2f} ± {point['score_se']:.2f}",
                  flush=True)
    evolve_minutes = (time.time() - start) / 60

    # Pick the agent: the final population (ES: its centre) and the best-ever individual, on the same validation games.
    final = strategy.center[None] if args.variant == "baseline-es" else strategy.ask()
    candidates = torch.cat([final, strategy.best_params[None]])
    games = args.validation_games
    env_val = make(ENV_ID, len(candidates) * games, device=args.device, max_episode_steps=args.max_steps)
    keys = torch.arange(games, device=args.device).repeat(len(candidates))  # candidate c, game k: key (seed, k)
    scores = rollout(env_val, policy, candidates.repeat_interleave(games, dim=0), seed=_game_keys(VALIDATION_SEED, keys))
    validation = scores.view(len(candidates), games).mean(dim=1)
    best = candidates[int(torch.argmax(validation))]
    torch.save({"params": best.cpu(), "variant": args.variant}, out / "best.pt")

    baseline = SlimeVolleyBaselinePolicy(env.single_observation_space, env.single_action_space)
    result = {
        "variant": args.variant, "tells": generation, "pop_size": args.pop_size, "games": args.games,
        "env_steps": env_steps, "evolve_minutes": evolve_minutes,
        "evolved": summary(score_games(policy, best, args.test_games, TEST_SEED, args.device, args.max_steps)),
        "random": summary(score_random_agent(args.test_games, TEST_SEED, args.device, args.max_steps)),
        "baseline": summary(score_games(baseline, baseline.published_params()[0], args.test_games, TEST_SEED,
                                        args.device, args.max_steps)),
        "curve": curve,
    }
    (out / "results.json").write_text(json.dumps(result, indent=1))
    for name in ("evolved", "random", "baseline"):
        r = result[name]
        print(f"{name:8s} vs baseline over {r['games']} held-out games: score {r['mean']:+.3f} ± {r['se']:.3f}  "
              f"win {r['win']:.1%} draw {r['draw']:.1%} loss {r['loss']:.1%}")
    return result


if __name__ == "__main__":
    torch.set_num_threads(1)  # small batches: one thread is fastest (and cannot stall on a busy machine)
    main()
