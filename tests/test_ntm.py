"""Tests of the NTM adapter (models/ntm.py) and the memory helpers it uses: each addressing stage
against hand-computed values on a 3-4 slot memory, the erase-then-add write and the read, then the
model as a whole (sizes, gradients, dtypes, batch sizes, a short copy-task training run)."""

from __future__ import annotations

import math

import pytest
import torch

from models import build_model
from models.memory import (
    content_weights,
    content_weights_heads,
    cosine_similarity_heads,
    erase_add_write,
    read_weighted_heads,
)
from models.ntm import circular_shift, interpolate, sharpen, shift_index

TABLE1_SIZES = dict(input_size=10, output_size=8, hidden_size=120, memory_slots=128, memory_width=20)
PAPER_PARAMETERS = 88_000  # ARMIN paper, Table 1
TINY = dict(input_size=6, output_size=4, hidden_size=16, memory_slots=8, memory_width=5)


def t(*rows):
    """A float64 tensor from nested lists, with a leading batch axis of 1."""
    return torch.tensor(rows, dtype=torch.float64).unsqueeze(0)


# --- addressing stages ----------------------------------------------------------------------------
def test_content_addressing_cosine_and_beta():
    M = t([1.0, 0.0], [0.0, 1.0], [1.0, 1.0])  # (1, 3, 2)
    k = t([1.0, 0.0], [0.0, 2.0])  # two heads (1, 2, 2)
    beta = t([2.0], [1.0])  # (1, 2, 1)
    cos = cosine_similarity_heads(M, k)
    torch.testing.assert_close(cos, t([1.0, 0.0, 1 / math.sqrt(2)], [0.0, 1.0, 1 / math.sqrt(2)]))
    # head 0: softmax(2 * [1, 0, 0.7071]) = [e^2, 1, e^1.4142] / sum
    z = [math.exp(2.0), 1.0, math.exp(math.sqrt(2))]
    expected_0 = [v / sum(z) for v in z]  # [0.5910, 0.0800, 0.3290]
    z = [1.0, math.e, math.exp(1 / math.sqrt(2))]
    expected_1 = [v / sum(z) for v in z]
    w_c = content_weights_heads(M, k, beta)
    torch.testing.assert_close(w_c, t(expected_0, expected_1))
    assert abs(w_c[0, 0, 0].item() - 0.5910) < 1e-4
    # the multi-head form agrees with the single-head helper, head by head
    for h in range(2):
        torch.testing.assert_close(w_c[:, h], content_weights(M, k[:, h], beta[:, h]))


def test_content_addressing_beta_zero_is_uniform():
    M = t([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    w_c = content_weights_heads(M, t([3.0, -1.0, 0.5]), t([0.0]))
    torch.testing.assert_close(w_c, torch.full((1, 1, 3), 1 / 3, dtype=torch.float64))


def test_interpolation_gate():
    w_c, w_prev = t([0.5, 0.3, 0.2]), t([0.0, 1.0, 0.0])
    torch.testing.assert_close(interpolate(w_c, w_prev, t([0.25])), t([0.125, 0.825, 0.05]))
    torch.testing.assert_close(interpolate(w_c, w_prev, t([1.0])), w_c)  # g = 1: content only
    torch.testing.assert_close(interpolate(w_c, w_prev, t([0.0])), w_prev)  # g = 0: previous weighting


def test_shift_index_layout():
    # row k: index of the slot whose weight lands in slot i after shifting by k - S
    assert shift_index(4, 1).tolist() == [[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2]]


def test_circular_shift_with_wraparound():
    index = shift_index(4, 1)  # shifts (-1, 0, +1)
    w = t([0.1, 0.2, 0.3, 0.4])
    # s = delta at +1: every weight moves one slot forward, the last one wraps to slot 0
    torch.testing.assert_close(circular_shift(w, t([0.0, 0.0, 1.0]), index), t([0.4, 0.1, 0.2, 0.3]))
    # s = delta at -1: one slot back, slot 0 wraps to the last
    torch.testing.assert_close(circular_shift(w, t([1.0, 0.0, 0.0]), index), t([0.2, 0.3, 0.4, 0.1]))
    torch.testing.assert_close(circular_shift(w, t([0.0, 1.0, 0.0]), index), w)
    # w~(i) = 0.25 w(i+1) + 0.5 w(i) + 0.25 w(i-1)
    torch.testing.assert_close(circular_shift(w, t([0.25, 0.5, 0.25]), index), t([0.2, 0.2, 0.3, 0.3]))
    # a one-hot at the last slot shifted +1 lands on slot 0
    torch.testing.assert_close(
        circular_shift(t([0.0, 0.0, 0.0, 1.0]), t([0.0, 0.0, 1.0]), index), t([1.0, 0.0, 0.0, 0.0])
    )


def test_circular_shift_range_two():
    index = shift_index(5, 2)  # shifts (-2, -1, 0, +1, +2)
    w = t([1.0, 0.0, 0.0, 0.0, 0.0])
    torch.testing.assert_close(circular_shift(w, t([1.0, 0.0, 0.0, 0.0, 0.0]), index), t([0.0, 0.0, 0.0, 1.0, 0.0]))
    torch.testing.assert_close(circular_shift(w, t([0.0, 0.0, 0.0, 0.0, 1.0]), index), t([0.0, 0.0, 1.0, 0.0, 0.0]))


def test_sharpening_gamma():
    w = t([0.5, 0.25, 0.25])
    # [0.25, 0.0625, 0.0625] / 0.375
    torch.testing.assert_close(sharpen(w, t([2.0])), t([2 / 3, 1 / 6, 1 / 6]))
    torch.testing.assert_close(sharpen(w, t([1.0])), w)
    # large gamma concentrates on the maximum without under/overflow
    torch.testing.assert_close(sharpen(w.float(), torch.tensor([[[500.0]]])), torch.tensor([[[1.0, 0.0, 0.0]]]))


def test_sharpening_of_a_zero_weight_has_finite_gradient():
    w = t([0.6, 0.4, 0.0]).requires_grad_(True)
    gamma = t([3.0]).requires_grad_(True)
    out = sharpen(w, gamma)
    torch.testing.assert_close(out, t([0.216 / 0.28, 0.064 / 0.28, 0.0]))
    (out * torch.arange(3.0, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(w.grad).all() and torch.isfinite(gamma.grad).all()


# --- write and read -------------------------------------------------------------------------------
def test_erase_then_add_write():
    M = t([1.0, 2.0], [3.0, 4.0], [5.0, 6.0])
    w, e, a = t([1.0, 0.0, 0.5]), t([1.0, 0.5]), t([10.0, 20.0])
    # erase: row 0 * (0, 0.5) = [0, 1]; row 1 unchanged; row 2 * (0.5, 0.75) = [2.5, 4.5]
    # add w a: row 0 + [10, 20], row 2 + [5, 10]
    expected = t([10.0, 21.0], [3.0, 4.0], [7.5, 14.5])
    torch.testing.assert_close(erase_add_write(M, w, e, a), expected)
    assert M[0, 0, 0] == 1.0  # out of place


def test_erase_add_write_two_heads_erase_multiplicatively():
    M = t([1.0, 2.0], [3.0, 4.0], [5.0, 6.0])
    w = t([1.0, 0.0, 0.5], [0.0, 1.0, 0.5])  # (1, 2, 3)
    e = t([1.0, 0.5], [1.0, 1.0])
    a = t([10.0, 20.0], [1.0, 1.0])
    # row 2: 5 * (1 - 0.5)(1 - 0.5) + 0.5*10 + 0.5*1 = 6.75;  6 * (1 - 0.25)(1 - 0.5) + 10 + 0.5 = 12.75
    expected = t([10.0, 21.0], [1.0, 1.0], [6.75, 12.75])
    torch.testing.assert_close(erase_add_write(M, w, e, a), expected)


def test_read_is_weighted_sum_of_rows():
    M = t([1.0, 2.0], [3.0, 4.0], [5.0, 6.0])
    w = t([0.2, 0.3, 0.5], [0.0, 0.0, 1.0])
    torch.testing.assert_close(read_weighted_heads(M, w), t([3.6, 4.6], [5.0, 6.0]))


# --- the model ------------------------------------------------------------------------------------
def test_table1_parameter_count():
    model = build_model("ntm", **TABLE1_SIZES)
    n = model.num_parameters()
    # LSTMCell(10 + 20, 120) 72,960 + heads 121 x 92 + readout 141 x 8 + M_0 2,560 + h_0, c_0, r_0 260
    assert n == 72_960 + 121 * 92 + 141 * 8 + 128 * 20 + 2 * 120 + 20 == 88_040
    assert abs(n - PAPER_PARAMETERS) / PAPER_PARAMETERS < 0.10
    code = build_model("ntm", **TABLE1_SIZES, separate_erase=False, head_input="c_normalized")
    assert code.num_parameters() == n - 121 * 20  # no erase rows
    assert code.variant() == "code:head_input=c_normalized,separate_erase=False"
    assert model.variant() == "paper"


@pytest.mark.parametrize(
    "options",
    [dict(memory_slots=0), dict(memory_width=0), dict(read_heads=0), dict(shift_range=-1),
     dict(memory_slots=2, shift_range=1), dict(head_input="x")],
)
def test_invalid_config(options):
    with pytest.raises(ValueError):
        build_model("ntm", **{**TINY, **options})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch_size", [1, 32])
@pytest.mark.parametrize("heads", [1, 2])
def test_forward_shapes_dtypes_and_normalised_weightings(dtype, batch_size, heads):
    torch.manual_seed(0)
    model = build_model("ntm", **TINY, read_heads=heads, write_heads=heads).to(dtype)
    x = torch.randn(6, batch_size, TINY["input_size"], dtype=dtype)
    logits, state = model(x)
    assert logits.shape == (6, batch_size, TINY["output_size"]) and logits.dtype == dtype
    assert torch.isfinite(logits).all()
    N, W = TINY["memory_slots"], TINY["memory_width"]
    assert state["M"].shape == (batch_size, N, W)
    assert state["r"].shape == (batch_size, heads, W)
    assert state["w"].shape == (batch_size, 2 * heads, N)
    torch.testing.assert_close(state["w"].sum(-1), torch.ones(batch_size, 2 * heads, dtype=dtype))
    assert (state["w"] >= 0).all()


def test_step_matches_forward_and_leaves_incoming_state_untouched():
    torch.manual_seed(0)
    model = build_model("ntm", **TINY)
    x = torch.randn(4, 3, TINY["input_size"])
    state0 = model.initial_state(3)
    copies = {k: v.clone() for k, v in state0.items()}
    logits, _ = model(x, state0)
    state, steps = state0, []
    for x_t in x:
        y_t, state = model.step(x_t, state)
        steps.append(y_t)
    torch.testing.assert_close(torch.stack(steps), logits)
    for k, v in state0.items():
        assert torch.equal(v, copies[k]), k


def test_first_read_sees_the_initial_memory_and_write_changes_it():
    torch.manual_seed(0)
    model = build_model("ntm", **TINY)
    state0 = model.initial_state(2)
    _, state1 = model.cell(torch.randn(2, TINY["input_size"]), state0)
    w_r = state1["w"][:, :1]  # the read head's weighting
    torch.testing.assert_close(state1["r"], torch.bmm(w_r, state0["M"]))  # eq. 2 on M_{t-1}
    assert not torch.allclose(state1["M"], state0["M"])


def test_head_input_selects_controller_output_or_cell_state():
    torch.manual_seed(0)
    h, c = torch.randn(2, 3, TINY["hidden_size"])
    other = torch.randn(3, TINY["hidden_size"])
    paper = build_model("ntm", **TINY)  # heads read h_t
    for a, b in zip(paper.heads(h, c), paper.heads(h, other)):
        torch.testing.assert_close(a, b)
    assert not torch.allclose(paper.heads(h, c)[0], paper.heads(other, c)[0])
    code = build_model("ntm", **TINY, head_input="c")  # heads read c_t
    for a, b in zip(code.heads(h, c), code.heads(other, c)):
        torch.testing.assert_close(a, b)
    normalised = build_model("ntm", **TINY, head_input="c_normalized")  # scale of c_t is irrelevant
    for a, b in zip(normalised.heads(h, c), normalised.heads(h, 3.0 * c)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("head_input", ["h", "c", "c_normalized"])
def test_gradient_reaches_controller_heads_and_initial_state(head_input):
    torch.manual_seed(0)
    model = build_model("ntm", **TINY, head_input=head_input)
    logits, _ = model(torch.randn(5, 2, TINY["input_size"]))
    logits.pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
