"""The model contract, checked: ``bench check-model NAME`` runs every check below on one model and
prints a line per check. A quiet violation of the contract corrupts every number the harness reports
about a model, so each check compares two computations that the contract says are equal.

    step loop = forward        the step-by-step outputs equal the whole-sequence forward
    state not on the module    two sequences interleaved step by step give what each gives alone
    batch independence         each row of a batch gives what it gives alone
    determinism                the same seed builds the same weights and gives the same outputs
    every parameter learns     a loss on the outputs sends a gradient to every trainable parameter
    detach_state cuts          after detach_state, no gradient reaches the steps before it
    train = eval               (only where the model says so: ``eval_matches_train``)
    vectorized seeds           (only where the model declares it) two seeds stacked equal each alone
    long sequence finite       outputs stay finite over a long sequence, training and eval mode
    parameter count            trainable parameters (more than zero)

Comparisons run in float64 where the model allows it (so a tolerance of 1e-6 separates rounding
from a real difference) and in training mode with the random number generator reseeded before each
of the two computations, so sampling models (gumbel-softmax reads, zoneout) draw the same noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from models.base import RecurrentModel, detach_state

TOLERANCE = 1e-6  # largest |difference| of two float64 computations that should be equal
STEPS = 12  # sequence length of the comparisons
LONG_STEPS = 1000  # the long sequence
BATCH = 3
SEED = 1234


@dataclass
class Check:
    name: str
    passed: bool | None  # None: not applicable (the model makes no such claim)
    detail: str

    def line(self) -> str:
        mark = {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]
        return f"{mark}  {self.name}: {self.detail}"


def _inputs(model: RecurrentModel, steps: int, batch: int, seed: int) -> torch.Tensor:
    p = next(model.parameters())
    g = torch.Generator().manual_seed(seed)
    return torch.rand(steps, batch, model.config.input_size, generator=g).round().to(p.dtype)


def step_loop(model: RecurrentModel, x: torch.Tensor, state=None) -> tuple[torch.Tensor, dict]:
    """The outputs of ``model.step`` over x (T, B, I), one step at a time."""
    state = model.initial_state(x.shape[1], device=x.device, dtype=x.dtype) if state is None else state
    outputs = []
    for x_t in x:
        y_t, state = model.step(x_t, state)
        outputs.append(y_t)
    return torch.stack(outputs), state


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        return math.inf
    return (a - b).abs().max().item() if a.numel() else 0.0


def _seeded(fn: Callable, seed: int = SEED):
    torch.manual_seed(seed)
    return fn()


def _compare(name: str, a: torch.Tensor, b: torch.Tensor, what: str) -> Check:
    d = _diff(a, b)
    ok = d <= TOLERANCE
    return Check(name, ok, f"max |diff| {d:.2g}" + ("" if ok else f" > {TOLERANCE:g}: {what}"))


def check_step_equals_forward(model: RecurrentModel) -> Check:
    x = _inputs(model, STEPS, BATCH, 1)
    lines = []
    for training in (True, False):
        model.train(training)
        whole = _seeded(lambda: model(x)[0])
        steps = _seeded(lambda: step_loop(model, x)[0])
        lines.append(_diff(whole, steps))
    d = max(lines)
    ok = d <= TOLERANCE
    return Check("step loop equals forward", ok, f"max |diff| {d:.2g} (train and eval mode)"
                 + ("" if ok else f" > {TOLERANCE:g}: step() and forward() compute different things"))


def check_state_not_on_module(model: RecurrentModel) -> Check:
    model.eval()
    a, b = _inputs(model, STEPS, 1, 2), _inputs(model, STEPS, 1, 3)
    alone_a, alone_b = step_loop(model, a)[0], step_loop(model, b)[0]
    sa, sb = model.initial_state(1, dtype=a.dtype), model.initial_state(1, dtype=a.dtype)
    out_a, out_b = [], []
    for x_a, x_b in zip(a, b):
        y, sa = model.step(x_a, sa)
        out_a.append(y)
        y, sb = model.step(x_b, sb)
        out_b.append(y)
    d = max(_diff(torch.stack(out_a), alone_a), _diff(torch.stack(out_b), alone_b))
    ok = d <= TOLERANCE and isinstance(sa, dict) and all(isinstance(v, torch.Tensor) for v in sa.values())
    detail = f"interleaved vs alone: max |diff| {d:.2g}"
    if not ok:
        detail += " (state kept on the module between calls)" if d > TOLERANCE else " (state is not a dict of tensors)"
    return Check("state not stored on the module", ok, detail)


def check_batch_independence(model: RecurrentModel) -> Check:
    model.eval()
    x = _inputs(model, STEPS, BATCH, 4)
    together = model(x)[0]
    d = max(_diff(together[:, i : i + 1], model(x[:, i : i + 1])[0]) for i in range(BATCH))
    return _compare("batch independence", together.new_tensor(d), together.new_tensor(0.0),
                    "a row's output depends on the other rows of its batch")


def check_determinism(build: Callable[[], RecurrentModel], model: RecurrentModel) -> Check:
    other = _seeded(build, SEED + 1)
    again = _seeded(build, SEED + 1)
    same_weights = all(torch.equal(p, q) for p, q in zip(other.state_dict().values(), again.state_dict().values()))
    x = _inputs(model, STEPS, BATCH, 5)
    for m in (other, again):
        m.to(dtype=x.dtype).train()
    d = _diff(_seeded(lambda: other(x)[0]), _seeded(lambda: again(x)[0]))
    ok = same_weights and d == 0.0
    detail = f"{'same' if same_weights else 'DIFFERENT'} weights, outputs differ by {d:.2g}"
    return Check("deterministic under a seed", ok, detail)


def check_gradients(model: RecurrentModel) -> Check:
    model.train()
    model.zero_grad(set_to_none=True)
    x = _inputs(model, STEPS, BATCH, 6)
    g = torch.Generator().manual_seed(7)
    y = _seeded(lambda: model(x)[0])
    weights = torch.randn(y.shape, generator=g, dtype=y.dtype)
    (y * weights).sum().backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = [n for n, p in trainable if p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.abs().sum() > 0]
    model.zero_grad(set_to_none=True)
    detail = f"{len(trainable) - len(missing)}/{len(trainable)} tensors get a finite nonzero one"
    if missing:
        detail += f"; none for: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
    return Check("every parameter receives a gradient", not missing, detail)


def check_detach(model: RecurrentModel) -> Check:
    model.train()
    half = STEPS // 2
    x = _inputs(model, STEPS, BATCH, 8).requires_grad_(True)

    def run(cut: bool):
        _, state = model(x[:half])
        if cut:
            state = detach_state(state)
        return model(x[half:], state)[0]

    y = _seeded(lambda: run(True))
    y_whole = _seeded(lambda: run(False))
    (grad,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
    leaked = 0.0 if grad is None else grad[:half].abs().max().item()
    d = _diff(y, y_whole)
    ok = leaked == 0.0 and d <= TOLERANCE
    detail = f"leaked gradient {leaked:.2g}, outputs changed {d:.2g}"
    if leaked:
        detail += " (a graph survives outside the returned state)"
    return Check("detach_state cuts the graph", ok, detail)


def check_train_eval(model: RecurrentModel) -> Check:
    if not model.eval_matches_train():
        return Check("train and eval paths agree", None, f"not claimed ({model.train().path_name()} vs "
                     f"{model.eval().path_name()})")
    x = _inputs(model, STEPS, BATCH, 9)
    model.train()
    train = _seeded(lambda: model(x)[0])
    model.eval()
    with torch.no_grad():
        infer = model(x)[0]
    return _compare("train and eval paths agree", train, infer, "the model says eval_matches_train()")


def check_vectorized_seeds(build: Callable[[], RecurrentModel], model: RecurrentModel) -> Check:
    from models.seeded import NotVectorizable, supports_vectorized_seeds, vectorize

    if not supports_vectorized_seeds(type(model)):
        return Check("seeds can be vectorized", None, "no: not declared (seeds train one by one)")
    seeds = [_seeded(build, s).to(dtype=next(model.parameters()).dtype) for s in (11, 12)]
    x = _inputs(model, STEPS, 2, 10)
    try:
        vmodel = vectorize(seeds)
    except NotVectorizable as err:
        return Check("seeds can be vectorized", None, f"no, with these options: {err}")
    for m in (*seeds, vmodel):
        m.eval()
    together = vmodel(x)[0]
    d = max(_diff(together[:, s : s + 1], seeds[s](x[:, s : s + 1])[0]) for s in range(2))
    ok = d <= 1e-5
    return Check("seeds can be vectorized", ok, f"yes: stacked vs alone, max |diff| {d:.2g}")


def check_long_sequence(model: RecurrentModel, steps: int = LONG_STEPS) -> Check:
    x = _inputs(model, steps, 2, 11)
    worst = []
    for training in (True, False):
        model.train(training)
        with torch.no_grad():
            y = _seeded(lambda: model(x)[0])
        worst.append(y.abs().max().item())
    ok = all(math.isfinite(w) for w in worst)
    return Check("finite outputs on a long sequence", ok, f"{steps} steps, largest |output| {max(worst):.3g}")


def check_parameter_count(model: RecurrentModel) -> Check:
    n = model.num_parameters()
    return Check("parameter count", n > 0, f"{n:,} trainable")


def run_checks(build: Callable[[], RecurrentModel], long_steps: int = LONG_STEPS) -> list[Check]:
    """Every check on the model ``build()`` makes (built under a fixed seed, in float64 where it can)."""
    model = _seeded(build)
    try:
        model = model.double()
        model.initial_state(1)
    except (RuntimeError, TypeError):
        model = _seeded(build)
    checks = []
    for name, check in (
        ("step loop equals forward", check_step_equals_forward),
        ("state not stored on the module", check_state_not_on_module),
        ("batch independence", check_batch_independence),
        ("deterministic under a seed", lambda m: check_determinism(build, m)),
        ("every parameter receives a gradient", check_gradients),
        ("detach_state cuts the graph", check_detach),
        ("train and eval paths agree", check_train_eval),
        ("seeds can be vectorized", lambda m: check_vectorized_seeds(build, m)),
        ("finite outputs on a long sequence", lambda m: check_long_sequence(m, long_steps)),
        ("parameter count", check_parameter_count),
    ):
        try:
            checks.append(check(model))
        except Exception as err:  # noqa: BLE001 - a check that crashes is a failed check, and the rest still run
            checks.append(Check(name, False, f"raised {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"))
    model.train()
    return checks
