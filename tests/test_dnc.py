"""DNC (Graves et al. 2016, Methods): allocation, usage, precedence, link matrix and directional
weightings against hand-computed values; a whole cell driven through three steps with a fixed
interface vector; gradient flow, sizes, dtypes and a short copy-task run."""

import math

import pytest
import torch

from models import build_model
from models.dnc import allocation, directional_weights, link_matrix, precedence, retention, usage

BIG = 40.0  # sigmoid(40) == 1.0 and sigmoid(-40) ~ 4e-18 in float64


def t64(values):
    return torch.tensor(values, dtype=torch.float64)


def test_allocation_least_used_slot_first():
    u = t64([[0.5, 0.2, 0.9, 0.4], [0.0, 0.0, 0.0, 0.0]])
    a = allocation(u)
    # free list phi = [1, 3, 0, 2]: a[1] = 0.8, a[3] = 0.6 * 0.2, a[0] = 0.5 * 0.2 * 0.4, a[2] = 0.1 * 0.2 * 0.4 * 0.5
    assert torch.allclose(a[0], t64([0.04, 0.8, 0.004, 0.12]))
    assert torch.allclose(a[0].sum(), 1.0 - u[0].prod())
    # an empty memory: ties go to the lowest index, all the weight on slot 0
    assert torch.equal(a[1], t64([1.0, 0.0, 0.0, 0.0]))


def test_usage_update_with_free_gates():
    u_prev = t64([[0.5, 0.2, 0.0, 1.0]])
    w_w_prev = t64([[0.5, 0.0, 0.5, 0.0]])  # u + w - u w = [0.75, 0.2, 0.5, 1.0]
    # one head: free gate 0.5 on read weights [0, 0, 0.2, 0.8] -> psi = [1, 1, 0.9, 0.6]
    psi = retention(t64([[0.5]]), t64([[[0.0, 0.0, 0.2, 0.8]]]))
    assert torch.allclose(psi, t64([[1.0, 1.0, 0.9, 0.6]]))
    assert torch.allclose(usage(u_prev, w_w_prev, psi), t64([[0.75, 0.2, 0.45, 0.6]]))
    # a second head with free gate 1 that read slot 0 frees it completely
    psi = retention(t64([[0.5, 1.0]]), t64([[[0.0, 0.0, 0.2, 0.8], [1.0, 0.0, 0.0, 0.0]]]))
    assert torch.allclose(usage(u_prev, w_w_prev, psi), t64([[0.0, 0.2, 0.45, 0.6]]))


def test_precedence_update():
    p = precedence(t64([[0.5, 0.5, 0.0, 0.0]]), t64([[0.0, 0.0, 0.6, 0.2]]))
    assert torch.allclose(p, t64([[0.1, 0.1, 0.6, 0.2]]))  # (1 - 0.8) p + w


# L_t for L_prev, w_w, p_prev of the link test (entries worked out in its comments)
L_HAND = [[0.0, 0.06, 0.26], [0.29, 0.0, 0.36], [0.41, 0.10, 0.0]]


def test_link_matrix_update_zero_diagonal():
    L_prev = t64([[[0.0, 0.2, 0.3], [0.4, 0.0, 0.1], [0.5, 0.6, 0.0]]])
    w_w, p_prev = t64([[0.1, 0.7, 0.2]]), t64([[0.3, 0.2, 0.5]])
    L = link_matrix(L_prev, w_w, p_prev, torch.eye(3, dtype=torch.bool))
    # e.g. L[1, 0] = (1 - 0.7 - 0.1) 0.4 + 0.7 * 0.3 = 0.29; L[0, 2] = (1 - 0.1 - 0.2) 0.3 + 0.1 * 0.5 = 0.26
    # the diagonal would be w_i p_i = [0.03, 0.14, 0.1] without the mask
    assert torch.allclose(L, t64([L_HAND]))


def test_forward_backward_weightings():
    L = t64([L_HAND])
    w_r = t64([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])  # head 1 read slot 0, head 2 slot 2
    f, b = directional_weights(L, w_r)
    # f = L w: column of L; b = L^T w: row of L
    assert torch.allclose(f, t64([[[0.0, 0.29, 0.41], [0.26, 0.36, 0.0]]]))
    assert torch.allclose(b, t64([[[0.0, 0.06, 0.26], [0.41, 0.10, 0.0]]]))


def fixed_interface_dnc(read_mode: str):
    """A 4 x 3 memory whose interface vector is a constant (zero weights, chosen biases): always write
    v to the allocated slot, erase fully, free nothing, read with key v by the given mode."""
    model = build_model("dnc", input_size=2, output_size=2, hidden_size=5, memory_slots=4, memory_width=3).double()
    v = [1.0, -1.0, 2.0]
    modes = {"content": [-BIG, BIG, -BIG], "forward": [-BIG, -BIG, BIG]}[read_mode]
    # [k_r (3); beta_r; k_w (3); beta_w; e (3); v (3); f; g_a; g_w; pi (3)]
    bias = v + [50.0] + [1.0, 0.0, 0.0] + [0.0] + [BIG] * 3 + v + [-BIG, BIG, BIG] + modes
    with torch.no_grad():
        model.W_xi.linear.weight.zero_()
        model.W_xi.linear.bias.copy_(t64(bias))
    return model, t64(v)


def test_cell_allocates_writes_links_and_reads_in_order():
    model, v = fixed_interface_dnc("content")
    x = torch.randn(1, 2, dtype=torch.float64)
    state = model.initial_state(1)

    _, state = model.cell(x, state)  # step 1: empty memory, allocation picks slot 0
    assert torch.allclose(state["w_w"], t64([[1.0, 0.0, 0.0, 0.0]]))
    assert torch.allclose(state["M"][0], torch.stack([v, 0 * v, 0 * v, 0 * v]))
    assert torch.allclose(state["p"], t64([[1.0, 0.0, 0.0, 0.0]]))
    assert torch.allclose(state["L"], torch.zeros(1, 4, 4, dtype=torch.float64))
    assert torch.allclose(state["w_r"], t64([[[1.0, 0.0, 0.0, 0.0]]]))  # content: only slot 0 matches v
    assert torch.allclose(state["r"], v.unsqueeze(0))

    _, state = model.cell(x, state)  # step 2: slot 0 used, slot 1 allocated; link 0 -> 1
    assert torch.allclose(state["u"], t64([[1.0, 0.0, 0.0, 0.0]]))
    assert torch.allclose(state["w_w"], t64([[0.0, 1.0, 0.0, 0.0]]))
    assert torch.allclose(state["M"][0, 1], v)
    expected_L = torch.zeros(1, 4, 4, dtype=torch.float64)
    expected_L[0, 1, 0] = 1.0  # slot 1 written right after slot 0
    assert torch.allclose(state["L"], expected_L)
    assert torch.allclose(state["p"], t64([[0.0, 1.0, 0.0, 0.0]]))
    assert torch.allclose(state["w_r"], t64([[[0.5, 0.5, 0.0, 0.0]]]))  # two rows equal v

    forward_model, _ = fixed_interface_dnc("forward")
    _, state = forward_model.cell(x, state)  # step 3: slot 2 written; read follows the links forward
    assert torch.allclose(state["w_w"], t64([[0.0, 0.0, 1.0, 0.0]]))
    expected_L[0, 2, 1] = 1.0
    assert torch.allclose(state["L"], expected_L)
    # f = L_3 w_r_prev = L_3 [0.5, 0.5, 0, 0]: slot 1 (after 0) and slot 2 (after 1)
    assert torch.allclose(state["w_r"], t64([[[0.0, 0.5, 0.5, 0.0]]]))


def small_dnc(**options):
    opts = dict(input_size=4, output_size=3, hidden_size=16, memory_slots=6, memory_width=5, read_heads=2)
    opts.update(options)
    return build_model("dnc", **opts)


def test_state_invariants_over_random_steps():
    torch.manual_seed(0)
    model = small_dnc().double()
    _, state = model(torch.randn(12, 3, 4, dtype=torch.float64))
    assert torch.all(state["L"].diagonal(dim1=1, dim2=2) == 0)
    assert torch.all((state["u"] >= 0) & (state["u"] <= 1))
    assert torch.all(state["w_r"].sum(-1) <= 1 + 1e-9) and torch.all(state["w_w"].sum(-1) <= 1 + 1e-9)
    assert torch.all(state["p"].sum(-1) <= 1 + 1e-9)


def test_table1_size_and_variant():
    model = build_model("dnc", input_size=10, output_size=8, hidden_size=120, memory_slots=128, memory_width=20)
    # LSTM 4*120*(10+20+120) + 2*480, interface 120*88 + 88, output 140*8 + 8 (the paper's 104k: see dnc.py)
    assert model.num_parameters() == 72960 + 10648 + 1128
    assert model.variant() == "paper"
    code = build_model("dnc", input_size=10, output_size=8, forget_bias=1.0, learned_initial_state=True)
    assert code.variant() == "code:forget_bias=1.0,learned_initial_state=True"
    assert code.num_parameters() == model.num_parameters() + 260


@pytest.mark.parametrize("bad", [dict(memory_slots=0), dict(read_heads=0)])
def test_impossible_configs_are_rejected(bad):
    with pytest.raises(ValueError):
        small_dnc(**bad)


@pytest.mark.parametrize("cls, blocks", [("dnc", "per interface block"), ("sam", "one interface map")])
def test_reference_init_is_the_authors_init_param(cls, blocks):
    """reference_init (dnc/dnc.py:30-31, 149-154): [weight_ih | weight_hh] one matrix with orthonormal
    columns, one trained bias (bias_hh zero and frozen, so the forget bias trains once, not twice as
    fast), xavier-normal interface and output weights, every bias zero but the forget block."""
    torch.manual_seed(0)
    model = build_model(cls, input_size=10, output_size=8, hidden_size=120, memory_slots=16, memory_width=20,
                        forget_bias=1.0, reference_init=True)
    lstm = model.controller
    full = torch.cat([lstm.weight_ih, lstm.weight_hh], dim=1)  # (480, 150)
    torch.testing.assert_close(full.T @ full, torch.eye(full.shape[1]), atol=1e-5, rtol=0)
    assert not lstm.bias_hh.requires_grad and torch.all(lstm.bias_hh == 0)
    # xavier-normal: std sqrt(2 / (fan_in + fan_out)) of each Linear the reference has
    weight, sizes = model.W_xi.linear.weight, model.W_xi.sizes
    if cls == "dnc":  # the read-key block, 20 rows of its own Linear(120, 20)
        block = weight[: sizes[0]]
        assert block.std().item() == pytest.approx(math.sqrt(2 / (120 + 20)), rel=0.1)
    else:  # one Linear(120, 46) for the whole interface
        assert weight.std().item() == pytest.approx(math.sqrt(2 / (120 + weight.shape[0])), rel=0.1)
    assert model.readout.weight.std().item() == pytest.approx(math.sqrt(2 / (140 + 8)), rel=0.15)
    # one RMSprop step: bias_ih moves, bias_hh stays zero
    x = torch.randn(5, 1, 10)
    model(x)[0].sum().backward()
    assert lstm.bias_hh.grad is None
    before = lstm.bias_ih.detach().clone()
    torch.optim.RMSprop(model.parameters(), lr=1e-3).step()
    assert torch.all(lstm.bias_hh == 0) and not torch.equal(lstm.bias_ih, before)


def test_without_reference_init_both_lstm_biases_start_at_zero_and_train():
    torch.manual_seed(0)
    model = build_model("dnc", input_size=4, output_size=3, hidden_size=8, memory_slots=5, memory_width=4)
    assert torch.all(model.controller.bias_ih == 0) and torch.all(model.controller.bias_hh == 0)
    assert model.controller.bias_hh.requires_grad
