"""What checking a config costs: import of ``metarl_gym.config``, the first resolve (which loads the registries it
checks against: policies, strategies, env classes) and a repeated resolve, in fresh interpreters.

Run from this checkout alone, or against another checkout, alternated round by round in one run:

    git worktree add /tmp/before 3e0a999      # the hand-written schema, before the pydantic models
    python benchmarks/config_resolve.py --before /tmp/before --rounds 5

Prints one line per interpreter (``import_s first_resolve_s resolve_ms``) and the median of each side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

CHILD = r"""
import time
t0 = time.perf_counter()
from metarl_gym.config import resolve_evolve_config
t1 = time.perf_counter()
config = resolve_evolve_config({"policy": {"name": "hebbian"}, "strategy": {"name": "openai_es", "pop_size": 64}})
t2 = time.perf_counter()
for _ in range(200):
    resolve_evolve_config(config)
t3 = time.perf_counter()
print(f"{t1 - t0:.4f} {t2 - t1:.4f} {(t3 - t2) / 200 * 1e3:.4f}")
"""


def measure(checkout: Path) -> list[float]:
    """``[import s, first resolve s, repeated resolve ms]`` in a fresh interpreter importing ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=checkout, env=env, capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout to compare with (alternated)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sides = {"after": HERE} if args.before is None else {"before": args.before.resolve(), "after": HERE}
    results: dict[str, list[list[float]]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, checkout in sides.items():
            figures = measure(checkout)
            results[name].append(figures)
            print(f"{name:6s} import_s={figures[0]:.3f} first_resolve_s={figures[1]:.3f} resolve_ms={figures[2]:.3f}")
    print("median of", args.rounds, "rounds:")
    for name, rows in results.items():
        medians = [statistics.median(column) for column in zip(*rows)]
        print(f"{name:6s} import_s={medians[0]:.3f} first_resolve_s={medians[1]:.3f} resolve_ms={medians[2]:.3f} "
              f"import+first_s={medians[0] + medians[1]:.3f}")


if __name__ == "__main__":
    main()
