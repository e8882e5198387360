"""Configuration: benchmarks.yaml (model presets, task presets, training defaults, suites) plus
command-line overrides, checked in one place and expanded into one ``RunSpec`` per (model, task, seed).

Checking (pydantic), all before any run starts:
- the file's shape: each section a mapping, a preset a mapping of options, a suite's models and tasks
  preset names (a list or a comma-separated string), its seeds a positive integer (``ConfigFile``);
- every option against the config dataclass of its class (models, tasks, ``TrainConfig``): integers,
  finite numbers, strict booleans (true/false, not 1 or "yes"), text; sizes at most ``MAX_SIZE``; a
  model of at most ``MAX_MODEL_NUMBERS`` weights and buffers (built on PyTorch's meta device, which
  allocates nothing); then the class's own ``validate`` (ranges that depend on each other);
- options a run would ignore are errors: memory sizes for a model without a memory, training options
  the run's training loop does not read (``bench.loop_options.USED_OPTIONS``), RMSprop's options with Adam, the
  options of a learning-rate schedule that is not the one chosen.

Merging: one rule for every scope (model, task, train). A preset (or the ``training:`` defaults), then
the suite's options, then ``--set`` options are merged deeply: a nested mapping (``layer_options``,
``inverse_temperature``) is merged key by key, any other value is replaced.

Every problem raises ``ConfigError`` with one line naming the option, the value and what is valid; the
CLI prints it and exits with code 2.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import math
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr, ValidationError, create_model

import models
import tasks
from bench import yaml_reader
from bench.errors import ConfigError
from bench.loop_options import USED_OPTIONS

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "benchmarks.yaml"  # package data: found installed too
SCOPES = ("model", "task", "train")  # prefixes of --set KEY=VALUE
# training options that do not change what a run learns (left out of the spec fingerprint)
RUN_LOCATION_OPTIONS = ("device", "threads", "inference_batches", "output_dir", "checkpoint_every", "generalization")
# training options added after results were recorded: in the fingerprint only when set away from
# these defaults, so the fingerprints of earlier runs (and --resume on their folders) stay valid
LATER_OPTION_DEFAULTS = {"divergence_factor": 100.0, "divergence_patience": 3, "train_loss_window": 200,
                         "stop_after_both_measures": False}
SUITE_KEYS = ("description", "models", "tasks", "seeds", "vectorize_seeds", "model", "task", "train")
MAX_SIZE = 10_000_000  # largest size or count option (hidden size, sequence length, images...)
MAX_MODEL_NUMBERS = 1_000_000_000  # weights + buffers of one model: 4 GB in float32 before gradients and optimiser
MAX_SEEDS = 10_000  # seeds per (model, task) in one command
MAX_SEED = 2**31 - 1  # seeds seed torch generators after offsets and strides: kept far inside 64 bits
MEMORY_OPTIONS = ("memory_slots", "memory_width")  # sizes a model has only if its config declares them
SHOWN_VALUE_CHARS = 60  # a value longer than this is cut in error messages


# --- option types: what pydantic checks, and what an error says is valid ----------------------------
def _number_from_text(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as text: a number written as text is that number. Booleans are
    not numbers (Python would take True as 1)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return value
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _integer(value: Any) -> Any:
    value = _number_from_text(value)
    if isinstance(value, float) and value.is_integer():  # 1e3 is 1000; 8.5, inf, nan are not integers
        return int(value)
    return value


def _empty_if_none(value: Any) -> Any:
    return {} if value is None else value


Integer = Annotated[int, BeforeValidator(_integer), Field(strict=True)]
Size = Annotated[int, BeforeValidator(_integer), Field(strict=True, le=MAX_SIZE)]
Positive = Annotated[int, BeforeValidator(_integer), Field(strict=True, ge=1, le=MAX_SIZE)]
Count = Annotated[int, BeforeValidator(_integer), Field(strict=True, ge=0, le=MAX_SIZE)]
Number = Annotated[float, BeforeValidator(_number_from_text), Field(allow_inf_nan=False)]
PositiveNumber = Annotated[float, BeforeValidator(_number_from_text), Field(allow_inf_nan=False, gt=0)]
NonNegative = Annotated[float, BeforeValidator(_number_from_text), Field(allow_inf_nan=False, ge=0)]
Fraction = Annotated[float, BeforeValidator(_number_from_text), Field(allow_inf_nan=False, ge=0, le=1)]
Options = Annotated[dict[str, Any], BeforeValidator(_empty_if_none)]
# the checked type of a plain config annotation (models' and tasks' dataclasses use these)
OPTION_TYPES = {int: Size, float: Number, bool: StrictBool, str: StrictStr, dict[str, Any]: Options}


@functools.cache
def _schema(config_class: type) -> type[BaseModel]:
    """A pydantic model of a config dataclass's fields: plain types checked as ``OPTION_TYPES`` says,
    annotated ones (``TrainConfig``'s ranges) as annotated. Unknown options are an error."""
    hints = typing.get_type_hints(config_class, include_extras=True)
    fields = {}
    for f in dataclasses.fields(config_class):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            kind = _schema(kind)
        elif kind is int and f.name.endswith("seed"):
            kind = Integer  # a seed is not a size
        else:
            kind = next((checked for plain, checked in OPTION_TYPES.items() if kind == plain), kind)
        fields[f.name] = (kind, None)
    return create_model(f"{config_class.__name__}Options", __config__=ConfigDict(extra="forbid"), **fields)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 3] + "..."


def one_line(err: ValidationError, scope: str = "") -> str:
    """A pydantic error as one line: ``train.clip_value=nan: must be a finite number``."""
    first = err.errors()[0]
    name = ".".join(str(part) for part in (scope, *first["loc"]) if part != "")
    what = first["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    what = {"must be a valid boolean": "must be true or false", "must be a valid integer": "must be an integer",
            "must be a valid number, unable to parse string as a number": "must be a number"}.get(what, what)
    if what.startswith("must be a valid dictionary"):
        what = "must be a mapping of options"
    if first["type"] == "extra_forbidden":
        line = f"{name}: no such option"
    elif first["type"] == "missing":
        line = f"{name} is missing"
    else:
        line = f"{name}={_shown(first['input'])}: {what}"
    more = len(err.errors()) - 1
    return line + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def checked_options(config_class: type, options: dict[str, Any], scope: str) -> dict[str, Any]:
    """``options`` checked against ``config_class``'s fields and converted (``"1e-3"`` -> 0.001); only
    the options given are returned."""
    try:
        return _schema(config_class).model_validate(options).model_dump(exclude_unset=True)
    except ValidationError as err:
        raise ConfigError(one_line(err, scope)) from None


# --- training options ---------------------------------------------------------------------------
Optimizer = Literal["rmsprop", "adam"]
Dtype = Literal["float32", "float64"]
LrSchedule = Literal["constant", "plateau", "step"]
TemperatureUnit = Literal["iteration", "epoch"]


@dataclass
class TemperatureSchedule:
    """Gumbel-softmax inverse temperature: start, +increment every `every` iterations, capped at max."""

    start: Number = 1.0
    increment: Number = 1.0
    every: Positive = 400
    max: Number = 50.0

    def at(self, iteration: int) -> float:
        return min(self.max, self.start + self.increment * (iteration // self.every))


@dataclass
class TrainConfig:
    iterations: Positive = 100_000  # budget
    batch_size: Positive = 1
    optimizer: Optimizer = "rmsprop"  # rmsprop | adam
    lr: PositiveNumber = 1e-4
    alpha: Fraction = 0.95  # RMSprop smoothing constant
    momentum: NonNegative = 0.9  # RMSprop momentum
    clip_value: NonNegative = 10.0  # gradient clipping by value; 0 disables
    val_every: Positive = 200
    val_batches: Positive = 10
    val_batch_size: Positive = 8
    solved_threshold: PositiveNumber = 0.01
    solved_window: Positive = 10
    solved_max_fraction_above: Fraction = 0.3
    stop_when_solved: StrictBool = True
    # the ARMIN authors' measure, recorded beside the paper's rule: the first iteration at which the mean
    # training loss of a window of this many iterations fell below solved_threshold (their train.py logs
    # it every 200 iterations); stop_when_solved then also waits for it when stop_after_both_measures
    train_loss_window: Positive = 200
    stop_after_both_measures: StrictBool = False
    inverse_temperature: TemperatureSchedule = field(default_factory=TemperatureSchedule)
    inference_batches: Count = 10
    device: StrictStr = "cpu"
    dtype: Dtype = "float32"
    threads: Count = 0  # torch intra-op threads; 0 keeps torch's default (batch-1 CPU runs are fastest with 1)
    # --- epoch-based real-data tasks (the "stream" loop, bench/training/stream.py); the defaults change nothing else
    epochs: Count = 0  # epoch budget; 0: none (the iteration budget alone ends the run)
    clip_norm: NonNegative = 0.0  # gradient clipping by global norm; 0 disables (the authors' pMNIST code clips by norm)
    lr_schedule: LrSchedule = "constant"  # constant | plateau: x lr_decay after lr_patience epochs without a better
    #                                validation metric | step: x lr_decay every lr_step_epochs epochs
    lr_decay: Fraction = 0.5
    lr_patience: Count = 0
    lr_step_epochs: Positive = 1
    early_stopping_patience: Count = 0  # stop after this many epochs without a better validation metric; 0: never
    temperature_unit: TemperatureUnit = "iteration"  # what inverse_temperature.every counts: iteration | epoch
    test_every_epoch: StrictBool = False  # also evaluate the test split after each epoch (in epochs.csv)
    output_dir: StrictStr = ""  # folder for checkpoints/ and epochs.csv; "" writes neither (bench run sets it to --out)
    # --- both loops (bench/training/): checkpoints a killed run continues from, the divergence rule
    checkpoint_every: Count = 1000  # iterations between checkpoints; 0: none (stream: at the end of each epoch only)
    divergence_factor: PositiveNumber = 100.0  # diverged: validation loss above this x the untrained model's (divergence.py) ...
    divergence_patience: Count = 3  # ... for this many validations in a row; 0: only NaN/inf losses count
    generalization: StrictBool = False  # after training, evaluate on 1x/2x/4x the training sizes -> OUT/generalization.csv

    OPTIMIZERS = typing.get_args(Optimizer)
    DTYPES = typing.get_args(Dtype)
    LR_SCHEDULES = typing.get_args(LrSchedule)
    TEMPERATURE_UNITS = typing.get_args(TemperatureUnit)

    def validate(self) -> None:
        """What the field types cannot say: ranges that depend on each other, and the device."""
        if self.lr_decay == 0:
            raise ConfigError(f"train.lr_decay={self.lr_decay}: must be in (0, 1]")
        if self.device not in ("cpu", "cuda") and not (self.device.startswith("cuda:") and self.device[5:].isdigit()):
            raise ConfigError(f"train.device={self.device!r}: must be cpu, cuda or cuda:N")
        if not self.divergence_factor > 1:
            raise ConfigError(f"train.divergence_factor={self.divergence_factor}: must be a finite number > 1")
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ConfigError(f"device {self.device!r} asked for, but torch sees no CUDA device; use --device cpu")
            index = int(self.device[5:]) if self.device.startswith("cuda:") else 0
            if index >= torch.cuda.device_count():
                raise ConfigError(f"device {self.device!r} asked for, but torch sees {torch.cuda.device_count()} "
                                  f"CUDA device(s): cuda:0 to cuda:{torch.cuda.device_count() - 1}")

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> "TrainConfig":
        if not isinstance(options, dict):
            raise ConfigError(f"training options must be a mapping, got {_shown(options)}")
        values = checked_options(cls, options, "train")
        schedule = TemperatureSchedule(**values.pop("inverse_temperature", {}))
        cfg = cls(**values, inverse_temperature=schedule)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def unread_train_options(cfg: TrainConfig, loop: str) -> dict[str, str]:
    """Options that a run of training loop ``loop`` with ``cfg`` does not read -> who reads them. A run
    must leave those as the ``training:`` defaults have them: never accepted and ignored. Each loop
    declares what it reads (``bench.loop_options.USED_OPTIONS``)."""
    unread = {}
    if loop in USED_OPTIONS:
        for name in set().union(*USED_OPTIONS.values()) - USED_OPTIONS[loop]:
            readers = " and ".join(sorted(other for other, used in USED_OPTIONS.items() if name in used))
            unread[name] = f"only the {readers} training loop reads it"
    if cfg.optimizer != "rmsprop":
        unread.update(alpha="only optimizer rmsprop reads it", momentum="only optimizer rmsprop reads it")
    if cfg.lr_schedule != "plateau":
        unread["lr_patience"] = "only lr_schedule plateau reads it"
    if cfg.lr_schedule != "step":
        unread["lr_step_epochs"] = "only lr_schedule step reads it"
    if cfg.lr_schedule == "constant":
        unread["lr_decay"] = "only lr_schedule plateau or step reads it"
    return unread


def check_train_options_read(cfg: TrainConfig, defaults: TrainConfig, loop: str, task: str) -> None:
    """An option changed from ``defaults`` that the run would not read is an error."""
    for name, reader in unread_train_options(cfg, loop).items():
        value = getattr(cfg, name)
        if value != getattr(defaults, name):
            raise ConfigError(f"train.{name}={_shown(value)} is not used by task {task!r} ({loop} training loop, "
                              f"optimizer {cfg.optimizer}, lr_schedule {cfg.lr_schedule}): {reader}")


@dataclass
class RunSpec:
    """Everything that defines one run; the runner turns it into a task, a model and a trainer."""

    model: str  # preset name, e.g. "armin-code"
    model_class: str  # registered class, e.g. "armin"
    model_options: dict[str, Any]
    task: str
    task_class: str
    task_options: dict[str, Any]
    train: TrainConfig
    seed: int
    # plugins the model or task class comes from (bench/plugins.py): [{"source", "identity"}], [] for built-ins
    plugins: list[dict[str, str]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.model, self.task, self.seed)

    @property
    def spec_hash(self) -> str:
        """Fingerprint of everything that defines the run's result (not where or how fast it runs):
        ``--resume`` skips a run only if a finished row has the same fingerprint."""
        train = {k: v for k, v in self.train.to_dict().items()
                 if k not in RUN_LOCATION_OPTIONS and LATER_OPTION_DEFAULTS.get(k, object()) != v}
        parts = [self.model_class, self.model_options, self.task_class, self.task_options, train, self.seed]
        if self.plugins:  # a plugin's version (file hash, package version) is part of what defines the run
            parts.append(sorted(p["identity"] for p in self.plugins))
        blob = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


# --- the file ---------------------------------------------------------------------------------------
def _names(value: Any) -> Any:
    """Preset names: a list, or one comma-separated string."""
    if isinstance(value, str):
        return split_names(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return split_names(value)
    raise ValueError("must be a list of preset names or a comma-separated string")


Names = Annotated[list[str], BeforeValidator(_names)]
Preset = Annotated[dict[str, Any], BeforeValidator(_empty_if_none), Field(strict=True)]
SeedCount = Annotated[int, Field(strict=True, ge=1, le=MAX_SEEDS)]


class Suite(BaseModel):
    """A suite of benchmarks.yaml: a grid of presets and seeds with options per scope."""

    model_config = ConfigDict(extra="forbid")
    description: StrictStr = ""
    models: Names = []
    tasks: Names = []
    seeds: SeedCount = 1
    vectorize_seeds: StrictBool = False  # train the seeds of each (model, task) as one computation (bench/training/group.py)
    model: Preset = {}
    task: Preset = {}
    train: Preset = {}


class ConfigFile(BaseModel):
    """The shape of benchmarks.yaml (options are checked when a run uses them; profiles by bench profile)."""

    model_config = ConfigDict(extra="forbid")
    training: Preset = {}
    models: Annotated[dict[str, Preset], Field(min_length=1)]
    tasks: Annotated[dict[str, Preset], Field(min_length=1)]
    suites: Annotated[dict[str, Suite], BeforeValidator(_empty_if_none)] = {}
    profiles: Annotated[dict[str, Any], BeforeValidator(_empty_if_none)] = {}


class UserConfigFile(ConfigFile):
    """A user's ``--config`` file: laid on top of the packaged one, so every section is optional."""

    models: dict[str, Preset] = {}
    tasks: dict[str, Preset] = {}
    plugins: Annotated[list[StrictStr], BeforeValidator(lambda v: split_names(v) if isinstance(v, str) else v or [])] = []


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """The packaged benchmarks.yaml, with a user's file ``path`` (if given) on top: its presets,
    suites and profiles are added to the packaged ones (a name given in both: the user's entry
    replaces the packaged one whole), its ``training:`` options merged into the defaults, and the
    plugins its ``plugins:`` list names loaded (a relative file path is relative to the file)."""
    packaged = read_config_file(DEFAULT_CONFIG_PATH)
    if not path or Path(path).resolve() == DEFAULT_CONFIG_PATH.resolve():
        return packaged
    path = Path(path)
    user = read_config_file(path, UserConfigFile)
    if user.get("plugins"):
        from bench.plugins import load_plugins  # bench.plugins imports this module

        load_plugins(UserConfigFile.model_validate({"plugins": user["plugins"]}).plugins, path.resolve().parent)
    merged = {**packaged, **{k: v for k, v in user.items() if k not in LAYERED_SECTIONS}}
    for section in LAYERED_SECTIONS:
        merged[section] = {**(packaged.get(section) or {}), **(user.get(section) or {})}
    merged["training"] = deep_merge(packaged["training"], user.get("training") or {})
    return merged


LAYERED_SECTIONS = ("models", "tasks", "suites", "profiles")  # a user's file adds entries to these


def read_config_file(path: Path, schema: type[ConfigFile] = ConfigFile) -> dict[str, Any]:
    """One configuration file read and its shape checked: a mapping of sections (presets with
    ``None`` options made empty mappings)."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml_reader.load(path.read_text(encoding="utf-8"), str(path))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text (byte {err.start}: {err.object[err.start:err.start + 1]!r})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"malformed YAML in {path}{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping with sections models, tasks, training")
    unknown = [str(name) for name in data if name not in schema.model_fields]
    if unknown:
        raise ConfigError(f"{path}: unknown section {unknown[0]!r} (a misspelling?); "
                          f"valid sections: {', '.join(sorted(schema.model_fields))}")
    try:
        checked = schema.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: {one_line(err)}") from None
    return {**data, "training": checked.training, "models": checked.models, "tasks": checked.tasks,
            "suites": data.get("suites") or {}}


def resolve_preset(config: dict, section: str, name: str, registry: dict) -> tuple[str, dict[str, Any]]:
    """(class, options) of preset ``name`` of ``section`` ("models" or "tasks")."""
    presets = config[section]
    if name not in presets and name in registry:  # a registered class is usable by its name, with its defaults
        return name, {}
    if name not in presets:
        raise ConfigError(f"unknown {section[:-1]} {name!r}; valid: {', '.join(sorted(set(presets) | set(registry)))}")
    options = copy.deepcopy(dict(presets[name] or {}))
    cls = options.pop("class", name)
    if cls not in registry:
        available = ", ".join(sorted(registry))
        raise ConfigError(f"{section[:-1]} {name!r} uses class {cls!r}, which is not implemented (implemented: {available})")
    return cls, options


def parse_overrides(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``["model.hidden_size=20", "train.lr=1e-3"]`` -> {"model": {...}, "task": {...}, "train": {...}}.
    Values are parsed as YAML scalars (numbers, text, and YAML 1.2 booleans: true or false, in any case)."""
    out: dict[str, dict[str, Any]] = {scope: {} for scope in SCOPES}
    for item in items or []:
        key, sep, value = item.partition("=")
        scope, dot, name = key.partition(".")
        if not sep or not dot or scope not in SCOPES or not name or "" in name.split("."):
            raise ConfigError(f"bad option {item!r}: expected SCOPE.NAME=VALUE with SCOPE one of {', '.join(SCOPES)}")
        if not value.strip():
            raise ConfigError(f"option {key} has no value ({item!r}); give {key}=VALUE")
        try:
            parsed = yaml_reader.load(value, f"option {key}")
        except yaml.YAMLError:
            parsed = value
        target = out[scope]
        *parents, leaf = name.split(".")
        for p in parents:  # e.g. train.inverse_temperature.every=100
            if not isinstance(target.setdefault(p, {}), dict):
                raise ConfigError(f"option {scope}.{p} is given both as a value and as a mapping ({item!r})")
            target = target[p]
        target[leaf] = parsed
    return out


def deep_merge(base: dict, extra: dict) -> dict:
    """``base`` with ``extra`` on top: mappings merged key by key, other values replaced (the one merge
    rule of every scope)."""
    merged = copy.deepcopy(base)
    for k, v in extra.items():
        merged[k] = deep_merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else copy.deepcopy(v)
    return merged


def split_names(text: str | list[str] | None) -> list[str]:
    if text is None:
        return []
    items = text if isinstance(text, list) else text.split(",")
    return [n.strip() for n in items if n and n.strip()]


def unique_names(names: list[str], what: str) -> list[str]:
    """``names`` without repeats (first kept), with a note on stderr for each repeat."""
    for name in sorted({n for n in names if names.count(n) > 1}):
        print(f"bench: note: {what} {name!r} given {names.count(name)} times; it runs once", file=sys.stderr)
    return list(dict.fromkeys(names))


def seed_list(first: int, count: int) -> list[int]:
    """Seeds ``first .. first + count - 1``, checked: at most MAX_SEEDS of them, each within MAX_SEED."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SEEDS:
        raise ConfigError(f"--seeds {count}: must be an integer from 1 to {MAX_SEEDS:,}")
    if isinstance(first, bool) or not isinstance(first, int) or not 0 <= first or first + count - 1 > MAX_SEED:
        raise ConfigError(f"--seed {first}: seeds must be integers from 0 to {MAX_SEED:,} (with --seeds {count}: "
                          f"--seed at most {MAX_SEED - count + 1:,})")
    return list(range(first, first + count))


def expand_runs(
    config: dict[str, Any],
    model_names: list[str],
    task_names: list[str],
    seeds: list[int],
    overrides: dict[str, dict[str, Any]] | None = None,
) -> list[RunSpec]:
    """The grid models x tasks x seeds, each with its resolved options (errors raised up front)."""
    from bench.plugins import plugins_of  # bench.plugins imports this module
    overrides = {scope: {} for scope in SCOPES} | (overrides or {})
    if not model_names:
        raise ConfigError(f"no model given; valid: {', '.join(sorted(config['models']))}")
    if not task_names:
        raise ConfigError(f"no task given; valid: {', '.join(sorted(config['tasks']))}")
    model_names, task_names = unique_names(model_names, "model"), unique_names(task_names, "task")
    defaults = TrainConfig.from_dict(config.get("training") or {})
    train = TrainConfig.from_dict(deep_merge(config.get("training") or {}, overrides["train"]))
    resolved_tasks = []
    for task_name in task_names:
        task_cls, task_opts = resolve_preset(config, "tasks", task_name, tasks.TASK_REGISTRY)
        task_opts = check_options(tasks.TASK_REGISTRY, "task", task_name, task_cls, deep_merge(task_opts, overrides["task"]))
        task = build(tasks.build_task, "task", task_name, task_cls, task_opts)
        check_train_options_read(train, defaults, task.trainer, task_name)
        resolved_tasks.append((task_name, task_cls, task_opts, task))
    specs = []
    for model_name in model_names:
        model_cls, model_opts = resolve_preset(config, "models", model_name, models.MODEL_REGISTRY)
        model_opts = deep_merge(model_opts, overrides["model"])
        for task_name, task_cls, task_opts, task in resolved_tasks:
            sized = {**model_opts, "input_size": task.input_size, "output_size": task.output_size}
            sized = check_model(model_name, model_cls, sized)
            plugins = plugins_of(model_cls, task_cls, sized)
            for seed in seeds:
                specs.append(RunSpec(model_name, model_cls, sized, task_name, task_cls, dict(task_opts), train, seed,
                                     plugins))
    return specs


def check_options(registry, kind: str, name: str, cls: str, options: dict[str, Any], scope: str = "") -> dict[str, Any]:
    """``options`` of preset ``name`` (class ``cls``) checked against the class's config dataclass and
    converted (numbers written as text made numbers, so rows and fingerprints hold numbers). ``scope``:
    where the options are written (default ``kind``: ``model.hidden_size``)."""
    config_class = registry[cls].config_class
    fields = [f.name for f in dataclasses.fields(config_class)]
    unknown = [k for k in options if k not in fields]
    if unknown:
        raise ConfigError(f"{kind} {name!r} has no option(s) {', '.join(unknown)} (= {_shown(options[unknown[0]])}); "
                          f"valid: {', '.join(sorted(fields))}")
    return checked_options(config_class, options, scope or kind)


def build(builder, kind: str, name: str, cls: str, options: dict[str, Any]):
    try:
        return builder(cls, **options)
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"{kind} {name!r}: {err}") from None


def _has_memory(config_class: type) -> bool:
    """Whether a model has an external memory: its config (not the shared ``ModelConfig``) declares
    the memory sizes, with its own defaults."""
    return any(MEMORY_OPTIONS[0] in vars(k).get("__annotations__", {})
               for k in config_class.__mro__ if k is not models.ModelConfig)


def check_model(name: str, cls: str, options: dict[str, Any]) -> dict[str, Any]:
    """A model's options checked without building its weights: types, memory options only for a model
    with a memory, the class's own ``validate``, and a size that fits (built on the meta device).
    Returns the options converted."""
    import torch

    registry = models.MODEL_REGISTRY
    options = check_options(registry, "model", name, cls, options)
    fields = {f.name: f for f in dataclasses.fields(registry[cls].config_class)}
    layer = options.get("layer", fields["layer"].default) if {"layer", "layer_options"} <= fields.keys() else None
    layer_options = options.get("layer_options", {})
    if layer in registry:  # a stack of another model's layers: the layers' options are checked as theirs
        options["layer_options"] = layer_options = check_options(registry, "layer", layer, layer, layer_options,
                                                                 "model.layer_options")
        memory_owner, owner = registry[layer].config_class, layer
    else:
        memory_owner, owner = registry[cls].config_class, cls
    given = {k: v for k in MEMORY_OPTIONS for v in (options.get(k), layer_options.get(k)) if v}
    if given and not _has_memory(memory_owner):
        option, value = next(iter(given.items()))
        raise ConfigError(f"model.{option}={value}: model {name!r} (class {owner}) has no memory; "
                          f"leave out {', '.join(MEMORY_OPTIONS)} for it")
    try:
        registry.make_config(cls, **options).validate()
        with torch.device("meta"):  # sizes only: nothing is allocated
            model = registry.build(cls, **options)
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"model {name!r}: {err}") from None
    numbers = sum(t.numel() for t in (*model.parameters(), *model.buffers()))
    if numbers > MAX_MODEL_NUMBERS:
        sizes = ", ".join(f"{k}={options[k]}" for k in ("hidden_size", *MEMORY_OPTIONS) if options.get(k))
        raise ConfigError(f"model {name!r} with {sizes} has {numbers:,} weights and buffers; "
                          f"at most {MAX_MODEL_NUMBERS:,} fit in memory (lower the sizes)")
    return options


def suite(config: dict[str, Any], name: str) -> dict[str, Any]:
    """A named suite from benchmarks.yaml: models, tasks, seeds and option overrides per scope."""
    suites = config.get("suites") or {}
    if name not in suites:
        raise ConfigError(f"unknown suite {name!r}; valid: {', '.join(sorted(suites)) or 'none defined'}")
    try:
        entry = Suite.model_validate(suites[name] or {})
    except ValidationError as err:
        raise ConfigError(f"suite {name!r}: {one_line(err)}") from None
    return {
        "models": entry.models,
        "tasks": entry.tasks,
        "seeds": entry.seeds,
        "vectorize_seeds": entry.vectorize_seeds,
        "overrides": {"model": entry.model, "task": entry.task, "train": entry.train},
    }


def merge_overrides(base: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Scope-wise deep merge; ``extra`` wins."""
    return {scope: deep_merge(base.get(scope, {}), extra.get(scope, {})) for scope in SCOPES}

