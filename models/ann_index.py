"""Approximate nearest-neighbour index over the rows of a memory, for SAM's sparse read (Rae et al. 2016,
section 3.5, supplementary A.4): one index per batch element, updated in place for the rows written at
each step (never rebuilt per step), queried for the K nearest rows of each read head.

Library: hnswlib (HNSW graphs). Measured by benchmarks/ann_choice.py (README "Sparse SAM"): it deletes
a row in O(1) and inserts the new vector (about 0.5-1 ms for the 17 rows a step writes with R = K = 4),
and reaches recall@4 0.96-0.99 on random memories of 16k-64k rows with ef = 128 in 0.25 ms per 4
queries. faiss-cpu's HNSW cannot delete or update a vector, and its
IVF index needs a quantiser trained on data the empty memory does not have (recall 0.47-0.73).

Rows never written are all zero. They are not inserted (a graph of identical points is degenerate);
the index knows them as "unwritten" slots, whose distance to any query is known (cosine: 1 - 0;
Euclidean: |q|^2), and fills the K results with them where they are at least as near as the rows found.
The index runs on the CPU (float32); on a GPU the written rows and the queries are copied over
(B x (R K + 1) x W and B x R x W values per step) and the slot numbers copied back.
"""

from __future__ import annotations

import math

import hnswlib
import numpy as np
import torch

METRICS = {"cosine": "cosine", "euclidean": "l2"}  # option value -> hnswlib space
GRAPH_DEGREE = 16  # HNSW M: links per element
EF_CONSTRUCTION = 32  # candidate list while inserting (benchmarks/ann_choice.py: 64 costs 2x, same recall)
EF_SEARCH = 128  # candidate list while querying: recall@4 >= 0.94 on random 32-d memories up to 64k rows ...
EF_SEARCH_ROWS = 65536  # ... and doubled for every 4x more rows (262,144 random rows: 0.86 at 128, 0.95 at 256)
INITIAL_CAPACITY = 1024  # elements allocated first; doubled when full, or rebuilt (see SlotIndex)


def search_ef(rows: int) -> int:
    """HNSW's candidate list for a graph of ``rows`` live rows: EF_SEARCH, doubled per 4x over EF_SEARCH_ROWS."""
    doublings = max(0, math.ceil(math.log(max(rows, 1) / EF_SEARCH_ROWS, 4)))
    return EF_SEARCH * 2**doublings


class SlotIndex:
    """The index of one batch element's memory (N slots of width W). An element's label is
    slot + N * version: a rewritten slot is deleted (a tombstone, O(1)) and inserted again under a new
    label, so the graph never returns a stale row. Once the tombstones outnumber the live rows, the
    graph is rebuilt from the live rows (the paper rebuilds "every N insertions"): O(log N) amortised
    per write. (Updating an element in place, or reusing a deleted element's storage, repairs its
    neighbours' links and costs 10-20x more: benchmarks/ann_choice.py.)"""

    def __init__(self, num_slots: int, width: int, metric: str = "cosine"):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
        self.N, self.W, self.metric = num_slots, width, metric
        self.graph = self._new_graph(INITIAL_CAPACITY)
        self.version = np.zeros(num_slots, dtype=np.int64)  # label of slot i: i + N * version[i]
        self.written = np.zeros(num_slots, dtype=bool)  # rows in the graph; the others are zero
        self.count = 0  # live rows in the graph
        self.deleted = 0  # tombstones in the graph
        self.first_unwritten = 0  # every slot below it is written

    def _new_graph(self, capacity: int) -> hnswlib.Index:
        graph = hnswlib.Index(space=METRICS[self.metric], dim=self.W)
        graph.init_index(max_elements=capacity, ef_construction=EF_CONSTRUCTION, M=GRAPH_DEGREE)
        graph.set_num_threads(1)
        graph.set_ef(EF_SEARCH)
        return graph

    def _rebuild(self, room: int) -> None:
        """A fresh graph of the live rows, with room for ``room`` more."""
        slots = np.flatnonzero(self.written)
        labels = slots + self.N * self.version[slots]
        rows = self.graph.get_items(labels, return_type="numpy") if len(slots) else None
        self.graph = self._new_graph(max(INITIAL_CAPACITY, 2 * (len(slots) + room)))
        if len(slots):
            self.graph.add_items(rows, labels)
        self.deleted = 0

    def update(self, slots: np.ndarray, rows: np.ndarray) -> None:
        """Rows ``slots`` (C,) now hold ``rows`` (C, W). A slot listed twice keeps its last row."""
        slots, last = np.unique(slots[::-1], return_index=True)  # the last occurrence of each slot
        rows = rows[::-1][last]
        if self.graph.get_current_count() + len(slots) > self.graph.get_max_elements():
            if self.deleted >= max(self.count, INITIAL_CAPACITY // 2):
                self._rebuild(len(slots))
            else:
                need = self.graph.get_current_count() + len(slots)
                self.graph.resize_index(max(2 * self.graph.get_max_elements(), need))
        old = slots[self.written[slots]]
        for label in old + self.N * self.version[old]:
            self.graph.mark_deleted(int(label))
        self.version[old] += 1
        self.deleted += len(old)
        self.count += len(slots) - len(old)
        self.written[slots] = True
        self.graph.add_items(np.ascontiguousarray(rows, dtype=np.float32), slots + self.N * self.version[slots])

    def distance_to_zero(self, q: np.ndarray) -> np.ndarray:
        """hnswlib's distance from each query (H, W) to an all-zero row: cosine 1 - 0, l2 |q|^2."""
        return np.ones(len(q)) if self.metric == "cosine" else (q.astype(np.float64) ** 2).sum(1)

    def unwritten(self, k: int) -> np.ndarray:
        """Up to ``k`` slots that were never written, lowest first."""
        while self.first_unwritten < self.N and self.written[self.first_unwritten]:
            self.first_unwritten += 1
        found, i = [], self.first_unwritten
        while len(found) < k and i < self.N:
            if not self.written[i]:
                found.append(i)
            i += 1
        return np.array(found, dtype=np.int64)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` slots nearest to each query q (H, W): (H, k) slot numbers, nearest first."""
        H = len(q)
        found = min(k, self.count)
        if found:
            self.graph.set_ef(search_ef(self.count))
            q32 = np.ascontiguousarray(q, dtype=np.float32)
            try:
                labels, dist = self.graph.knn_query(q32, k=found)
            except RuntimeError:  # a small graph with tombstones can miss some of its live rows: scan them
                labels, dist = self._scan(q32, found)
            slots = (labels.astype(np.int64) % self.N).reshape(H, found)
        else:
            slots, dist = np.zeros((H, 0), dtype=np.int64), np.zeros((H, 0))
        zero = self.unwritten(k)
        if len(zero) == 0:
            return slots
        # merge the rows found (nearest first) with the unwritten (zero) rows by distance, all heads at
        # once: a stable sort of [found, unwritten] puts found rows first where they tie
        d0 = self.distance_to_zero(q)  # (H,)
        keys = np.concatenate([dist, np.broadcast_to(d0[:, None], (H, len(zero)))], axis=1)
        candidates = np.concatenate([slots, np.broadcast_to(zero, (H, len(zero)))], axis=1)
        order = np.argsort(keys, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(candidates, order, axis=1)


    def _scan(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over the live rows, hnswlib's distances: (labels, distances) (H, k)."""
        slots = np.flatnonzero(self.written)
        labels = slots + self.N * self.version[slots]
        rows = np.asarray(self.graph.get_items(labels, return_type="numpy"), dtype=np.float64)  # cosine: unit rows
        if self.metric == "cosine":
            unit = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
            dist = 1.0 - unit @ rows.T
        else:
            dist = (q * q).sum(1, keepdims=True) - 2.0 * q @ rows.T + (rows * rows).sum(1)
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        return labels[order], np.take_along_axis(dist, order, axis=1)


class MemoryIndex:
    """One ``SlotIndex`` per batch element of a memory M (B, N, W)."""

    def __init__(self, batch_size: int, num_slots: int, width: int, metric: str = "cosine"):
        self.indexes = [SlotIndex(num_slots, width, metric) for _ in range(batch_size)]

    @classmethod
    def build(cls, M: torch.Tensor, metric: str = "cosine") -> "MemoryIndex":
        """An index of the non-zero rows of M (B, N, W): O(N W) to find them, then one insertion each."""
        B, N, W = M.shape
        index = cls(B, N, W, metric)
        rows = M.detach().to("cpu", torch.float32).numpy()
        for b, slot_index in enumerate(index.indexes):
            slots = np.flatnonzero(np.abs(rows[b]).sum(1) > 0)
            if len(slots):
                slot_index.update(slots, rows[b][slots])
        return index

    def update(self, slots: torch.Tensor, rows: torch.Tensor) -> None:
        """Slots (B, C) now hold rows (B, C, W)."""
        slots = slots.detach().cpu().numpy()
        rows = rows.detach().to("cpu", torch.float32).numpy()
        for b, slot_index in enumerate(self.indexes):
            slot_index.update(slots[b], rows[b])

    def search(self, q: torch.Tensor, k: int) -> torch.Tensor:
        """The k slots nearest to each query q (B, H, W) -> (B, H, k) long, on q's device."""
        queries = q.detach().to("cpu", torch.float32).numpy()
        found = np.stack([slot_index.search(queries[b], k) for b, slot_index in enumerate(self.indexes)])
        return torch.from_numpy(found).to(q.device)


def recall_at_k(found: torch.Tensor, exact: torch.Tensor) -> float:
    """Mean fraction of the exact top-k (..., k) that ``found`` (..., k) contains."""
    hits = (found.unsqueeze(-1) == exact.unsqueeze(-2)).any(-2).float()  # exact slot j found?
    return hits.mean().item()
