"""Compare a profile against a baseline and fail on regressions (the CI gate).

Rows are matched by model, setup and mode. Speed is compared as a ratio to the reference model
(LSTM) measured in the same run, setup and mode, so a machine that is uniformly faster or slower
cancels out; the reference model's own rows are therefore not speed-gated. Which speed (--speed): ``best`` (default), the fastest timed step, since load on a shared machine
lengthens some steps; ``median``, the reported chars/s; ``cpu``, the least CPU time of the step's
thread, which other processes do not inflate: the steadiest on a shared CPU with 1 torch thread
(what CI uses), meaningless on a GPU. Memory is compared on
``exact_memory_bytes``, which is the same on every run of the same code and sizes. A baseline row
with no match in CURRENT is a failure too (the gate must not pass by measuring less).

Exit code 0: no regression; 1: a row regressed or is missing (a table says which); 2: bad input.

Examples:
  bench compare results/baselines/ci-profile.csv /tmp/ci --max-slowdown 10% --max-memory-growth 5%
  bench compare results/figure3/old results/figure3/new --max-slowdown 0.10
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from bench.config import ConfigError

NAME = "compare"
HELP = "compare a profile with a baseline; exit 1 on slowdowns or memory growth beyond the limits"
MEMORY_COLUMN = "exact_memory_bytes"
SPEED_COLUMNS = {"best": "chars_per_s_best", "median": "chars_per_s", "cpu": "chars_per_cpu_s"}
OK, SLOWER, MORE_MEMORY, MISSING, NEW = "ok", "SLOWER", "MORE MEMORY", "MISSING", "new"  # all but ok/new fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", type=Path, help="baseline profile.csv, or a folder holding one")
    parser.add_argument("current", type=Path, help="current profile.csv, or a folder holding one")
    parser.add_argument("--max-slowdown", default="10%", type=fraction,
                        help="largest allowed drop of the speed ratio to the reference, e.g. 10%% or 0.10 (default 10%%)")
    parser.add_argument("--max-memory-growth", default="5%", type=fraction,
                        help=f"largest allowed growth of {MEMORY_COLUMN}, e.g. 5%% or 0.05 (default 5%%)")
    parser.add_argument("--reference", default=None, help="model that speeds are divided by (default lstm)")
    parser.add_argument("--speed", choices=tuple(SPEED_COLUMNS), default="best",
                        help="which step time: best (fastest wall time, default), median, or cpu (least "
                        "thread CPU time: for CPU profiles with 1 thread on a shared machine)")


def fraction(text: str) -> float:
    """'10%' or '0.10' -> 0.10 (a bare number must be a fraction below 1)."""
    text = str(text).strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage like 10% or a fraction like 0.10, got {text!r}") from None
    if value < 0 or (value >= 1 and not text.endswith("%")):
        raise argparse.ArgumentTypeError(f"expected a percentage >= 0% or a fraction in [0, 1), got {text!r}")
    return value


def compare(baseline: pd.DataFrame, current: pd.DataFrame, max_slowdown: float, max_memory_growth: float,
            reference: str, speed: str = "chars_per_s_best") -> pd.DataFrame:
    """One row per (model, setup, mode) of either side: the speed basis, both speeds, the change,
    both memory figures, the change, and a verdict."""
    from bench.profiling import ROW_KEY, latest, with_speed_ratios

    sides = []
    for df in (baseline, current):
        df = latest(with_speed_ratios(df, reference, speed))
        sides.append(df[ROW_KEY + ["speed_ratio", speed, MEMORY_COLUMN]])
    merged = sides[0].merge(sides[1], on=ROW_KEY, how="outer", suffixes=("_base", "_cur"), indicator=True)
    rows = []
    for r in merged.to_dict("records"):
        ratios = (r["speed_ratio_base"], r["speed_ratio_cur"])
        by_ratio = not any(pd.isna(x) for x in ratios)
        base_speed, cur_speed = ratios if by_ratio else (r[f"{speed}_base"], r[f"{speed}_cur"])
        slowdown = 1 - cur_speed / base_speed if r["_merge"] == "both" else math.nan
        growth = r[f"{MEMORY_COLUMN}_cur"] / r[f"{MEMORY_COLUMN}_base"] - 1 if r["_merge"] == "both" else math.nan
        if r["_merge"] == "left_only":
            verdict = MISSING
        elif r["_merge"] == "right_only":
            verdict = NEW
        else:
            problems = [SLOWER] if slowdown > max_slowdown and r["model"] != reference else []
            problems += [MORE_MEMORY] if growth > max_memory_growth else []
            verdict = ", ".join(problems) or OK
        rows.append({**{k: r[k] for k in ROW_KEY}, "basis": f"x {reference}" if by_ratio else "chars/s",
                     "speed_base": base_speed, "speed_cur": cur_speed, "slowdown": slowdown,
                     "memory_base": r[f"{MEMORY_COLUMN}_base"], "memory_cur": r[f"{MEMORY_COLUMN}_cur"],
                     "memory_growth": growth, "verdict": verdict})
    return pd.DataFrame(rows).sort_values(ROW_KEY, kind="stable").reset_index(drop=True)


def _number(value: float, fmt: str) -> str:
    return "-" if pd.isna(value) else format(value, fmt)


def result_table(result: pd.DataFrame, max_slowdown: float, max_memory_growth: float) -> Table:
    table = Table(title=f"bench compare (limits: slowdown {max_slowdown:.0%}, memory growth {max_memory_growth:.0%})")
    for header in ("model", "setup", "mode", "speed basis", "baseline", "current", "slowdown",
                   "memory base", "memory now", "growth", "verdict"):
        table.add_column(header, justify="left" if header in ("model", "setup", "mode", "speed basis", "verdict") else "right")
    for r in result.itertuples():
        style = "bold red" if r.verdict not in (OK, NEW) else ""
        table.add_row(r.model, r.setup, r.mode, r.basis, _number(r.speed_base, ".4g"), _number(r.speed_cur, ".4g"),
                      _number(r.slowdown, "+.1%"), _number(r.memory_base, ",.0f"), _number(r.memory_cur, ",.0f"),
                      _number(r.memory_growth, "+.1%"), r.verdict, style=style)
    return table


def main(args: argparse.Namespace, console: Console) -> int:
    from bench.profiling import REFERENCE_MODEL, read_profiles

    baseline, current = read_profiles([args.baseline]), read_profiles([args.current])
    speed = SPEED_COLUMNS[args.speed]
    for name, df in (("baseline", baseline), ("current", current)):
        missing = [c for c in (MEMORY_COLUMN, speed) if c not in df.columns]
        if missing:
            raise ConfigError(f"{name} profile has no {', '.join(missing)} column (made by an older bench profile?)")
    result = compare(baseline, current, args.max_slowdown, args.max_memory_growth, args.reference or REFERENCE_MODEL, speed)
    console.print(result_table(result, args.max_slowdown, args.max_memory_growth))
    failed = result[~result.verdict.isin((OK, NEW))]
    if len(failed):
        console.print(f"[bold red]{len(failed)} regression(s):[/] "
                      + "; ".join(f"{r.model} {r.setup} {r.mode}: {r.verdict}" for r in failed.itertuples()))
        return 1
    console.print(f"[green]no regression[/] ({len(result)} row(s) compared)")
    return 0
