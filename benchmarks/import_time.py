"""How long ``import metarl_gym`` and ``metarl-gym envs`` take (issue 19: the import took ~1.2 s, nearly all torch).

Each round runs, in fresh interpreters: ``python -c "import metarl_gym"`` (wall), ``python -X importtime -c
"import metarl_gym"`` (the cumulative import time of ``metarl_gym`` it reports) and ``metarl-gym envs`` (wall, as
``main(["envs"])``), plus a bare ``python -c pass`` for the interpreter's own start. With ``--before`` (another
checkout, e.g. ``git archive <commit> metarl_gym | tar -x -C /tmp/before``) the rounds alternate between it and
this checkout, so the load of the moment hits both alike. Prints the median of the rounds of each figure.

    python benchmarks/import_time.py --before /tmp/before --rounds 5
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
ENVS = "from metarl_gym.cli import main; import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()): rc = main(['envs'])\nraise SystemExit(rc)"
TORCH = "import sys, metarl_gym; print('torch' in sys.modules)"
CUMULATIVE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| metarl_gym$", re.MULTILINE)


def _wall(checkout: Path, *args: str) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd="/", env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout + done.stderr


def measure(checkout: Path) -> dict[str, float]:
    """One round of every figure for ``checkout`` (seconds)."""
    out = {"python -c pass wall_s": _wall(checkout, "-c", "pass")[0],
           "import metarl_gym wall_s": _wall(checkout, "-c", "import metarl_gym")[0]}
    text = _wall(checkout, "-X", "importtime", "-c", "import metarl_gym")[1]
    out["import metarl_gym importtime_s"] = int(CUMULATIVE.search(text).group(1)) / 1e6
    out["metarl-gym envs wall_s"] = _wall(checkout, "-c", ENVS)[0]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout to measure alternately (its metarl_gym/)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sides = {"before": args.before.resolve(), "after": HERE} if args.before else {"this": HERE}
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, checkout in sides.items():
            rounds[name].append(measure(checkout))
    for name, checkout in sides.items():
        torch_loaded = _wall(checkout, "-c", TORCH)[1].strip()
        print(f"{name} ({checkout}): torch imported by `import metarl_gym`: {torch_loaded}")
        for key in rounds[name][0]:
            values = [r[key] for r in rounds[name]]
            print(f"  {key}: median {statistics.median(values):.3f} (rounds {', '.join(f'{v:.3f}' for v in values)})")
    if args.before:
        for key in rounds["after"][0]:
            ratio = statistics.median(r[key] for r in rounds["after"]) / statistics.median(r[key] for r in rounds["before"])
            print(f"after / before {key}: {ratio:.3f}")


if __name__ == "__main__":
    main()
