"""The options that reproduce the ARMIN authors' code (github.com/zoharli/armin at commit 9bf8e45), each
pinned on hand-computed values on a tiny memory, and the ``-code`` presets of benchmarks.yaml: each builds
at Table 1 sizes, trains 20 copy iterations with the real trainer without NaN and reports its variant.
The file and line of every behaviour are cited in the model files' docstrings."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

import models.memory as memory
from bench.config import DEFAULT_CONFIG_PATH
from models import build_model
from models.dnc import content_weighting, read_mode_weights
from models.memory import gumbel_sigmoid, gumbel_softmax, write_interpolated
from models.tardis import update_usage

PRESETS = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())["models"]
CODE_SUFFIX = "-code"  # a preset "<base>-code" is base as its authors' code computes it
CODE_PRESETS = [name for name in PRESETS if name.endswith(CODE_SUFFIX)]  # every one, found in benchmarks.yaml
EULER_GAMMA = 0.5772156649  # mean of a standard Gumbel sample


def fixed_gumbel(monkeypatch, values):
    """Make every Gumbel sample the given tensor (broadcast to the asked shape)."""
    monkeypatch.setattr(memory, "sample_gumbel", lambda shape, like: torch.as_tensor(values, dtype=like.dtype).expand(shape))


# --- gumbel-softmax / gumbel-sigmoid forms ---------------------------------------------------------------
def test_gumbel_softmax_scales_logits_and_noise_together(monkeypatch):
    """The authors' form (and the default): softmax((logits + g) tau), marnn.py:184, 318, 453."""
    logits, g, tau = torch.tensor([[1.0, 0.0]]), torch.tensor([0.0, 0.5]), 3.0
    fixed_gumbel(monkeypatch, g)
    y = gumbel_softmax(logits, tau, hard=False)
    # (1 + 0) * 3 = 3 vs (0 + 0.5) * 3 = 1.5  ->  softmax = [1, e^-1.5] / (1 + e^-1.5)
    p0 = 1.0 / (1.0 + math.exp(-1.5))
    torch.testing.assert_close(y, torch.tensor([[p0, 1.0 - p0]]))
    # the not-code form scales the logits only: 3 + 0 vs 0 + 0.5
    y_other = gumbel_softmax(logits, tau, hard=False, scale_logits_only=True)
    p0_other = 1.0 / (1.0 + math.exp(-2.5))
    torch.testing.assert_close(y_other, torch.tensor([[p0_other, 1.0 - p0_other]]))


def test_one_sample_gumbel_sigmoid_hand_computed(monkeypatch):
    """TARDIS's gates in the authors' code: sigmoid((x + g) 10/3) with one sample (marnn.py:324-327)."""
    fixed_gumbel(monkeypatch, torch.tensor([0.3]))
    x = torch.tensor([[-0.6, 0.2]])
    y = gumbel_sigmoid(x, 10.0 / 3.0, one_sample=True)
    expected = [1.0 / (1.0 + math.exp(-(v + 0.3) * 10.0 / 3.0)) for v in (-0.6, 0.2)]
    torch.testing.assert_close(y, torch.tensor([expected]))
    # logistic form: g_1 - g_2 = 0.3 - 0.3 = 0, the noise cancels
    torch.testing.assert_close(gumbel_sigmoid(x, 10.0 / 3.0), torch.sigmoid(x * 10.0 / 3.0))


def test_one_sample_gumbel_sigmoid_noise_has_mean_euler_gamma():
    """One Gumbel sample has mean 0.577 (gates lean open, P(open at logit 0) = 1 - 1/e); the logistic
    noise g_1 - g_2 has mean 0. Read back from y: logit(y) / (1/tau) = x + noise."""
    torch.manual_seed(0)
    x = torch.zeros(200_000)
    inv_tau = 0.5  # keeps y away from 0 and 1, so logit(y) is exact in float64
    for one_sample, mean in [(True, EULER_GAMMA), (False, 0.0)]:
        y = gumbel_sigmoid(x.double(), inv_tau, one_sample=one_sample)
        noise = torch.logit(y) / inv_tau
        assert abs(noise.mean().item() - mean) < 0.02
    y = gumbel_sigmoid(x, 10.0 / 3.0, one_sample=True)
    assert abs((y > 0.5).float().mean().item() - (1.0 - math.exp(-1.0))) < 0.01


# --- ARMIN ------------------------------------------------------------------------------------------------
def test_write_interpolated_hand_computed():
    M = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    w = torch.tensor([[0.5, 0.25, 0.25]])
    v = torch.tensor([[-1.0, 1.0]])
    expected = torch.tensor([[[0.0, 1.5], [2.0, 3.25], [3.5, 4.75]]])  # (1 - w) M + w v
    torch.testing.assert_close(write_interpolated(M, w, v), expected)


@pytest.mark.parametrize("training", [True, False])
def test_armin_soft_read_hand_computed(training):
    """read: soft (marnn.py:176-180): s = softmax(logits), r = s M, no noise and no temperature."""
    model = build_model("armin", input_size=2, output_size=1, hidden_size=3, memory_slots=2, memory_width=2, read="soft")
    model.train(training)
    model.set_inverse_temperature(50.0)
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax: [0.25, 0.75]
    M = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    for _ in range(3):  # the same every time: no Gumbel noise
        r, index, s = model.read(logits, M)
        torch.testing.assert_close(s, torch.tensor([[0.25, 0.75]]))
        torch.testing.assert_close(r, torch.tensor([[0.25, 1.5]]))
        assert index.tolist() == [1]


def test_armin_soft_write_spreads_the_value_with_the_read_weights():
    """armin-code once the memory is full: M <- (1 - s) M + s v, s the soft read (marnn.py:150, 172-174);
    while it fills, the next empty slot as before."""
    torch.manual_seed(0)
    model = build_model("armin", input_size=2, output_size=1, hidden_size=3, memory_slots=2, memory_width=3,
                        read="soft", soft_write=True, write_input="xh")
    x, h, M = torch.randn(1, 2), torch.randn(1, 3), torch.randn(1, 2, 3)
    s = torch.softmax(model.address(x, h), dim=-1)  # (1, 2)
    _, full = model.cell(x, {"h": h, "M": M, "filled": torch.tensor(2)})
    value = model.W_w(torch.cat([x, full["h"]], dim=-1))
    torch.testing.assert_close(full["M"], (1 - s.unsqueeze(2)) * M + s.unsqueeze(2) * value.unsqueeze(1))
    assert not torch.allclose(full["M"][0, 0], M[0, 0]) and not torch.allclose(full["M"][0, 1], M[0, 1])
    _, filling = model.cell(x, {"h": h, "M": M, "filled": torch.tensor(1)})
    torch.testing.assert_close(filling["M"][:, 1], value)  # slot 1, the next empty one
    torch.testing.assert_close(filling["M"][:, 0], M[:, 0])


def test_temperature_on_logits_is_recorded_as_not_the_authors_code():
    base = dict(input_size=2, output_size=1, hidden_size=4, memory_slots=3)
    assert build_model("armin", **base, temperature_on_logits=True).variant() == "paper + not-code:temperature_on_logits=True"
    assert build_model("armin", **base, read="soft", temperature_on_logits=True).variant() == (
        "code:read=soft + not-code:temperature_on_logits=True"
    )
    assert "not-code" in build_model("tardis", **base, temperature_on_logits=True).variant()
    assert "not-code" in build_model("awta", **base, temperature_on_logits=True).variant()


# --- DNC --------------------------------------------------------------------------------------------------
def test_dnc_read_modes_over_one_head_are_all_exactly_one():
    """dnc/memory.py:246 takes the softmax over axis 1 of (B, R, 3): with R = 1 every mode weighs 1."""
    logits = torch.tensor([[[2.0, -1.0, 0.5]]])  # (B=1, R=1, 3)
    assert torch.equal(read_mode_weights(logits, "heads"), torch.ones(1, 1, 3))
    e = torch.exp(logits)
    torch.testing.assert_close(read_mode_weights(logits, "modes"), e / e.sum())
    two_heads = torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])  # over the heads, per mode
    expected = torch.tensor([[[0.5, math.e / (1 + math.e), 0.5], [0.5, 1 / (1 + math.e), 0.5]]])
    torch.testing.assert_close(read_mode_weights(two_heads, "heads"), expected)


def test_dnc_cosine_over_width_hand_computed():
    """dnc/util.py:64-68 divides by W |a| |b|: softmax(beta cos / W)."""
    M = torch.tensor([[[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]]])  # W = 2
    k = torch.tensor([[[1.0, 0.0]]])
    beta = torch.tensor([[[4.0]]])
    cos = torch.tensor([1.0, 0.0, 1.0 / math.sqrt(2.0)])
    torch.testing.assert_close(content_weighting(M, k, beta), F.softmax(4.0 * cos, dim=-1).view(1, 1, 3))
    torch.testing.assert_close(content_weighting(M, k, beta, over_width=True), F.softmax(2.0 * cos, dim=-1).view(1, 1, 3))


def dnc_interface(**options):
    model = build_model("dnc", input_size=2, output_size=1, hidden_size=4, memory_slots=3, memory_width=2, **options)
    # xi blocks: k_r (2), beta_r (1), k_w (2), beta_w (1), e (2), v (2), f (1), g_a (1), g_w (1), pi (3)
    xi = [torch.tensor([[2.0, -1.0]]), torch.tensor([[0.5]]), torch.tensor([[1.0, 0.0]]), torch.tensor([[-2.0]]),
          torch.zeros(1, 2), torch.tensor([[3.0, -0.5]]), torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1),
          torch.tensor([[1.0, 0.0, -1.0]])]
    return model.interface(xi)


def test_dnc_interface_activations_hand_computed():
    k_r, beta_r, k_w, beta_w, _, v, _, _, _, pi = dnc_interface()  # paper: keys as they are, oneplus
    torch.testing.assert_close(k_r, torch.tensor([[[2.0, -1.0]]]))
    torch.testing.assert_close(beta_r, torch.tensor([[[1.0 + math.log1p(math.exp(0.5))]]]))
    torch.testing.assert_close(v, torch.tensor([[[3.0, -0.5]]]))
    assert math.isclose(pi.sum().item(), 1.0, rel_tol=1e-6)
    k_r, beta_r, k_w, beta_w, _, v, _, _, _, pi = dnc_interface(interface_activations="code", read_modes_over="heads")
    torch.testing.assert_close(k_r, torch.tanh(torch.tensor([[[2.0, -1.0]]])))
    torch.testing.assert_close(k_w, torch.tanh(torch.tensor([[[1.0, 0.0]]])))
    torch.testing.assert_close(beta_r, torch.tensor([[[math.log1p(math.exp(0.5))]]]))  # softplus, no 1 +
    torch.testing.assert_close(beta_w, torch.tensor([[[math.log1p(math.exp(-2.0))]]]))
    torch.testing.assert_close(v, torch.tanh(torch.tensor([[[3.0, -0.5]]])))
    assert torch.equal(pi, torch.ones(1, 1, 3))


def test_dnc_code_read_weighting_is_unnormalised():
    """With all three modes at 1 the read weighting is b + c + f: after a few writes it sums above 1,
    while the paper's convex mix never does."""
    torch.manual_seed(0)
    sizes = dict(input_size=3, output_size=2, hidden_size=8, memory_slots=6, memory_width=4)
    for options, above_one in [({}, False), ({"read_modes_over": "heads"}, True)]:
        torch.manual_seed(0)
        model = build_model("dnc", **sizes, **options)
        state = model.initial_state(1)
        sums = []
        for x_t in torch.randn(8, 1, 3):
            _, state = model.step(x_t, state)
            sums.append(state["w_r"].sum().item())
        assert (max(sums) > 1.0 + 1e-3) is above_one, sums


# --- NTM --------------------------------------------------------------------------------------------------
def test_ntm_code_heads_read_unit_norm_cell_and_write_without_erase(monkeypatch):
    """ntm.py:58-64 (heads read F.normalize(c_t)) and modules/memory.py:107 (M <- (1 - w) M + w a)."""
    torch.manual_seed(0)
    model = build_model("ntm", input_size=2, output_size=1, hidden_size=5, memory_slots=4, memory_width=3,
                        head_input="c_normalized", separate_erase=False)
    seen = []
    projection = model.W_head.forward
    monkeypatch.setattr(model.W_head, "forward", lambda inp: seen.append(inp) or projection(inp))
    state = model.initial_state(1)
    _, new = model.step(torch.randn(1, 2), state)
    torch.testing.assert_close(seen[0], new["c"] / new["c"].norm())
    assert math.isclose(seen[0].norm().item(), 1.0, rel_tol=1e-6)
    k, beta, g, s, gamma, e, a = model.heads(new["h"], new["c"])
    assert torch.equal(e, torch.ones_like(a))
    assert model.W_head.out_features == 2 * model.head_width + 3  # no erase rows: one add vector of width 3
    # the write M_t = (1 - w) M + w a, by hand on a tiny memory
    M = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])
    w = torch.tensor([[[0.25, 0.75]]])
    a_ = torch.tensor([[[0.0, 4.0, -4.0]]])
    expected = torch.tensor([[[0.75, 2.5, 1.25], [1.0, 4.25, -1.5]]])
    torch.testing.assert_close(memory.erase_add_write(M, w, torch.ones_like(a_), a_), expected)


# --- TARDIS / AwTA ----------------------------------------------------------------------------------------
def tiny(name, **options):
    torch.manual_seed(0)
    return build_model(name, input_size=3, output_size=2, hidden_size=8, memory_slots=4, memory_width=4, **options)


@pytest.mark.parametrize("name", ["tardis", "awta"])
def test_usage_gradient_flows_through_usage_and_last_read_mask(name):
    """marnn.py:259-260 (TARDIS) and 391-392 (AwTA): the usage and the mask of the cell read last are
    the straight-through weights; gradient reaches the addressing through them."""
    for gradient in (False, True):
        model = tiny(name, usage_gradient=gradient, block_last_read=True)
        model.train()
        _, state = model(torch.randn(5, 2, 3))
        assert state["usage"].requires_grad is gradient and state["last_read"].requires_grad is gradient
        torch.testing.assert_close(state["usage"].sum(dim=1), torch.full((2,), 5.0))  # one read per step
        if gradient:
            state["usage"][:, 0].sum().backward(retain_graph=True)
            assert model.addressing.a.grad.abs().sum() > 0
    assert torch.allclose(update_usage(torch.zeros(1, 2), torch.tensor([[0.0, 1.0]])), torch.tensor([[0.0, 1.0]]))


def test_tardis_addresses_from_the_cell_state(monkeypatch):
    """marnn.py:248: TARDIS's read logits see c_{t-1}, not h_{t-1}."""
    for address_from in ("h", "c"):
        model = tiny("tardis", address_from=address_from)
        seen = []
        forward = model.addressing.forward
        monkeypatch.setattr(model.addressing, "forward", lambda x, ctrl, *rest: seen.append(ctrl) or forward(x, ctrl, *rest))
        state = {**model.initial_state(1), "h": torch.randn(1, 8), "c": torch.randn(1, 8)}
        model.step(torch.randn(1, 3), state)
        assert torch.equal(seen[0], state[address_from])


def test_tardis_gate_noise_form_reaches_the_gates(monkeypatch):
    calls = []
    monkeypatch.setattr("models.tardis.gumbel_sigmoid", lambda x, inv_tau, **kw: calls.append(kw) or torch.sigmoid(x))
    for form, one_sample in [("logistic", False), ("gumbel", True)]:
        model = tiny("tardis", gate_noise_form=form).train()
        model.step(torch.randn(1, 3), model.initial_state(1))
        assert calls[-1] == {"noise": True, "one_sample": one_sample}


def test_blocked_slot_after_normalisation_is_about_minus_one():
    """Block then normalise (marnn.py:254-256): the blocked cell gets about -1, the others about pi/100,
    so their logits differ by far less than the Gumbel noise's spread."""
    model = tiny("tardis", block_last_read=True, normalize_logits=True)
    x, h, M, U = torch.randn(1, 3), torch.randn(1, 8), torch.randn(1, 4, 4), torch.zeros(1, 4)
    pi = model.addressing(x, h, M, U, torch.tensor([[0.0, 0.0, 1.0, 0.0]]))
    assert math.isclose(pi.norm().item(), 1.0, rel_tol=1e-5)
    assert pi[0, 2] < -0.999 and pi[0, [0, 1, 3]].abs().max() < 0.05


# --- what every code variant shares: forget bias 1, learned initial state ------------------------------------
LEARNED_INITIAL = {  # model -> its learned initial-state parameters and the state entry each gives
    "armin": {"h_0": ("h", math.tanh), "M_0": ("M", None)},  # marnn.py:108-109, 159, 164
    "awta": {"h_0": ("h", math.tanh), "M_0": ("M", None)},  # the ARMIN cell's (marnn.py:393-416)
    "tardis": {"h_0": ("h", math.tanh), "c_0": ("c", math.tanh), "M_0": ("M", None)},  # marnn.py:225-227, 288-294
    "dnc": {"h_0": ("h", math.tanh), "c_0": ("c", math.tanh), "r_0": ("r", None)},  # dnc/dnc.py:113-115, 166, 170
    "sam": {"h_0": ("h", math.tanh), "c_0": ("c", math.tanh), "r_0": ("r", None)},  # SAM(DNC): dnc/sam.py:20
}


@pytest.mark.parametrize("name", sorted(LEARNED_INITIAL))
def test_learned_initial_state_hand_computed(name):
    """h_0 = tanh(v_h) (c_0 = tanh(v_c)), M_0 or r_0 the learned value itself, the same for every sequence of
    the batch, and trained: summed over a batch of 2, d sum(tanh(v)) / dv = 2 (1 - tanh(v)^2)."""
    sizes = dict(input_size=2, output_size=1, hidden_size=4, memory_slots=4, memory_width=2)
    model = build_model(name, **sizes, learned_initial_state=True)
    value = 0.5
    with torch.no_grad():
        for param in LEARNED_INITIAL[name]:
            getattr(model, param).fill_(value)
    state = model.initial_state(BATCH := 2)
    for param, (key, squash) in LEARNED_INITIAL[name].items():
        expected = squash(value) if squash else value
        assert torch.allclose(state[key], torch.full_like(state[key], expected)), (param, key)
    state["h"].sum().backward()
    assert torch.allclose(model.h_0.grad, torch.full_like(model.h_0, BATCH * (1 - math.tanh(value) ** 2)))
    assert "learned_initial_state=True" in model.variant()
    plain = build_model(name, **sizes)
    assert not any(hasattr(plain, param) for param in LEARNED_INITIAL[name])
    assert torch.equal(plain.initial_state(1)["h"], torch.zeros(1, 4))


@pytest.mark.parametrize("name", ["dnc", "sam"])
@pytest.mark.parametrize("forget_bias", [0.0, 1.0])
def test_controller_forget_bias_hand_computed(name, forget_bias):
    """dnc/dnc.py:47: c_t = c_{t-1} sigmoid(f + 1) + sigmoid(i) tanh(j). Here the learned bias of f starts at
    the constant, which trains identically. With every other weight and bias 0: c_1 = sigmoid(1) c_0."""
    model = build_model(name, input_size=2, output_size=1, hidden_size=3, memory_slots=4, memory_width=2,
                        forget_bias=forget_bias, learned_initial_state=True)
    d_h, lstm = 3, model.controller
    with torch.no_grad():
        for param in (lstm.weight_ih, lstm.weight_hh, lstm.bias_hh):
            param.zero_()
        assert torch.equal(lstm.bias_ih[d_h:2 * d_h], torch.full((d_h,), forget_bias))  # torch packs i, f, g, o
        lstm.bias_ih[:d_h] = 0.0
        lstm.bias_ih[2 * d_h:] = 0.0
        model.c_0.fill_(0.5)
    _, state = model.step(torch.randn(1, 2), model.initial_state(1))
    sigmoid = 1.0 / (1.0 + math.exp(-forget_bias))  # i and o at sigmoid(0), the candidate tanh(0) = 0
    assert torch.allclose(state["c"], torch.full((1, d_h), sigmoid * math.tanh(0.5)))


# --- the presets ------------------------------------------------------------------------------------------
def test_code_presets_do_not_use_the_not_code_temperature_form():
    for name in CODE_PRESETS:
        assert not PRESETS[name].get("temperature_on_logits", False), name


@pytest.mark.parametrize("name", CODE_PRESETS)
def test_code_preset_trains_20_copy_iterations_and_reports_its_variant(name):
    from bench.config import TrainConfig
    from bench.training.episodic import train
    from tasks import build_task

    options = dict(PRESETS[name])
    cls = options.pop("class")
    torch.manual_seed(0)
    task = build_task("copy", bits=8, min_length=1, max_length=5)
    model = build_model(cls, input_size=task.input_size, output_size=task.output_size, **options)  # Table 1 sizes
    cfg = TrainConfig.from_dict(dict(iterations=20, val_every=10, val_batches=1, val_batch_size=2,
                                     inverse_temperature=dict(every=5)))
    outcome = train(model, task, cfg, seed=0)
    assert outcome.status != "diverged" and outcome.iterations_run == 20
    assert all(math.isfinite(p.val_loss) for p in outcome.curve)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    variant = model.variant()
    assert variant.startswith("code:") and "not-code" not in variant
    base = PRESETS[name.removesuffix(CODE_SUFFIX)]
    departures = {k: v for k, v in options.items() if base.get(k) != v}
    assert departures, f"{name} is its base preset"
    for option in departures:  # every option where the preset departs from its base is named in the variant
        assert f"{option}=" in variant, (option, variant)


def test_the_code_presets_are_found_in_the_configuration():
    assert {"ntm-code", "dnc-code", "sam-code", "tardis-code", "awta-code", "armin-code"} <= set(CODE_PRESETS)
    for name in CODE_PRESETS:  # each pairs with its base preset of the same class
        assert PRESETS[name]["class"] == PRESETS[name.removesuffix(CODE_SUFFIX)]["class"], name


def test_table1_code_suite_runs_every_code_preset_beside_table1():
    config = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())
    suite, paper = config["suites"]["table1-code"], config["suites"]["table1"]
    assert set(suite["models"]) <= set(PRESETS)
    assert {m for m in suite["models"] if m != "lstm"} == {n for n in CODE_PRESETS if "pmnist" not in n}
    assert len(suite["tasks"]) == len(paper["tasks"]) and "priority_sort-code" in suite["tasks"]
    smoke = config["suites"]["table1-code-smoke"]
    assert (smoke["models"], smoke["tasks"]) == (suite["models"], suite["tasks"])


def test_the_table1_code_grid_runs_the_cells_of_docs_table1_on_the_authors_data():
    """docs/table1.md's grid: the solved cells in both variants, 5 seeds, a budget that covers twice the
    paper's iterations (the "reproduced" rule); the unsolved copy cells and ARMIN's recall at 100k; every
    suite on the -code tasks and waiting for both measures."""
    import csv

    suites = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())["suites"]
    paper = {(r["model"], r["task"]): r for r in csv.DictReader(
        line for line in (Path(__file__).parents[1] / "results/paper/paper_table1_algorithmic.csv").open()
        if not line.startswith("#"))}
    grid = {name: suites[name] for name in suites if name.startswith("table1-code-") and name != "table1-code-smoke"}
    assert len(grid) == 5
    for name, suite in grid.items():
        assert all(task.endswith("-code") for task in suite["tasks"]), name
        assert suite["train"]["stop_after_both_measures"] is True, name
    for name, model, task in (("table1-code-solved-copy", "ARMIN", "copy"), ("table1-code-solved-copy", "NTM", "copy"),
                              ("table1-code-solved-recall", "NTM", "associative_recall")):
        suite = grid[name]
        assert suite["seeds"] == 5 and f"{task}-code" in suite["tasks"]
        assert {model.lower(), f"{model.lower()}-code"} <= set(suite["models"])
        assert suite["train"]["iterations"] >= 2 * 1000 * float(paper[(model, task)]["value"])
    unsolved = grid["table1-code-unsolved-copy"]
    assert set(unsolved["models"]) == {"lstm", "dnc-code", "sam-code", "tardis-code", "awta-code"}
    assert grid["table1-code-armin-recall"]["models"] == ["armin-code", "armin"]
    assert all(grid[n]["train"]["iterations"] == 100_000 and grid[n]["seeds"] == 2
               for n in ("table1-code-unsolved-copy", "table1-code-armin-recall", "table1-code-other-recall"))
