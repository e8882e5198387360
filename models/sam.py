"""SAM: Sparse Access Memory.

Rae, Hunt, Harley, Danihelka, Senior, Wayne, Graves & Lillicrap, "Scaling Memory-Augmented Neural
Networks with Sparse Reads and Writes", arXiv:1610.09027 (2016), section 3. Equation numbers are the
paper's. The controller and interface plumbing are the DNC's (models/dnc.py, ``MemoryController``);
the memory reads and writes only a few rows per step:

  read    S^h_t = the K slots nearest to the query q^h_t                               (section 3.1)
          w~^{R,h}_t(i) = softmax_{i in S^h_t}(beta^h_t K[q^h_t, M_t(i)]), 0 outside S^h_t
          r^h_t = sum_{i in S^h_t} w~^{R,h}_t(i) M_t(i)                                 (eq. 4)
  write   I^U_t = one-hot of the least recently accessed slot                          (eq. 6)
          w^W_t = alpha_t (gamma_t w~^R_{t-1} + (1 - gamma_t) I^U_t)                     (eq. 5)
          M_t = (1 - I^U_t 1^T) o M_{t-1} + w^W_t a_t^T    erase the LRU slot, add a_t   (section 3.2)
  usage   T_t(i) = t if w^W_t(i) + w^R_t(i) > delta, else T_{t-1}(i); I^U_t = argmin_i T_{t-1}(i)
  output  y_t = W_y h_t + W_r [r^1_t; ..; r^R_t]

The paper leaves open (../shared/papers/sam-2016.md, section 9) the similarity K (cosine here, with a
read strength beta = oneplus, as the DNC), the gate squashing (sigmoid) and how R heads feed the one
write: w~^R_{t-1} is the mean of the heads' weights, so w^W sums to at most alpha_t. The write happens
before the read, as in the DNC.

Cost (``memory_ops``, ``index``; "auto" picks by N, see SPARSE_MIN_SLOTS and ANN_MIN_SLOTS):
- ``memory_ops="sparse"``: the memory is one tensor written in place (section 3.4): each write is
  journaled (its R K + 1 rows before and after) and undone in the backward pass
  (models/memory.py ``MemoryTape``), the gradient reaches the memory only on the rows read and
  written, and the least recently accessed slot comes from the "least accessed ring" (supplementary
  A.1, ``LeastRecentRing``) in O(1). Training memory grows with T K W, not T N W. ``forward`` then
  updates the memory of the state passed in, in place (one shared memory, as the paper's); pass a
  copy to keep the old one.
- ``memory_ops="dense"``: every write makes an out-of-place copy of M that autograd keeps (O(N W)
  per step) and usage is an argmin over N: the plain autograd version, the reference in the tests.
- ``index="exact"``: exact K nearest rows by a scan of all N rows (the paper's "SAM linear", O(N W)
  per query); ``index="ann"``: an approximate nearest-neighbour index per batch element, updated for
  the rows written at each step (models/ann_index.py, hnswlib; section 3.5 "SAM ANN"). The index and
  the ring are derived from the memory and the access times (not state of their own): the model
  keeps them for the memory it last stepped and rebuilds them when handed a different one.

The ARMIN authors ran SAM from github.com/ixaxaar/pytorch-dnc (vendored in github.com/zoharli/armin,
algorithimic_tasks/dnc/sparse_memory.py, util.py), one read head, K = 4, 128 x 20 memory. Options
select that code's choices (defaults follow the paper; the ``sam-code`` preset turns them on):
- ``similarity="cosine_over_width"``: util.py lines 64-68 expand both norms to (rows, W) before a
  bmm, so the denominator is W |a| |b|: the similarity is cos / W;
- ``read_strength=False``: sparse_memory.py line 275 takes the softmax of that similarity, no strength;
- ``search_metric="euclidean"``: flann_index.py line 32 builds a FLANN kd-tree with FLANN's default
  (squared Euclidean) distance on the raw rows, rebuilt from the whole memory every step
  (sparse_memory.py lines 181-184; here the index is updated, not rebuilt);
- ``interpolation_gates="per_slot"``: lines 67 and 326 (their SAM's one interface map,
  ``independent_linears=False``, dnc/sam.py line 40; lines 55 and 316 in the other branch), one gate
  per written row, R K + 1 of them (c = r K + 1, line 49):
  w^W_t(i) = alpha_t (gamma_t(i) w~^R_{t-1}(i) + (1 - gamma_t(i)) I^U_t(i));
- ``usage_rule="code"``: line 241, U_t(i) = (t - U_{t-1}(i)) u(i) + U_{t-1}(i) (1 - u(i)) with
  u(i) = [w^R(i) + w^W(i) > delta], the slot written next argmin_i U (line 223); dense usage only.
Its step, one option per behaviour (``SAM.reference_cell``; dense memory, one read head; with all
five the step equals that code's, FLANN made exact, to 4e-16 over 300 steps across the filling of
the memory, checked outside this repository):
- ``usage_timing="before_write"``: usage is updated at the write (lines 193-203, 227-245) from the read
  weights of step t-1 and the write weight each visible row got when it was last written (196, 212),
  one step later than the paper's order; the read weights get + 1 at the first step (195), in the
  write weights too;
- ``erase="least_used_visible"``: I is every written row whose usage (before this step's update) is
  the least among them (233-238), not one row: all are erased and get the (1 - gamma) share (208-219);
- ``read_least_used=True``: the read covers the K nearest rows and the least used row (270, 273-276),
  so at the next step the least used row's write weight includes its read weight (206-209);
- ``search_range="before_least_used"``: while the memory fills, the index holds only the rows before
  the least used row of the previous step (184; flann_index.py:26-28, ``other[:last]``), and read
  positions are clamped to the current least used row (266, 271), so an unwritten row is never read
  and the row just written as new is unreachable for one step; all rows once the least used row has
  been the last (186-187);
- ``initial_fill=1e-6``: memory, read and write weights start at util.δ = 1e-6 (util.py:105;
  sparse_memory.py:137-141; its ``self.δ = 0.005``, line 75, is only the usage threshold).
Ties for the least used row go to the first row (torch.topk's choice in that code at N = 128 here;
topk does not promise it). Not offered: the product of the heads' read weights (line 277; one head).
A row listed twice in a write takes one of its updates, as there (``erase_and_write``).

- ``reference_init=True`` (the DNC's option, models/dnc.py): the initialisation their train.py:100
  gives it (``init_param``, dnc/dnc.py:149-154): one orthogonal LSTM matrix and one trained gate bias
  (dnc.py:30-31), the interface (one Linear, sparse_memory.py:67-72) and output weights xavier-normal,
  every bias zero.
Biases at initialisation: all zero (nn.LSTMCell's bias_ih and bias_hh, the interface's, the output
layer's), except the forget block of bias_ih, which holds ``forget_bias``.

Parameters: their Table 1 count, 109k at hidden 120 on the copy task, is 109,538 = 79,434 used (LSTM
72,480 with one bias vector, learned initial h, c, r 260, interface 5,566, output 1,128) + 30,104 in a
dense DNC memory module their SAM class builds and then replaces, which stays registered unused. This
model has 79,291 (nn.LSTMCell's second bias +480; the paper's scalar gamma and a read strength
instead of the code's R K + 1 interpolation gates: -363); the ``sam-code`` preset has 79,434, their
count of used parameters exactly (interface 5,566, learned initial state 260, one trained LSTM bias).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.ann_index import MemoryIndex
from models.base import State, register_model
from models.dnc import ControllerConfig, MemoryController
from models.memory import (
    COSINE_EPS,
    LeastRecentRing,
    MemoryTape,
    add_rows,
    add_rows_,
    cosine_similarity_heads,
    gather_rows,
    nearest_slots,
    oneplus,
    read_rows,
    tape_gather,
    tape_start,
    tape_write,
)

ACCESS_THRESHOLD = 0.005  # delta: an access counts when w^W_t(i) + w^R_t(i) exceeds it (SAM usage)
INDEXES = ("auto", "exact", "ann")
MEMORY_OPS = ("auto", "sparse", "dense")
SIMILARITIES = ("cosine", "cosine_over_width")
SEARCH_METRICS = ("cosine", "euclidean")
INTERPOLATION_GATES = ("scalar", "per_slot")
USAGE_RULES = ("last_access", "code")
# "auto" thresholds, measured (README "Sparse SAM"): below them the dense ops and the exact scan are faster
SPARSE_MIN_SLOTS = 4096  # memory_ops="auto" is sparse from this many slots
ANN_MIN_SLOTS = 16384  # index="auto" is the ANN index from this many slots
# options where the ARMIN authors' code departs from the paper (the variant column)
USAGE_TIMINGS = ("after_read", "before_write")
ERASE_SETS = ("least_used", "least_used_visible")
SEARCH_RANGES = ("all", "before_least_used")
REFERENCE_DELTA = 1e-6  # util.δ of the authors' dnc/util.py:105: the cosine's epsilons and the initial fill
# the step of the authors' sparse_memory.py, one option per behaviour (defaults: the paper's step)
STEP_OPTION_DEFAULTS = {"usage_timing": "after_read", "erase": "least_used", "read_least_used": False,
                        "search_range": "all", "initial_fill": 0.0}
CODE_VARIANT_OPTIONS = ("forget_bias", "learned_initial_state", "reference_init", "similarity", "read_strength",
                        "search_metric", "interpolation_gates", "usage_rule") + tuple(STEP_OPTION_DEFAULTS)
KEPT_MEMORIES = 2  # memories whose index and ring the model keeps (e.g. a training run's and a probe's)
_memory_ids = itertools.count(1)  # tells memories apart (a new memory may reuse a freed one's address)


@dataclass
class SAMConfig(ControllerConfig):
    # d_h, N x W and R as the DNC's (Table 1: 120, 128 x 20, 1 read head)
    sparse_reads: int = 4  # K: slots each head reads (pytorch-dnc's default 4)
    index: str = "auto"  # "exact" scan (SAM linear), "ann" index (SAM ANN), "auto": ann from ANN_MIN_SLOTS
    memory_ops: str = "auto"  # "sparse" (in place, journaled), "dense" (copies), "auto": sparse from SPARSE_MIN_SLOTS
    similarity: str = "cosine"  # K[q, M(i)]: "cosine" or the authors' code's "cosine_over_width" (cos / W)
    read_strength: bool = True  # beta = oneplus(.) scales the similarity; the code has none
    search_metric: str = "cosine"  # which rows are nearest: "cosine" or the code's "euclidean"
    interpolation_gates: str = "scalar"  # gamma_t: one "scalar" or the code's R K + 1 ("per_slot")
    usage_rule: str = "last_access"  # "last_access" (paper) or the code's (t - U) u + U (1 - u)
    # the authors' step (module docstring; dense ops, one read head); the defaults are the paper's step
    usage_timing: str = "after_read"  # "before_write": from the read weights of t-1, at the write
    erase: str = "least_used"  # "least_used_visible": every written row of least usage is erased
    read_least_used: bool = False  # the read covers the K nearest rows and the least used one
    search_range: str = "all"  # "before_least_used": neighbours among the rows before the least used one
    initial_fill: float = 0.0  # memory and the weights start at this value (the code: 1e-6)

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.sparse_reads <= self.memory_slots:
            raise ValueError(
                f"sparse_reads (K) must be in [1, memory_slots={self.memory_slots}], got {self.sparse_reads}"
            )
        for name, valid in (("index", INDEXES), ("memory_ops", MEMORY_OPS), ("similarity", SIMILARITIES),
                            ("search_metric", SEARCH_METRICS), ("interpolation_gates", INTERPOLATION_GATES),
                            ("usage_rule", USAGE_RULES)):
            if getattr(self, name) not in valid:
                raise ValueError(f"{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}")
        if self.usage_rule == "code" and self.memory_ops == "sparse":
            raise ValueError("usage_rule='code' orders slots by a value, not by time: it needs memory_ops='dense'")
        for name, valid in (("usage_timing", USAGE_TIMINGS), ("erase", ERASE_SETS), ("search_range", SEARCH_RANGES)):
            if getattr(self, name) not in valid:
                raise ValueError(f"{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}")
        if self.reference_step:
            changed = ", ".join(n for n, v in STEP_OPTION_DEFAULTS.items() if getattr(self, n) != v)
            if self.memory_ops == "sparse":
                raise ValueError(f"{changed}: the authors' step is computed on the dense memory; use memory_ops='dense'")
            if self.read_heads != 1:
                raise ValueError(f"{changed}: the authors' step is implemented for one read head, got {self.read_heads}")

    @property
    def reference_step(self) -> bool:
        """Any behaviour of the authors' step (``STEP_OPTION_DEFAULTS``) turned on."""
        return any(getattr(self, name) != value for name, value in STEP_OPTION_DEFAULTS.items())

    @property
    def sparse_ops(self) -> bool:
        if self.usage_rule == "code" or self.reference_step:
            return False
        return self.memory_ops == "sparse" or (self.memory_ops == "auto" and self.memory_slots >= SPARSE_MIN_SLOTS)

    @property
    def ann(self) -> bool:
        return self.index == "ann" or (self.index == "auto" and self.memory_slots >= ANN_MIN_SLOTS)


# --- the read, the write and the usage (section 3) ---------------------------------------------------
def similarity(rows: torch.Tensor, q: torch.Tensor, over_width: bool = False) -> torch.Tensor:
    """K[q^h, M(i)] on the gathered rows: rows (B, H, C, W), q (B, H, W) -> (B, H, C). The cosine, or
    the authors' code's cosine / W (``over_width``) with its epsilons, delta = 1e-6 (util.py:64-68):
    a.b / (W (|a| + delta) (|b| + delta) + delta), which matters for its rows filled with delta."""
    dot = (rows * q.unsqueeze(2)).sum(-1)
    if over_width:
        d = REFERENCE_DELTA
        return dot / (rows.shape[-1] * (rows.norm(dim=-1) + d) * (q.norm(dim=-1, keepdim=True) + d) + d)
    return dot / (rows.norm(dim=-1) * q.norm(dim=-1, keepdim=True) + COSINE_EPS)


def sparse_read(rows: torch.Tensor, q: torch.Tensor, beta: torch.Tensor | None,
                over_width: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Read of the K rows gathered per head (eq. 4): rows (B, R, K, W), queries q (B, R, W), strengths
    beta (B, R, 1) or None -> read vectors (B, R, W) and weights w~^R (B, R, K), a softmax over the K."""
    logits = similarity(rows, q, over_width)  # (B, R, K)
    w = F.softmax(logits if beta is None else beta * logits, dim=-1)
    return (w.unsqueeze(-1) * rows).sum(2), w


def write_weights(w_r: torch.Tensor, alpha: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """w^W_t on the R K slots read at t-1 and the LRU slot (eq. 5): alpha (gamma w~^R_{t-1} + (1 - gamma) I^U_t).
    w_r (B, R, K); alpha (B, 1); gamma (B, 1), or (B, R K + 1) per written slot -> (B, R K + 1)."""
    B, R, K = w_r.shape
    # w_prev is the heads' mean on the R K read slots and 0 on the LRU slot, I^U_t the reverse, so
    # gamma w_prev + (1 - gamma) I^U_t is gamma w_prev on the read slots and 1 - gamma on the LRU slot
    gamma_read, gamma_lru = (gamma, gamma) if gamma.shape[1] == 1 else (gamma[:, :-1], gamma[:, -1:])
    return alpha * torch.cat([gamma_read * (w_r.reshape(B, R * K) / R), 1.0 - gamma_lru], dim=1)


def sparse_write(M: torch.Tensor, slots: torch.Tensor, w_w: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """M_t = (1 - I^U_t 1^T) o M_{t-1} + w^W_t a_t^T, out of place (the dense version): M (B, N, W), the
    written slots (B, R K + 1) with the LRU slot last, their weights (B, R K + 1), a (B, W) -> M_t."""
    delta = w_w.unsqueeze(2) * a.unsqueeze(1)  # w^W_t a_t^T on the written rows (B, R K + 1, W)
    erase = read_rows(M, slots[:, -1]).unsqueeze(1)  # (1 - I^U_t 1^T) o M_{t-1}: take the LRU row away
    delta = torch.cat([delta[:, :-1], delta[:, -1:] - erase], dim=1)
    return add_rows(M, slots, delta)


def write_in_place_(M: torch.Tensor, slots: torch.Tensor, w_w: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The same write in place, outside autograd (inference): M(LRU) = 0, then the additions."""
    M[torch.arange(M.shape[0], device=M.device), slots[:, -1]] = 0.0
    return add_rows_(M, slots, w_w.unsqueeze(2) * a.unsqueeze(1))


def access_times(T_prev: torch.Tensor, t: torch.Tensor, index: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """T_t(i) = t where w^W_t(i) + w^R_t(i) > delta, else T_{t-1}(i)  (SAM usage), dense: T_prev (B, N)
    long, t () long, the slots touched this step (B, C) and their weights (B, C) -> (B, N)."""
    access = torch.zeros(T_prev.shape, dtype=weights.dtype, device=weights.device)
    access = access.scatter_add(1, index, weights.detach())  # repeated slots add up
    return torch.where(access > ACCESS_THRESHOLD, t, T_prev)


def code_usage(U_prev: torch.Tensor, t: torch.Tensor, index: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The authors' code's usage (sparse_memory.py line 241): U_t(i) = (t - U_{t-1}(i)) u(i) +
    U_{t-1}(i) (1 - u(i)), u(i) = [w^W_t(i) + w^R_t(i) > delta]; (B, N) as ``access_times``."""
    access = torch.zeros(U_prev.shape, dtype=weights.dtype, device=weights.device)
    access = access.scatter_add(1, index, weights.detach())
    return torch.where(access > ACCESS_THRESHOLD, t - U_prev, U_prev)


def reference_write_weights(w_read: torch.Tensor, alpha: torch.Tensor, gamma: torch.Tensor,
                            erase_set: torch.Tensor) -> torch.Tensor:
    """The authors' write weights over the written rows (sparse_memory.py:206-209):
    w^W(i) = alpha (gamma(i) w^R_{t-1}(i) + (1 - gamma(i)) I(i)), where w_read (B, C) holds the read
    weight of each written row (the least used row's own, when it was read), I (B, C) the erased set,
    alpha (B, 1), gamma (B, 1) or (B, C) -> (B, C)."""
    return alpha * (gamma * w_read + (1.0 - gamma) * erase_set)


def erase_and_write(M: torch.Tensor, slots: torch.Tensor, erase_set: torch.Tensor, w_w: torch.Tensor,
                    a: torch.Tensor) -> torch.Tensor:
    """M(i) <- M(i) (1 - I(i)) + w^W(i) a for each written row i (sparse_memory.py:214-219, 177), out of
    place: M (B, N, W), the rows ``slots`` (B, C), the erased set I (B, C), w_w (B, C), a (B, W) -> M.
    Each row's new value is computed alone and scattered back, as the reference does: a row listed
    twice (a neighbour that is also the least used row) takes one of its two updates (torch's scatter,
    the reference's too), not their sum."""
    index = slots.unsqueeze(2).expand(*slots.shape, M.shape[2])
    rows = M.gather(1, index)  # (B, C, W)
    return M.scatter(1, index, rows * (1.0 - erase_set).unsqueeze(2) + w_w.unsqueeze(2) * a.unsqueeze(1))


def accessed_slots(index: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Slots whose summed weight over ``index`` (C,) exceeds delta: the sparse form of ``access_times``."""
    slots, inverse = np.unique(index, return_inverse=True)
    total = np.bincount(inverse, weights, minlength=len(slots))  # float64 sums in order, as np.add.at
    return slots[total > ACCESS_THRESHOLD]


class SparseSide:
    """What the sparse path derives from a memory and keeps beside it: the nearest-neighbour index
    (``index="ann"``), one least accessed ring per batch element, the gradient buffer of the memory
    and the current backward tape. Valid for the memory ``memory_id`` at step ``t``."""

    def __init__(self, state: State, metric: str, ann: bool):
        self.memory_id, self.t = int(state["memory_id"]), int(state["t"])
        M = state["M"]
        self.index = MemoryIndex.build(M, metric) if ann else None
        self.rings = [LeastRecentRing(times) for times in state["access_time"].cpu().numpy()]
        self.grad: torch.Tensor | None = None
        self.tape: MemoryTape | None = None

    def tape_for(self, M: torch.Tensor, token: torch.Tensor) -> tuple[MemoryTape, torch.Tensor]:
        """The tape that ``token`` belongs to, or a new one starting at M."""
        if self.tape is not None and token is self.tape.last_token:
            return self.tape, token
        if self.grad is None or self.grad.shape != M.shape:
            self.grad = torch.zeros_like(M)  # once per memory: the backward clears what it touches
        self.tape = MemoryTape(M.detach(), self.grad)
        return self.tape, tape_start(self.tape, M)


@register_model("sam")
class SAM(MemoryController):
    inplace_memory = "M"
    config_class = SAMConfig
    config: SAMConfig
    interface_independent = False  # reference_init: their SAM's interface is one Linear (sam.py:40)

    def __init__(self, config: SAMConfig):
        R, W, K = config.read_heads, config.W, config.sparse_reads
        gates = R * K + 1 if config.interpolation_gates == "per_slot" else 1
        # interface: [q (R W); beta (R, if read_strength); a (W); alpha (1); gamma (1 or R K + 1)]
        super().__init__(config, [R * W, R if config.read_strength else 0, W, 1, gates])
        self.K = K
        self._sides: dict[int, SparseSide] = {}  # memory_id -> index and ring of that memory

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        like = self._like(device, dtype)
        B, R, K, N, W = batch_size, self.R, self.K, self.N, self.W
        long = {"dtype": torch.long, "device": like["device"]}
        cfg, fill = self.config, self.config.initial_fill
        read = K + 1 if cfg.read_least_used else K  # rows "read" before the first step: 0 .. read - 1
        state = {
            **self.controller_state(B, like),
            "M": torch.full((B, N, W), fill, **like),  # memory (empty: zeros, the code's 1e-6)
            "read_index": torch.arange(read, **long).expand(B, R, read).contiguous(),  # slots read at t-1
            "w_r": torch.full((B, R, read), fill, **like),  # their weights (none read yet)
            "access_time": torch.zeros(B, N, **long),  # T(i): step of the last access, 0 = never
            "t": torch.zeros((), **long),  # time step counter
            "memory_id": torch.tensor(next(_memory_ids), **long),  # which memory (for the index and ring)
            "order": torch.zeros((), **like),  # sparse training: orders the in-place writes for backward
        }
        if cfg.usage_timing == "before_write":  # the write weights each row got when last written
            state["w_w_all"] = torch.full((B, N), fill, **like)
        if cfg.search_range == "before_least_used":  # whether the least used row has reached the last row
            state["filled"] = torch.zeros(B, dtype=torch.bool, device=like["device"])
        return state

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if not self.config.sparse_ops:
            return super().forward(x, state)
        # sparse: one memory written in place (section 3.4), also in training; no copy of a given state
        state = self.initial_state(x.shape[1], device=x.device, dtype=x.dtype) if state is None else state
        return self.unroll(x, state)

    def _side(self, state: State) -> SparseSide:
        """The index and ring of this state's memory, rebuilt if they describe another memory or step."""
        key = int(state["memory_id"])
        side = self._sides.get(key)
        if side is None or side.t != int(state["t"]):
            side = SparseSide(state, self.config.search_metric, self.config.ann)
            self._sides = {k: v for k, v in self._sides.items() if k != key}
            while len(self._sides) >= KEPT_MEMORIES:  # drop the least recently built
                self._sides.pop(next(iter(self._sides)))
            self._sides[key] = side
        return side

    def cell(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        cfg = self.config
        B, R, K, W = x_t.shape[0], self.R, self.K, self.W
        h, c, blocks = self.control(x_t, state)
        q, beta, a, alpha, gamma = blocks
        q = q.view(B, R, W)  # read queries
        beta = oneplus(beta).unsqueeze(2) if cfg.read_strength else None  # read strengths (B, R, 1)
        alpha, gamma = torch.sigmoid(alpha), torch.sigmoid(gamma)  # write and interpolation gates
        t = state["t"] + 1
        if cfg.reference_step:
            return self.reference_cell(state, h, c, q, beta, a, alpha, gamma, t)
        sparse = cfg.sparse_ops
        side = self._side(state) if sparse else None
        M, token, access_time = state["M"], state["order"], state["access_time"]

        # write: the slots read at t-1 and the least recently accessed slot (eq. 5, 6)
        if sparse:
            lru = torch.tensor([ring.head() for ring in side.rings], device=M.device)  # (B,) O(1) each
        else:
            lru = access_time.argmin(dim=1)  # (B,) I^U_t: argmin_i T_{t-1}(i), O(N)
        slots = torch.cat([state["read_index"].reshape(B, R * K), lru.unsqueeze(1)], dim=1)  # (B, R K + 1)
        w_w = write_weights(state["w_r"], alpha, gamma)  # (B, R K + 1)
        tape = None
        if not sparse:
            M = sparse_write(M, slots, w_w, a) if not self.writes_in_place() else write_in_place_(M, slots, w_w, a)
        elif torch.is_grad_enabled():
            tape, token = side.tape_for(M, token)
            token = tape_write(tape, token, slots, w_w.unsqueeze(2) * a.unsqueeze(1), lru)
        else:
            write_in_place_(M, slots, w_w, a)
        if side is not None and side.index is not None:
            side.index.update(slots, gather_rows(M.detach(), slots))

        # read: the K nearest slots per head (section 3.1, eq. 4)
        if side is not None and side.index is not None:
            read_index = side.index.search(q, K)  # (B, R, K)
        else:
            read_index = nearest_slots(M, q, K, cfg.search_metric)  # (B, R, K), exact: O(N W)
        if tape is not None:
            rows, token = tape_gather(tape, token, read_index.view(B, R * K))
        else:
            rows = gather_rows(M, read_index.view(B, R * K))  # the only rows read (B, R K, W)
        r, w_r = sparse_read(rows.view(B, R, K, W), q, beta, cfg.similarity == "cosine_over_width")

        # usage: time of the last non-negligible access
        touched = torch.cat([slots, read_index.view(B, -1)], dim=1)  # (B, 2 R K + 1)
        weights = torch.cat([w_w, w_r.view(B, -1)], dim=1)
        if cfg.usage_rule == "code":
            access_time = code_usage(access_time, t, touched, weights)
        elif not sparse:
            access_time = access_times(access_time, t, touched, weights)
        else:
            touched_np, weights_np = touched.cpu().numpy(), weights.detach().cpu().numpy()
            for b, ring in enumerate(side.rings):
                now = accessed_slots(touched_np[b], weights_np[b])
                access_time[b, torch.from_numpy(now).to(M.device)] = t  # in place: O(R K)
                ring.touch(now)
            side.t += 1

        r = r.reshape(B, R * W)
        new_state = {
            "h": h,
            "c": c,
            "r": r,
            "M": M,
            "read_index": read_index,
            "w_r": w_r,
            "access_time": access_time,
            "t": t,
            "memory_id": state["memory_id"],
            "order": token,
        }
        return torch.cat([h, r], dim=-1), new_state

    def reference_cell(self, state: State, h: torch.Tensor, c: torch.Tensor, q: torch.Tensor,
                       beta: torch.Tensor | None, a: torch.Tensor, alpha: torch.Tensor, gamma: torch.Tensor,
                       t: torch.Tensor) -> tuple[torch.Tensor, State]:
        """One step with the authors' behaviours the options turn on (module docstring), one read head,
        dense memory. Without any of them it computes what the dense path of ``cell`` computes."""
        cfg = self.config
        B, K, N, W = h.shape[0], self.K, self.N, self.W
        M, U = state["M"], state["access_time"]
        visible, w_prev = state["read_index"].reshape(B, -1), state["w_r"].reshape(B, -1)  # read at t-1 (B, V)
        # the rows written: those read at t-1 and the least used row, itself read at t-1 with read_least_used
        if cfg.read_least_used:
            slots, w_read = visible, w_prev  # (B, K + 1), the least used row last (270)
        else:
            slots = torch.cat([visible, U.argmin(dim=1, keepdim=True)], dim=1)  # (B, K + 1)
            w_read = torch.cat([w_prev, w_prev.new_zeros(B, 1)], dim=1)
        usage_before = U.gather(1, slots)  # (B, K + 1)
        if cfg.erase == "least_used_visible":  # every written row of least usage (233-238)
            erase_set = (usage_before == usage_before.min(dim=1, keepdim=True).values).to(M.dtype)
        else:  # the least used row alone (the paper)
            erase_set = torch.zeros_like(w_read).index_fill_(1, torch.tensor([slots.shape[1] - 1]), 1.0)
        update = code_usage if cfg.usage_rule == "code" else access_times
        if cfg.usage_timing == "before_write":  # 193-203: the read weights of t-1, + 1 at the first step (195:
            w_read = w_read + (t == 1).to(M.dtype)  # the write weights below see it too), and the write
            U = update(U, t, slots, w_read + state["w_w_all"].gather(1, slots))  # weights each row got last (196)
        w_w = reference_write_weights(w_read, alpha, gamma, erase_set)  # (B, K + 1)
        M = erase_and_write(M, slots, erase_set, w_w, a)
        lru = U.argmin(dim=1)  # (B,) the least used row after this step's usage (223)

        # read: the K nearest rows, by default among all rows
        allowed, filled = None, None
        if cfg.search_range == "before_least_used":  # the index holds rows before the least used row of t-1
            filled_before = state["filled"]  # until the memory has filled (184, 186-187; flann_index.py:26-32)
            last = slots[:, -1].clamp(min=K)  # (B,) at least K rows, as their first step's 0 .. K - 1
            allowed = filled_before.unsqueeze(1) | (torch.arange(N, device=M.device) < last.unsqueeze(1))
            filled = filled_before | (slots[:, -1] >= N - 1)
        read_index = nearest_slots(M, q, K, cfg.search_metric, allowed)  # (B, 1, K)
        if cfg.read_least_used:  # and the least used row (270)
            read_index = torch.cat([read_index, lru.view(B, 1, 1)], dim=2)  # (B, 1, K + 1)
        if filled is not None:  # positions clamped to the least used row while the memory fills (266, 271)
            read_index = torch.where(filled.view(B, 1, 1), read_index, torch.minimum(read_index, lru.view(B, 1, 1)))
        rows = gather_rows(M, read_index.view(B, -1))
        r, w_r = sparse_read(rows.view(B, 1, -1, W), q, beta, cfg.similarity == "cosine_over_width")
        if cfg.usage_timing == "after_read":  # the paper's order: this step's write and read weights
            U = update(U, t, torch.cat([slots, read_index.view(B, -1)], dim=1), torch.cat([w_w, w_r.view(B, -1)], dim=1))

        new_state = {**state, "h": h, "c": c, "r": r.reshape(B, W), "M": M, "read_index": read_index, "w_r": w_r,
                     "access_time": U, "t": t}
        if cfg.usage_timing == "before_write":
            new_state["w_w_all"] = state["w_w_all"].scatter(1, slots, w_w.detach())  # (212)
        if filled is not None:
            new_state["filled"] = filled
        return torch.cat([h, new_state["r"]], dim=-1), new_state

    def path_name(self) -> str:
        mode = "train" if self.training else "eval"
        ops = "sparse" if self.config.sparse_ops else "dense"
        return f"{mode}:{ops}-{'ann' if self.config.ann else 'exact'}"

    def variant(self) -> str:
        """"paper", or "code:" and the authors'-code options in effect."""
        defaults = SAMConfig()
        changed = [f"{n}={getattr(self.config, n)}" for n in CODE_VARIANT_OPTIONS
                   if getattr(self.config, n) != getattr(defaults, n)]
        return "code:" + ",".join(changed) if changed else "paper"

    @torch.no_grad()
    def index_recall(self, state: State, queries: int = 64, seed: int = 0) -> float | None:
        """Recall@K of the ANN index against the exact K nearest rows of the state's memory, for random
        queries: the fraction of the slots found that are at least as near as the exact K-th (ties
        among equally near rows, e.g. unwritten ones, count as found). None without an ANN index."""
        if not (self.config.sparse_ops and self.config.ann):
            return None
        M = state["M"]
        B, W, K = M.shape[0], self.W, self.K
        q = torch.randn(B, queries, W, generator=torch.Generator().manual_seed(seed)).to(M)
        found = self._side(state).index.search(q, K)  # (B, Q, K)
        if self.config.search_metric == "euclidean":
            score = -torch.cdist(q, M)  # (B, Q, N)
        else:
            score = cosine_similarity_heads(M, q)  # (B, Q, N)
        kth = score.topk(K, dim=-1).values[..., -1:]  # (B, Q, 1)
        tolerance = 1e-5 * kth.abs().clamp_min(1.0)  # float32 index vs exact scores
        return (score.gather(-1, found) >= kth - tolerance).float().mean().item()
