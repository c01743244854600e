"""Before / after in one run: a benchmark script of this checkout and of another checkout, alternated.

Measures what a change costs (e.g. the keyed per-row randomness of issue 18 against the commit before it) on the
same machine in the same minutes, so that the load of the moment hits both sides alike. Each round runs the
benchmark once from ``--before`` and once from this checkout (each importing its own ``metarl_gym``), and the
script prints every figure line of both, then per line the best of the rounds and the after / before ratio.

    git worktree add /tmp/before 88402ae      # the commit before the change
    python benchmarks/compare_checkouts.py --before /tmp/before --script rollout_throughput.py -- --modes compiled
    python benchmarks/compare_checkouts.py --before /tmp/before --script plastic_throughput.py -- --modes compiled

A figure line is one that holds ``env_steps_per_s=<float>`` (the anchors' format, which both throughput scripts
print); its key is the line without that number and without timings.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
FIGURE = re.compile(r"env_steps_per_s=([0-9.eE+]+)")
NOISE = re.compile(r"\s*(env_steps_per_s|peak_rss_mb|compile_s|wall_s)=[0-9.eE+]+")


def run(checkout: Path, script: str, args: list[str]) -> dict[str, float]:
    """``{figure key: env-steps/s}`` of one run of ``checkout/benchmarks/script``, importing that checkout."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run([sys.executable, str(checkout / "benchmarks" / script), *args], cwd=checkout, env=env,
                         capture_output=True, text=True, check=True).stdout
    figures = {}
    for line in out.splitlines():
        match = FIGURE.search(line)
        if match:
            figures[NOISE.sub("", line).strip()] = float(match.group(1))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (e.g. a git worktree)")
    parser.add_argument("--script", required=True, help="a script in benchmarks/ that both checkouts have")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("args", nargs="*", help="arguments of the script (after --)")
    args = parser.parse_args()
    best: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    for r in range(args.rounds):
        for side, checkout in (("before", args.before.resolve()), ("after", HERE)):
            for key, value in run(checkout, args.script, args.args).items():
                print(f"round {r} {side:6s} {key}  env_steps_per_s={value:.0f}", flush=True)
                best[side][key] = max(value, best[side].get(key, 0.0))
    print(f"\n{args.script}: best of {args.rounds} rounds, env-steps/s")
    for key in sorted(best["after"]):
        before, after = best["before"].get(key), best["after"][key]
        ratio = f"{after / before:.3f}" if before else "n/a"
        print(f"  {key:60s} before {before or float('nan'):12.0f}  after {after:12.0f}  after/before {ratio}")


if __name__ == "__main__":
    main()
