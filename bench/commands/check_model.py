"""Check that a model keeps the harness's contract: one line per check, exit 1 if any fails.

Examples:
  bench check-model armin
  bench check-model mygru --plugin mygru.py
  bench check-model armin-code -s model.hidden_size=20

NAME is a model preset (benchmarks.yaml, or your --config) or a registered model class (used with its
config's defaults). The checks (bench/conformance.py): the step loop equals forward; state is not kept
on the module; batch rows are independent; a seed determines weights and outputs; every parameter
receives a gradient; detach_state cuts the graph; train and eval agree where the model says they do;
whether seeds can be vectorized; outputs stay finite on a long sequence; the parameter count.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from bench.commands._arguments import integer
from bench.config import ConfigError, check_model, load_config, parse_overrides, resolve_preset

NAME = "check-model"
HELP = "check that a model keeps the interface's contract (one line per check)"
INPUT_SIZE, OUTPUT_SIZE = 6, 5  # the model's widths when no --task gives them


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="model preset or registered model name")
    parser.add_argument("--task", "-t", help="task preset whose input and output widths the model gets "
                        f"(default: {INPUT_SIZE} in, {OUTPUT_SIZE} out)")
    parser.add_argument("--set", "-s", dest="options", action="append", metavar="model.NAME=VALUE",
                        help="override a model option (repeatable)")
    parser.add_argument("--long-steps", type=integer(1, 1_000_000), default=1000,
                        help="length of the long sequence (default 1000)")


def builder(config: dict, name: str, options: list[str] | None, task: str | None):
    """A function building the model as ``bench run`` would (options checked the same way)."""
    import models
    import tasks

    overrides = parse_overrides(options)
    if overrides["task"] or overrides["train"]:
        raise ConfigError("check-model takes model options only (--set model.NAME=VALUE)")
    model_cls, model_opts = resolve_preset(config, "models", name, models.MODEL_REGISTRY)
    sizes = {"input_size": INPUT_SIZE, "output_size": OUTPUT_SIZE}
    if task:
        task_cls, task_opts = resolve_preset(config, "tasks", task, tasks.TASK_REGISTRY)
        built = tasks.build_task(task_cls, **task_opts)
        sizes = {"input_size": built.input_size, "output_size": built.output_size}
    from bench.config import deep_merge

    checked = check_model(name, model_cls, {**deep_merge(model_opts, overrides["model"]), **sizes})
    return lambda: models.build_model(model_cls, **checked)


def main(args: argparse.Namespace, console: Console) -> int:
    from bench.conformance import run_checks

    build = builder(load_config(args.config), args.name, args.options, args.task)
    checks = run_checks(build, args.long_steps)
    for check in checks:
        print(check.line())
    failed = [c for c in checks if c.passed is False]
    print(f"{args.name}: {len(failed)} of {len(checks)} checks failed" if failed
          else f"{args.name}: keeps the contract ({sum(c.passed is True for c in checks)} passed, "
               f"{sum(c.passed is None for c in checks)} not applicable)")
    return 1 if failed else 0
