"""Measure training and inference speed (chars/s) and peak memory of models on the character-level
setup of the ARMIN paper's section 5: one row per (setup, model, mode) in OUT/profile.csv, column
meanings in OUT/PROFILE_COLUMNS.md.

Examples:
  bench profile --models lstm,ntm,tardis,awta,armin --hidden 100,200,400,800 --mode train,infer
  bench profile --profile figure3-cpu --out results/figure3-cpu && bench plot figure3 --in results/figure3-cpu
  bench profile --profile table4 --out results/table4 && bench report table4 --in results/table4
  bench profile --profile ci --out /tmp/ci && bench compare results/baselines/ci-profile.csv /tmp/ci

A profile (benchmarks.yaml, profiles:) supplies models, hidden sizes (memory 20 x d_h), TBPTT length,
batch size, modes, repeats; flags given here override it. Speeds are medians of interleaved rounds after
warm-up; every row carries its environment.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.commands._arguments import folder, integer
from bench.config import MAX_SIZE, ConfigError, load_config, parse_overrides

NAME = "profile"
HELP = "measure speed (chars/s) and peak memory per model and size (Figure 3, Table 4)"
DEFAULT_OUT = Path("results/profile")
MB = 2**20
MIN_VOCAB = 2  # a next-character task needs two characters at least
# upper bounds here; a 0 goes on to the profile's own check, which says what each value is for
MAX_STEPS = MAX_BATCH = 65_536  # one segment's time steps, sequences (their product is bounded by memory)
MAX_REPEATS = 10_000
MAX_THREADS = 1024
FLAGS = ("models", "hidden", "slots", "tbptt", "batch_size", "vocab", "modes", "repeats", "warmup", "max_step_time_s",
         "max_memory_gib")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", "-p", help="named profile in benchmarks.yaml (default figure3: T=150, batch 128)")
    parser.add_argument("--models", "-m", help="comma-separated model presets, e.g. lstm,armin")
    parser.add_argument("--hidden", help="comma-separated hidden sizes d_h, e.g. 100,200,400,800")
    parser.add_argument("--slots", help="comma-separated memory sizes N, e.g. 1024,16384: a scaling grid (default "
                        "profile then: scaling, the SAM paper's Figure 1 setup)")
    parser.add_argument("--max-step-time", dest="max_step_time_s", type=float, metavar="SECONDS",
                        help="skip a model at a size N where its step, extrapolated from smaller N, would take longer")
    parser.add_argument("--max-memory", dest="max_memory_gib", type=float, metavar="GIB",
                        help="skip a model at a size N where its memory, extrapolated from smaller N, would exceed this")
    parser.add_argument("--mode", dest="modes", help="train, infer or train,infer")
    parser.add_argument("--tbptt", type=integer(0, MAX_STEPS), help="time steps per segment (truncated BPTT length)")
    parser.add_argument("--batch-size", type=integer(0, MAX_BATCH), help="sequences per segment")
    parser.add_argument("--vocab", type=integer(MIN_VOCAB, MAX_SIZE), help="characters in the synthetic stream (default 50, as PTB)")
    parser.add_argument("--repeats", type=integer(0, MAX_REPEATS), help="timed steps per (model, mode); the median is reported")
    parser.add_argument("--warmup", type=integer(0, MAX_REPEATS), help="untimed steps first (peak memory is tracked over them)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: benchmarks.yaml training.device)")
    parser.add_argument("--threads", type=integer(0, MAX_THREADS), help="torch threads (default: benchmarks.yaml training.threads)")
    parser.add_argument("--set", "-s", dest="options", action="append", metavar="SCOPE.NAME=VALUE",
                        help="override a model or training option, e.g. model.layer_norm=true, train.optimizer=adam")
    parser.add_argument("--out", "-o", type=folder, default=DEFAULT_OUT, help=f"results folder (default {DEFAULT_OUT})")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar, only the summary")


def summary_table(rows: list[dict]) -> Table:
    import pandas as pd

    from bench.profile_engine import with_speed_ratios

    df = with_speed_ratios(pd.DataFrame(rows))
    table = Table(title="bench profile (chars/s = time steps x batch per second, median)")
    for header in ("setup", "model", "mode", "path", "chars/s", "x lstm", "peak MB", "exact bytes", "ops/t"):
        table.add_column(header, justify="left" if header in ("setup", "model", "mode", "path") else "right")
    for r in df.itertuples():
        if isinstance(getattr(r, "skipped", None), str):
            table.add_row(r.setup, r.model, r.mode, "skipped", "-", "-", "-", r.skipped, "-")
            continue
        ratio = "-" if pd.isna(r.speed_ratio) else f"{r.speed_ratio:.3f}"
        table.add_row(r.setup, r.model, r.mode, r.path, f"{r.chars_per_s:,.0f}", ratio,
                      f"{r.peak_memory_bytes / MB:,.1f}", f"{r.exact_memory_bytes:,}", f"{r.ops_per_time_step:,.1f}")
    return table


def main(args: argparse.Namespace, console: Console) -> int:
    import torch

    from bench.profile_engine import DEFAULT_PROFILE, SCALING_PROFILE, ProfileStore, build_request, run_profile

    config = load_config(args.config)
    overrides = parse_overrides(args.options)
    for name in ("device", "threads"):
        if getattr(args, name) is not None:
            overrides["train"][name] = getattr(args, name)
    if overrides["task"]:
        raise ConfigError("bench profile takes model.* and train.* options (the workload is the synthetic char stream)")
    profile = args.profile or (SCALING_PROFILE if args.slots else DEFAULT_PROFILE)  # --slots: Figure 1's setup
    request = build_request(config, profile, {f: getattr(args, f) for f in FLAGS}, overrides)
    device = torch.device(request.train.device)
    if request.train.threads:
        torch.set_num_threads(request.train.threads)
    store = ProfileStore(args.out)  # checks the folder is writable before any work
    console.print(f"[bold]profile {request.profile}[/]: {len(request.setups)} setup(s) x {', '.join(request.modes)} "
                  f"on {device}, {torch.get_num_threads()} thread(s) -> {store.path}")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                        TimeElapsedColumn(), console=console, disable=args.quiet)
    bar = progress.add_task("starting", total=request.steps)
    try:
        with progress:
            rows = run_profile(request, config, device, store.append,
                               lambda what, done: progress.update(bar, description=what, advance=done))
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: every finished group of setups is in {store.path}[/]")
        return 130
    console.print(summary_table(rows))
    console.print(f"profile: {store.path}")
    return 0
