"""The associative-memory family (issue 13): fast weights (Ba et al. 2016) and the learned-update
reading after Zhang & Zhou 2017. Equations 1-3 on hand-computed values, the associative read/write,
the learned gates reducing to the fixed rule, gradient flow, the in-place inference path, presets,
`bench profile` memory figures and the CLI end to end. (Batch 1/32, float32/64, detach, determinism and
step == forward run for every preset in tests/test_models_common.py.)"""

import math

import pytest
import torch

from bench.cli import main
from bench.config import SCOPES, load_config
from bench.profile_engine import build_request, run_profile
from models import build_model, detach_state
from models.learned_assoc import READING
from models.memory import associative_read, associative_write, settle

D = torch.float64
LN_EPS = 1e-5  # torch.nn.LayerNorm's default
CONFIG = load_config()


def tensor(values):
    return torch.tensor(values, dtype=D)


def zero_weights(model):
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        if hasattr(model.norm, "weight"):
            model.norm.weight.fill_(1.0)  # LN gain 1, bias 0
    return model


def matvec(A, x):
    return [sum(a * b for a, b in zip(row, x)) for row in A]


def layer_norm(v):
    mean = sum(v) / len(v)
    var = sum((a - mean) ** 2 for a in v) / len(v)
    return [(a - mean) / math.sqrt(var + LN_EPS) for a in v]


# --- the associative read and write (models/memory.py) --------------------------------------------
@pytest.mark.parametrize("in_place", [False, True])
def test_write_is_eq1_decay_plus_outer_product(in_place):
    A = tensor([[[1.0, 0.0], [0.0, 2.0]]])  # (1, 2, 2)
    h = tensor([[1.0, -1.0]])
    out = associative_write(A.clone(), h, h, 0.5, 2.0, in_place=in_place)
    # 0.5 [[1, 0], [0, 2]] + 2 [[1, -1], [-1, 1]]
    assert out.tolist() == [[[2.5, -2.0], [-2.0, 3.0]]]
    # k != v: row i of v k^T is v_i k
    out = associative_write(torch.zeros(1, 2, 2, dtype=D), tensor([[1.0, 0.0]]), tensor([[0.0, 3.0]]), 1.0, 1.0,
                            in_place=in_place)
    assert out.tolist() == [[[0.0, 0.0], [3.0, 0.0]]]


@pytest.mark.parametrize("in_place", [False, True])
def test_write_with_per_memory_gates(in_place):
    A = tensor([[[[1.0, 1.0], [1.0, 1.0]], [[2.0, 0.0], [0.0, 2.0]]]])  # (B=1, M=2, 2, 2)
    k = tensor([[[1.0, 0.0], [0.0, 1.0]]])  # (1, 2, 2)
    v = tensor([[[1.0, 2.0], [4.0, 0.0]]])
    decay, strength = tensor([[0.5, 0.25]]), tensor([[2.0, 0.5]])  # (1, 2)
    out = associative_write(A.clone(), k, v, decay, strength, in_place=in_place)
    # m=0: 0.5 ones + 2 [1, 2]^T [1, 0];  m=1: 0.25 * 2I + 0.5 [4, 0]^T [0, 1]
    assert out.tolist() == [[[[2.5, 0.5], [4.5, 0.5]], [[0.5, 2.0], [0.0, 0.5]]]]


def test_read_is_a_matrix_vector_product_per_memory():
    assert associative_read(tensor([[[2.5, -2.0], [-2.0, 3.0]]]), tensor([[1.0, 2.0]])).tolist() == [[-1.5, 4.0]]
    A = tensor([[[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]])  # M = 2
    assert associative_read(A, tensor([[3.0, 5.0]])).tolist() == [[[3.0, 5.0], [5.0, 3.0]]]


def test_a_stored_association_is_retrieved_and_decays():
    """Write (k1 -> v1), then (k2 -> v2) with orthonormal keys: the query k1 returns v1 scaled by the
    decay since, k2 returns v2, a query orthogonal to both returns nothing."""
    torch.manual_seed(0)
    keys, _ = torch.linalg.qr(torch.randn(6, 6, dtype=D))
    k1, k2, k3 = keys[:, 0:1].T, keys[:, 1:2].T, keys[:, 2:3].T  # (1, 6) each
    v1, v2 = torch.randn(1, 6, dtype=D), torch.randn(1, 6, dtype=D)
    A = associative_write(torch.zeros(1, 6, 6, dtype=D), k1, v1, 0.9, 1.0)
    A = associative_write(A, k2, v2, 0.9, 1.0)
    assert torch.allclose(associative_read(A, k1), 0.9 * v1)
    assert torch.allclose(associative_read(A, k2), v2)
    assert torch.allclose(associative_read(A, k3), torch.zeros(1, 6, dtype=D), atol=1e-12)


def test_settle_runs_the_inner_loop_s_times():
    boundary = tensor([[0.5, -1.0]])
    A = tensor([[[1.0, 0.5], [0.0, 2.0]]])
    calls = []

    def read(h):
        calls.append(h)
        return associative_read(A, h)

    h = settle(boundary, read, 3, lambda v: v, torch.tanh)
    assert len(calls) == 3
    expected = [math.tanh(0.5), math.tanh(-1.0)]
    for _ in range(3):
        expected = [math.tanh(b + r) for b, r in zip([0.5, -1.0], matvec([[1.0, 0.5], [0.0, 2.0]], expected))]
    assert h.squeeze(0).tolist() == pytest.approx(expected, abs=1e-12)


# --- fast weights (Ba et al. 2016) --------------------------------------------------------------
def tiny_fastweights(**options):
    opts = dict(input_size=1, output_size=1, hidden_size=2, layer_norm=False, activation="tanh")
    opts.update(options)
    return zero_weights(build_model("fastweights", **opts).double())


def test_one_step_eq2_inner_loop_and_eq1_write_by_hand():
    """d_h = 2, no LN, tanh, S = 2, lambda 0.9, eta 0.3."""
    model = tiny_fastweights(inner_steps=2, decay=0.9, fast_learning_rate=0.3)
    W, C, b = [[0.5, 0.0], [0.25, 1.0]], [1.0, 0.5], [0.0, 0.1]
    with torch.no_grad():
        model.W.weight.copy_(tensor(W))
        model.C.weight.copy_(tensor([[C[0]], [C[1]]]))
        model.C.bias.copy_(tensor(b))
    h_prev, x, A = [0.2, -0.4], 1.0, [[0.5, 0.2], [0.2, -0.3]]
    state = {"h": tensor([h_prev]), "A": tensor([A])}

    o_t, new = model.cell(tensor([[x]]), state)

    z = [w + c * x + bb for w, c, bb in zip(matvec(W, h_prev), C, b)]  # [1.1, 0.25]
    assert z == pytest.approx([1.1, 0.25])
    h = [math.tanh(v) for v in z]  # h_0
    for _ in range(2):  # eq. 2
        h = [math.tanh(zi + ai) for zi, ai in zip(z, matvec(A, h))]
    A_t = [[0.9 * A[i][j] + 0.3 * h[i] * h[j] for j in range(2)] for i in range(2)]  # eq. 1
    assert new["h"].squeeze(0).tolist() == pytest.approx(h, abs=1e-12)
    assert o_t.squeeze(0).tolist() == pytest.approx(h, abs=1e-12)
    assert new["A"].squeeze(0).tolist() == [pytest.approx(row, abs=1e-12) for row in A_t]
    assert state["A"].squeeze(0).tolist() == A  # the caller's state is not modified


def test_layer_normalised_inner_loop_with_relu_by_hand():
    """d_h = 3, LN (section 3.2), ReLU, S = 1: h_1 = relu(LN[z + A relu(z)])."""
    model = tiny_fastweights(hidden_size=3, layer_norm=True, activation="relu")
    with torch.no_grad():
        model.C.weight.copy_(tensor([[1.0], [-2.0], [0.5]]))
    A = [[0.0, 0.0, 1.0], [0.5, 0.0, 0.0], [0.0, 0.0, -3.0]]
    state = {"h": torch.zeros(1, 3, dtype=D), "A": tensor([A])}

    _, new = model.cell(tensor([[1.0]]), state)

    z = [1.0, -2.0, 0.5]
    h0 = [max(v, 0.0) for v in z]  # [1, 0, 0.5]
    pre = layer_norm([zi + ai for zi, ai in zip(z, matvec(A, h0))])  # LN[1.5, -1.5, -1]
    h1 = [max(v, 0.0) for v in pre]
    assert h1[0] > 0 and h1[1] == h1[2] == 0.0  # the ReLU cuts two units
    assert new["h"].squeeze(0).tolist() == pytest.approx(h1, abs=1e-9)


def test_fast_weights_are_eq3_the_decayed_sum_of_past_outer_products():
    """After T steps from A_0 = 0: A_T = eta sum_tau lambda^{T - tau} h_tau h_tau^T (eq. 3's sum)."""
    torch.manual_seed(0)
    model = build_model("fastweights", input_size=3, output_size=2, hidden_size=5).double()
    x = torch.randn(6, 2, 3, dtype=D)
    state, hs = model.initial_state(2), []
    for x_t in x:
        _, state = model.step(x_t, state)
        hs.append(state["h"])
    lam, eta, T = 0.95, 0.5, len(hs)
    expected = sum(eta * lam ** (T - 1 - tau) * torch.einsum("bi,bj->bij", h, h) for tau, h in enumerate(hs))
    assert torch.allclose(state["A"], expected, atol=1e-12)


def test_gradient_reaches_past_inputs_through_the_fast_weights_only():
    """W = 0 cuts the slow path h_{t-1} -> h_t: the last output depends on x_0 only through A."""
    for eta, expect_gradient in ((0.5, True), (0.0, False)):
        torch.manual_seed(0)
        model = build_model("fastweights", input_size=3, output_size=2, hidden_size=6,
                            fast_learning_rate=eta).double()
        with torch.no_grad():
            model.W.weight.zero_()
        x = torch.randn(5, 1, 3, dtype=D, requires_grad=True)
        y, _ = model(x)
        y[-1].sum().backward()
        assert bool(x.grad[0].abs().sum() > 0) == expect_gradient


def test_detach_cuts_the_gradient_through_the_fast_weight_matrix():
    model = build_model("fastweights", input_size=3, output_size=2, hidden_size=6)
    _, state = model(torch.randn(4, 2, 3))
    assert state["A"].requires_grad and not detach_state(state)["A"].requires_grad


@pytest.mark.parametrize("name", ["fastweights", "learned-assoc"])
def test_in_place_inference_path_equals_the_training_path(name):
    torch.manual_seed(0)
    model = build_model(name, input_size=3, output_size=2, hidden_size=6).double()
    x = torch.randn(8, 4, 3, dtype=D)
    start = model.initial_state(4)
    y_train, s_train = model(x, start)
    model.eval()
    with torch.no_grad():
        assert model.inference_path() == "eval-inplace"
        given = {k: v.clone() for k, v in s_train.items()}
        y_eval, s_eval = model(x, start)
        model(x, given)  # a second segment from a given state ...
    assert torch.equal(given["A"], s_train["A"])  # ... leaves the caller's memory untouched
    assert torch.allclose(y_train, y_eval, atol=1e-12)
    assert torch.allclose(s_train["A"], s_eval["A"], atol=1e-12)


# --- learned-assoc (our reading after Zhang & Zhou 2017) -------------------------------------------
def test_learned_gates_reduce_to_the_fixed_rule():
    """M = 1, gate weights 0 with biases logit(lambda), logit(eta), k = v = h_t: exactly fast weights."""
    torch.manual_seed(0)
    d_i, d_h = 3, 5
    fw = build_model("fastweights", input_size=d_i, output_size=2, hidden_size=d_h, decay=0.8,
                     fast_learning_rate=0.4, inner_steps=2).double()
    la = build_model("learned-assoc", input_size=d_i, output_size=2, hidden_size=d_h, memories=1,
                     inner_steps=2).double()
    shared = {k: v for k, v in fw.state_dict().items()}
    la.load_state_dict({**la.state_dict(), **shared})
    with torch.no_grad():
        weight, bias = la.W_u.linear.weight, la.W_u.linear.bias  # rows: l (1), e (1), k (d_h), v (d_h)
        weight.zero_()
        bias.zero_()
        bias[0], bias[1] = math.log(0.8 / 0.2), math.log(0.4 / 0.6)
        weight[2 : 2 + d_h, d_i:] = torch.eye(d_h)  # k_t = h_t
        weight[2 + d_h :, d_i:] = torch.eye(d_h)  # v_t = h_t
    x = torch.randn(7, 3, d_i, dtype=D)
    y_fw, s_fw = fw(x)
    y_la, s_la = la(x)
    assert torch.allclose(y_fw, y_la, atol=1e-12)
    assert torch.allclose(s_fw["A"], s_la["A"].squeeze(1), atol=1e-12)
    assert fw.variant() == "paper" and la.variant() == READING


def test_learned_write_by_hand_with_two_memories():
    """d_i = 1, d_h = 2, M = 2: gates from [x_t, h_t] with weights chosen so every term is readable."""
    model = zero_weights(build_model("learned-assoc", input_size=1, output_size=1, hidden_size=2,
                                     memories=2).double())
    with torch.no_grad():
        weight, bias = model.W_u.linear.weight, model.W_u.linear.bias  # columns [x, h1, h2]
        bias[0:2] = tensor([0.0, math.log(3.0)])  # lambda = [0.5, 0.75]
        bias[2:4] = tensor([0.0, -math.log(3.0)])  # eta = [0.5, 0.25]
        weight[4:8] = tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])  # k^1 = [x, h1], k^2 = [h2, 0]
        weight[8:12] = tensor([[0, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0]])  # v^1 = [h1, h2], v^2 = [0, x]
        bias[10] = 1.0  # v^2 = [1, x]
    x, h = 2.0, [0.5, -1.0]
    A = tensor([[[[1.0, 0.0], [0.0, 1.0]], [[0.0, 4.0], [4.0, 0.0]]]])
    new = model.write(A, tensor([[x]]), tensor([h]))
    k1, v1, k2, v2 = [x, h[0]], [h[0], h[1]], [h[1], 0.0], [1.0, x]
    A1 = [[0.5 * (i == j) + 0.5 * v1[i] * k1[j] for j in range(2)] for i in range(2)]
    A2 = [[0.75 * 4.0 * (i != j) + 0.25 * v2[i] * k2[j] for j in range(2)] for i in range(2)]
    assert new[0, 0].tolist() == [pytest.approx(r, abs=1e-12) for r in A1]
    assert new[0, 1].tolist() == [pytest.approx(r, abs=1e-12) for r in A2]


def test_learned_assoc_reads_the_memories_together():
    model = zero_weights(build_model("learned-assoc", input_size=1, output_size=1, hidden_size=2,
                                     memories=2).double())
    A = tensor([[[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]])
    assert model.read(A, tensor([[3.0, 5.0]])).tolist() == [[8.0, 8.0]]  # [3, 5] + [5, 3]


def test_gradient_reaches_the_learned_update_rule():
    torch.manual_seed(0)
    model = build_model("learned-assoc", input_size=3, output_size=2, hidden_size=6)
    y, _ = model(torch.randn(5, 2, 3))
    y[-1].sum().backward()
    grad = model.W_u.linear.weight.grad
    M, d_h = model.M, model.d_h
    for block in (grad[:M], grad[M : 2 * M], grad[2 * M : 2 * M + M * d_h], grad[2 * M + M * d_h :]):  # l, e, k, v
        assert block.abs().sum() > 0


@pytest.mark.parametrize(
    "name, option, value",
    [("fastweights", "decay", 1.5), ("fastweights", "inner_steps", 0), ("fastweights", "activation", "sigmoid"),
     ("fastweights", "fast_learning_rate", -0.1), ("learned-assoc", "memories", 0), ("learned-assoc", "decay", 1.0)],
)
def test_impossible_options_are_rejected(name, option, value):
    with pytest.raises(ValueError, match=option):
        build_model(name, input_size=2, output_size=2, **{option: value})


# --- presets, profile, CLI ---------------------------------------------------------------------------
TABLE1_BUDGET, TOLERANCE = 90_000, 0.10  # the ARMIN paper's Table 1 memory models: about 90k
TABLE2_RANGE = (60_000, 81_000)  # the MANNs of the ARMIN paper's Table 2 (pMNIST)


@pytest.mark.parametrize("preset", ["fastweights", "learned-assoc"])
def test_table1_presets_are_at_the_memory_models_budget(preset):
    options = dict(CONFIG["models"][preset])
    count = build_model(options.pop("class"), input_size=10, output_size=8, **options).num_parameters()
    assert abs(count - TABLE1_BUDGET) <= TOLERANCE * TABLE1_BUDGET, count


@pytest.mark.parametrize("preset", ["fastweights-pmnist", "learned-assoc-pmnist"])
def test_table2_presets_are_in_the_papers_range(preset):
    options = dict(CONFIG["models"][preset])
    count = build_model(options.pop("class"), input_size=1, output_size=10, **options).num_parameters()
    assert TABLE2_RANGE[0] <= count <= TABLE2_RANGE[1], count


def test_profile_state_bytes_grow_with_the_square_of_d_h():
    """`bench profile`: the recurrent state is h plus d_h x d_h per memory per sequence."""
    flags = {"models": "lstm,fastweights,learned-assoc", "hidden": "4,8", "tbptt": 3, "batch_size": 2,
             "vocab": 5, "repeats": 1, "warmup": 1}
    request = build_request(CONFIG, "ci", flags, {scope: {} for scope in SCOPES})
    rows = run_profile(request, CONFIG, torch.device("cpu"), lambda rows: None)
    state = {(r["model"], r["hidden_size"], r["mode"]): r["state_bytes"] for r in rows}
    float32, batch, memories = 4, 2, CONFIG["models"]["learned-assoc"]["memories"]
    for d_h in (4, 8):
        assert state[("fastweights", d_h, "train")] == batch * (d_h + d_h * d_h) * float32
        assert state[("learned-assoc", d_h, "infer")] == batch * (d_h + memories * d_h * d_h) * float32
    paths = {(r["model"], r["mode"]): r["path"] for r in rows}
    assert paths[("fastweights", "infer")] == "eval-inplace" and paths[("fastweights", "train")] == "train"


def test_run_report_and_plot_from_the_cli(tmp_path):
    res = tmp_path / "res"
    tiny = ["-s", "task.max_length=3", "-s", "task.bits=4", "-s", "model.hidden_size=8", "-q", "-s",
            "train.val_batches=1", "-s", "train.val_batch_size=2", "-s", "train.inference_batches=1"]
    assert main(["run", "-m", "fastweights,learned-assoc", "-t", "copy", "-n", "6", "--val-every", "2",
                 "--out", str(res), *tiny]) == 0
    runs = (res / "runs.csv").read_text()
    assert "fastweights" in runs and READING in runs and "eval-inplace" in runs
    assert main(["report", "table1", "--in", str(res), "--out", str(tmp_path / "rep")]) == 0
    assert "learned-assoc" in (tmp_path / "rep" / "table1.md").read_text()
    assert main(["plot", "figure2", "--in", str(res), "--out", str(tmp_path / "fig")]) == 0


@pytest.mark.parametrize("name", ["fastweights", "learned-assoc"])
def test_2000_copy_iterations_stay_finite(name):
    """Issue 13: 2000 copy iterations through the real trainer, no NaN (tiny sizes, short sequences)."""
    from bench.config import TrainConfig
    from bench.training.episodic import train
    from tasks import build_task

    torch.manual_seed(0)
    task = build_task("copy", bits=4, min_length=1, max_length=4)
    model = build_model(name, input_size=task.input_size, output_size=task.output_size, hidden_size=8)
    cfg = TrainConfig.from_dict(dict(iterations=2000, lr=1e-3, val_every=500, val_batches=1, val_batch_size=2,
                                     stop_when_solved=False))
    outcome = train(model, task, cfg, seed=0)
    assert outcome.status != "diverged" and outcome.iterations_run == 2000
    assert all(torch.isfinite(p).all() for p in model.parameters())
