"""SAM (Rae et al. 2016, section 3): the top-K read and the LRU write against hand-computed values,
the access-time usage, a cell cycling its writes through the least recently used slots, the O(K)
sparsity of a step (rows changed and rows reached by the gradient), inference in place, gradient
flow, sizes, dtypes and a short copy-task run. The sparse-cost version (issue 9) and the authors'
code options (issue 10) are below them."""

import math

import numpy as np
import pytest
import torch

from models import build_model
from models.ann_index import MemoryIndex, recall_at_k
from models.memory import LeastRecentRing, MemoryTape, nearest_slots, tape_gather, tape_start, tape_write
from models.sam import (
    SAMConfig,
    access_times,
    code_usage,
    similarity,
    sparse_read,
    sparse_write,
    write_weights,
)

BIG = 40.0  # sigmoid(40) == 1.0 and sigmoid(-40) ~ 4e-18 in float64


def t64(values):
    return torch.tensor(values, dtype=torch.float64)


# four 2-d rows: cosines with q = [1, 0] are [1, 0, 1/sqrt(2), -1], with q = [0, 1] [0, 1, 1/sqrt(2), 0]
M_HAND = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]


def test_top_k_read_weights_only_the_k_nearest_slots():
    M = t64([M_HAND])
    q = t64([[[1.0, 0.0], [0.0, 1.0]]])  # two heads
    index = nearest_slots(M, q, K=2)
    assert index[0, 0].tolist() == [0, 2] and index[0, 1].tolist() == [1, 2]
    rows = M[0, index[0]].unsqueeze(0)  # (1, 2 heads, K, W)
    r, w = sparse_read(rows, q, t64([[[1.0], [2.0]]]))
    c = 1.0 / math.sqrt(2.0)
    w0 = math.exp(1.0) / (math.exp(1.0) + math.exp(c))  # softmax(beta cos) over the two nearest, beta = 1
    w1 = math.exp(2.0) / (math.exp(2.0) + math.exp(2.0 * c))  # beta = 2
    assert torch.allclose(w, t64([[[w0, 1 - w0], [w1, 1 - w1]]]), atol=1e-7)
    # head 1: w0 [1, 0] + (1 - w0) [1, 1]; head 2: w1 [0, 1] + (1 - w1) [1, 1]
    assert torch.allclose(r, t64([[[1.0, 1 - w0], [1 - w1, 1.0]]]), atol=1e-7)


def test_lru_write_erases_the_least_recently_used_slot_and_adds_to_the_read_ones():
    M = t64([M_HAND])
    T_prev = torch.tensor([[3, 1, 2, 5]])
    lru = T_prev.argmin(dim=1)  # slot 1
    read_index, w_r = torch.tensor([[[0, 3]]]), t64([[[0.7, 0.3]]])  # read at t-1
    a = t64([[1.0, 2.0]])
    index = torch.cat([read_index.view(1, 2), lru.view(1, 1)], dim=1)
    w_w = write_weights(w_r, alpha=t64([[1.0]]), gamma=t64([[0.5]]))
    M_new = sparse_write(M, index, w_w, a)
    assert index.tolist() == [[0, 3, 1]]
    assert torch.allclose(w_w, t64([[0.35, 0.15, 0.5]]))  # gamma w^R_{t-1}, (1 - gamma) on the LRU slot
    expected = t64([[[1.35, 0.7], [0.5, 1.0], [1.0, 1.0], [-0.85, 0.3]]])  # slot 1 erased, then + 0.5 a
    assert torch.allclose(M_new, expected)
    assert torch.equal(M, t64([M_HAND]))  # out of place
    # the written slots are accessed at t = 6; slot 2 keeps its time and becomes the next LRU slot
    T = access_times(T_prev, torch.tensor(6), index, w_w)
    assert T.tolist() == [[6, 6, 2, 6]] and T.argmin().item() == 2


def test_access_needs_read_plus_write_weight_above_delta():
    T_prev = torch.zeros(1, 3, dtype=torch.long)
    index = torch.tensor([[0, 0, 1]])  # slot 0 written and read with 0.003 each (sum 0.006), slot 1 0.003 once
    T = access_times(T_prev, torch.tensor(4), index, t64([[0.003, 0.003, 0.003]]))
    assert T.tolist() == [[4, 0, 0]]


def lru_cycling_sam(memory_ops="auto"):
    """K = 1 over four 2-d slots, interface constant (zero weights): write a = [1, 1] with alpha = 1,
    gamma = 0 (all to the LRU slot), read with query [0, 1], strength 1 + softplus(0)."""
    model = build_model("sam", input_size=2, output_size=2, hidden_size=5, memory_slots=4, memory_width=2,
                        sparse_reads=1, memory_ops=memory_ops).double()  # fmt: skip
    with torch.no_grad():
        model.W_xi.linear.weight.zero_()
        model.W_xi.linear.bias.copy_(t64([0.0, 1.0, 0.0, 1.0, 1.0, BIG, -BIG]))  # [q (2); beta; a (2); alpha; gamma]
    return model


@pytest.mark.parametrize("memory_ops", ["dense", "sparse"])
def test_cell_writes_cycle_through_least_recently_used_slots(memory_ops):
    model = lru_cycling_sam(memory_ops)
    state = model.initial_state(1)
    state["M"] = t64([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]])
    x = torch.zeros(1, 2, dtype=torch.float64)
    a = [1.0, 1.0]
    # slot 1 matches the query best and is read every step, so it is never the LRU slot: writes go 0, 2, 3, 0
    for step, (written, times) in enumerate(
        [(0, [1, 1, 0, 0]), (2, [1, 2, 2, 0]), (3, [1, 3, 2, 3]), (0, [4, 4, 2, 3])], start=1
    ):
        before = state["M"].clone()
        _, state = model.cell(x, state)
        assert state["t"].item() == step
        assert torch.allclose(state["M"][0, written], t64(a)), step  # erased, then + a
        others = [i for i in range(4) if i != written]
        assert torch.allclose(state["M"][0, others], before[0, others]), step
        assert state["read_index"].tolist() == [[[1]]] and torch.allclose(state["w_r"], t64([[[1.0]]]))
        assert state["access_time"].tolist() == [times], step


def random_state(model, batch_size, generator):
    """A mid-sequence state: random memory, random slots read at t-1 with random weights, random times."""
    state = model.initial_state(batch_size)
    N, W, R, K = model.N, model.W, model.R, model.K
    state["M"] = torch.randn(batch_size, N, W, generator=generator, dtype=torch.float64)
    state["read_index"] = torch.stack([torch.randperm(N, generator=generator)[: R * K] for _ in range(batch_size)])
    state["read_index"] = state["read_index"].view(batch_size, R, K)
    state["w_r"] = torch.softmax(torch.randn(batch_size, R, K, generator=generator, dtype=torch.float64), dim=-1)
    state["access_time"] = torch.randint(0, 20, (batch_size, N), generator=generator)
    state["t"] = torch.tensor(20)
    return state


@pytest.mark.parametrize("heads", [1, 2])
def test_one_step_touches_at_most_k_plus_one_rows(heads):
    """A step changes at most R K + 1 rows of M and its gradient reaches at most R K rows of the
    incoming memory (the rows read; K + 1 with one head is the bound asked for). A dense read
    would reach all 16."""
    K, N, B = 4, 16, 3
    model = build_model("sam", input_size=3, output_size=2, hidden_size=8, memory_slots=N, memory_width=5,
                        read_heads=heads, sparse_reads=K).double()  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    state = random_state(model, B, generator)
    M_in = state["M"].requires_grad_()
    features, new_state = model.cell(torch.randn(B, 3, generator=generator, dtype=torch.float64), state)
    (features * torch.randn(features.shape, generator=generator, dtype=torch.float64)).sum().backward()
    rows_reached = (M_in.grad.abs().sum(dim=2) > 0).sum(dim=1)  # (B,)
    rows_changed = ((new_state["M"] - M_in).abs().sum(dim=2) > 0).sum(dim=1)
    assert torch.all(rows_reached >= 1) and torch.all(rows_reached <= heads * K + 1), rows_reached
    assert torch.all(rows_changed >= 1) and torch.all(rows_changed <= heads * K + 1), rows_changed
    for b in range(B):  # the gradient reaches only rows read at this step
        reached = set(torch.nonzero(M_in.grad[b].abs().sum(dim=1)).flatten().tolist())
        assert reached <= set(new_state["read_index"][b].flatten().tolist())


def small_sam(**options):
    opts = dict(input_size=4, output_size=3, hidden_size=16, memory_slots=12, memory_width=5, read_heads=2,
                sparse_reads=3)  # fmt: skip
    opts.update(options)
    return build_model("sam", **opts)


def test_inference_in_place_matches_training_and_spares_the_callers_memory():
    torch.manual_seed(0)
    model = small_sam().double()
    x = torch.randn(8, 2, 4, dtype=torch.float64)
    state = model.initial_state(2)
    state["M"] = torch.randn(2, 12, 5, dtype=torch.float64)
    M_before = state["M"].clone()
    logits, final = model(x, state)
    model.eval()
    with torch.no_grad():
        assert model.inference_path() == "eval:dense-exact-inplace"
        logits_eval, final_eval = model(x, state)
    assert torch.allclose(logits, logits_eval) and torch.allclose(final["M"], final_eval["M"])
    assert torch.equal(state["M"], M_before)


def test_table1_size():
    model = build_model("sam", input_size=10, output_size=8, hidden_size=120, memory_slots=128, memory_width=20)
    # LSTM 4*120*(10+20+120) + 2*480, interface 120*43 + 43, output 140*8 + 8 (the paper's 109k: see sam.py)
    assert model.num_parameters() == 72960 + 5203 + 1128
    assert model.variant() == "paper"


@pytest.mark.parametrize("bad", [dict(sparse_reads=0), dict(sparse_reads=13), dict(read_heads=0)])
def test_impossible_configs_are_rejected(bad):
    with pytest.raises(ValueError):
        small_sam(**bad)


# --- SAM with sparse cost (issue 9) -----------------------------------------------------------------
def run_segment(model, M0, x, weights, state=None):
    """Forward from memory M0 (a leaf, so its gradient is checked too), a fixed random loss, backward."""
    state = state or model.initial_state(x.shape[1])
    M = M0.clone().requires_grad_()
    state["M"] = M  # the sparse model writes into M's storage (in place), the dense one copies
    logits, final = model(x, state)
    (logits * weights).sum().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    final = {k: v.detach() for k, v in final.items()}  # carried on (the sparse model updates it in place)
    snapshot = {k: v.clone() for k, v in final.items()}
    return logits.detach(), final, snapshot, grads, M.grad.clone()


@pytest.mark.parametrize("heads, index", [(1, "exact"), (2, "exact"), (2, "ann")])
def test_sparse_equals_dense_outputs_and_gradients(heads, index):
    """The in-place journaled memory, the ring and the index give the dense autograd version's outputs,
    final memory, access times and gradients (parameters and M_0), float64, over two TBPTT segments."""
    generator = torch.Generator().manual_seed(3)
    B, N, W, T = 2, 12, 5, 9
    x = torch.randn(2, T, B, 4, generator=generator, dtype=torch.float64)
    weights = torch.randn(T, B, 3, generator=generator, dtype=torch.float64)
    M0 = torch.randn(B, N, W, generator=generator, dtype=torch.float64)
    results = {}
    for ops in ("dense", "sparse"):
        torch.manual_seed(0)
        model = small_sam(read_heads=heads, memory_ops=ops, index=index if ops == "sparse" else "exact").double()
        assert model.path_name().startswith(f"train:{ops}")
        first = run_segment(model, M0, x[0], weights)
        state = first[1]
        second = run_segment(model, state["M"].clone(), x[1], weights, state)  # carried state, new memory leaf
        results[ops] = (first[:1] + first[2:], second[:1] + second[2:])
    for (d_logits, d_final, d_grads, d_M0), (s_logits, s_final, s_grads, s_M0) in zip(results["dense"], results["sparse"]):
        assert torch.allclose(d_logits, s_logits, rtol=0, atol=1e-10)
        assert torch.allclose(d_final["M"], s_final["M"], rtol=0, atol=1e-10)
        assert torch.equal(d_final["access_time"], s_final["access_time"])
        assert torch.equal(d_final["read_index"], s_final["read_index"])
        assert torch.allclose(d_M0, s_M0, rtol=0, atol=1e-10)
        for name in d_grads:
            assert torch.allclose(d_grads[name], s_grads[name], rtol=0, atol=1e-10), name


def test_journal_restores_each_step_in_backward_and_the_final_memory_after():
    """Backward through T in-place writes walks the memory back: right after step t's backward the memory
    is exactly M_{t-1} (checked by a hook on the token step t consumed); after the pass it is M_T again."""
    generator = torch.Generator().manual_seed(0)
    B, N, W, C, T = 2, 10, 3, 3, 6
    M = torch.randn(B, N, W, generator=generator, dtype=torch.float64)
    tape = MemoryTape(M, torch.zeros_like(M))
    token = tape_start(tape, M)
    snapshots, checked, loss = [M.clone()], [], 0.0
    for t in range(1, T + 1):
        slots = torch.randint(N, (B, C), generator=generator)  # repeats allowed
        delta = torch.randn(B, C, W, generator=generator, dtype=torch.float64, requires_grad=True)
        erase = slots[:, -1]

        def check(grad, t=t):
            checked.append(t)
            assert torch.equal(tape.M, snapshots[t - 1]), t  # M_t -> M_{t-1}, bit for bit
            return grad

        token.register_hook(check)
        token = tape_write(tape, token, slots, delta, erase)
        snapshots.append(M.clone())
        rows, token = tape_gather(tape, token, torch.randint(N, (B, 2), generator=generator))
        loss = loss + (rows * rows).sum()
    assert not torch.equal(snapshots[-1], snapshots[0])
    loss.backward()
    assert sorted(checked) == list(range(1, T + 1))
    assert torch.equal(M, snapshots[-1])  # the journal re-applied: the forward pass's final memory
    assert torch.count_nonzero(tape.grad) == 0  # the gradient rows touched are cleared for the next pass


def test_sparse_training_memory_does_not_grow_with_n():
    """Bytes autograd saves for a segment: the same at N = 64 and 4,096 for the sparse version, growing
    with N for the dense one (which keeps a copy of M per step)."""
    from bench.run_metrics import saved_bytes

    def saved(ops, N):
        torch.manual_seed(0)
        model = build_model("sam", input_size=3, output_size=3, hidden_size=8, memory_slots=N, memory_width=4,
                            memory_ops=ops, index="exact")  # fmt: skip
        x = torch.randn(6, 1, 3)
        return saved_bytes(lambda: model(x)[0].sum())

    assert saved("sparse", 64) == saved("sparse", 4096)
    assert saved("dense", 4096) > 10 * saved("dense", 64)


def test_ann_index_recall_on_random_memories():
    """Recall@4 of the hnswlib index against the exact top 4 on random memories, with and without
    unwritten (zero) rows, and after rows are rewritten in place."""
    generator = torch.Generator().manual_seed(0)
    B, N, W, K, Q = 2, 3000, 16, 4, 50
    M = torch.randn(B, N, W, generator=generator)
    M[1, N // 2 :] = 0.0  # half of the second memory never written
    index = MemoryIndex.build(M)
    q = torch.randn(B, Q, W, generator=generator)
    assert recall_at_k(index.search(q, K), nearest_slots(M, q, K)) >= 0.9
    # rewrite 100 rows of each memory with the negated queries' neighbours' opposites: an update, not a rebuild
    slots = torch.stack([torch.randperm(N, generator=generator)[:100] for _ in range(B)])
    rows = torch.randn(B, 100, W, generator=generator)
    M[torch.arange(B).unsqueeze(1), slots] = rows
    index.update(slots, rows)
    assert recall_at_k(index.search(q, K), nearest_slots(M, q, K)) >= 0.9
    # a query equal to a rewritten row finds that row first
    assert torch.equal(index.search(rows[:, :1], 1).view(B), slots[:, 0])


def test_ann_index_fills_with_unwritten_rows_where_they_are_nearer():
    """Cosine: an unwritten (zero) row has similarity 0, nearer than rows pointing away from the query."""
    M = t64([[[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    index = MemoryIndex.build(M)
    found = index.search(t64([[[1.0, 0.0]]]), 3)
    assert found.tolist() == [[[0, 2, 3]]]  # slot 0 (cos 1), then the zero rows 2, 3 (cos 0); not slot 1 (cos -1)
    assert recall_at_k(found, nearest_slots(M, t64([[[1.0, 0.0]]]), 3)) == 1.0


def test_ann_index_merges_unwritten_rows_per_head():
    """Several heads at once: each head's found rows and the zero rows are merged by that head's own
    distances (head 0 has one written row nearer than the zero rows, head 1 none, head 2 both)."""
    M = t64([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]])
    q = t64([[[1.0, -0.1], [-1.0, -0.5], [1.0, 1.0]]])
    found = MemoryIndex.build(M).search(q, 3)
    assert found.tolist() == [[[0, 2, 3], [2, 3, 1], [0, 1, 2]]]


def test_least_accessed_ring_chooses_the_argmin_slot():
    """The ring's head equals argmin_i T(i) (ties to the lowest slot) after every step of random accesses."""
    rng = np.random.default_rng(0)
    N = 40
    times = rng.integers(0, 5, N)  # ties on purpose
    ring = LeastRecentRing(times)
    for t in range(6, 200):
        assert ring.head() == int(np.argmin(times)), t
        accessed = np.unique(rng.integers(0, N, rng.integers(1, 6)))
        times[accessed] = t
        ring.touch(accessed)


def test_index_recall_of_a_trained_memory():
    model = small_sam(memory_slots=200, memory_width=8, index="ann", memory_ops="sparse")
    _, state = model(torch.randn(30, 2, 4))
    assert model.index_recall(state) >= 0.9
    assert small_sam(index="exact", memory_ops="sparse").index_recall(state) is None


def test_auto_picks_dense_at_table1_size_and_sparse_ann_at_scale():
    assert not SAMConfig(memory_slots=128).sparse_ops and not SAMConfig(memory_slots=128).ann
    assert SAMConfig(memory_slots=2**20).sparse_ops and SAMConfig(memory_slots=2**20).ann


# --- the authors' code options (issue 10; sam.py docstring cites the lines) --------------------------
def test_code_similarity_is_cosine_over_width_without_strength():
    rows = t64([[[[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]]]])  # (B, H, C, W), W = 3
    q = t64([[[1.0, 0.0, 0.0]]])
    cos = t64([[[0.6, 0.0]]])
    assert torch.allclose(similarity(rows, q), cos)
    assert torch.allclose(similarity(rows, q, over_width=True), cos / 3)
    _, w = sparse_read(rows, q, None, over_width=True)  # no strength: softmax(cos / W)
    expected = math.exp(0.2) / (math.exp(0.2) + 1.0)
    assert torch.allclose(w, t64([[[expected, 1 - expected]]]))


def test_code_euclidean_search():
    M = t64([[[10.0, 0.0], [0.9, 0.3], [0.0, 0.5]]])
    q = t64([[[1.0, 0.0]]])
    assert nearest_slots(M, q, 2)[0, 0].tolist() == [0, 1]  # cosine 1, 0.95 (slot 2: 0)
    assert nearest_slots(M, q, 2, "euclidean")[0, 0].tolist() == [1, 2]  # distances 0.32, 1.12 (slot 0: 9)
    index = MemoryIndex.build(M, "euclidean")
    assert index.search(q, 2)[0, 0].tolist() == [1, 2]


def test_code_per_slot_interpolation_gates():
    w_r = t64([[[0.7, 0.3]]])  # R = 1, K = 2
    gamma = t64([[0.5, 1.0, 0.25]])  # one gate per written slot, the LRU slot last
    w_w = write_weights(w_r, alpha=t64([[0.8]]), gamma=gamma)
    # alpha (gamma_i w_r(i) + (1 - gamma_i) I(i)): 0.8 * 0.35, 0.8 * 0.3, 0.8 * 0.75 on the LRU slot
    assert torch.allclose(w_w, t64([[0.28, 0.24, 0.6]]))


def test_code_usage_rule():
    U = torch.tensor([[3, 1, 2, 5]])
    U_new = code_usage(U, torch.tensor(6), torch.tensor([[0, 3, 3]]), t64([[0.01, 0.003, 0.003]]))
    assert U_new.tolist() == [[3, 1, 2, 1]]  # slot 0: 6 - 3, slot 3: 6 - 5 (0.006 > delta), others kept


def test_sam_code_preset_trains_and_reports_its_variant():
    from bench.config import load_config

    options = dict(load_config()["models"]["sam-code"])
    options.pop("class")
    model = build_model("sam", input_size=10, output_size=8, **options)
    assert model.variant().startswith("code:") and "similarity=cosine_over_width" in model.variant()
    assert "usage_rule=code" in model.variant() and "interpolation_gates=per_slot" in model.variant()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    for _ in range(20):
        logits, _ = model(torch.rand(12, 1, 10).round())
        loss = logits.pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)


def test_ann_index_rebuilds_once_tombstones_outnumber_rows():
    """Rewriting rows leaves tombstones; once they outnumber the live rows the graph is rebuilt from the
    live rows: it stays within a few times the memory, and search still matches the exact top K."""
    generator = torch.Generator().manual_seed(1)
    N, W = 300, 8
    M = torch.randn(1, N, W, generator=generator)
    index = MemoryIndex.build(M)
    for _ in range(100):  # 1,700 rewrites of 300 rows
        slots = torch.randint(N, (1, 17), generator=generator)
        rows = torch.randn(1, 17, W, generator=generator)
        M[0, slots[0]] = rows[0, torch.arange(17)]  # a slot listed twice keeps its last row, as the index
        last = {s: i for i, s in enumerate(slots[0].tolist())}
        M[0, list(last)] = rows[0, list(last.values())]
        index.update(slots, rows)
    graph = index.indexes[0].graph
    assert graph.get_current_count() < 4 * N and index.indexes[0].count == N
    q = torch.randn(1, 40, W, generator=generator)
    assert recall_at_k(index.search(q, 4), nearest_slots(M, q, 4)) >= 0.95


def test_ann_index_scan_fallback_matches_the_graph():
    """Where hnswlib cannot return k live rows (small graphs with tombstones), the index scans its live
    rows: same slots as the graph search where both work, cosine and Euclidean."""
    generator = torch.Generator().manual_seed(2)
    for metric in ("cosine", "euclidean"):
        M = torch.randn(1, 50, 6, generator=generator)
        slot_index = MemoryIndex.build(M, metric).indexes[0]
        q = torch.randn(5, 6, generator=generator).numpy()
        labels, _ = slot_index.graph.knn_query(q, k=3)
        scanned, _ = slot_index._scan(q, 3)
        assert (scanned == labels.astype(np.int64)).all(), metric


def test_search_ef_doubles_per_four_times_the_rows_over_64k():
    from models.ann_index import EF_SEARCH, search_ef

    assert [search_ef(n) for n in (10, 65536, 262144, 2**20)] == [EF_SEARCH, EF_SEARCH, 2 * EF_SEARCH, 4 * EF_SEARCH]


# --- the authors' step (sparse_memory.py), traced by hand ---------------------------------------------
REFERENCE_STEP = dict(usage_timing="before_write", erase="least_used_visible", read_least_used=True,
                      search_range="before_least_used", initial_fill=1e-6, usage_rule="code",
                      similarity="cosine_over_width", read_strength=False, search_metric="euclidean",
                      interpolation_gates="per_slot")


def reference_step(model, state, q, a, alpha, gamma):
    h = torch.zeros(1, model.d_h, dtype=torch.float64)
    return model.reference_cell(state, h, h, t64([[q]]), None, t64([a]), t64([[alpha]]), t64([gamma]), state["t"] + 1)[1]


def test_the_authors_sam_step_traced_by_hand():
    """N 8, W 2, K 2 (3 visible rows), one head. The reference starts with memory and weights at 1e-6 and
    "reads" rows 0, 1, 2 (sparse_memory.py:137-144).
    Step 1: read weights + 1 (195); all three rows have usage 0, so all are the least used and erased
    (233-238, 214-219) and get alpha (gamma (1 + d) + 1 - gamma) = 0.5 + 0.25 d (206-209); their usage
    1 - 0 (241); the least used row is then 3 (223); the search holds rows before row 2, the least used
    row of t-1 (184): rows 0, 1; the read covers them and row 3 (270): similarity 0 for rows 0, 1 (a = e_1,
    q = e_2) and for row 3 (d, d): d / (2 (sqrt(2) d + d) (1 + d) + d) = 0.17157 (util.py:64-68).
    Step 2: the rows read at t-1 (0, 1, 3) are written; only row 3 has the least usage (0): it alone is
    erased and gets gamma w^R + 1 - gamma; usage: rows 0, 1: 2 - 1, row 3: 2 - 0; the least used row is 4;
    the search holds rows before row 3: the freshly written row 3, nearest to q, is not found."""
    d = 1e-6
    torch.manual_seed(0)
    model = build_model("sam", input_size=2, output_size=2, hidden_size=4, memory_slots=8, memory_width=2,
                        sparse_reads=2, **REFERENCE_STEP).double()
    state = model.initial_state(1)
    assert torch.all(state["M"] == d) and state["read_index"].view(-1).tolist() == [0, 1, 2]

    state = reference_step(model, state, q=[0.0, 1.0], a=[1.0, 0.0], alpha=0.5, gamma=[0.5, 0.5, 0.5])
    M = state["M"][0]
    torch.testing.assert_close(M[:3], t64([[0.5 + 0.25 * d, 0.0]] * 3), rtol=0, atol=1e-15)  # erased, written
    assert torch.all(M[3:] == d)
    assert state["access_time"][0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert sorted(state["read_index"].view(-1).tolist()[:2]) == [0, 1] and state["read_index"][0, 0, 2] == 3
    theta = 1.0 / (2 * (math.sqrt(2) + 1) * (1 + d) + 1)  # 0.17157
    w = torch.tensor([1.0, 1.0, math.exp(theta)], dtype=torch.float64)
    torch.testing.assert_close(state["w_r"][0, 0], w / w.sum())  # 0.31376, 0.31376, 0.37249
    w1 = state["w_r"][0, 0].clone()

    state = reference_step(model, state, q=[0.0, 1.0], a=[0.0, 1.0], alpha=1.0, gamma=[0.5, 0.5, 0.5])
    M = state["M"][0]
    w_w = 0.5 * w1 + 0.5 * t64([0.0, 0.0, 1.0])  # only row 3 in the erased set
    torch.testing.assert_close(M[0], t64([0.5 + 0.25 * d, w_w[0].item()]))  # not erased: added to
    torch.testing.assert_close(M[3], t64([0.0, w_w[2].item()]))  # erased, then written
    assert state["access_time"][0].tolist() == [1, 1, 1, 2, 0, 0, 0, 0]
    read = state["read_index"].view(-1).tolist()
    assert 3 not in read[:2] and read[2] == 4  # row 3 (the nearest to q) is unreachable this step


def test_without_the_step_options_the_reference_step_is_the_dense_step(monkeypatch):
    """With every step option at its default, the reference step computes the dense path's step: the
    options are the only differences."""
    torch.manual_seed(0)
    model = build_model("sam", input_size=3, output_size=2, hidden_size=6, memory_slots=7, memory_width=3,
                        sparse_reads=2, memory_ops="dense", index="exact").double()
    x = torch.randn(6, 1, 3, dtype=torch.float64)
    expected, end = model(x)
    monkeypatch.setattr(type(model.config), "reference_step", property(lambda self: True))
    got, end_ref = model(x)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(end_ref["M"], end["M"])
    assert torch.equal(end_ref["access_time"], end["access_time"])


def test_the_step_options_need_the_dense_memory_and_one_head():
    with pytest.raises(ValueError, match="dense memory"):
        build_model("sam", input_size=2, output_size=2, memory_ops="sparse", erase="least_used_visible")
    with pytest.raises(ValueError, match="one read head"):
        build_model("sam", input_size=2, output_size=2, read_heads=2, read_least_used=True)
    with pytest.raises(ValueError, match="usage_timing"):
        build_model("sam", input_size=2, output_size=2, usage_timing="later")
