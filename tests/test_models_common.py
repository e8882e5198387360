"""What every model preset in benchmarks.yaml must do, whichever class implements it: Table 1
parameter counts, batch 1 and 32, float32 and float64, state detach, determinism per seed,
step-by-step equals whole-sequence forward."""

from pathlib import Path

import inspect
import math
import re

import pytest
import torch
import yaml

from bench.config import DEFAULT_CONFIG_PATH
from models import MODEL_REGISTRY, build_model, detach_state
from models.layers import is_bias

PRESETS = yaml.safe_load(Path(DEFAULT_CONFIG_PATH).read_text())["models"]
COPY_IO = dict(input_size=10, output_size=8)  # copy task with 8-bit vectors, as the authors' code
PAPER_PARAMS = {  # ARMIN paper Table 1
    "lstm": 376_000, "ntm": 88_000, "dnc": 104_000, "sam": 109_000,
    "tardis": 90_000, "awta": 91_000, "armin": 90_000, "armin-code": 90_000,
    # the authors' code variants of the same rows (the paper's counts came from that code)
    "ntm-code": 88_000, "dnc-code": 104_000, "tardis-code": 90_000, "awta-code": 91_000,
}
TOLERANCE = 0.10
# where a model cannot come within 10% without leaving its paper, the reason goes here
PARAM_EXCEPTIONS: dict[str, str] = {
    "dnc": "84,736 vs 104k: the authors' pytorch-dnc copy registers 19,456 parameters (initial memory, link, "
    "precedence, weighting, usage) that its reset never uses; the DNC paper's model has none of them",
    "sam": "79,291 vs 109k: the authors' SAM class builds a dense DNC memory module (30,104 parameters), replaces "
    "it, and leaves it registered; the SAM paper's model has none of them",
    "dnc-code": "84,516 vs 104k: the dnc exception plus the learned initial h, c and read vector (260), less the "
    "LSTM's second bias, which reference_init holds at zero (480): the 84,516 parameters the reference uses",
}
# ... and the counts they do reach, so a change to either model still fails a test
EXPECTED_EXCEPTION_COUNTS = {"dnc": 84_736, "sam": 79_291, "dnc-code": 84_516}


def preset_options(name):
    options = dict(PRESETS[name])
    return options.pop("class"), options


def implemented(names):
    return [n for n in names if preset_options(n)[0] in MODEL_REGISTRY]


def small(name, **io):
    """The preset's class at small sizes (fast), keeping its options."""
    cls, options = preset_options(name)
    options.update(hidden_size=12, **io)
    if "memory_slots" in options:
        options.update(memory_slots=5, memory_width=6)
    return build_model(cls, **options)


ALL = implemented(PRESETS)


def test_every_paper_model_has_a_preset():
    assert {"lstm", "ntm", "dnc", "sam", "tardis", "awta", "armin"} <= set(PRESETS)


@pytest.mark.parametrize("name", implemented(PAPER_PARAMS))
def test_parameter_count_within_10_percent_of_table_1(name):
    if name in PARAM_EXCEPTIONS:
        pytest.skip(PARAM_EXCEPTIONS[name])
    cls, options = preset_options(name)
    count = build_model(cls, **options, **COPY_IO).num_parameters()
    paper = PAPER_PARAMS[name]
    assert abs(count - paper) <= TOLERANCE * paper, f"{name}: {count} params vs paper {paper}"


@pytest.mark.parametrize("name", implemented(PARAM_EXCEPTIONS))
def test_exception_counts_are_the_papers_models_without_the_dead_parameters(name):
    cls, options = preset_options(name)
    assert build_model(cls, **options, **COPY_IO).num_parameters() == EXPECTED_EXCEPTION_COUNTS[name]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [1, 32])
@pytest.mark.parametrize("name", ALL)
def test_forward_backward_batch_and_dtype(name, batch, dtype):
    torch.manual_seed(0)
    model = small(name, input_size=4, output_size=3).to(dtype)
    x = torch.randn(7, batch, 4, dtype=dtype)
    y, state = model(x)
    assert y.shape == (7, batch, 3) and y.dtype == dtype and torch.isfinite(y).all()
    for value in state.values():
        assert value.dtype in (dtype, torch.long, torch.int64, torch.bool) or not value.is_floating_point()
    y.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in grads) >= len(grads) // 2


@pytest.mark.parametrize("name", ALL)
def test_detach_cuts_the_gradient_between_segments(name):
    torch.manual_seed(0)
    model = small(name, input_size=4, output_size=3)
    x1 = torch.randn(5, 2, 4, requires_grad=True)
    _, state = model(x1)
    y2, _ = model(torch.randn(5, 2, 4), detach_state(state))
    y2.sum().backward()
    assert x1.grad is None  # nothing flowed back into the first segment
    _, state = model(x1)
    y2, _ = model(torch.randn(5, 2, 4), state)
    y2.sum().backward()
    assert x1.grad is not None  # without detach it does


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_output(name):
    outputs = []
    for _ in range(2):
        torch.manual_seed(5)
        model = small(name, input_size=4, output_size=3)
        outputs.append(model(torch.randn(6, 3, 4))[0])
    assert torch.equal(outputs[0], outputs[1])


@pytest.mark.parametrize("name", ALL)
def test_step_by_step_equals_forward(name):
    torch.manual_seed(0)
    model = small(name, input_size=4, output_size=3).eval()  # eval: no sampling noise
    x = torch.randn(6, 2, 4)
    with torch.no_grad():
        y_seq, _ = model(x)
        state = model.initial_state(2)
        y_steps = []
        for x_t in x:
            y_t, state = model.step(x_t, state)
            y_steps.append(y_t)
    assert torch.allclose(y_seq, torch.stack(y_steps), atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_short_copy_training_with_the_real_trainer_stays_finite(name):
    """300 iterations of a short copy task through bench.training.episodic (RMSprop, clipping, annealed 1/tau)
    at a raised learning rate: never diverges, weights stay finite."""
    from bench.config import TrainConfig
    from bench.training.episodic import train
    from tasks import build_task

    torch.manual_seed(0)
    task = build_task("copy", bits=4, min_length=1, max_length=5)
    model = small(name, input_size=task.input_size, output_size=task.output_size)
    cfg = TrainConfig.from_dict(dict(iterations=300, lr=1e-3, val_every=100, val_batches=1, val_batch_size=4,
                                     inverse_temperature=dict(every=20)))
    outcome = train(model, task, cfg, seed=0)
    assert outcome.status != "diverged", f"diverged at {outcome.diverged_at}"
    assert outcome.iterations_run == 300 or outcome.status == "solved"
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert 0.0 < outcome.curve[-1].val_loss < 0.8


# --- every bias at initialisation, as each model's docstring says ------------------------------------
def zero(p, model):
    return torch.all(p == 0)


def forget_block(value):
    """Zero except the forget block [d_h, 2 d_h) (torch's gate order i, f, g, o), which holds ``value``."""
    def check(p, model):
        d_h = p.shape[0] // 4
        expected = torch.zeros_like(p)
        expected[d_h : 2 * d_h] = value
        return torch.equal(p, expected)
    return check


def uniform(fan_in):
    """nn.Linear's / nn.LSTMCell's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), not all zero."""
    def check(p, model):
        bound = 1.0 / math.sqrt(fan_in(model))
        return bool(p.abs().max() <= bound) and bool(p.abs().max() > 0)
    return check


def normal(std):
    def check(p, model):
        return bool(p.abs().max() < 6 * std) and 0.5 * std < p.std().item() < 2 * std
    return check


def learned_gate_bias(p, model):
    M, cfg = model.M, model.config
    logit = lambda v: math.log(v / (1 - v))
    rest = p[2 * M :]
    return (torch.allclose(p[:M], torch.full((M,), logit(cfg.decay)))
            and torch.allclose(p[M : 2 * M], torch.full((M,), logit(cfg.fast_learning_rate)))
            and bool(rest.abs().max() <= 1 / math.sqrt(cfg.input_size + cfg.hidden_size)) and bool(rest.abs().max() > 0))


D_H = 12
IO = dict(input_size=4, output_size=3, hidden_size=D_H)
MEMORY = dict(memory_slots=5, memory_width=6)
# (class, options, the sentence of its module docstring, {bias name pattern: check}); every bias of the
# model (layers.is_bias) must match exactly one pattern
BIAS_CASES = [
    ("armin", {}, "Biases at initialisation: all zero", {".*": zero}),
    ("armin", {"forget_bias": 1.0, "learned_initial_state": True}, "Biases at initialisation: all zero", {".*": zero}),
    ("tardis", {"forget_bias": 1.0}, "Biases at initialisation: all zero", {".*": zero}),
    ("awta", {"forget_bias": 1.0}, "Biases at initialisation: all zero", {".*": zero}),
    ("dnc", {}, "Biases at initialisation: all zero", {".*": zero}),
    ("dnc", {"forget_bias": 1.0, "reference_init": True}, "except the forget block of bias_ih, which holds",
     {r"controller\.bias_ih": forget_block(1.0), r"(?!controller\.bias_ih).*": zero}),
    ("sam", {}, "Biases at initialisation: all zero", {".*": zero}),
    ("sam", {"forget_bias": 1.0, "reference_init": True}, "except the forget block of bias_ih, which holds",
     {r"controller\.bias_ih": forget_block(1.0), r"(?!controller\.bias_ih).*": zero}),
    ("lstm", {"forget_bias": 1.0}, "b_ih and b_hh zero except their forget blocks, forget_bias / 2 each",
     {r"lstm\.bias_.*": forget_block(0.5), r"readout\.bias": uniform(lambda m: D_H)}),
    ("ntm", {}, "the controller's bias_ih and bias_hh nn.LSTMCell's default",
     {r"controller\.bias_(ih|hh)": uniform(lambda m: D_H), r"W_head\.bias": normal(0.01),
      r"readout\.bias": uniform(lambda m: D_H + m.H_r * m.W)}),
    ("fastweights", {}, "b (C's bias) and the layer norm's zero",
     {r"(C|norm)\.bias": zero, r"readout\.bias": uniform(lambda m: D_H)}),
    ("learned-assoc", {}, "logit(decay) and logit(fast_learning_rate) on the gate blocks",
     {r"(C|norm)\.bias": zero, r"readout\.bias": uniform(lambda m: D_H), r"W_u\.linear\.bias": learned_gate_bias}),
    ("stacked", {"layer": "armin"}, "each layer's as its class's docstring says",
     {r"layers\..*": zero, r"readout\.bias": uniform(lambda m: D_H + 6)}),
]


def test_every_registered_model_has_its_biases_checked():
    assert {case[0] for case in BIAS_CASES} == set(MODEL_REGISTRY)


@pytest.mark.parametrize("cls, options, sentence, checks", BIAS_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(BIAS_CASES)])
def test_every_bias_at_initialisation_is_what_the_docstring_says(cls, options, sentence, checks):
    torch.manual_seed(0)
    sizes = {} if cls in ("lstm", "fastweights", "learned-assoc") else MEMORY
    model = build_model(cls, **IO, **sizes, **options)
    doc = " ".join(inspect.getmodule(type(model)).__doc__.split())
    assert sentence in doc, f"{cls}: its docstring does not say {sentence!r}"
    biases = {name: p for name, p in model.named_parameters() if is_bias(name)}
    assert biases
    for name, p in biases.items():
        matching = [check for pattern, check in checks.items() if re.fullmatch(pattern, name)]
        assert len(matching) == 1, (cls, name)
        assert matching[0](p.detach(), model), (cls, options, name, p)
