"""Which approximate nearest-neighbour library for SAM's content read (models/ann_index.py)?

SAM (Rae et al. 2016, section 3.5) needs an index that is updated in place for the K+1 rows written
at each step and queried for the K nearest rows of a few queries, at batch 1, one CPU thread. This
script measures, on random memories of N rows x W = 32 (cosine similarity), for hnswlib (HNSW, in-place
update by label), usearch (HNSW with prebuilt wheels; remove and re-add by key) and faiss-cpu (IndexHNSWFlat: no removal or update of a vector, so an update is an
insertion under a new id plus a tombstone; IndexIVFFlat with a hash-table direct map: `update_vectors`,
but a quantiser to train on data that SAM's memory does not have at the start):
time to insert N rows, per-step time to update 17 rows (R K + 1 with R = K = 4), per-step time to query
4 heads for K = 4, and recall@4 against the exact top-4. "hnswlib" updates an element in place (ef
construction 64, ef 32); "hnswlib-chosen" is models/ann_index.py's setting (ef construction 32, ef
128, a rewrite deletes the element and inserts the row under a new label).

  python benchmarks/ann_choice.py --slots 1024,16384,65536
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np

from models.ann_index import EF_CONSTRUCTION, EF_SEARCH, GRAPH_DEGREE

W, K, HEADS, UPDATED = 32, 4, 4, 17
QUERIES = 200  # recall sample


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_topk(data: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.argsort(-(q @ data.T), axis=1)[:, :K]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def per_call(fn, calls: int = 50) -> float:
    start = time.perf_counter()
    for i in range(calls):
        fn(i)
    return (time.perf_counter() - start) / calls


def bench_hnswlib(data, queries, truth, rng, *, ef_construction: int, ef: int, new_labels: bool):
    """hnswlib's HNSW (cosine, M = 16). ``new_labels=False``: a rewritten row updates its element in
    place (add_items on the same label); True, as models/ann_index.py: the element is marked deleted
    (a tombstone) and the row inserted under a fresh label (room for 2 N elements)."""
    import hnswlib

    n = len(data)
    index = hnswlib.Index(space="cosine", dim=W)
    index.init_index(max_elements=2 * n if new_labels else n, ef_construction=ef_construction, M=GRAPH_DEGREE)
    index.set_num_threads(1)
    start = time.perf_counter()
    index.add_items(data, np.arange(n))
    build = time.perf_counter() - start
    index.set_ef(ef)
    found = index.knn_query(queries, k=K)[0]
    label = np.arange(n)  # slot -> the label of its current element
    fresh = iter(range(n, 2 * n))

    def rewrite(i):
        slots = rng.integers(0, n, UPDATED)
        if new_labels:
            slots = np.unique(slots)
            for s in slots:
                index.mark_deleted(int(label[s]))
                label[s] = next(fresh)
        index.add_items(unit(rng.standard_normal((len(slots), W))), label[slots])

    update = per_call(rewrite)
    query = per_call(lambda i: index.knn_query(queries[i % len(queries)][None].repeat(HEADS, 0), k=K))
    return build, update, query, recall(found, truth)


def bench_usearch(data, queries, truth, rng):
    """usearch's HNSW (prebuilt wheels; cosine, connectivity 16 as hnswlib's M), with the settings of
    "hnswlib-chosen" (expansion 32 when adding, 128 when searching); a rewritten row is removed and
    added again under the same key, which usearch supports."""
    from usearch.index import Index

    n = len(data)
    index = Index(ndim=W, metric="cos", dtype="f32", connectivity=GRAPH_DEGREE, expansion_add=EF_CONSTRUCTION,
                  expansion_search=EF_SEARCH)
    start = time.perf_counter()
    index.add(np.arange(n), data, threads=1)
    build = time.perf_counter() - start
    found = index.search(queries, K, threads=1).keys

    def rewrite(i):
        slots = np.unique(rng.integers(0, n, UPDATED))
        index.remove(slots)
        index.add(slots, unit(rng.standard_normal((len(slots), W))), threads=1)

    update = per_call(rewrite)
    query = per_call(lambda i: index.search(queries[i % len(queries)][None].repeat(HEADS, 0), K, threads=1))
    return build, update, query, recall(found, truth)


def bench_faiss_hnsw(data, queries, truth, rng):
    import faiss

    faiss.omp_set_num_threads(1)
    n = len(data)
    index = faiss.IndexHNSWFlat(W, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 64
    start = time.perf_counter()
    index.add(data)
    build = time.perf_counter() - start
    index.hnsw.efSearch = 32
    found = index.search(queries, K)[1]
    update = per_call(lambda i: index.add(unit(rng.standard_normal((UPDATED, W)))))  # no in-place update: grows
    query = per_call(lambda i: index.search(queries[i % len(queries)][None].repeat(HEADS, 0), K))
    return build, update, query, recall(found, truth)


def bench_faiss_ivf(data, queries, truth, rng):
    import faiss

    faiss.omp_set_num_threads(1)
    n = len(data)
    lists = max(1, int(np.sqrt(n)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(W), W, lists, faiss.METRIC_INNER_PRODUCT)
    start = time.perf_counter()
    index.train(data)
    index.make_direct_map(True)  # array direct map: update_vectors
    index.add(data)
    build = time.perf_counter() - start
    index.nprobe = 8
    found = index.search(queries, K)[1]
    update = per_call(lambda i: index.update_vectors(rng.integers(0, n, UPDATED).astype(np.int64),
                                                     unit(rng.standard_normal((UPDATED, W)))))
    query = per_call(lambda i: index.search(queries[i % len(queries)][None].repeat(HEADS, 0), K))
    return build, update, query, recall(found, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", default="1024,16384,65536")
    args = parser.parse_args()
    print(f"{'library':<14} {'N':>8} {'build s':>9} {'update ms':>10} {'query ms':>9} {'recall@4':>9}")
    for n in map(int, args.slots.split(",")):
        rng = np.random.default_rng(0)
        data = unit(rng.standard_normal((n, W)))
        queries = unit(rng.standard_normal((QUERIES, W)))
        truth = exact_topk(data, queries)
        for name, fn in [("hnswlib", partial(bench_hnswlib, ef_construction=64, ef=32, new_labels=False)),
                         ("hnswlib-chosen", partial(bench_hnswlib, ef_construction=EF_CONSTRUCTION, ef=EF_SEARCH,
                                                    new_labels=True)),
                         ("usearch", bench_usearch), ("faiss-hnsw", bench_faiss_hnsw), ("faiss-ivf", bench_faiss_ivf)]:
            try:
                build, update, query, rec = fn(data, queries, truth, rng)
                print(f"{name:<14} {n:>8} {build:>9.2f} {update * 1e3:>10.3f} {query * 1e3:>9.3f} {rec:>9.3f}")
            except Exception as err:  # a library without the operation: say so, go on
                print(f"{name:<14} {n:>8} failed: {err}")


if __name__ == "__main__":
    main()
