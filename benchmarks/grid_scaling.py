"""Grid wall time against workers: the local executor and Ray, 1 and 2 workers (issue 12, part 3).

    OMP_NUM_THREADS=1 python benchmarks/grid_scaling.py --out results/ray-two-nodes/scaling \
        --models lstm,ntm,armin,tardis --rounds 2

Times one grid (a suite, by default table1-smoke, optionally a part of its models) as separate
``bench run`` processes: the local executor with ``--jobs 1`` and ``--jobs 2``, and Ray started by
the command on this machine with 1 and 2 CPUs (``--executor ray --jobs 1`` / ``--jobs 2``). Each
round runs the four in a new order (round 2 reversed, and so on), so a change in the machine's load
does not always fall on the same grid; the 1-minute load average is sampled while each grid runs
(on a shared machine, report it with the times). Writes OUT/ROUND-NAME/ (the sweeps' folders),
OUT/timings.csv and OUT/scaling.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import ray_two_nodes  # benchmarks/: the bench run timer and the table
from ray_two_nodes import bench_run, timing_table, write_timings

GRIDS = {  # name -> bench run flags
    "local --jobs 1": ["--jobs", "1"],
    "local --jobs 2": ["--jobs", "2"],
    "ray, 1 node x 1 CPU": ["--executor", "ray", "--jobs", "1"],
    "ray, 1 node x 2 CPU": ["--executor", "ray", "--jobs", "2"],
}
FOLDERS = {"local --jobs 1": "local-1", "local --jobs 2": "local-2", "ray, 1 node x 1 CPU": "ray-1",
           "ray, 1 node x 2 CPU": "ray-2"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/ray-two-nodes/scaling"))
    parser.add_argument("--suite", default="table1-smoke")
    parser.add_argument("--models", default="", help="only these of the suite's models (comma-separated)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set", "-s", action="append", default=[], help="an option for bench run -s (repeatable)")
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        print(f"{args.out} is not empty: give another --out", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    ray_two_nodes.MODELS = args.models
    print(f"{os.cpu_count()} CPUs; load average (1, 5, 15 min) at start: {os.getloadavg()}")
    timings: dict[str, dict] = {}
    names = list(GRIDS)
    for round_ in range(1, args.rounds + 1):
        order = names if round_ % 2 else names[::-1]
        for name in order:
            timings[f"{name} (round {round_})"] = bench_run(args.suite, args.out / f"{round_}-{FOLDERS[name]}",
                                                            GRIDS[name], args.set)
    text = (f"# Grid wall time vs workers: {args.suite}" + (f", models {args.models}" if args.models else "")
            + f", {args.rounds} rounds\n\n" + timing_table(timings) + "\n\nCommands:\n\n"
            + "\n".join(f"    {t['command']}" for t in timings.values()) + "\n")
    (args.out / "scaling.md").write_text(text)
    write_timings(args.out / "timings.csv", timings)
    print(text)
    return 0 if all(t["exit"] == 0 for t in timings.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
