"""SAM's training step with the sparse path's helpers of this tree against their versions at an earlier
commit, in one process, interleaved (CPU thread time per time step; the machine may be loaded).

The helpers compared are the ones commit 8f3d3fa changed: models/sam.py ``write_weights`` and
``accessed_slots`` and models/ann_index.py ``SlotIndex.search``; the old ones are read with ``git show``
and swapped in around each of their model's steps. Two setups: fig1-sam at N = 65,536 (the scaling
profile's SAM ANN: T 100, batch 1) and the Table 1 ``sam`` preset (N 128) on the copy task.

  python benchmarks/sam_step_ab.py --before 8f3d3fa~1
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import torch

import models.ann_index as ann_index
import models.sam as sam
from bench.config import load_config
from bench.profile_engine import _build_runner, build_request

sys.path.insert(0, str(Path(__file__).parent))
from test_step_speed import step_runner  # noqa: E402  (the Table 1 copy-task step)

SAM_HELPERS = ("write_weights", "accessed_slots")
SLOTS = "65536"


def old_helpers(rev: str) -> dict:
    """The helpers as they were at ``rev``: the two SAM functions and SlotIndex.search."""
    def source(path: str) -> str:
        return subprocess.run(["git", "show", f"{rev}:{path}"], check=True, capture_output=True, text=True).stdout

    old_index = types.ModuleType("old_ann_index")
    exec(compile(source("models/ann_index.py"), "old_ann_index", "exec"), old_index.__dict__)
    text, namespace = source("models/sam.py"), dict(vars(sam))
    for name in SAM_HELPERS:  # each function alone, run in today's module namespace
        start = text.index(f"def {name}(")
        exec(text[start:text.index("\n\n\n", start)], namespace)
    return {**{name: namespace[name] for name in SAM_HELPERS}, "search": old_index.SlotIndex.search}


def use(helpers: dict) -> None:
    sam.write_weights, sam.accessed_slots = helpers["write_weights"], helpers["accessed_slots"]
    ann_index.SlotIndex.search = helpers["search"]


def fig1_sam_runner(config: dict):
    flags = dict(models="fig1-sam", hidden=None, slots=SLOTS, tbptt=None, batch_size=None, vocab=None,
                 modes="train", repeats=None, warmup=None, max_step_time_s=None, max_memory_gib=None)
    request = build_request(config, "scaling", flags, {"model": {}, "train": {}, "task": {}})
    return _build_runner(config, request, request.setups[0], "train", torch.device("cpu"))[1]


def compare(make_runner, rounds: int, helpers: dict, warmup: int = 2) -> tuple[float, float]:
    """Median CPU ms per time step (old, new), the two runners stepping alternately."""
    runners = {key: make_runner() for key in helpers}
    times = {key: [] for key in helpers}
    for i in range(warmup + rounds):
        for key in ("old", "new") if i % 2 else ("new", "old"):
            use(helpers[key])
            runner = runners[key]
            start = time.thread_time()
            runner.step()
            if i >= warmup:
                times[key].append((time.thread_time() - start) / runner.batches[0].steps * 1e3)
    return statistics.median(times["old"]), statistics.median(times["new"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="8f3d3fa~1", help="git revision of the old helpers")
    parser.add_argument("--rounds", type=int, default=15, help="timed steps per version at N 65,536 (x4 at N 128)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(None)
    new = {name: getattr(sam, name) for name in SAM_HELPERS} | {"search": ann_index.SlotIndex.search}
    helpers = {"old": old_helpers(args.before), "new": new}
    for label, make, rounds in ((f"fig1-sam N={SLOTS} train", lambda: fig1_sam_runner(config), args.rounds),
                                ("sam (Table 1, N 128) copy train", lambda: step_runner("sam", "train"), 4 * args.rounds)):
        old, new_ms = compare(make, rounds, helpers)
        print(f"{label}: before {old:.3f} ms, after {new_ms:.3f} ms per time step (CPU, median), "
              f"after/before {new_ms / old:.3f}", flush=True)
    use(new)


if __name__ == "__main__":
    main()
