"""ARMIN (paper section 3): the cell against hand-computed values, read/write semantics, inference
mode, gradient flow, and the authors'-code variant."""

import math

import pytest
import torch
import torch.nn.functional as F

from models import build_model, detach_state


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def tiny_armin(**options):
    """d_i = d_h = d_r = 1, two slots: small enough to compute eq. 3-10 by hand."""
    opts = dict(input_size=1, output_size=1, hidden_size=1, memory_slots=2, memory_width=1, addressing_noise=False)
    opts.update(options)
    model = build_model("armin", **opts).double()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


def set_hand_weights(model):
    """Weights for which every quantity of one step has a closed form (see test below)."""
    with torch.no_grad():
        # eq. 9: logits = W_s [x, h] + b_s = [0.5, x]
        model.W_s.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
        model.W_s.bias.copy_(torch.tensor([0.5, 0.0]))
        # eq. 3: g^h = sigma(0) = 0.5, g^r = sigma(ln 3) = 0.75
        model.W_ig.linear.bias.copy_(torch.tensor([0.0, math.log(3.0)], dtype=torch.float64))
        # eq. 6 rows (i, f, g, o^h, o^r) over [x, h^g, r^g]
        model.W_go.linear.weight.copy_(
            torch.tensor([[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
        )
        model.readout.weight.copy_(torch.tensor([[1.0, 10.0]]))


def full_state(h_prev, rows):
    return {
        "h": torch.tensor([[h_prev]], dtype=torch.float64),
        "M": torch.tensor([[[r] for r in rows]], dtype=torch.float64),
        "filled": torch.tensor(len(rows)),
    }


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_cell_matches_hand_computed_equations(mode):
    model = tiny_armin()
    set_hand_weights(model)
    model.train(mode == "train")
    x = torch.tensor([[1.0]], dtype=torch.float64)
    state = full_state(0.5, [0.2, -0.4])

    o_t, new = model.cell(x, state)

    # by hand: logits [0.5, 1.0] -> slot 1 is read, r_t = -0.4
    r = -0.4
    h_g, r_g = 0.5 * 0.5, 0.75 * r  # eq. 4-5
    i, f, g = sigmoid(0.0), sigmoid(2.0 * h_g), math.tanh(1.0 + r_g)  # eq. 6
    o_h, o_r = sigmoid(0.0), sigmoid(-r_g)
    h_t = f * 0.5 + i * g  # eq. 7
    expected_o = [o_h * math.tanh(h_t), o_r * math.tanh(r)]  # eq. 8
    assert new["h"].item() == pytest.approx(h_t, abs=1e-12)
    assert o_t.squeeze(0).tolist() == pytest.approx(expected_o, abs=1e-12)
    # write (3.3): memory full, so h_t overwrites slot 1 (the slot read); slot 0 untouched
    assert new["M"][0, :, 0].tolist() == pytest.approx([0.2, h_t], abs=1e-12)
    # output layer reads o_t
    y_t, _ = model.step(x, state)
    assert y_t.item() == pytest.approx(expected_o[0] + 10.0 * expected_o[1], abs=1e-12)
    # the caller's state is not modified
    assert state["M"][0, :, 0].tolist() == [0.2, -0.4]


def test_code_variant_cell_tanh_forget_bias_and_output():
    model = tiny_armin(cell_tanh=True, forget_bias=1.0)
    set_hand_weights(model)
    model.eval()
    o_t, new = model.cell(torch.tensor([[1.0]], dtype=torch.float64), full_state(0.5, [0.2, -0.4]))
    r, h_g, r_g = -0.4, 0.25, -0.3
    h_t = math.tanh(sigmoid(2.0 * h_g + 1.0) * 0.5 + 0.5 * math.tanh(1.0 + r_g))
    assert new["h"].item() == pytest.approx(h_t, abs=1e-12)
    assert o_t.squeeze(0).tolist() == pytest.approx([0.5 * h_t, sigmoid(-r_g) * r], abs=1e-12)
    assert model.variant() == "code:cell_tanh=True,forget_bias=1.0"
    assert tiny_armin().variant() == "paper"


def forced_address_model(slot: int, n_mem: int = 4, **options):
    """Addressing that always picks ``slot`` (huge bias), whatever x, h and the gumbel noise."""
    model = build_model("armin", input_size=3, output_size=2, hidden_size=5, memory_slots=n_mem, **options)
    with torch.no_grad():
        model.W_s.weight.zero_()
        model.W_s.bias.fill_(-1e4)
        model.W_s.bias[slot] = 1e4
    return model


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_read_returns_exactly_the_addressed_slot(mode):
    torch.manual_seed(0)
    model = forced_address_model(slot=2, addressing_noise=True)
    model.train(mode == "train")
    M = torch.randn(3, 4, 5)
    r, index, s = model.read(model.address(torch.randn(3, 3), torch.randn(3, 5)), M)
    assert index.tolist() == [2, 2, 2]
    assert torch.allclose(s, F.one_hot(index, 4).float())  # the read weights, one-hot forward
    assert torch.equal(r, M[:, 2]) if mode == "eval" else torch.allclose(r, M[:, 2], atol=0, rtol=1e-6)


def test_write_fills_empty_slots_in_order_then_overwrites_the_read_slot():
    model = forced_address_model(slot=1, n_mem=3, addressing_noise=False)
    state = model.initial_state(2)
    written = []
    for t in range(5):
        _, state = model.cell(torch.randn(2, 3), state)
        written.append(state["h"].detach().clone())
        M = state["M"].detach()
        if t < 3:  # filling: step t writes slot t
            assert torch.allclose(M[:, t], written[t])
        else:  # full: the slot just read (1) is overwritten, the others keep the fill
            assert torch.allclose(M[:, 1], written[t])
            assert torch.allclose(M[:, 0], written[0]) and torch.allclose(M[:, 2], written[2])
    assert state["filled"].item() == 5


def test_write_maps_h_to_memory_width_when_sizes_differ():
    model = forced_address_model(slot=0, n_mem=2, memory_width=3, addressing_noise=False)
    assert model.W_w is not None and model.W_w.in_features == 5 and model.W_w.out_features == 3
    _, state = model.cell(torch.randn(1, 3), model.initial_state(1))
    assert torch.allclose(state["M"][:, 0], model.W_w(state["h"]))


def test_inference_mode_equals_deterministic_hard_training_forward():
    torch.manual_seed(1)
    model = build_model("armin", input_size=4, output_size=3, hidden_size=8, memory_slots=3, addressing_noise=False)
    x = torch.randn(12, 5, 4)  # 12 steps > 3 slots: the overwrite phase is exercised
    model.train()
    y_train, s_train = model(x)
    model.eval()
    with torch.no_grad():
        y_eval, s_eval = model(x)
    assert model.inference_path() == "eval:argmax-index"
    assert torch.allclose(y_train, y_eval, atol=1e-6)
    assert torch.allclose(s_train["M"], s_eval["M"], atol=1e-6)


def test_inference_does_not_touch_the_callers_memory():
    model = build_model("armin", input_size=2, output_size=1, hidden_size=4, memory_slots=2).eval()
    state = model.initial_state(1)
    state["M"] += 1.0
    before = state["M"].clone()
    with torch.no_grad():
        model(torch.randn(4, 1, 2), state)
    assert torch.equal(state["M"], before)


@pytest.mark.parametrize("read", ["gumbel", "soft"])
def test_gradients_reach_addressing_weights(read):
    torch.manual_seed(2)
    model = build_model("armin", input_size=3, output_size=2, hidden_size=6, memory_slots=4, read=read)
    model.train()
    y, _ = model(torch.randn(10, 2, 3))
    y.pow(2).sum().backward()
    assert model.W_s.weight.grad is not None and model.W_s.weight.grad.abs().sum() > 0


def test_gumbel_read_is_one_hot_and_anneals():
    torch.manual_seed(3)
    model = build_model("armin", input_size=2, output_size=1, hidden_size=4, memory_slots=5)
    model.train()
    M = torch.eye(5).unsqueeze(0).expand(64, 5, 5)[:, :, :4].contiguous()  # slot i = e_i (slot 4 = 0)
    logits = torch.tensor([[2.0, 1.0, 0.0, 0.0, 0.0]]).expand(64, 5)
    r, _, _ = model.read(logits, M)
    assert set(r.sum(dim=1).round().tolist()) <= {0.0, 1.0}  # exactly one row picked
    # paper (and authors' code) form: the forward sample is independent of tau; the harness's
    # not-code option temperature_on_logits: a large 1/tau removes the noise
    model.set_inverse_temperature(50.0)
    _, index, _ = model.read(logits, M)
    assert not index.eq(0).all()  # still sampled: slot 0 wins with probability e^2 / (e^2 + e + 3) = 0.56
    model.config.temperature_on_logits = True
    _, index, _ = model.read(logits, M)
    assert index.eq(0).all()


def test_detach_state_cuts_the_gradient():
    model = build_model("armin", input_size=2, output_size=1, hidden_size=4, memory_slots=3)
    _, state = model(torch.randn(5, 1, 2))
    assert state["M"].requires_grad
    state = detach_state(state)
    assert not any(v.requires_grad for v in state.values())
    y, _ = model(torch.randn(3, 1, 2), state)
    y.sum().backward()  # only through the new segment


def test_paper_parameter_shapes_and_count():
    model = build_model("armin", input_size=10, output_size=8, hidden_size=100, memory_slots=50, memory_width=32)
    d_i, d_h, d_r, n = 10, 100, 32, 50
    assert tuple(model.W_ig.linear.weight.shape) == (d_h + d_r, d_i + d_h + d_r)
    assert tuple(model.W_go.linear.weight.shape) == (4 * d_h + d_r, d_i + d_h + d_r)
    assert tuple(model.W_s.weight.shape) == (n, d_i + d_h)
    expected = (
        (d_h + d_r) * (d_i + d_h + d_r + 1)
        + (4 * d_h + d_r) * (d_i + d_h + d_r + 1)
        + n * (d_i + d_h + 1)
        + d_r * (d_h + 1)  # write map d_h -> d_r
        + 8 * (d_h + d_r + 1)  # output layer
    )
    assert model.num_parameters() == expected == 90_498  # paper Table 1: 90k


@pytest.mark.parametrize("bad", [dict(memory_slots=0), dict(read="hard"), dict(zoneout=1.0), dict(hidden_size=0)])
def test_impossible_configs_are_rejected(bad):
    with pytest.raises(ValueError):
        build_model("armin", input_size=2, output_size=1, **bad)


def test_layer_norm_and_zoneout_options():
    torch.manual_seed(4)
    model = build_model("armin", input_size=2, output_size=1, hidden_size=4, memory_slots=3, layer_norm=True, zoneout=0.5)
    assert model.W_go.norms is not None
    x = torch.randn(6, 2, 2)
    model.eval()
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(x)
    assert torch.equal(a, b)  # zoneout uses its expectation at inference
    model.train()
    y, _ = model(x)
    y.sum().backward()
