"""Recall of SAM's index (models/ann_index.py, as the model uses it) on random memories of N rows:
recall@K against the exact K nearest rows (cosine), per-step update and query times, build time.

  python benchmarks/ann_recall.py --slots 1024,16384,262144 --width 32 --out results/scaling-cpu/recall.csv
  python benchmarks/ann_recall.py --slots 1048576 --append --out results/scaling-cpu/recall.csv
"""

from __future__ import annotations

import argparse
import csv
import time

import torch

from models.ann_index import MemoryIndex, recall_at_k
from models.memory import nearest_slots

K, HEADS, WRITTEN, QUERIES, STEPS = 4, 4, 17, 256, 50  # R = K = 4: R K + 1 rows written per step


def measure(N: int, W: int, seed: int = 0) -> dict[str, float]:
    generator = torch.Generator().manual_seed(seed)
    M = torch.randn(1, N, W, generator=generator)
    start = time.perf_counter()
    index = MemoryIndex.build(M)
    build = time.perf_counter() - start
    q = torch.randn(1, QUERIES, W, generator=generator)
    exact = torch.cat([nearest_slots(M, q[:, i : i + 64], K) for i in range(0, QUERIES, 64)], dim=1)
    recall = recall_at_k(index.search(q, K), exact)
    update = query = 0.0
    for _ in range(STEPS):  # one SAM step: rewrite R K + 1 rows, then R queries
        slots = torch.randint(N, (1, WRITTEN), generator=generator)
        rows = torch.randn(1, WRITTEN, W, generator=generator)
        start = time.perf_counter()
        index.update(slots, rows)
        update += time.perf_counter() - start
        start = time.perf_counter()
        index.search(torch.randn(1, HEADS, W, generator=generator), K)
        query += time.perf_counter() - start
    return {"memory_slots": N, "width": W, "recall_at_4": round(recall, 4), "build_s": round(build, 3),
            "update_ms_per_step": round(update / STEPS * 1e3, 3), "query_ms_per_step": round(query / STEPS * 1e3, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", default="1024,16384")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--out", help="CSV to write")
    parser.add_argument("--append", action="store_true", help="add the rows to --out (header kept) instead of replacing it")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for n in map(int, args.slots.split(",")):
        rows.append(measure(n, args.width))
        print(rows[-1], flush=True)
    if args.out:
        with open(args.out, "a" if args.append else "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            if not (args.append and f.tell()):
                writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
