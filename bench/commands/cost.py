"""Profile the per-iteration training cost of each model on each task of some runs, alone on this machine,
so that Table 1 can give minutes that compare across models (iterations x this cost).

Examples:
  bench cost --in results/table1-seeds                    # writes results/table1-seeds/iteration_cost.csv
  bench cost --in results/a --in results/b --out results/a --rounds 5

`bench report table1` (and `bench report html`) read iteration_cost.csv from any input folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.commands._arguments import folder, integer
from bench.config import ConfigError
from bench.iteration_cost import DEFAULT_ROUNDS, FILENAME, measure
from bench.reports import read_csvs, show_table
from bench.status import FINISHED

NAME = "cost"
HELP = "profile each model's per-iteration training cost on its tasks, alone (for comparable minutes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in", "-i", dest="inputs", action="append", type=Path, required=True,
                        help="results folder whose runs name the (model, task) pairs (repeatable)")
    parser.add_argument("--out", "-o", type=folder, help=f"folder for {FILENAME} (default: the first input folder)")
    parser.add_argument("--rounds", type=integer(1, 100), default=DEFAULT_ROUNDS,
                        help=f"timed rounds per (model, task) (default {DEFAULT_ROUNDS})")


def main(args: argparse.Namespace, console: Console) -> int:
    runs = read_csvs(args.inputs, "runs.csv")
    runs = runs[runs.status.isin(FINISHED)]
    if runs.empty:
        raise ConfigError("no finished runs in the given results")
    costs = measure(runs, rounds=args.rounds, console=console)
    out = args.out or (args.inputs[0] if args.inputs[0].suffix != ".csv" else args.inputs[0].parent)
    out.mkdir(parents=True, exist_ok=True)
    costs.to_csv(out / FILENAME, index=False)
    shown = costs[["model", "task", "seconds_per_iteration"]].assign(
        ms_per_iteration=(costs.seconds_per_iteration * 1000).round(1)).drop(columns="seconds_per_iteration")
    show_table(console, shown, "Training cost per iteration, profiled alone (thread CPU time, 1 thread)")
    console.print(f"wrote {out / FILENAME}")
    return 0
