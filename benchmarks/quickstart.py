"""The README's Quick start, measured: does its solve hold beyond seed 0, and how long does it take?

1. ARMIN (as coded) on the quickstart suite for seeds 0-4 (`--seeds 5`): how many solve within the
   suite's budget, and at which iteration (the README's claim: at least 4 of 5).
2. The Quick start's own command (`bench run --suite quickstart --jobs 2`, seed 0), timed whole, with
   its summary as printed at 80 columns.

    PYTHONPATH=. python benchmarks/quickstart.py [--out DIR] [--skip-seeds] [--skip-full]

Times depend on what else runs on the machine: say how loaded it was (uptime) beside them.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path


def bench(*args: str, width: int = 80) -> tuple[float, str]:
    env = {**os.environ, "COLUMNS": str(width), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/mannbench-quickstart-bench"))
    parser.add_argument("--skip-seeds", action="store_true")
    parser.add_argument("--skip-full", action="store_true")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}")
    if not args.skip_seeds:
        out = args.out / "seeds"
        elapsed, _ = bench("run", "--suite", "quickstart", "-m", "armin-code", "--seeds", "5", "--jobs", "2",
                           "--out", str(out), "--quiet")
        rows = [r for r in csv.DictReader((out / "runs.csv").open()) if r["model"] == "armin-code"]
        solved = [r for r in rows if r["status"] == "solved"]
        print(f"ARMIN (as coded), copy-short, budget {rows[0]['iterations_budget']}: {len(solved)}/{len(rows)} seeds solved "
              f"({elapsed:.0f} s wall, 2 jobs)")
        for r in sorted(rows, key=lambda r: int(r["seed"])):
            print(f"  seed {r['seed']}: {r['status']} at {r['iterations_to_solve'] or '-'}, last loss "
                  f"{float(r['last_val_loss']):.2e}, train {float(r['train_time_s']):.0f} s")
    if not args.skip_full:
        out = args.out / "full"
        elapsed, stdout = bench("run", "--suite", "quickstart", "--jobs", "2", "--out", str(out), "--quiet")
        print(f"Quick start (bench run --suite quickstart --jobs 2): {elapsed:.0f} s wall")
        print(stdout)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
