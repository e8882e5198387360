"""Show a trained model's memory at work: run it on a sample of its task and draw, per head, the
read and write weights over time and slots beside the input, the target and the output (as in the NTM
paper's copy figures); the weights also go to CSV.

Examples:
  bench run -m armin -t copy -n 2000 --keep-weights --out results/mine
  bench inspect armin-copy-s0 --in results/mine         # a run id (or its start) from runs.csv
  bench inspect results/mine/weights/RUN_ID.pt --sample-seed 3

Writes OUT/RUN_ID-memory.png and OUT/RUN_ID-weights.csv (step, kind, head, slot, weight; kinds:
write, read, and usage and allocation where the model has them). Inference mode unless --train-mode.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bench.commands._arguments import folder, integer

NAME = "inspect"
HELP = "draw a trained run's memory reads and writes per head (heatmaps + CSV)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="run id (or a unique start of one) from runs.csv, or a weights .pt file")
    parser.add_argument("--in", "-i", dest="inputs", action="append", type=Path,
                        help="results folder holding the run (repeatable; default results/)")
    parser.add_argument("--out", "-o", type=folder, help="folder for the figure and CSV (default: the run's folder "
                        "/inspect)")
    parser.add_argument("--sample-seed", type=integer(0, 2**31 - 1),
                        help="draw the sample with this seed (default: the task's longest sample)")
    parser.add_argument("--train-mode", action="store_true", help="training mode (sampled reads) instead of inference")


def main(args: argparse.Namespace, console: Console) -> int:
    from bench.inspect import draw, find_weights, inspect, load_trained, summary, write_csv

    path = find_weights(args.run, args.inputs or [Path("results")])
    saved, model, task = load_trained(path)
    result = inspect(model, task, saved["run_id"], args.sample_seed, args.train_mode)
    out = args.out or path.parent.parent / "inspect"
    out.mkdir(parents=True, exist_ok=True)
    figure, table = out / f"{saved['run_id']}-memory.png", out / f"{saved['run_id']}-weights.csv"
    sample = "longest sample" if args.sample_seed is None else f"sample seed {args.sample_seed}"
    draw(result, figure, f"{saved['model']} on {saved['task']} (run seed {saved['seed']}), {sample}")
    write_csv(result, table)
    for line in summary(result):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"figure: {figure}\nweights: {table}", highlight=False)
    return 0
