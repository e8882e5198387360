"""Configuration: benchmarks.yaml (model presets, task presets, training defaults) plus command-line
overrides, expanded into one ``RunSpec`` per (model, task, seed).

Every problem with the configuration raises ``ConfigError`` with a one-line message saying what is
wrong and what is valid; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import models
import tasks
from models.registry import coerce_options

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "benchmarks.yaml"
SCOPES = ("model", "task", "train")  # prefixes of --set KEY=VALUE
# training options that do not change what a run learns (left out of the spec fingerprint)
RUN_LOCATION_OPTIONS = ("device", "threads", "inference_batches", "output_dir", "checkpoint_every", "generalization")
SUITE_KEYS = ("description", "models", "tasks", "seeds", "model", "task", "train")


class ConfigError(ValueError):
    """A user error in configuration or arguments (reported in one line, exit code 2)."""


@dataclass
class TemperatureSchedule:
    """Gumbel-softmax inverse temperature: start, +increment every `every` iterations, capped at max."""

    start: float = 1.0
    increment: float = 1.0
    every: int = 400
    max: float = 50.0

    def at(self, iteration: int) -> float:
        return min(self.max, self.start + self.increment * (iteration // self.every))


@dataclass
class TrainConfig:
    iterations: int = 100_000  # budget
    batch_size: int = 1
    optimizer: str = "rmsprop"  # rmsprop | adam
    lr: float = 1e-4
    alpha: float = 0.95  # RMSprop smoothing constant
    momentum: float = 0.9  # RMSprop momentum
    clip_value: float = 10.0  # gradient clipping by value; 0 disables
    val_every: int = 200
    val_batches: int = 10
    val_batch_size: int = 8
    solved_threshold: float = 0.01
    solved_window: int = 10
    solved_max_fraction_above: float = 0.3
    stop_when_solved: bool = True
    inverse_temperature: TemperatureSchedule = field(default_factory=TemperatureSchedule)
    inference_batches: int = 10
    device: str = "cpu"
    dtype: str = "float32"
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default (batch-1 CPU runs are fastest with 1)
    # --- epoch-based real-data tasks (the "stream" loop, bench/stream_trainer.py); the defaults change nothing else
    epochs: int = 0  # epoch budget; 0: none (the iteration budget alone ends the run)
    clip_norm: float = 0.0  # gradient clipping by global norm; 0 disables (the authors' pMNIST code clips by norm)
    lr_schedule: str = "constant"  # constant | plateau: x lr_decay after lr_patience epochs without a better
    #                                validation metric | step: x lr_decay every lr_step_epochs epochs
    lr_decay: float = 0.5
    lr_patience: int = 0
    lr_step_epochs: int = 1
    early_stopping_patience: int = 0  # stop after this many epochs without a better validation metric; 0: never
    temperature_unit: str = "iteration"  # what inverse_temperature.every counts: iteration | epoch
    test_every_epoch: bool = False  # also evaluate the test split after each epoch (in epochs.csv)
    output_dir: str = ""  # folder for checkpoints/ and epochs.csv; "" writes neither (bench run sets it to --out)
    checkpoint_every: int = 0  # iterations between mid-epoch checkpoints; 0: at the end of each epoch only
    generalization: bool = False  # after training, evaluate on 1x/2x/4x the training sizes -> OUT/generalization.csv

    OPTIMIZERS = ("rmsprop", "adam")
    DTYPES = ("float32", "float64")
    LR_SCHEDULES = ("constant", "plateau", "step")
    TEMPERATURE_UNITS = ("iteration", "epoch")

    def validate(self) -> None:
        positive = ("iterations", "batch_size", "val_every", "val_batches", "val_batch_size", "solved_window")
        for name in positive:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.threads < 0:
            raise ConfigError(f"train.threads must be >= 0, got {self.threads}")
        if self.inference_batches < 0:
            raise ConfigError(f"train.inference_batches must be >= 0, got {self.inference_batches}")
        if self.optimizer not in self.OPTIMIZERS:
            raise ConfigError(f"train.optimizer must be one of {', '.join(self.OPTIMIZERS)}, got {self.optimizer!r}")
        if self.dtype not in self.DTYPES:
            raise ConfigError(f"train.dtype must be one of {', '.join(self.DTYPES)}, got {self.dtype!r}")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if self.inverse_temperature.every < 1:
            raise ConfigError("train.inverse_temperature.every must be >= 1")
        for name in ("epochs", "lr_patience", "early_stopping_patience", "checkpoint_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be an integer >= 0, got {getattr(self, name)!r}")
        if not isinstance(self.lr_step_epochs, int) or self.lr_step_epochs < 1:
            raise ConfigError(f"train.lr_step_epochs must be a positive integer, got {self.lr_step_epochs!r}")
        if self.clip_norm < 0:
            raise ConfigError(f"train.clip_norm must be >= 0, got {self.clip_norm}")
        if self.lr_schedule not in self.LR_SCHEDULES:
            raise ConfigError(f"train.lr_schedule must be one of {', '.join(self.LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"train.lr_decay must be in (0, 1], got {self.lr_decay}")
        if self.temperature_unit not in self.TEMPERATURE_UNITS:
            raise ConfigError(f"train.temperature_unit must be one of {', '.join(self.TEMPERATURE_UNITS)}, "
                              f"got {self.temperature_unit!r}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"train.device must be cpu, cuda or cuda:N, got {self.device!r}")
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ConfigError(f"device {self.device!r} asked for, but torch sees no CUDA device; use --device cpu")

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> "TrainConfig":
        options = dict(options)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        schedule = options.pop("inverse_temperature", None) or {}
        if not isinstance(schedule, dict):
            raise ConfigError("train.inverse_temperature must be a mapping {start, increment, every, max}")
        try:
            options = coerce_options(cls, options, "train")
            schedule = coerce_options(TemperatureSchedule, schedule, "train.inverse_temperature")
            cfg = cls(**options, inverse_temperature=TemperatureSchedule(**schedule))
        except ValueError as err:
            raise ConfigError(str(err)) from None
        except TypeError as err:
            raise ConfigError(f"bad training option: {err}") from None
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.model, self.task, self.seed)

    @property
    def spec_hash(self) -> str:
        """Fingerprint of everything that defines the run's result (not where or how fast it runs):
        ``--resume`` skips a run only if a finished row has the same fingerprint."""
        train = {k: v for k, v in self.train.to_dict().items() if k not in RUN_LOCATION_OPTIONS}
        blob = json.dumps([self.model_class, self.model_options, self.task_class, self.task_options, train, self.seed],
                          sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    path = Path(path) if path else DEFAULT_CONFIG_PATH
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"malformed YAML in {path}{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping with sections models, tasks, training")
    for section in ("models", "tasks"):
        if not isinstance(data.get(section), dict) or not data[section]:
            raise ConfigError(f"{path}: section {section!r} is missing or empty")
    for section in ("training", "suites"):
        if not isinstance(data.get(section) or {}, dict):
            raise ConfigError(f"{path}: section {section!r} must be a mapping")
    return data


def _preset(config: dict, section: str, name: str, registry: dict) -> tuple[str, dict[str, Any]]:
    presets = config[section]
    if name not in presets:
        raise ConfigError(f"unknown {section[:-1]} {name!r}; valid: {', '.join(sorted(presets))}")
    options = dict(presets[name] or {})
    cls = options.pop("class", name)
    if cls not in registry:
        available = ", ".join(sorted(registry))
        raise ConfigError(f"{section[:-1]} {name!r} uses class {cls!r}, which is not implemented (implemented: {available})")
    return cls, options


def parse_overrides(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``["model.hidden_size=20", "train.lr=1e-3"]`` -> {"model": {...}, "task": {...}, "train": {...}}.
    Values are parsed as YAML scalars (numbers, booleans, strings)."""
    out: dict[str, dict[str, Any]] = {scope: {} for scope in SCOPES}
    for item in items or []:
        key, sep, value = item.partition("=")
        scope, dot, name = key.partition(".")
        if not sep or not dot or scope not in SCOPES or not name:
            raise ConfigError(f"bad option {item!r}: expected SCOPE.NAME=VALUE with SCOPE one of {', '.join(SCOPES)}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        target = out[scope]
        *parents, leaf = name.split(".")
        for p in parents:  # e.g. train.inverse_temperature.every=100
            target = target.setdefault(p, {})
        target[leaf] = parsed
    return out


def _deep_merge(base: dict, extra: dict) -> dict:
    merged = copy.deepcopy(base)
    for k, v in extra.items():
        merged[k] = _deep_merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


def split_names(text: str | list[str] | None) -> list[str]:
    if text is None:
        return []
    items = text if isinstance(text, list) else text.split(",")
    return [n.strip() for n in items if n and n.strip()]


def expand_runs(
    config: dict[str, Any],
    model_names: list[str],
    task_names: list[str],
    seeds: list[int],
    overrides: dict[str, dict[str, Any]] | None = None,
) -> list[RunSpec]:
    """The grid models x tasks x seeds, each with its resolved options (errors raised up front)."""
    overrides = overrides or {scope: {} for scope in SCOPES}
    if not model_names:
        raise ConfigError(f"no model given; valid: {', '.join(sorted(config['models']))}")
    if not task_names:
        raise ConfigError(f"no task given; valid: {', '.join(sorted(config['tasks']))}")
    train = TrainConfig.from_dict(_deep_merge(config.get("training") or {}, overrides["train"]))
    resolved_tasks = []
    for task_name in task_names:
        task_cls, task_opts = _preset(config, "tasks", task_name, tasks.TASK_REGISTRY)
        task_opts = _coerced(tasks.TASK_REGISTRY, "task", task_name, task_cls, {**task_opts, **overrides["task"]})
        task = _build(tasks.build_task, "task", task_name, task_cls, task_opts)
        resolved_tasks.append((task_name, task_cls, task_opts, task))
    specs = []
    for model_name in model_names:
        model_cls, model_opts = _preset(config, "models", model_name, models.MODEL_REGISTRY)
        model_opts = _coerced(models.MODEL_REGISTRY, "model", model_name, model_cls, {**model_opts, **overrides["model"]})
        for task_name, task_cls, task_opts, task in resolved_tasks:
            sized = {**model_opts, "input_size": task.input_size, "output_size": task.output_size}
            _check_model(model_name, model_cls, sized)
            for seed in seeds:
                specs.append(RunSpec(model_name, model_cls, sized, task_name, task_cls, dict(task_opts), train, seed))
    return specs


def _coerced(registry, kind: str, name: str, cls: str, options: dict[str, Any]) -> dict[str, Any]:
    """Options with numbers written as text (``1e-3``) made numbers, so rows and fingerprints hold numbers."""
    if cls not in registry:
        return options  # reported by the build that follows
    try:
        return coerce_options(registry[cls].config_class, options, kind)
    except ValueError as err:
        raise ConfigError(f"{kind} {name!r}: {err}") from None


def _build(builder, kind: str, name: str, cls: str, options: dict[str, Any]):
    try:
        return builder(cls, **options)
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"{kind} {name!r}: {err}") from None


def _check_model(name: str, cls: str, options: dict[str, Any]) -> None:
    """Validate a model's options without building its weights."""
    try:
        models.MODEL_REGISTRY.make_config(cls, **options).validate()
    except (ValueError, TypeError) as err:
        raise ConfigError(f"model {name!r}: {err}") from None


def suite(config: dict[str, Any], name: str) -> dict[str, Any]:
    """A named suite from benchmarks.yaml: models, tasks, seeds and option overrides per scope."""
    suites = config.get("suites") or {}
    if name not in suites:
        raise ConfigError(f"unknown suite {name!r}; valid: {', '.join(sorted(suites)) or 'none defined'}")
    entry = dict(suites[name] or {})
    unknown = sorted(set(entry) - set(SUITE_KEYS))
    if unknown:
        raise ConfigError(f"suite {name!r} has unknown key(s) {', '.join(unknown)}; valid: {', '.join(SUITE_KEYS)}")
    for scope in SCOPES:
        if not isinstance(entry.get(scope) or {}, dict):
            raise ConfigError(f"suite {name!r}: {scope!r} must be a mapping of options")
    return {
        "models": split_names(entry.get("models")),
        "tasks": split_names(entry.get("tasks")),
        "seeds": int(entry.get("seeds", 1)),
        "overrides": {scope: dict(entry.get(scope) or {}) for scope in SCOPES},
    }


def merge_overrides(base: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Scope-wise deep merge; ``extra`` wins."""
    return {scope: _deep_merge(base.get(scope, {}), extra.get(scope, {})) for scope in SCOPES}
