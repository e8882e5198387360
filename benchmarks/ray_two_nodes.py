"""A grid on a Ray cluster of two simulated nodes, against the local executor (issue 12, part 3).

    OMP_NUM_THREADS=1 python benchmarks/ray_two_nodes.py --out results/ray-two-nodes
    OMP_NUM_THREADS=1 python benchmarks/ray_two_nodes.py --out results/ray-two-nodes --scaling

Starts a two-node Ray cluster on this machine with Ray's own test utility for multi-node clusters
(``ray.cluster_utils.Cluster``: a head node and one more node, each with ``num_cpus=1``, each its own
raylet), runs the suite on it with ``bench run --executor ray --address ADDRESS`` and the same grid
with the local executor (``--jobs 2``), each as its own ``bench run`` process, then:

- compares the two runs.csv files row by row (matched by spec_hash) in every column but those that
  say when, where or how fast a run ran (``EXCLUDED``, with the reason for each), and ``train_options``
  without ``output_dir`` (the --out folder, which differs by construction; it is not in spec_hash);
- prints the node each run ran on (the row's ``node`` column, named "head" or "node 2").

With ``--scaling`` it also times the same grid with 1 and 2 workers: the local executor (``--jobs 1``,
``--jobs 2``) and a local single-node Ray instance (``--executor ray --jobs 1`` / ``--jobs 2``: Ray
started by the command with that many CPUs), and records the load average around each grid (the
machine may be shared: say so with the numbers).

Writes OUT/ray/ and OUT/local/ (the sweeps' folders), OUT/comparison.md, OUT/timings.csv and, with
--scaling, OUT/scaling.md. Exit 1 if a row differs or a run is missing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.store import read_rows

# columns that say when, where or how fast a run ran, not what it computed
EXCLUDED = {
    "run_id": "made of the start time and a random suffix",
    "timestamp": "when the run finished",
    "log": "path of the run's log, inside the sweep's --out folder and named by run_id",
    "hostname": "where the run ran (the same machine here, but not in general)",
    "node": "where the run ran: the point of the comparison is that only this differs",
    "time_to_solve_s": "a time",
    "train_time_s": "a time",
    "val_time_s": "a time",
    "wall_time_s": "a time",
    "train_steps_per_s": "a speed (steps / time)",
    "infer_steps_per_s": "a speed (steps / time)",
    "peak_rss_growth_bytes": "memory of the process that ran it (a Ray worker holds other state than a local worker)",
    "max_rss_bytes": "memory of the process that ran it",
    "peak_cuda_bytes": "memory measured on the device",
}
LOCATION_OPTION = "output_dir"  # in train_options: the --out folder (not in spec_hash)
NODE_CPUS = 1  # each simulated node's CPUs
TIMING_COLUMNS = ("grid", "wall_s", "runs_wall_s", "load_before", "load_mean", "load_max", "load_after", "exit", "command")
LOAD_SAMPLE_S = 5.0  # how often the 1-minute load average is read while a grid runs
MODELS = ""  # --models: a part of the suite's models (a quick check of this script)


def bench_run(suite: str, out: Path, extra: list[str], overrides: list[str]) -> dict:
    """One ``bench run`` process; its wall time and the load average before and after."""
    command = [sys.executable, "-m", "bench.cli", "run", "--suite", suite, "-q", "--out", str(out), *extra]
    if MODELS:
        command += ["--models", MODELS]
    for option in overrides:
        command += ["-s", option]
    load_before = os.getloadavg()
    loads: list[float] = []
    running = threading.Event()
    running.set()

    def sample() -> None:
        while running.is_set():
            loads.append(os.getloadavg()[0])
            time.sleep(LOAD_SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    running.clear()
    sampler.join()
    shown = " ".join(["bench", *command[3:]])
    print(f"$ {shown}\n  exit {result.returncode}, {wall:.1f} s", flush=True)
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-2000:], sep="\n", file=sys.stderr)
    runs_s = sum(float(r["wall_time_s"] or 0) for r in read_rows(out / "runs.csv")) if (out / "runs.csv").exists() else 0.0
    return {"command": shown, "exit": result.returncode, "wall_s": round(wall, 1), "runs_wall_s": round(runs_s, 1),
            "load_before": round(load_before[0], 2), "load_after": round(os.getloadavg()[0], 2),
            "load_mean": round(statistics.mean(loads), 2), "load_max": round(max(loads), 2)}


def timing_table(timings: dict[str, dict]) -> str:
    """Markdown: each grid's wall time, the sum of its runs' wall_time_s and the load around it."""
    lines = ["Wall time of each `bench run` command (Ray's start included), the sum of its runs' `wall_time_s` "
             f"(training and validation inside the runs), and the 1-minute load average (before, mean and max of "
             f"samples every {LOAD_SAMPLE_S:.0f} s while it ran, after):", "",
             "| grid | wall s | sum of runs' wall_time_s | load before | load mean | load max | load after | exit |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {k} | {t['wall_s']} | {t['runs_wall_s']} | {t['load_before']} | {t['load_mean']} | {t['load_max']} "
              f"| {t['load_after']} | {t['exit']} |" for k, t in timings.items()]
    return "\n".join(lines)


def write_timings(path: Path, timings: dict[str, dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, TIMING_COLUMNS)
        writer.writeheader()
        writer.writerows({"grid": k, **t} for k, t in timings.items())


def comparable(row: dict[str, str]) -> dict[str, str]:
    kept = {c: v for c, v in row.items() if c not in EXCLUDED}
    if kept.get("train_options"):
        options = json.loads(kept["train_options"])
        options.pop(LOCATION_OPTION, None)
        kept["train_options"] = json.dumps(options, sort_keys=True)
    return kept


def compare(ray_rows: list[dict], local_rows: list[dict]) -> list[str]:
    """The differences between the two sweeps' rows, in words (empty: identical in content)."""
    problems = []
    ray_by, local_by = ({r["spec_hash"]: r for r in rows} for rows in (ray_rows, local_rows))
    for missing, where in ((set(local_by) - set(ray_by), "ray"), (set(ray_by) - set(local_by), "local")):
        problems += [f"run {h} has no row in the {where} sweep" for h in sorted(missing)]
    for spec_hash in sorted(set(ray_by) & set(local_by)):
        a, b = comparable(ray_by[spec_hash]), comparable(local_by[spec_hash])
        for column in sorted(set(a) | set(b)):
            if a.get(column, "") != b.get(column, ""):
                problems.append(f"{a.get('model')}/{a.get('task')}/s{a.get('seed')}: {column} "
                                f"ray {a.get(column)!r} != local {b.get(column)!r}")
    return problems


def node_names(cluster) -> dict[str, str]:
    """Ray node id -> a readable name."""
    names = {cluster.head_node.node_id: "head"}
    for number, node in enumerate(cluster.worker_nodes, start=2):
        names[node.node_id] = f"node {number}"
    return names


def two_node_sweep(args, out: Path) -> tuple[dict, dict[str, str]]:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": NODE_CPUS})
    try:
        cluster.add_node(num_cpus=NODE_CPUS)
        cluster.wait_for_nodes()
        print(f"two-node Ray cluster at {cluster.address}: {len(cluster.list_all_nodes())} nodes x {NODE_CPUS} CPU")
        timing = bench_run(args.suite, out / "ray", ["--executor", "ray", "--address", cluster.address, "--jobs", "2"],
                           args.set)
        return timing, node_names(cluster)
    finally:
        cluster.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/ray-two-nodes"))
    parser.add_argument("--suite", default="table1-smoke")
    parser.add_argument("--set", "-s", action="append", default=[], help="an option for bench run -s (repeatable)")
    parser.add_argument("--models", default="", help="only these of the suite's models (comma-separated)")
    parser.add_argument("--scaling", action="store_true", help="also time 1 and 2 workers, local and single-node Ray")
    args = parser.parse_args()
    global MODELS
    MODELS = args.models
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for folder in ("ray", "local", "scaling"):
        if (out / folder).exists() and any((out / folder).iterdir()):
            print(f"{out / folder} is not empty: give another --out", file=sys.stderr)
            return 2
    print(f"{os.cpu_count()} CPUs; load average (1, 5, 15 min) at start: {os.getloadavg()}")

    timings = {}
    timings["ray, 2 nodes x 1 CPU"], names = two_node_sweep(args, out)
    timings["local --jobs 2"] = bench_run(args.suite, out / "local", ["--jobs", "2"], args.set)
    if args.scaling:
        timings["local --jobs 1"] = bench_run(args.suite, out / "scaling" / "local-1", ["--jobs", "1"], args.set)
        for cpus in (1, 2):
            timings[f"ray, 1 node x {cpus} CPU"] = bench_run(
                args.suite, out / "scaling" / f"ray-{cpus}", ["--executor", "ray", "--jobs", str(cpus)], args.set)

    ray_rows, local_rows = read_rows(out / "ray" / "runs.csv"), read_rows(out / "local" / "runs.csv")
    problems = compare(ray_rows, local_rows)
    compared = sorted(set(comparable(ray_rows[0])) if ray_rows else [])
    per_node: dict[str, list[str]] = {}
    for row in ray_rows:
        node_id = (row.get("node") or "").rpartition("/")[2]
        per_node.setdefault(names.get(node_id, row.get("node") or "(none)"), []).append(
            f"{row['model']}/{row['task']}/s{row['seed']}")

    lines = [f"# {args.suite}: Ray on two simulated nodes vs the local executor", "",
             f"{len(ray_rows)} rows (ray), {len(local_rows)} rows (local); rows matched by spec_hash.", "",
             f"**Result: {'identical in content' if not problems else f'{len(problems)} difference(s)'}** "
             f"in the {len(compared)} compared columns.", ""]
    lines += [f"- {p}" for p in problems[:50]]
    lines += ["", "Columns left out of the comparison (when, where or how fast a run ran):", ""]
    lines += [f"- `{c}`: {why}" for c, why in EXCLUDED.items()]
    lines += [f"- `train_options` is compared without `{LOCATION_OPTION}` (each sweep's --out folder; not in spec_hash)",
              "", "Where each run ran (the rows' `node` column, NODE_IP/NODE_ID):", ""]
    for node_id, name in names.items():
        runs = per_node.get(name, [])
        lines.append(f"- {name} (`{node_id}`): {len(runs)} runs: {', '.join(runs)}")
    lines += [f"- {name}: {len(runs)} runs: {', '.join(runs)}" for name, runs in per_node.items()
              if name not in names.values()]
    lines += ["", timing_table(timings)]
    lines += ["", "Commands:", ""] + [f"    {t['command']}" for t in timings.values()]
    text = "\n".join(lines) + "\n"
    (out / "comparison.md").write_text(text)
    write_timings(out / "timings.csv", timings)
    print(text)
    return 1 if problems or not ray_rows else 0


if __name__ == "__main__":
    sys.exit(main())
