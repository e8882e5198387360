"""TARDIS (models/tardis.py) and AwTA (models/awta.py): addressing, usage, discrete read and write,
AwTA = ARMIN's cell + TARDIS's addressing, inference path, gradients, dtypes, a short training run."""

import math

import pytest
import torch
import torch.nn.functional as F

from models import build_model
from models.armin import ARMIN
from models.tardis import BLOCKED_READ_PENALTY, TardisAddressing, TARDISConfig, update_usage

LARGE_LOGIT = 1e4  # forced addressing: beats any gumbel noise
NO_READ = torch.zeros(1, 3, dtype=torch.float64)  # last-read mask before the first read (3 cells)


def tiny(name, **options):
    sizes = dict(input_size=3, output_size=2, hidden_size=8, memory_slots=3, memory_width=4)
    torch.manual_seed(0)
    return build_model(name, **{**sizes, **options})


def forced_logits(indices, n_mem, like):
    """(B, N) logits whose argmax, with or without gumbel noise, is ``indices``."""
    return F.one_hot(torch.as_tensor(indices), n_mem).to(like.dtype) * LARGE_LOGIT


def force_reads(monkeypatch, model, schedule):
    """Make the model's TARDIS addressing pick the cells in ``schedule`` (one entry per step)."""
    steps = iter(schedule)

    def fake(x_t, h_prev, M, U, last_read):
        return forced_logits([next(steps)] * x_t.shape[0], M.shape[1], M)

    monkeypatch.setattr(model.addressing, "forward", fake)


# --- usage and addressing logits -------------------------------------------------------------------
def test_usage_update_counts_reads():
    U = torch.tensor([[0.0, 1.0, 0.0, 0.0], [2.0, 0.0, 0.0, 1.0]])
    new = update_usage(U, F.one_hot(torch.tensor([2, 0]), 4).float())
    assert torch.equal(new, torch.tensor([[0.0, 1.0, 1.0, 0.0], [3.0, 0.0, 0.0, 1.0]]))
    assert torch.equal(U, torch.tensor([[0.0, 1.0, 0.0, 0.0], [2.0, 0.0, 0.0, 1.0]]))  # out of place


def addressing_with_weights(**options):
    """N = 3 cells, d_i = 1, d_h = 2, d_r = 1, keys of width 1, d_a = 2, hand-set weights."""
    sizes = dict(input_size=1, hidden_size=2, memory_slots=3, memory_width=1, key_size=1, address_hidden=2)
    config = TARDISConfig(**sizes, **options)
    addressing = TardisAddressing(config).double()
    with torch.no_grad():
        addressing.keys.copy_(torch.tensor([[1.0], [0.0], [-1.0]]))
        # W_q over [x, h_1, h_2, u_1, u_2, u_3]
        addressing.W_q.weight.copy_(torch.tensor([[1.0, 2.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 1.0, -1.0]]))
        addressing.W_q.bias.copy_(torch.tensor([0.1, 0.0]))
        addressing.W_a.weight.copy_(torch.tensor([[1.0], [0.0]]))
        addressing.W_c.weight.copy_(torch.tensor([[0.0], [2.0]]))
        addressing.a.copy_(torch.tensor([1.0, -1.0]))
    x = torch.tensor([[0.5]], dtype=torch.float64)
    h = torch.tensor([[0.2, 0.7]], dtype=torch.float64)
    M = torch.tensor([[[0.5], [0.0], [-0.25]]], dtype=torch.float64)
    U = torch.tensor([[3.0, 0.0, 4.0]], dtype=torch.float64)
    return addressing, (x, h, M, U)


def test_addressing_logits_hand_computed():
    addressing, (x, h, M, U) = addressing_with_weights()
    # u = U / |U|_2 = [0.6, 0, 0.8];  q = [0.5 + 2 * 0.2 + 0.1, 0.6 - 0.8] = [1.0, -0.2]
    # per cell: [q_1 + a_i, q_2 + 2 M_i]  ->  pi_i = tanh(.) - tanh(.)
    expected = [math.tanh(2.0) - math.tanh(0.8), math.tanh(1.0) - math.tanh(-0.2), math.tanh(0.0) - math.tanh(-0.7)]
    pi = addressing(x, h, M, U, NO_READ)
    torch.testing.assert_close(pi, torch.tensor([expected], dtype=torch.float64))


def test_addressing_options_hand_computed():
    # l1 usage: u = [3/7, 0, 4/7], q_2 = -1/7
    addressing, (x, h, M, U) = addressing_with_weights(usage_norm="l1")
    q2 = -1.0 / 7.0
    expected = [math.tanh(2.0) - math.tanh(q2 + 1.0), math.tanh(1.0) - math.tanh(q2), -math.tanh(q2 - 0.5)]
    torch.testing.assert_close(addressing(x, h, M, U, NO_READ), torch.tensor([expected], dtype=torch.float64))
    # authors' code: the cell read last is blocked, then the logits are L2-normalised
    addressing, (x, h, M, U) = addressing_with_weights(block_last_read=True, normalize_logits=True)
    raw = torch.tensor([math.tanh(2.0) - math.tanh(0.8), math.tanh(1.0) - math.tanh(-0.2), math.tanh(0.7)])
    raw[1] -= BLOCKED_READ_PENALTY
    expected = (raw / raw.norm()).double().unsqueeze(0)
    torch.testing.assert_close(addressing(x, h, M, U, torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64)), expected)


def test_addressing_is_one_module_shared_by_tardis_and_awta():
    tardis, awta = tiny("tardis"), tiny("awta")
    assert type(tardis.addressing) is TardisAddressing and type(awta.addressing) is TardisAddressing
    assert isinstance(awta, ARMIN) and not hasattr(awta, "W_s")  # ARMIN, auto-addressing removed


# --- discrete read and write ---------------------------------------------------------------------
def written_value(model, x_t, h_t):
    return model.W_w(h_t if model.config.write_input == "h" else torch.cat([x_t, h_t], dim=-1))


@pytest.mark.parametrize("name", ["tardis", "awta"])
@pytest.mark.parametrize("training", [True, False])
def test_write_fills_empty_cells_in_order_then_overwrites_the_cell_read(monkeypatch, name, training):
    model = tiny(name)
    model.train(training)
    reads = [2, 0, 1, 1, 0]
    slots = [0, 1, 2, 1, 0]  # sequential while the 3 cells fill, then the cell just read
    force_reads(monkeypatch, model, reads)
    state = model.initial_state(2)
    x = torch.randn(len(reads), 2, 3)
    with torch.set_grad_enabled(training):
        for x_t, slot in zip(x, slots):
            M_before = state["M"].clone()
            _, state = model.step(x_t, state)
            m_t = written_value(model, x_t, state["h"])
            torch.testing.assert_close(state["M"][:, slot], m_t, rtol=0, atol=0)
            others = [i for i in range(3) if i != slot]
            assert torch.equal(state["M"][:, others], M_before[:, others])
    assert torch.equal(state["usage"], torch.tensor([[2.0, 2.0, 1.0]] * 2))  # reads per cell
    assert torch.equal(state["last_read"], torch.tensor([[1.0, 0.0, 0.0]] * 2))  # one-hot of the cell read last
    assert int(state["filled"]) == len(reads)


@pytest.mark.parametrize("training", [True, False])
def test_read_returns_exactly_the_addressed_cell(monkeypatch, training):
    model = tiny("tardis")
    model.train(training)
    force_reads(monkeypatch, model, [2, 0])
    state = model.initial_state(2)
    state["M"] = torch.randn(2, 3, 4)
    state["filled"] = torch.tensor(3)
    M_0 = state["M"].clone()  # the inference path writes in place
    d_h = model.config.hidden_size
    with torch.set_grad_enabled(training):
        o_1, state_1 = model.cell(torch.randn(2, 3), state)
        o_2, _ = model.cell(torch.randn(2, 3), state_1)
    tol = dict(rtol=0, atol=1e-6) if training else dict(rtol=0, atol=0)  # straight-through: 1 - s + s
    torch.testing.assert_close(o_1[:, d_h:], M_0[:, 2], **tol)  # o_t = [h_t, r_t]
    torch.testing.assert_close(o_2[:, d_h:], M_0[:, 0], **tol)  # cell 0 untouched by step 1's write
    assert torch.equal(state_1["M"][:, 2], written_value(model, None, state_1["h"]).detach())


@pytest.mark.parametrize(("forget_bias", "write_input"), [(0.0, "h"), (1.0, "xh")])  # paper; authors' code
def test_controller_cell_hand_computed(monkeypatch, forget_bias, write_input):
    """d_i = d_h = d_r = 1, two full cells, cell 1 read; inference mode (alpha, beta without noise). The code's
    sigmoid(f + 1) (marnn.py:273) and micro-state from [x_t, h_t] (marnn.py:281) as options."""
    sizes = dict(input_size=1, output_size=1, hidden_size=1, memory_slots=2, memory_width=1, address_hidden=1)
    model = build_model("tardis", **sizes, forget_bias=forget_bias, write_input=write_input)
    model.eval()
    force_reads(monkeypatch, model, [1])
    with torch.no_grad():
        # W_g over [x, h_{t-1}, r_t] -> rows f, i, o, alpha, beta
        model.W_g.linear.weight.copy_(torch.tensor([[0.0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]))
        model.W_g.linear.bias.copy_(torch.tensor([0.0, 0, 0, 0.3, -0.6]))
        model.W_c.weight.copy_(torch.tensor([[0.5, 1.0, 2.0]]))  # over [x, alpha h_{t-1}, beta r_t]
        model.W_c.bias.zero_()
        model.W_w.weight.fill_(2.0)
        model.W_w.bias.fill_(0.1)
        state = {
            **model.initial_state(1),
            "h": torch.tensor([[0.5]]),
            "c": torch.tensor([[-0.2]]),
            "M": torch.tensor([[[0.3], [0.8]]]),
            "filled": torch.tensor(2),
        }
        o_t, new = model.cell(torch.tensor([[1.0]]), state)

    def sigmoid(v):
        return 1.0 / (1.0 + math.exp(-v))

    x, h, c, r = 1.0, 0.5, -0.2, 0.8
    alpha, beta = sigmoid(0.3 / 0.3), sigmoid(-0.6 / 0.3)  # gumbel-sigmoid at tau = 0.3, no noise
    c_tilde = math.tanh(0.5 * x + alpha * h + 2.0 * beta * r)
    c_t = sigmoid(h + forget_bias) * c + sigmoid(x) * c_tilde  # f from h, i from x
    h_t = sigmoid(r) * math.tanh(c_t)  # o from r
    m_t = 2.0 * h_t + 0.1 + (2.0 * x if write_input == "xh" else 0.0)  # W_w h_t, or W_w [x_t, h_t]
    torch.testing.assert_close(new["c"], torch.tensor([[c_t]]))
    torch.testing.assert_close(o_t, torch.tensor([[h_t, r]]))
    torch.testing.assert_close(new["M"], torch.tensor([[[0.3], [m_t]]]))  # cell read overwritten


# --- AwTA is ARMIN's cell with TARDIS's addressing -----------------------------------------------
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("filled", [1, 4])
def test_awta_cell_is_armins_cell_given_the_same_address(monkeypatch, training, filled):
    sizes = dict(input_size=3, output_size=2, hidden_size=6, memory_slots=4, memory_width=5)
    armin, awta = build_model("armin", **sizes), build_model("awta", **sizes)
    missing, unexpected = awta.load_state_dict(armin.state_dict(), strict=False)
    assert unexpected == ["W_s.weight", "W_s.bias"] and all(k.startswith("addressing.") for k in missing)
    armin.train(training)
    awta.train(training)
    slot = torch.tensor([3, 1])
    monkeypatch.setattr(armin, "address", lambda x_t, h_prev: forced_logits(slot, 4, h_prev))

    torch.manual_seed(1)
    x_t, h, M = torch.randn(2, 3), torch.randn(2, 6), torch.randn(2, 4, 5)
    monkeypatch.setattr(awta.addressing, "forward", lambda *args: forced_logits(slot, 4, h))
    base = {"h": h, "M": M, "filled": torch.tensor(filled)}
    awta_state = {**awta.initial_state(2), **base, "M": M.clone()}  # the inference path writes in place
    with torch.set_grad_enabled(training):
        o_armin, s_armin = armin.cell(x_t, base)
        o_awta, s_awta = awta.cell(x_t, awta_state)
    torch.testing.assert_close(o_awta, o_armin, rtol=0, atol=0)
    for key in ("h", "M", "filled"):
        torch.testing.assert_close(s_awta[key], s_armin[key], rtol=0, atol=0)
    assert torch.equal(s_awta["usage"], F.one_hot(slot, 4).float())
    assert torch.equal(s_awta["last_read"], F.one_hot(slot, 4).float())


# --- inference path, gradients, sizes ------------------------------------------------------------
@pytest.mark.parametrize("name", ["tardis", "awta"])
def test_eval_path_equals_training_without_noise(name):
    noise_off = dict(addressing_noise=False) | (dict(gate_noise=False) if name == "tardis" else {})
    model = tiny(name, memory_slots=4, **noise_off)
    x = torch.randn(12, 2, 3)
    model.train()
    y_train, s_train = model(x)
    model.eval()
    start = model.initial_state(2)
    M_start = start["M"].clone()
    with torch.no_grad():
        y_eval, s_eval = model(x, start)
        assert model.inference_path() == "eval:argmax-index-inplace"
    assert torch.equal(start["M"], M_start)  # in-place writes did not touch the caller's memory
    torch.testing.assert_close(y_eval, y_train.detach(), rtol=0, atol=1e-5)
    assert torch.equal(s_eval["usage"], s_train["usage"])
    assert torch.equal(s_eval["last_read"], s_train["last_read"])


@pytest.mark.parametrize("name", ["tardis", "awta"])
def test_gradients_reach_the_addressing_parameters(name):
    model = tiny(name)
    model.train()
    y, _ = model(torch.randn(8, 2, 3))
    y.pow(2).sum().backward()
    for param_name, param in model.addressing.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", ["tardis", "awta"])
@pytest.mark.parametrize("batch_size", [1, 32])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_batch_and_dtype(name, batch_size, dtype):
    model = tiny(name).to(dtype)
    y, state = model(torch.randn(6, batch_size, 3, dtype=dtype))
    assert y.shape == (6, batch_size, 2) and y.dtype == dtype and torch.isfinite(y).all()
    assert state["M"].dtype == dtype and state["usage"].shape == (batch_size, 3)


@pytest.mark.parametrize(("name", "hidden_size", "paper_count"), [("tardis", 120, 90_000), ("awta", 100, 91_000)])
def test_table1_parameter_counts(name, hidden_size, paper_count):
    model = build_model(name, input_size=10, output_size=8, hidden_size=hidden_size, memory_slots=50, memory_width=32)
    assert abs(model.num_parameters() - paper_count) <= 0.1 * paper_count


def test_validate_and_variant():
    with pytest.raises(ValueError, match="usage_norm"):
        tiny("tardis", usage_norm="max")
    with pytest.raises(ValueError, match="memory_slots"):
        tiny("awta", memory_slots=1)
    with pytest.raises(ValueError, match="gate_temperature"):
        tiny("tardis", gate_temperature=0.0)
    assert tiny("tardis").variant() == "paper" and tiny("awta").variant() == "paper"
    assert tiny("tardis", block_last_read=True).variant() == "code:block_last_read=True"
    assert tiny("awta", read="soft", normalize_logits=True).variant() == "code:read=soft,normalize_logits=True"


@pytest.mark.parametrize("name, a_bound", [("tardis", None), ("awta", "xavier")])
def test_code_address_init_is_one_orthogonal_map_over_all_features(name, a_bound):
    """address_init="code" (marnn.py:229-234 TARDIS, 364-370 AwTA): the blocks over [x_t, c_{t-1}, a_i,
    M_t(i), u_t], put side by side in the code's order, are one matrix with orthonormal rows; b zero;
    TARDIS's a a unit vector, AwTA's from xavier-uniform; the keys orthogonal."""
    torch.manual_seed(0)
    model = build_model(name, input_size=10, output_size=8, address_init="code")  # Table 1 sizes
    A, n_mem = model.addressing, model.config.memory_slots
    W_q = A.W_q.weight  # over [x, h, u]
    full = torch.cat([W_q[:, :-n_mem], A.W_a.weight, A.W_c.weight, W_q[:, -n_mem:]], dim=1)
    d_a = full.shape[0]
    assert full.shape == (d_a, 10 + model.config.hidden_size + 5 + 32 + n_mem)  # 217 at TARDIS's 120
    torch.testing.assert_close(full @ full.T, torch.eye(d_a), atol=1e-5, rtol=0)
    assert torch.all(A.W_q.bias == 0)
    if a_bound is None:
        assert A.a.norm().item() == pytest.approx(1.0, abs=1e-5)
    else:
        bound = math.sqrt(6 / (d_a + 1))  # 0.48 at d_a 25
        assert bound / 2 < A.a.abs().max().item() <= bound
    keys = A.keys
    torch.testing.assert_close(keys.T @ keys, torch.eye(keys.shape[1]), atol=1e-5, rtol=0)
    assert "address_init=code" in model.variant()
    # the paper init (default): each block orthogonal alone, so the key and content blocks are larger
    torch.manual_seed(0)
    paper = build_model(name, input_size=10, output_size=8).addressing
    assert paper.W_c.weight.norm() > 2 * A.W_c.weight.norm()
    with pytest.raises(ValueError, match="address_init"):
        tiny(name, address_init="xavier")


# --- a short training run --------------------------------------------------------------------------
