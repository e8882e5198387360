"""Operator counts (bench/op_count.py): a hand-counted step, phases apart, the same count on every
profile run, and `bench compare` failing on one added operator (exactly, not within a tolerance)."""

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.commands.compare import MORE_OPS, OK, compare
from bench.op_count import OperatorCounter
from models.armin import ARMIN

TINY_CLI = ["-m", "lstm,armin", "--hidden", "6", "--tbptt", "3", "--batch-size", "2", "--vocab", "5",
            "--repeats", "1", "--warmup", "1", "-q"]
OPS = ["ops_forward", "ops_backward", "ops_optimizer"]


def lstm_step(x, h, c, W, b):
    i, f, g, o = torch.addmm(b, x, W).chunk(4, dim=1)  # addmm, split (chunk's one operator)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # sigmoid, mul, sigmoid, tanh, mul, add
    return torch.sigmoid(o) * torch.tanh(c), c  # sigmoid, tanh, mul


def test_a_tiny_lstm_step_dispatches_the_hand_counted_operators():
    x, h, c, W, b = torch.randn(2, 3), torch.zeros(2, 4), torch.zeros(2, 4), torch.randn(3, 16), torch.randn(16)
    counter = OperatorCounter()
    with torch.no_grad(), counter.phase("forward"):
        lstm_step(x, h, c, W, b)
    assert counter.counts["forward"] == 11  # 1 addmm + 1 split + 3 sigmoid + 2 tanh + 3 mul + 1 add
    assert counter.operators["forward"]["aten.sigmoid.default"] == 3
    with torch.no_grad(), counter.phase("forward"):  # a phase counts on
        lstm_step(x, h, c, W, b)
    with counter.phase("other"):
        torch.ones(1)
    assert counter.counts == {"forward": 22, "other": 1}


def test_backward_operators_are_counted_in_their_own_phase():
    W = torch.randn(3, 16, requires_grad=True)
    counter = OperatorCounter()
    with counter.phase("forward"):
        h, c = lstm_step(torch.randn(2, 3), torch.zeros(2, 4), torch.zeros(2, 4), W, torch.randn(16))
        loss = h.sum()
    with counter.phase("backward"):
        loss.backward()
    assert counter.counts["backward"] > 0 and W.grad is not None
    assert "aten.sigmoid_backward.default" in counter.operators["backward"]
    assert "aten.sigmoid_backward.default" not in counter.operators["forward"]


def counted(ops_armin=(100, 200, 50), version="2.13.0"):
    rows = []
    for model, ops in (("lstm", (10, 20, 50)), ("armin", ops_armin)):
        rows.append({"run_id": "r", "timestamp": "2026-01-01T00:00:00+00:00", "model": model, "setup": "s",
                     "mode": "train", "chars_per_s": 100.0, "chars_per_s_best": 100.0, "chars_per_cpu_s": 100.0,
                     "exact_memory_bytes": 1000, "torch_version": version, **dict(zip(OPS, ops))})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("ops", [(101, 200, 50), (100, 201, 50), (100, 200, 51)])
def test_one_more_operator_in_any_phase_fails_the_gate(ops):
    result = compare(counted(), counted(ops), 0.3, 0.02).set_index("model")
    assert result.loc["armin", "verdict"] == MORE_OPS and result.loc["lstm", "verdict"] == OK
    assert result.loc["armin", "ops_cur"] == result.loc["armin", "ops_base"] + 1


def test_fewer_operators_pass_and_another_torch_version_is_a_note_not_a_failure():
    assert (compare(counted(), counted((99, 200, 50)), 0.3, 0.02).verdict == OK).all()
    result = compare(counted(), counted((150, 250, 60), version="2.14.0"), 0.3, 0.02)
    assert (result.verdict == OK).all()
    assert "torch 2.13.0 (baseline) and 2.14.0 (current)" in result.attrs["ops_note"]
    old = counted().drop(columns=OPS)  # a baseline from before operator counts
    assert "baseline has none" in compare(old, counted(), 0.3, 0.02).attrs["ops_note"]


def test_profile_counts_are_identical_across_runs_and_one_added_operator_fails_compare(tmp_path, monkeypatch, capsys):
    first, second, changed = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["profile", *TINY_CLI, "--out", str(first)]) == 0
    assert main(["profile", *TINY_CLI, "--out", str(second)]) == 0
    counts = [pd.read_csv(p / "profile.csv").set_index(["model", "mode"])[OPS] for p in (first, second)]
    pd.testing.assert_frame_equal(counts[0], counts[1])
    assert counts[0].loc[("armin", "train"), "ops_backward"] > 0
    assert pd.isna(counts[0].loc[("armin", "infer"), "ops_backward"])

    cell = ARMIN.cell

    def one_more(self, x_t, state):
        o_t, state = cell(self, x_t, state)
        return o_t * 1.0, state  # the same values, one more operation per time step

    monkeypatch.setattr(ARMIN, "cell", one_more)
    assert main(["profile", *TINY_CLI, "--out", str(changed)]) == 0
    capsys.readouterr()
    gate = ["compare", str(first), str(changed), "--speed", "cpu", "--max-slowdown", "99%", "--max-memory-growth", "99%"]
    assert main(gate) == 1
    out = capsys.readouterr().out
    assert "armin h6-T3-B2 train: MORE OPS" in out and "armin h6-T3-B2 infer: MORE OPS" in out
    assert "lstm h6-T3-B2 train: MORE" not in out
    assert main(["compare", str(first), str(second), "--speed", "cpu", "--max-slowdown", "99%",
                 "--max-memory-growth", "99%"]) == 0


def test_a_step_linear_transposes_its_weight_once_per_sequence_and_computes_what_nn_linear_does():
    from models.layers import Linear, sequence_weights

    torch.manual_seed(0)
    linear, plain = Linear(3, 4), torch.nn.Linear(3, 4)
    plain.load_state_dict(linear.state_dict())
    xs = torch.randn(5, 2, 3)
    counters = {}
    outputs = {}
    for name, layer in (("sequence", linear), ("plain", plain)):
        counters[name] = OperatorCounter()
        with counters[name].phase("forward"), sequence_weights(layer):
            h = torch.zeros(2, 4)
            for x in xs:
                h = torch.tanh(layer(x) + h)
        with counters[name].phase("backward"):
            h.sum().backward()
        outputs[name] = (h, layer.weight.grad, layer.bias.grad)
    for ours, theirs in zip(outputs["sequence"], outputs["plain"]):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    forward = counters["sequence"].operators["forward"], counters["plain"].operators["forward"]
    assert forward[0]["aten.t.default"] == 1 and forward[1]["aten.t.default"] == 5  # once, not per step
    assert counters["plain"].counts["backward"] - counters["sequence"].counts["backward"] == 5 - 1
    assert linear.weight_t is None  # nothing held after the sequence
