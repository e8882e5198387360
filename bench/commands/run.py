"""Train every MODEL on every TASK for every seed: one row per run in OUT/runs.csv, validation
curves in OUT/curves.csv, column meanings in OUT/COLUMNS.md.

Examples:
  bench run --models armin,lstm --task copy --iterations 2000
  bench run --suite table1-smoke --jobs 2
  bench run --suite table1 --seeds 3 --resume --out results/table1
  bench run -m armin -t copy -s model.hidden_size=50 -s train.lr=1e-3

A suite (benchmarks.yaml) supplies models, tasks, seeds and options; flags given here override it.
Run logs (full tracebacks of errors) go to OUT/logs/. One sweep at a time per OUT folder; Ctrl-C or
SIGTERM stop it cleanly (exit 130 / 143), and --resume continues any stopped sweep. See the README,
"What survives what".
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.config import (
    MAX_SEED,
    MAX_SEEDS,
    ConfigError,
    RunSpec,
    expand_runs,
    load_config,
    merge_overrides,
    parse_overrides,
    seed_list,
    split_names,
    suite,
)
from bench.commands._arguments import folder, integer
from bench.summary import ESTIMATE_ABOVE_S, duration, estimate_line, remaining_s, summary_table, sweep_remaining_s
from tasks.data import DATA_ENV

NAME = "run"
HELP = "train models on tasks and write results CSVs"
DEFAULT_OUT = Path("results")
LOG_HEARTBEAT_S = 60.0  # in a log file (no live bars), the longest silence of a running run
FLAG_TO_TRAIN_OPTION = ("iterations", "batch_size", "val_every", "device", "dtype")


def add_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--suite", help="named suite from benchmarks.yaml (e.g. table1, table1-smoke)")
    run.add_argument("--models", "-m", help="comma-separated model presets, e.g. armin,lstm")
    run.add_argument("--task", "--tasks", "-t", dest="tasks", help="comma-separated task presets, e.g. copy")
    run.add_argument("--iterations", "-n", type=int, help="iteration budget per run (default from benchmarks.yaml)")
    run.add_argument("--seeds", type=integer(1, MAX_SEEDS), help="number of seeds per (model, task) (default 1, or the suite's)")
    run.add_argument("--seed", type=integer(0, MAX_SEED), default=0, help="first seed (default 0); seeds are SEED..SEED+N-1")
    run.add_argument("--batch-size", type=int, help="training batch size (default 1, as the paper)")
    run.add_argument("--val-every", type=int, help="validate every K iterations")
    run.add_argument("--device", help="cpu, cuda or cuda:N")
    run.add_argument("--dtype", choices=("float32", "float64"), help="parameter and data precision")
    run.add_argument("--out", "-o", type=folder, default=DEFAULT_OUT, help="results folder (default results/)")
    run.add_argument("--jobs", "-j", type=int, default=1, help="runs in parallel processes (threads split between them)")
    run.add_argument("--resume", action="store_true",
                     help="continue a stopped sweep: runs with a finished row in OUT/runs.csv are skipped, stopped runs "
                     "continue from their checkpoints, and rows that repeat a run are moved to OUT/runs-duplicates.csv")
    run.add_argument("--rerun", action="store_true",
                     help="train runs that already have a finished row in OUT/runs.csv again (their new row is the one "
                     "reports count); without it they are skipped")
    run.add_argument("--executor", choices=("local", "ray"), default="local",
                     help="where runs execute: local (this machine, default) or ray (a Ray cluster; pip install -e '.[ray]')")
    run.add_argument("--address", help="with --executor ray: the cluster to join (auto, or HOST:PORT); "
                     "default: start a local Ray instance for this command")
    run.add_argument("--vectorize-seeds", action=argparse.BooleanOptionalAction, default=None,
                     help="train the seeds of each model/task/options as one computation, each seed its own run "
                          "(docs/seed-groups.md); default: the suite's vectorize_seeds (off without a suite)")
    run.add_argument(
        "--set", "-s", dest="options", action="append", metavar="SCOPE.NAME=VALUE",
        help="override any option: model.hidden_size=50, task.max_length=5, train.lr=1e-3, "
        "train.inverse_temperature.every=100 (repeatable)",
    )
    run.add_argument("--keep-weights", action="store_true",
                     help="keep each run's final weights in OUT/weights/RUN_ID.pt, for bench inspect "
                     "(default: no run keeps them, solved or not)")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bars, only the summary")
    run.add_argument("--data-dir", type=Path, help="folder searched first for datasets (sets $MANNBENCH_DATA; see bench data)")


def specs_from_args(args: argparse.Namespace, config: dict[str, Any]) -> list[RunSpec]:
    """The run grid: the suite (if any), then flags and --set on top."""
    if args.suite:
        base = suite(config, args.suite)
    else:
        if not args.models or not args.tasks:
            raise ConfigError("give --models and --task, or --suite (see bench list)")
        base = {"models": [], "tasks": [], "seeds": 1, "overrides": {}}
    overrides = merge_overrides(base["overrides"], parse_overrides(args.options))
    for flag in FLAG_TO_TRAIN_OPTION:
        value = getattr(args, flag)
        if value is not None:
            overrides["train"][flag] = value
    if getattr(args, "out", None) is not None:  # checkpoints and epochs.csv of epoch-based tasks go beside the CSVs
        overrides["train"].setdefault("output_dir", str(args.out))
    if getattr(args, "data_dir", None) is not None:  # read by tasks/data.py, here and in --jobs workers
        os.environ[DATA_ENV] = str(args.data_dir)
    n_seeds = args.seeds if args.seeds is not None else base["seeds"]
    seeds = seed_list(args.seed, n_seeds)
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    model_names = split_names(args.models) or base["models"]
    task_names = split_names(args.tasks) or base["tasks"]
    return expand_runs(config, model_names, task_names, seeds, overrides)


def vectorize_seeds(args: argparse.Namespace, config: dict[str, Any]) -> bool:
    """--vectorize-seeds / --no-vectorize-seeds, else the suite's ``vectorize_seeds``."""
    if args.vectorize_seeds is not None:
        return args.vectorize_seeds
    return bool(args.suite) and suite(config, args.suite)["vectorize_seeds"]


NEXT = (("report", "html", "a page with every table and figure"), ("report", "table1", "Table 1 beside the paper's"),
        ("plot", "figure2", "validation curves"), ("plot", "solve-curves", "share of seeds solved over iterations"))


def next_commands(out: Path) -> str:
    """What to run next on these results (the reports and plots this install has)."""
    from bench.plots import PLOTS
    from bench.reports import REPORTS

    registries = {"report": REPORTS, "plot": PLOTS}
    lines = [f"  bench {kind} {name} --in {out}  # {what}" for kind, name, what in NEXT if name in registries[kind]]
    return "next (written to reports/):\n" + "\n".join(lines)


def main(args: argparse.Namespace, console: Console) -> int:
    if args.resume and getattr(args, "rerun", False):
        raise ConfigError("--resume skips finished runs and --rerun trains them again: give one of them")
    config = load_config(args.config)  # first: a bad file is refused before the heavy imports below
    specs = specs_from_args(args, config)
    from bench.execution.sweep import make_executor  # torch-heavy imports only when running
    from bench.store import ResultsStore

    executor_name, address = getattr(args, "executor", "local"), getattr(args, "address", None)
    if address and executor_name != "ray":
        raise ConfigError(f"--address {address} needs --executor ray")
    executor = make_executor(executor_name, args.jobs, address)
    if vectorize_seeds(args, config):  # the seeds of each group trained together, in this process
        from bench.execution.groups import SeedGroupExecutor

        executor = SeedGroupExecutor(executor)
    with ResultsStore(args.out) as store:  # the folder lock: a second sweep on this folder is refused here
        return _sweep(args, console, specs, store, executor)


def _sweep(args, console: Console, specs: list[RunSpec], store, executor) -> int:
    """The sweep inside the folder lock: skip finished runs (--resume), run the rest, summarise."""
    from bench.execution.sweep import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, run_sweep, sigterm_stops
    from bench.store import DUPLICATES, StoreError, finished_spec_hashes

    if args.resume:
        moved, runs = store.remove_duplicate_runs()
        if moved:
            console.print(f"--resume: {moved} duplicate row(s) of {runs} run(s) moved from {store.runs_path} to "
                          f"{store.out_dir / DUPLICATES}", markup=False, highlight=False)
    rerun = getattr(args, "rerun", False)
    if not rerun:  # a finished run is not trained again, and not recorded twice
        done = finished_spec_hashes(args.out)
        skipped = [s for s in specs if s.spec_hash in done]
        specs = [s for s in specs if s.spec_hash not in done]
        if args.resume:
            console.print(f"--resume: {len(skipped)} finished run(s) skipped")
        elif skipped:
            console.print(f"{len(skipped)} run(s) already finished in {store.runs_path}: not run again, nothing "
                          f"added for them (--rerun trains them again)", markup=False, highlight=False)
    console.print(f"[bold]{len(specs)} run(s)[/] x jobs={args.jobs} -> {escape(str(store.runs_path))}")
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(bar_width=10), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, disable=args.quiet,
    )
    overall = progress.add_task("[bold]runs done", total=len(specs), info="")
    bars: dict[tuple, Any] = {}
    started: dict[tuple, float] = {}
    first_progress: dict[tuple, tuple[float, int]] = {}  # run -> (time, iteration) of its first progress event
    in_flight: dict[tuple, tuple[int, float]] = {}  # run -> (iteration, it/s)
    unfinished = {spec.key: spec.train.iterations for spec in specs}  # run -> iteration budget
    estimated: list[bool] = []  # the estimate line is printed once
    last_line: dict[tuple, float] = {}  # when each run last printed a line (log-file mode)
    log_validations = not args.quiet and not console.is_terminal  # no live bars in a log file: a line per validation

    def label(spec: RunSpec) -> str:
        return f"{spec.model}/{spec.task}/s{spec.seed}"

    def update_overall() -> None:
        left = sweep_remaining_s(unfinished.values(), in_flight, args.jobs)
        progress.update(overall, info="" if left is None else f"~{duration(left)} left")

    def maybe_estimate(spec: RunSpec, iteration: int, rate: float) -> None:
        """One line before a long sweep goes on: its estimated time from the first iterations' speed."""
        first_time, first_iteration = first_progress[spec.key]
        if estimated or rate <= 0 or (iteration - first_iteration < 200 and time.perf_counter() - first_time < 10.0):
            return  # timed over 200 iterations or 10 s
        estimated.append(True)
        left = sweep_remaining_s(unfinished.values(), in_flight, args.jobs)
        if left is not None and left > ESTIMATE_ABOVE_S:
            console.print(estimate_line(left, len(unfinished), max(unfinished.values()), rate, args.jobs), highlight=False)

    def on_event(kind: str, spec: RunSpec, *data: Any) -> None:
        if kind == "start":
            started[spec.key] = time.perf_counter()
            bars[spec.key] = progress.add_task(label(spec), total=spec.train.iterations, info="")
        elif kind == "progress":
            iteration, loss = data
            now = time.perf_counter()
            first = first_progress.setdefault(spec.key, (now, iteration))  # speed from here: set-up excluded
            rate = (iteration - first[1]) / (now - first[0]) if now - first[0] > 0.5 else 0.0
            if rate > 0:
                in_flight[spec.key] = (iteration, rate)
            left = remaining_s(iteration, spec.train.iterations, rate)
            progress.update(bars[spec.key], completed=iteration, info=f"loss {loss:.4f}" + (
                "" if left is None else f" {rate:.0f} it/s ~{duration(left)} left"))
            maybe_estimate(spec, iteration, rate)
            update_overall()
            if log_validations and time.perf_counter() - last_line.get(spec.key, started[spec.key]) >= LOG_HEARTBEAT_S:
                last_line[spec.key] = time.perf_counter()  # long epochs: a line now and then between validations
                console.print(f"{label(spec)} it {iteration}/{spec.train.iterations} loss {loss:.4f} {rate:.1f} it/s"
                              + ("" if left is None else f", ~{duration(left)} left"), highlight=False)
        elif kind == "validation" and log_validations:
            point = data[0]
            last_line[spec.key] = time.perf_counter()
            console.print(f"{label(spec)} it {point.iteration} val_loss {point.val_loss:.4f} "
                          f"train_loss {point.train_loss:.4f} train {point.train_time_s:.0f}s", highlight=False)
        elif kind == "done":
            row = data[0]
            in_flight.pop(spec.key, None)
            unfinished.pop(spec.key, None)
            if spec.key in bars:  # shown, not markup
                progress.update(bars[spec.key], description=escape(f"{label(spec)} [{row.get('status')}]"), info="")
            progress.advance(overall)
            update_overall()
            if row.get("status") == "error":
                console.print(f"[red]{escape(label(spec))}: {escape(str(row.get('error')))}[/]", highlight=False)

    rows: list[dict[str, Any]] = []
    resume = "rerun the same command with --resume to run the rest" if not args.resume else "rerun the same command to run the rest"
    try:
        with progress, sigterm_stops():
            rows = run_sweep(specs, store, executor, on_event, jobs=args.jobs,
                             keep_weights=getattr(args, "keep_weights", False))
    except (KeyboardInterrupt, Terminated) as stop:
        signal_name = "SIGTERM" if isinstance(stop, Terminated) else "Ctrl-C"
        console.print(f"[yellow]stopped by {signal_name}: every finished run is in {escape(str(store.runs_path))}; the runs in flight "
                      f"were not recorded; {resume}[/]")
        return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    except StoreError as err:
        print(f"bench: error: {err}; {resume}", file=sys.stderr)
        return 1
    console.print(summary_table(rows, console.width))
    console.print(f"runs: {store.runs_path}  curves: {store.curves_path}", markup=False)
    console.print(next_commands(args.out), markup=False, highlight=False, soft_wrap=True)  # commands whole, to copy
    failed = [r for r in rows if r.get("status") == "error"]
    for row in failed:
        text = f"error: {row.get('model')}/{row.get('task')}/s{row.get('seed')}: {row.get('error')} (log: {row.get('log')})"
        console.print(f"[red]{escape(text)}[/]", highlight=False)  # the error's own brackets printed as they are
    return 1 if failed else 0
