"""SAM (Rae et al. 2016, section 3): the top-K read and the LRU write against hand-computed values,
the access-time usage, a cell cycling its writes through the least recently used slots, the O(K)
sparsity of a step (rows changed and rows reached by the gradient), inference in place, gradient
flow, sizes, dtypes and a short copy-task run."""

import math

import pytest
import torch

from models import build_model
from models.sam import access_times, sparse_read, sparse_write

BIG = 40.0  # sigmoid(40) == 1.0 and sigmoid(-40) ~ 4e-18 in float64


def t64(values):
    return torch.tensor(values, dtype=torch.float64)


# four 2-d rows: cosines with q = [1, 0] are [1, 0, 1/sqrt(2), -1], with q = [0, 1] [0, 1, 1/sqrt(2), 0]
M_HAND = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]


def test_top_k_read_weights_only_the_k_nearest_slots():
    M = t64([M_HAND])
    q = t64([[[1.0, 0.0], [0.0, 1.0]]])  # two heads
    r, index, w = sparse_read(M, q, t64([[[1.0], [2.0]]]), K=2)
    assert index[0, 0].tolist() == [0, 2] and index[0, 1].tolist() == [1, 2]
    c = 1.0 / math.sqrt(2.0)
    w0 = math.exp(1.0) / (math.exp(1.0) + math.exp(c))  # softmax(beta cos) over the two nearest, beta = 1
    w1 = math.exp(2.0) / (math.exp(2.0) + math.exp(2.0 * c))  # beta = 2
    assert torch.allclose(w, t64([[[w0, 1 - w0], [w1, 1 - w1]]]), atol=1e-7)
    # head 1: w0 [1, 0] + (1 - w0) [1, 1]; head 2: w1 [0, 1] + (1 - w1) [1, 1]
    assert torch.allclose(r, t64([[[1.0, 1 - w0], [1 - w1, 1.0]]]), atol=1e-7)
    dense = torch.zeros(1, 2, 4, dtype=torch.float64).scatter(2, index, w)
    assert dense[0, 0, 1] == 0 and dense[0, 0, 3] == 0 and dense[0, 1, 0] == 0 and dense[0, 1, 3] == 0


def test_lru_write_erases_the_least_recently_used_slot_and_adds_to_the_read_ones():
    M = t64([M_HAND])
    T_prev = torch.tensor([[3, 1, 2, 5]])
    lru = T_prev.argmin(dim=1)  # slot 1
    read_index, w_r = torch.tensor([[[0, 3]]]), t64([[[0.7, 0.3]]])  # read at t-1
    a = t64([[1.0, 2.0]])
    M_new, index, w_w = sparse_write(M, read_index, w_r, lru, a, alpha=t64([[1.0]]), gamma=t64([[0.5]]))
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


def lru_cycling_sam():
    """K = 1 over four 2-d slots, interface constant (zero weights): write a = [1, 1] with alpha = 1,
    gamma = 0 (all to the LRU slot), read with query [0, 1], strength 1 + softplus(0)."""
    model = build_model("sam", input_size=2, output_size=2, hidden_size=5, memory_slots=4, memory_width=2,
                        sparse_reads=1).double()  # fmt: skip
    with torch.no_grad():
        model.W_xi.linear.weight.zero_()
        model.W_xi.linear.bias.copy_(t64([0.0, 1.0, 0.0, 1.0, 1.0, BIG, -BIG]))  # [q (2); beta; a (2); alpha; gamma]
    return model


def test_cell_writes_cycle_through_least_recently_used_slots():
    model = lru_cycling_sam()
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
        assert model.inference_path() == "eval:sparse-topk-inplace"
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
