"""Profile engine: steady-state speed and peak memory of each model on the character-level setup of
the ARMIN paper's section 5 (Figure 3, Table 4), one CSV row per (setup, model, mode).

Workload: a synthetic character stream (``SyntheticCharStream``: random characters over a vocabulary
of 50, as Penn Treebank's, fed one-hot; input and output width = vocabulary), cross-entropy on the
next character at every step, truncated BPTT segments of ``tbptt`` steps x ``batch_size`` sequences
with the recurrent state carried from segment to segment and detached between them. Speed and memory
depend only on these shapes, not on the text, so no data set is needed.

- train step: forward over one segment, loss, backward, optimiser step (no clipping);
- infer step: ``model.eval()`` and ``torch.no_grad()``, forward over one segment: each model's fast
  path where it has one (ARMIN, TARDIS: argmax addressing, memory as discrete slots updated in place;
  paper section 5). Every row says which path ran (``model.inference_path()``).

Per group of setups (one hidden size of a grid, or one named setup), each (model, mode) first runs
``warmup`` untimed steps while its peak memory is tracked, then the group's steps are timed in
interleaved rounds (every model once per round), so a burst of load on the machine hits every model
alike; a row reports the median over ``repeats`` rounds. Timings cover the step only (batches are
generated up front), with ``torch.cuda.synchronize`` around each timed step on a GPU.

Memory: on a GPU, ``torch.cuda.max_memory_allocated`` above what was allocated before the model was
built (parameters, optimiser state, data, activations); on the CPU, peak growth of the process's RSS
(psutil). Both depend on the allocator, so every row also has ``exact_memory_bytes``, identical on
every run of the same code and sizes: what ``bench compare`` gates on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import math
import statistics
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, NamedTuple

import pandas as pd
import psutil
import torch
import torch.nn.functional as F

from bench.config import ConfigError, TrainConfig, check_model, deep_merge, resolve_preset, split_names
from bench.op_count import OperatorCounter
from bench.run_metrics import PeakMemory, saved_tensor_bytes, synchronize
from bench.store import RUN_COLUMNS, append_rows, check_header, environment, utc_now
from bench.training import DTYPES, make_optimizer
from models import MODEL_REGISTRY, RecurrentModel, build_model, detach_state
from tasks.base import Batch, Task, TaskConfig

PTB_VOCAB = 50  # characters in Penn Treebank (paper section 4.3)
MODES = ("train", "infer")
DEFAULT_PROFILE = "figure3"
SCALING_PROFILE = "scaling"  # the default with --slots (SAM paper Figure 1)
REFERENCE_MODEL = "lstm"  # speeds are compared as ratios to this model measured in the same run
BATCH_POOL = 2  # distinct batches cycled through by each model (generated before any timing)
MODEL_SEED = 0
PRIME_SIZE = 4  # every size of the throwaway model that runs first
PROFILE_KEYS = ("description", "models", "hidden", "memory_slots", "memory_width", "tbptt", "batch_size", "vocab",
                "modes", "repeats", "warmup", "model", "setups", "max_step_time_s", "max_memory_gib")
SETUP_KEYS = ("model", "hidden", "memory_slots", "memory_width", "tbptt", "batch_size", "vocab")
GRID_DEFAULTS = {"memory_slots": 20, "memory_width": 0, "tbptt": 150, "batch_size": 128, "vocab": PTB_VOCAB,
                 "modes": ",".join(MODES), "repeats": 5, "warmup": 2}  # paper section 5: memory 20 x d_h
GIB = 2**30
# the skip rule: a (model, mode) is not run at a memory size N where its time per step (thread CPU time, the
# least of the timed steps: what one step costs on one thread whatever else loads the machine) or its memory,
# extrapolated from the sizes measured before (log-log through the last two; linear in N from one),
# would exceed the budget; the log-log slope is kept within [0, MAX_GROWTH_EXPONENT]
MAX_GROWTH_EXPONENT = 2.0
STATE_COPIES = 3  # a memory size is refused when this many copies of its memory matrix exceed the RAM
OPERATOR_PHASES = ("forward", "backward", "optimizer")  # the ops_* columns (bench/op_count.py)
PROFILE_FILE = "profile.csv"
COLUMNS_FILE = "PROFILE_COLUMNS.md"
ENVIRONMENT_COLUMNS = ("device", "device_name", "cpu_model", "num_threads", "torch_version", "python_version",
                       "hostname", "git_commit")

PROFILE_COLUMNS: dict[str, str] = {
    "run_id": "id of the `bench profile` invocation (speed ratios are taken between rows of one run)",
    "timestamp": "UTC time the row was written, ISO 8601",
    "profile": "profile name in benchmarks.yaml (profiles:)",
    "setup": "setup name: hHIDDEN-TTBPTT-BBATCH for a grid point, the paper's name for a named setup (e.g. ARMIN-1)",
    "model": "model preset name in benchmarks.yaml",
    "model_class": "registered model class",
    "variant": "paper/code choices in effect",
    "mode": "train (forward, loss, backward, optimiser step) | infer (eval mode, no grad, forward)",
    "path": "code path that ran (model.inference_path(), e.g. eval:argmax-index-inplace)",
    "hidden_size": "hidden/controller size d_h",
    "memory_slots": "memory rows N (0 for models without memory; --slots sets it per row)",
    "memory_width": "memory row width (d_h unless the profile sets memory_width)",
    "vocab": "characters in the synthetic stream = input and output width",
    "tbptt": "time steps per segment (truncated BPTT length)",
    "batch_size": "sequences per segment",
    "param_count": "trainable parameters",
    "warmup": "untimed steps before timing (peak memory is tracked over these)",
    "repeats": "timed steps (interleaved rounds over the group's models)",
    "chars_per_step": "tbptt x batch_size",
    "step_time_s": "median time of one step: the step only (no data generation), synchronised on GPU",
    "step_time_min_s": "fastest timed step",
    "step_time_max_s": "slowest timed step",
    "chars_per_s": "chars_per_step / step_time_s: time steps x batch per second (the paper's chars/s)",
    "chars_per_s_best": "chars_per_step / step_time_min_s: the least disturbed step (load on a shared machine "
    "lengthens some steps)",
    "step_cpu_time_min_s": "least CPU time of the calling thread over the timed steps (time.thread_time): the "
    "step's cost on a CPU with 1 torch thread, whatever else runs on the machine; on a GPU or with more "
    "threads it is not the step's cost",
    "chars_per_cpu_s": "chars_per_step / step_cpu_time_min_s (bench compare --speed cpu: the CI gate's measure)",
    "peak_memory_bytes": "GPU: max_memory_allocated above what was allocated before the model was built; "
    "CPU: peak RSS growth from before the model was built (psutil, sampled after each forward and step)",
    "peak_cuda_bytes": "peak GPU memory allocated by this (model, mode) (GPU only)",
    "peak_rss_growth_bytes": "peak growth of process RSS while this (model, mode) was built and warmed up",
    "saved_tensor_bytes": "train: bytes autograd saves for backward over one segment (forward + loss); repeatable",
    "param_bytes": "bytes of the parameters",
    "state_bytes": "bytes of the recurrent state (hidden vectors, memory, counters) for one batch",
    "exact_memory_bytes": "deterministic memory figure, the same on every run: train = saved_tensor_bytes; "
    "infer = param_bytes + state_bytes (what bench compare gates on)",
    "ops_forward": "ATen operators dispatched by the forward pass of one step (with the loss in training), counted "
    "exactly (bench/op_count.py) on one untimed step after warm-up; depends on the code, the sizes that choose "
    "branches and torch_version, not on the machine",
    "ops_backward": "train: ATen operators the backward pass of one step dispatched; empty for infer",
    "ops_optimizer": "train: ATen operators of the optimiser step; empty for infer",
    "ops_per_time_step": "(ops_forward + ops_backward) / tbptt: operators per time step of the sequence",
    "index_recall": "SAM with an ANN index: recall@K of the index against the exact K nearest rows of the memory "
    "after warm-up, 64 random queries (ties count as found); empty otherwise",
    "skipped": "why this (model, mode, size) was not run: its CPU time per step (step_cpu_time_min_s) or memory "
    "(the larger of peak_memory_bytes and exact_memory_bytes) extrapolated from smaller sizes over "
    "the budget (--max-step-time, --max-memory), a smaller size skipped, or an error; empty when it ran",
    "dtype": "parameter dtype",
    "model_options": "all model options, JSON",
    "train_options": "training options (optimiser), JSON",
    **{name: RUN_COLUMNS[name] for name in ENVIRONMENT_COLUMNS},
}


# --- the workload ---------------------------------------------------------------------------------
@dataclass
class CharStreamConfig(TaskConfig):
    vocab: int = PTB_VOCAB
    length: int = 150  # time steps per segment (the TBPTT length)

    def validate(self) -> None:
        if self.vocab < 2:
            raise ValueError(f"vocab must be >= 2, got {self.vocab}")
        if self.length < 1:
            raise ValueError(f"tbptt length must be >= 1, got {self.length}")


class SyntheticCharStream(Task):
    """Characters drawn uniformly from the vocabulary, inputs one-hot, targets the next character,
    cross-entropy at every step. Characters are independent, so independently drawn segments are
    statistically the same as consecutive segments of one stream."""

    config_class = CharStreamConfig
    loss_kind = "ce"
    config: CharStreamConfig

    @property
    def input_size(self) -> int:
        return self.config.vocab

    @property
    def output_size(self) -> int:
        return self.config.vocab

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        length, vocab = self.config.length, self.config.vocab
        chars = torch.randint(vocab, (length + 1, batch_size), generator=generator)
        inputs = F.one_hot(chars[:-1], vocab).float()  # (T, B, V)
        return Batch(inputs, chars[1:], torch.ones(length, batch_size))


class StepRunner:
    """One model's training or inference steps over a fixed pool of batches, the state carried from
    step to step (truncated BPTT) or fresh every step (``carry_state=False``, episodic tasks)."""

    def __init__(self, model: RecurrentModel, task: Task, batches: list[Batch], mode: str,
                 optimizer: torch.optim.Optimizer | None = None, carry_state: bool = True):
        if mode == "train" and optimizer is None:
            raise ValueError("a training StepRunner needs an optimizer")
        self.model, self.task, self.batches, self.mode = model, task, batches, mode
        self.optimizer, self.carry_state = optimizer, carry_state
        self.state = None
        self.count = 0
        self.after_forward: Callable[[], None] | None = None  # e.g. a memory sample at the activation peak
        self.counter: OperatorCounter | None = None  # set by count_operators for one step
        model.train(mode == "train")
        with torch.set_grad_enabled(mode == "train"):
            self.path = model.inference_path()
        self.step = self.train_step if mode == "train" else self.infer_step

    def _next(self) -> Batch:
        batch = self.batches[self.count % len(self.batches)]
        self.count += 1
        return batch

    def _phase(self, name: str):
        return nullcontext() if self.counter is None else self.counter.phase(name)

    def train_step(self) -> None:
        batch = self._next()
        with self._phase("forward"):  # forward and loss
            logits, state = self.model(batch.inputs, self.state)
            loss = self.task.loss(logits, batch)
        if self.after_forward:
            self.after_forward()
        self.optimizer.zero_grad(set_to_none=True)
        with self._phase("backward"):
            loss.backward()
        with self._phase("optimizer"):
            self.optimizer.step()
        self.state = detach_state(state) if self.carry_state else None  # the graph is freed here

    @torch.no_grad()
    def infer_step(self) -> None:
        batch = self._next()
        with self._phase("forward"):
            _, state = self.model(batch.inputs, self.state)
        if self.after_forward:
            self.after_forward()
        self.state = state if self.carry_state else None

    def count_operators(self) -> OperatorCounter:
        """One step with its operators counted per phase (forward, and for training backward and
        optimizer): exact, the same on every run from the same state (bench/op_count.py)."""
        self.counter = OperatorCounter()
        try:
            self.step()
            return self.counter
        finally:
            self.counter = None


class StepTimes(NamedTuple):
    wall: list[float]  # seconds (perf_counter)
    cpu: list[float]  # CPU seconds of the calling thread (time.thread_time): not counting time other processes took


def time_interleaved(steps: dict[Hashable, Callable[[], None]], repeats: int,
                     device: torch.device) -> dict[Hashable, StepTimes]:
    """Wall and CPU seconds of each step over ``repeats`` rounds, every step once per round. The
    timer wraps the step alone; on a GPU it synchronises before and after."""
    times = {key: StepTimes([], []) for key in steps}
    for _ in range(repeats):
        for key, step in steps.items():
            synchronize(device)
            wall, cpu = time.perf_counter(), time.thread_time()
            step()
            synchronize(device)
            times[key].cpu.append(time.thread_time() - cpu)
            times[key].wall.append(time.perf_counter() - wall)
    return times


def timing_columns(times: StepTimes, chars_per_step: int) -> dict[str, float]:
    median, best, best_cpu = statistics.median(times.wall), min(times.wall), min(times.cpu)
    return {"step_time_s": median, "step_time_min_s": best, "step_time_max_s": max(times.wall),
            "step_cpu_time_min_s": best_cpu, "chars_per_s": chars_per_step / median,
            "chars_per_s_best": chars_per_step / best, "chars_per_cpu_s": chars_per_step / best_cpu}


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


# --- what to profile ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """One model at one size; setups of the same name are timed together."""

    name: str
    model: str  # preset in benchmarks.yaml
    hidden: int
    memory_slots: int  # for models with memory
    tbptt: int
    batch_size: int
    vocab: int = PTB_VOCAB
    memory_width: int = 0  # row width; 0: d_h


@dataclass
class ProfileRequest:
    profile: str
    setups: list[Setup]
    modes: list[str]
    repeats: int
    warmup: int
    model_overrides: dict[str, Any]
    train: TrainConfig
    max_step_time_s: float | None = None  # skip rule budgets (None: no budget)
    max_memory_bytes: float | None = None

    @property
    def steps(self) -> int:
        """Steps to run in all (progress bar total)."""
        return len(self.setups) * len(self.modes) * (self.warmup + self.repeats)


def grid_name(hidden: int, tbptt: int, batch_size: int, slots: int | None = None) -> str:
    """hHIDDEN-TTBPTT-BBATCH, with -NSLOTS for a --slots grid."""
    return f"h{hidden}-T{tbptt}-B{batch_size}" + ("" if slots is None else f"-N{slots}")


def _int_list(value: Any, what: str) -> list[int]:
    items = value if isinstance(value, list) else split_names(str(value))
    try:
        return [int(item) for item in items]
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated integers, got {value!r}") from None


def _positive(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return value


def profile_entry(config: dict[str, Any], name: str) -> dict[str, Any]:
    profiles = config.get("profiles") or {}
    if not isinstance(profiles, dict) or name not in profiles:
        raise ConfigError(f"unknown profile {name!r}; valid: {', '.join(sorted(profiles)) or 'none defined'}")
    entry = dict(profiles[name] or {})
    unknown = sorted(set(entry) - set(PROFILE_KEYS))
    if unknown:
        raise ConfigError(f"profile {name!r} has unknown key(s) {', '.join(unknown)}; valid: {', '.join(PROFILE_KEYS)}")
    return entry


def build_request(config: dict[str, Any], name: str, flags: dict[str, Any],
                  overrides: dict[str, dict[str, Any]]) -> ProfileRequest:
    """The profile ``name`` from benchmarks.yaml with the command-line ``flags`` (models, hidden,
    tbptt, batch_size, vocab, modes, repeats, warmup; None = the profile's) on top."""
    entry = profile_entry(config, name)
    given = {k: v for k, v in flags.items() if v is not None}
    if "slots" in given:  # --slots: a grid over memory sizes
        if "setups" in entry:
            raise ConfigError(f"--slots applies to grid profiles; profile {name!r} has named setups")
        given["memory_slots"] = split_names(str(given.pop("slots")))
    options = {**GRID_DEFAULTS, **entry, **given}
    modes = split_names(options["modes"])
    bad = sorted(set(modes) - set(MODES))
    if bad or not modes:
        raise ConfigError(f"--mode must be a comma-separated subset of {', '.join(MODES)}, got {options['modes']!r}")
    repeats = _positive(options["repeats"], "--repeats")
    warmup = _positive(options["warmup"], "--warmup (at least one step: peak memory is tracked over it)")
    if not isinstance(entry.get("model") or {}, dict):
        raise ConfigError(f"profile {name!r}: 'model' must be a mapping of model options")
    model_overrides = deep_merge(entry.get("model") or {}, overrides["model"])
    if "setups" in entry:
        setups = _named_setups(name, entry["setups"], given)
    else:
        setups = _grid_setups(name, options)
    budgets = _budgets(options)
    for setup in setups:
        _positive(setup.hidden, f"hidden size of {setup.name}")
        _positive(setup.tbptt, f"tbptt of {setup.name}")
        _positive(setup.batch_size, f"batch size of {setup.name}")
        _positive(setup.vocab, f"vocab of {setup.name}")
        _positive(setup.memory_slots, "--slots" if isinstance(options["memory_slots"], list) else
                  f"memory slots of {setup.name}")
        cls, model_options = _model_options(config, setup, model_overrides)
        check_model(setup.model, cls, model_options)
        _check_fits(setup, model_options)
    train = TrainConfig.from_dict(deep_merge(config.get("training") or {}, overrides["train"]))
    return ProfileRequest(name, setups, modes, repeats, warmup, model_overrides, train, *budgets)


def _budgets(options: dict[str, Any]) -> tuple[float | None, float | None]:
    """(seconds per step, bytes) of the skip rule, from --max-step-time / --max-memory or the profile."""
    out = []
    for key, flag, scale in (("max_step_time_s", "--max-step-time", 1.0), ("max_memory_gib", "--max-memory", GIB)):
        value = options.get(key)
        if value is None:
            out.append(None)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not number > 0 or number == float("inf"):
            raise ConfigError(f"{flag} must be a positive number, got {value!r}")
        out.append(number * scale)
    return out[0], out[1]


def _check_fits(setup: Setup, options: dict[str, Any]) -> None:
    """A memory size whose memory matrix would not fit in this machine's RAM STATE_COPIES times (the
    state, a gradient buffer, a copy) is a usage error, not a skipped row."""
    slots = options.get("memory_slots") or 0
    need = STATE_COPIES * setup.batch_size * slots * (options.get("memory_width") or setup.hidden) * 4
    total = psutil.virtual_memory().total
    if need > total:
        raise ConfigError(f"--slots {slots}: {setup.model}'s memory ({need / STATE_COPIES / GIB:,.1f} GiB, "
                          f"x{STATE_COPIES} to run) does not fit in this machine's {total / GIB:,.1f} GiB of RAM")


def _grid_setups(name: str, options: dict[str, Any]) -> list[Setup]:
    """Models x hidden sizes, and x memory sizes (ascending, for the skip rule) when memory_slots is a list."""
    models = split_names(options.get("models"))
    hidden = _int_list(options.get("hidden", ""), "--hidden")
    if not models or not hidden:
        raise ConfigError(f"profile {name!r} needs models and hidden sizes (--models, --hidden)")
    size = {k: options[k] for k in ("tbptt", "batch_size", "vocab", "memory_width")}
    if not isinstance(options["memory_slots"], list):
        return [Setup(grid_name(h, size["tbptt"], size["batch_size"]), model, h, options["memory_slots"], **size)
                for h in hidden for model in models]
    slots = sorted(set(_int_list(options["memory_slots"], "--slots")))
    if not slots:
        raise ConfigError("--slots must list at least one memory size")
    return [Setup(grid_name(h, size["tbptt"], size["batch_size"], n), model, h, n, **size)
            for n in slots for h in hidden for model in models]


def _named_setups(name: str, entries: Any, given: dict[str, Any]) -> list[Setup]:
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"profile {name!r}: setups must be a mapping NAME: {{model, hidden, ...}}")
    if "hidden" in given:
        raise ConfigError(f"--hidden applies to grid profiles; profile {name!r} has named setups")
    wanted = split_names(given.get("models"))
    setups = []
    for setup_name, values in entries.items():
        values = dict(values or {})
        unknown = sorted(set(values) - set(SETUP_KEYS))
        if unknown or "model" not in values or "hidden" not in values:
            raise ConfigError(f"profile {name!r} setup {setup_name!r}: needs model and hidden, "
                              f"may have {', '.join(SETUP_KEYS)}")
        merged = {**GRID_DEFAULTS, **values, **{k: v for k, v in given.items() if k in SETUP_KEYS}}
        if not wanted or values["model"] in wanted:
            setups.append(Setup(str(setup_name), values["model"], merged["hidden"], merged["memory_slots"],
                                merged["tbptt"], merged["batch_size"], merged["vocab"], merged["memory_width"]))
    if not setups:
        raise ConfigError(f"profile {name!r} has no setup for model(s) {', '.join(wanted)}")
    return setups


def _model_options(config: dict[str, Any], setup: Setup, overrides: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(class, options) of the setup's model: the preset, the setup's hidden size, memory
    ``memory_slots`` x ``memory_width`` (0: d_h) for models whose preset has a memory, the stream's
    widths, then overrides."""
    cls, options = resolve_preset(config, "models", setup.model, MODEL_REGISTRY)
    options["hidden_size"] = setup.hidden
    if options.get("memory_slots"):
        options.update(memory_slots=setup.memory_slots, memory_width=setup.memory_width or setup.hidden)
    options.update(overrides, input_size=setup.vocab, output_size=setup.vocab)
    return cls, options


# --- running it -----------------------------------------------------------------------------------
@dataclass
class _Measurement:
    setup: Setup
    mode: str
    runner: StepRunner
    row: dict[str, Any]


ProgressFn = Callable[[str, int], None]  # (what is running, steps just done)


def run_profile(request: ProfileRequest, config: dict[str, Any], device: torch.device,
                on_rows: Callable[[list[dict[str, Any]]], None], on_progress: ProgressFn | None = None) -> list[dict[str, Any]]:
    """Profile every group of setups; ``on_rows`` gets each group's rows as soon as they exist."""
    on_progress = on_progress or (lambda what, done: None)
    run_id = f"profile-{request.profile}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
    common = {"run_id": run_id, "profile": request.profile, "warmup": request.warmup, "repeats": request.repeats,
              "dtype": request.train.dtype, "train_options": json.dumps({"optimizer": request.train.optimizer}),
              **environment(device)}
    groups: dict[str, list[Setup]] = {}
    for setup in request.setups:
        groups.setdefault(setup.name, []).append(setup)
    rows: list[dict[str, Any]] = []
    history: dict[tuple, list[dict[str, Any]]] = {}  # (model, hidden, mode) -> rows at smaller sizes
    _prime(config, request, device)
    for name, setups in groups.items():
        measured, skipped = [], []
        for setup in setups:
            for mode in request.modes:
                past = history.setdefault((setup.model, setup.hidden, mode), [])
                reason = skip_reason(past, setup.memory_slots, request.max_step_time_s, request.max_memory_bytes)
                if reason is None:
                    try:
                        measured.append(_warm_up(config, request, setup, mode, device, on_progress))
                        continue
                    except (RuntimeError, MemoryError) as err:  # e.g. out of memory: a row, never a crash
                        reason = failure_reason(err)
                        _release(device)
                skipped.append({**common, **_skipped_row(config, request, setup, mode, reason), "timestamp": utc_now()})
                on_progress(f"{setup.name}: {setup.model} {mode} skipped", request.warmup + request.repeats)
        failures: dict[int, str] = {}  # a timed step that fails (e.g. out of memory): a row, never a crash
        steps = {i: _guarded(m.runner.step, failures, i) for i, m in enumerate(measured)}
        times = {i: StepTimes([], []) for i in steps}
        for repeat in range(request.repeats):  # one round at a time, for the progress bar
            running = {i: step for i, step in steps.items() if i not in failures}
            for i, measured_round in time_interleaved(running, 1, device).items():
                times[i].wall.extend(measured_round.wall)
                times[i].cpu.extend(measured_round.cpu)
            if failures:
                for i in failures:
                    measured[i].runner.state = None  # what the failed model held
                _release(device)
            on_progress(f"{name}: timing round {repeat + 1}/{request.repeats}", len(measured))
        for i in sorted(failures):
            m = measured[i]
            skipped.append({**common, **_skipped_row(config, request, m.setup, m.mode, failures[i]), "timestamp": utc_now()})
        measured = [m for i, m in enumerate(measured) if i not in failures]
        times = [t for i, t in times.items() if i not in failures]
        group_rows = [{**common, **m.row, **timing_columns(times[i], m.row["chars_per_step"]), "timestamp": utc_now()}
                      for i, m in enumerate(measured)]
        for m, row in zip(measured, group_rows):
            history[(m.setup.model, m.setup.hidden, m.mode)].append(row)
        for row in skipped:
            history[(row["model"], row["hidden_size"], row["mode"])].append(row)
        group_rows += skipped
        del measured, steps
        _release(device)
        on_rows(group_rows)
        rows += group_rows
    return rows


def failure_reason(err: BaseException) -> str:
    """The ``skipped`` text of a (model, mode) whose step raised ``err``."""
    return f"failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}"


def _guarded(step: Callable[[], None], failures: dict[int, str], key: int) -> Callable[[], None]:
    """``step`` that records a RuntimeError or MemoryError (e.g. out of memory) in ``failures[key]``
    instead of raising it, so that the other models of the group are still timed."""
    def run() -> None:
        try:
            step()
        except (RuntimeError, MemoryError) as err:
            failures[key] = failure_reason(err)
    return run


def memory_figure(row: dict[str, Any]) -> float:
    """The memory the skip rule extrapolates: the larger of the measured peak and the exact figure."""
    return max(float(row.get("peak_memory_bytes") or 0), float(row.get("exact_memory_bytes") or 0))


def extrapolate(sizes: list[int], values: list[float], size: int) -> float:
    """The value at ``size`` from values measured at smaller ``sizes`` (ascending): along the log-log
    line through the last two points (slope kept within [0, MAX_GROWTH_EXPONENT]), or linear in the
    size from a single point (or when the last two share a size)."""
    n1, v1 = sizes[-1], max(values[-1], 1e-12)
    slope = 1.0
    if len(sizes) >= 2 and sizes[-2] != n1 and values[-2] > 0:
        slope = math.log(v1 / values[-2]) / math.log(n1 / sizes[-2])
        slope = min(max(slope, 0.0), MAX_GROWTH_EXPONENT)
    return v1 * (size / n1) ** slope


def skip_reason(past: list[dict[str, Any]], slots: int, max_time: float | None, max_memory: float | None) -> str | None:
    """Why a (model, mode) should not run at ``slots`` given its rows at smaller sizes, or None: the
    skip rule. A size after a skipped one is skipped too."""
    past = [row for row in past if row["memory_slots"] < slots or row.get("skipped")]
    if not past:
        return None
    if past[-1].get("skipped"):
        return f"skipped at N={past[-1]['memory_slots']:,}, a smaller size"
    ran = [row for row in past if not row.get("skipped")]
    sizes = [int(row["memory_slots"]) for row in ran]
    if not sizes or sizes[-1] == 0:  # no memory: nothing grows with N
        return None
    if max_time is not None:
        time_s = extrapolate(sizes, [row["step_cpu_time_min_s"] for row in ran], slots)
        if time_s > max_time:
            return (f"extrapolated {time_s:,.2f} CPU s per step > budget {max_time:g} s "
                    f"(from N={', '.join(f'{n:,}' for n in sizes[-2:])})")
    if max_memory is not None:
        memory = extrapolate(sizes, [memory_figure(row) for row in ran], slots)
        if memory > max_memory:
            return (f"extrapolated memory {memory / GIB:,.2f} GiB > budget {max_memory / GIB:g} GiB "
                    f"(from N={', '.join(f'{n:,}' for n in sizes[-2:])})")
    return None


def _skipped_row(config: dict[str, Any], request: ProfileRequest, setup: Setup, mode: str, reason: str) -> dict[str, Any]:
    cls, options = _model_options(config, setup, request.model_overrides)
    return {"setup": setup.name, "model": setup.model, "model_class": cls, "mode": mode,
            "hidden_size": options["hidden_size"], "memory_slots": options.get("memory_slots", 0),
            "memory_width": options.get("memory_width", 0), "vocab": setup.vocab, "tbptt": setup.tbptt,
            "batch_size": setup.batch_size, "chars_per_step": setup.tbptt * setup.batch_size,
            "model_options": json.dumps(options, sort_keys=True), "skipped": reason}


def _release(device: torch.device) -> None:
    """Free what earlier models left, so the next peak is measured from a clean start: on the CPU,
    glibc keeps freed memory in the process (RSS would then not grow for the next model) unless
    trimmed; on a GPU, torch's caching allocator keeps it."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # glibc only
    except OSError:
        return None


_LIBC = _load_libc()


def _prime(config: dict[str, Any], request: ProfileRequest, device: torch.device) -> None:
    """One tiny train and infer step of every model class first, so that one-time initialisation
    (kernels, thread pools, GPU library workspaces) does not count in the first row's memory."""
    for model in dict.fromkeys(setup.model for setup in request.setups):
        tiny = Setup("prime", model, hidden=PRIME_SIZE, memory_slots=PRIME_SIZE, tbptt=PRIME_SIZE, batch_size=PRIME_SIZE)
        for mode in MODES:
            _build_runner(config, request, tiny, mode, device)[1].step()


def _build_runner(config: dict[str, Any], request: ProfileRequest, setup: Setup, mode: str, device: torch.device,
                  on_built: Callable[[], None] = lambda: None) -> tuple[str, StepRunner, dict[str, Any]]:
    """(model class, runner, model options) for one setup and mode; ``on_built`` runs after the
    batches exist and before the model is built."""
    dtype = DTYPES[request.train.dtype]
    cls, options = _model_options(config, setup, request.model_overrides)
    task = SyntheticCharStream(CharStreamConfig(vocab=setup.vocab, length=setup.tbptt))
    generator = torch.Generator().manual_seed(MODEL_SEED)
    batches = [task.sample(setup.batch_size, generator).to(device, dtype) for _ in range(BATCH_POOL)]
    on_built()
    torch.manual_seed(MODEL_SEED)
    model = build_model(cls, **options).to(device=device, dtype=dtype)
    optimizer = make_optimizer(model, request.train) if mode == "train" else None
    return cls, StepRunner(model, task, batches, mode, optimizer), options


def _warm_up(config: dict[str, Any], request: ProfileRequest, setup: Setup, mode: str, device: torch.device,
             on_progress: ProgressFn) -> _Measurement:
    """Build (model, mode), run its warm-up steps with peak memory tracked, and its row so far."""
    memories: list[PeakMemory] = []

    def track() -> None:
        _release(device)
        memories.append(PeakMemory(device))

    cls, runner, options = _build_runner(config, request, setup, mode, device, on_built=track)
    memory, model, task = memories[0], runner.model, runner.task
    runner.after_forward = memory.sample
    for _ in range(request.warmup):
        runner.step()
        memory.sample()
        on_progress(f"{setup.name}: {setup.model} {mode} warm-up", 1)
    synchronize(device)
    runner.after_forward = None
    growth = memory.peak_growth_bytes()
    recall = getattr(model, "index_recall", None)  # SAM's ANN index against exact search, on this memory
    recall = recall(runner.state) if recall is not None and runner.state is not None else None
    state = model.initial_state(setup.batch_size)
    row = {
        "setup": setup.name, "model": setup.model, "model_class": cls, "variant": model.variant(), "mode": mode,
        "path": runner.path, "hidden_size": options["hidden_size"], "memory_slots": options.get("memory_slots", 0),
        "memory_width": options.get("memory_width", 0), "vocab": setup.vocab, "tbptt": setup.tbptt,
        "batch_size": setup.batch_size, "param_count": model.num_parameters(),
        "chars_per_step": setup.tbptt * setup.batch_size,
        "peak_memory_bytes": growth,
        "peak_cuda_bytes": growth if device.type == "cuda" else None,
        "peak_rss_growth_bytes": memory.result()["peak_rss_growth_bytes"],
        "param_bytes": tensor_bytes(model.parameters()), "state_bytes": tensor_bytes(state.values()),
        "model_options": json.dumps(options, sort_keys=True), "index_recall": recall,
    }
    row.update(operator_columns(runner.count_operators(), setup.tbptt))
    if mode == "train":
        row["saved_tensor_bytes"] = saved_tensor_bytes(model, task, setup.batch_size)
        row["exact_memory_bytes"] = row["saved_tensor_bytes"]
    else:
        row["exact_memory_bytes"] = row["param_bytes"] + row["state_bytes"]
    return _Measurement(setup, mode, runner, row)


def operator_columns(counter: OperatorCounter, tbptt: int) -> dict[str, Any]:
    """The ops_* columns of one counted step."""
    counts = {f"ops_{phase}": counter.counts[phase] if phase in counter.counts else None
              for phase in OPERATOR_PHASES}
    counts["ops_per_time_step"] = ((counts["ops_forward"] or 0) + (counts["ops_backward"] or 0)) / tbptt
    return counts


# --- the results file -----------------------------------------------------------------------------
class ProfileStore:
    """Appends rows to OUT/profile.csv (whole rows, locked, fsynced, as runs.csv) and documents the
    columns in OUT/PROFILE_COLUMNS.md."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / COLUMNS_FILE).write_text(columns_doc())
        except OSError as err:
            raise ConfigError(f"output folder {self.out_dir} is not writable: {err.strerror or err}") from None
        self.path = self.out_dir / PROFILE_FILE
        check_header(self.path, list(PROFILE_COLUMNS))

    def append(self, rows: list[dict[str, Any]]) -> None:
        append_rows(self.path, PROFILE_COLUMNS, rows)


def columns_doc() -> str:
    lines = [f"# Columns of {PROFILE_FILE} (bench profile)", "", "| column | meaning |", "| --- | --- |"]
    return "\n".join(lines + [f"| {col} | {doc} |" for col, doc in PROFILE_COLUMNS.items()]) + "\n"


def read_profiles(inputs: list[Path]) -> pd.DataFrame:
    """Rows of profile.csv from results folders or CSV files."""
    frames = []
    for path in map(Path, inputs):
        csv_path = path if path.suffix == ".csv" else path / PROFILE_FILE
        if not csv_path.is_file():
            raise ConfigError(f"no profile CSV at {csv_path} (bench profile --out writes one)")
        try:
            frame = pd.read_csv(csv_path)
        except pd.errors.EmptyDataError:
            raise ConfigError(f"{csv_path} is empty: not a profile CSV (bench profile --out writes one)") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{csv_path} is not UTF-8 text: not a profile CSV") from None
        except (pd.errors.ParserError, OSError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"{csv_path} cannot be read as a profile CSV: {first}") from None
        missing = sorted({"run_id", "model", "setup", "mode", "chars_per_s"} - set(frame.columns))
        if missing:
            raise ConfigError(f"{csv_path} is not a profile CSV (no column {', '.join(missing)})")
        frames.append(frame)
    if not frames:
        raise ConfigError("no profile CSV given")
    return pd.concat(frames, ignore_index=True)


ROW_KEY = ["model", "setup", "mode"]


def with_speed_ratios(df: pd.DataFrame, reference: str = REFERENCE_MODEL, speed: str = "chars_per_s") -> pd.DataFrame:
    """Adds ``speed_ratio``: the ``speed`` column over that of ``reference`` in the same run, setup
    and mode (NaN where the run has no such reference row)."""
    same = ["run_id", "setup", "mode"]
    ref = df[df.model == reference][same + [speed]].drop_duplicates(same, keep="last").rename(columns={speed: "_ref"})
    out = df.merge(ref, on=same, how="left")
    out["speed_ratio"] = out[speed] / out._ref
    return out.drop(columns="_ref")


def latest(df: pd.DataFrame, key: list[str] = ROW_KEY) -> pd.DataFrame:
    """The most recent row for each key (files may hold several runs)."""
    return df.sort_values("timestamp", kind="stable").drop_duplicates(key, keep="last").reset_index(drop=True)
