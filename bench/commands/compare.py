"""Compare a profile against a baseline and fail on regressions (the CI gate).

Rows are matched by model, setup and mode. Speed is compared as a ratio to the reference model
(LSTM) measured in the same run, setup and mode, so a machine that is uniformly faster or slower
cancels out; the reference model's own rows are therefore not speed-gated. Raw speeds (chars/s) are
compared only with --raw-speeds-same-machine, which says both profiles come from one machine (and is
refused when their machine columns differ). Which speed (--speed): ``best`` (default), the fastest timed step, since load on a shared machine
lengthens some steps; ``median``, the reported chars/s; ``cpu``, the least CPU time of the step's
thread, which other processes do not inflate: the steadiest on a shared CPU with 1 torch thread
(what CI uses), meaningless on a GPU. Memory is compared on
``exact_memory_bytes``, which is the same on every run of the same code and sizes. Operator counts
(``ops_forward``, ``ops_backward``, ``ops_optimizer``: ATen operators dispatched by one step, exact)
are gated at zero tolerance: any increase fails, until the baseline is regenerated with the change.
They depend on the torch version, so when the two sides were counted under different versions they
are not compared and a line says to re-baseline (not a failure); a baseline without counts likewise.
A baseline row with no match in CURRENT is a failure too (the gate must not pass by measuring less).

The gate never passes vacuously: a side with no rows, a missing or non-finite speed or memory value,
a limit that is not a finite number, or a reference model absent from a run, setup and mode of either
side is bad input (exit 2, one line naming it).

Exit code 0: no regression; 1: a row regressed (slower, more memory, more operators) or is missing (a
table says which); 2: bad input.

Examples:
  bench compare results/baselines/ci-profile.csv /tmp/ci --max-slowdown 10% --max-memory-growth 5%
  bench compare results/figure3/old results/figure3/new --max-slowdown 0.10
  bench compare before.csv after.csv --raw-speeds-same-machine   # both profiled on this machine
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from bench.config import ConfigError
from bench.profile_engine import REFERENCE_MODEL

NAME = "compare"
HELP = "compare a profile with a baseline; exit 1 on slowdowns or memory growth beyond the limits"
MEMORY_COLUMN = "exact_memory_bytes"
OPS_COLUMNS = ("ops_forward", "ops_backward", "ops_optimizer")  # exact operator counts per step, gated at zero
VERSION_COLUMN = "torch_version"  # operator counts are compared only under the same torch version
REBASELINE = "regenerate the baseline (results/baselines/README.md)"
SPEED_COLUMNS = {"best": "chars_per_s_best", "median": "chars_per_s", "cpu": "chars_per_cpu_s"}
OK, SLOWER, MORE_MEMORY, MORE_OPS, MISSING, NEW = "ok", "SLOWER", "MORE MEMORY", "MORE OPS", "MISSING", "new"  # all but ok/new fail
MACHINE_COLUMNS = ("hostname", "device_name", "cpu_model")  # raw speeds are compared only when these agree


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", type=Path, help="baseline profile.csv, or a folder holding one")
    parser.add_argument("current", type=Path, help="current profile.csv, or a folder holding one")
    parser.add_argument("--max-slowdown", default="10%", type=fraction,
                        help="largest allowed drop of the speed ratio to the reference, e.g. 10%% or 0.10 (default 10%%)")
    parser.add_argument("--max-memory-growth", default="5%", type=fraction,
                        help=f"largest allowed growth of {MEMORY_COLUMN}, e.g. 5%% or 0.05 (default 5%%)")
    parser.add_argument("--reference", default=REFERENCE_MODEL,
                        help=f"model that speeds are divided by; it must be in every run of both sides (default {REFERENCE_MODEL})")
    parser.add_argument("--raw-speeds-same-machine", action="store_true",
                        help="compare raw chars/s instead of ratios to the reference: only meaningful when both "
                        "profiles come from the same machine (refused when their machine columns differ)")
    parser.add_argument("--speed", choices=tuple(SPEED_COLUMNS), default="best",
                        help="which step time: best (fastest wall time, default), median, or cpu (least "
                        "thread CPU time: for CPU profiles with 1 thread on a shared machine)")


def fraction(text: str) -> float:
    """'10%' or '0.10' -> 0.10 (a bare number must be a fraction below 1; nan and inf are refused)."""
    text = str(text).strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage like 10% or a fraction like 0.10, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite percentage like 10% or fraction like 0.10, got {text!r}")
    if value < 0 or (value >= 1 and not text.endswith("%")):
        raise argparse.ArgumentTypeError(f"expected a percentage >= 0% or a fraction in [0, 1), got {text!r}")
    return value


def _row_name(row: dict) -> str:
    return " ".join(str(row[k]) for k in ("model", "setup", "mode"))


def comparable_rows(df: pd.DataFrame, side: str, reference: str, speed: str, raw_speeds: bool) -> pd.DataFrame:
    """The latest row per (model, setup, mode) of one side, with ``speed_ratio``; ConfigError (exit 2)
    when there is nothing to compare or a value the comparison needs is missing or not finite."""
    from bench.profile_engine import ROW_KEY, latest, with_speed_ratios

    missing = [c for c in ("timestamp", MEMORY_COLUMN, speed) if c not in df.columns]
    if missing:
        raise ConfigError(f"{side} profile has no {', '.join(missing)} column (made by an older bench profile?)")
    if df.empty:
        raise ConfigError(f"{side} profile has no rows to compare (header only?)")
    if not raw_speeds and not (df.model == reference).any():
        raise ConfigError(f"{side} profile has no row of the reference model {reference!r} (--reference); "
                          f"models there: {', '.join(sorted(map(str, df.model.unique())))}; compare raw speeds "
                          "only with --raw-speeds-same-machine")
    rows = latest(with_speed_ratios(df, reference, speed))
    for row in rows.to_dict("records"):
        for column in (speed, MEMORY_COLUMN):
            value = pd.to_numeric(row[column], errors="coerce")
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{side} profile: {column} of {_row_name(row)} is {row[column]!r}; "
                                  "expected a positive finite number")
        if not raw_speeds and not math.isfinite(row["speed_ratio"]):
            raise ConfigError(f"{side} profile: no {reference!r} row in the run, setup and mode of "
                              f"{_row_name(row)} to divide its speed by (--reference)")
    for column in OPS_COLUMNS:
        if column not in rows.columns:
            rows[column] = math.nan
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
    return rows[ROW_KEY + ["speed_ratio", speed, MEMORY_COLUMN, *OPS_COLUMNS]]


def operator_gate(baseline: pd.DataFrame, current: pd.DataFrame) -> str | None:
    """None when the two sides' operator counts can be compared; else why not (a line to print)."""
    if not any(c in baseline.columns and baseline[c].notna().any() for c in OPS_COLUMNS):
        return f"operator counts not compared: the baseline has none; {REBASELINE}"
    versions = []
    for df in (baseline, current):
        versions.append(sorted(map(str, df[VERSION_COLUMN].dropna().unique())) if VERSION_COLUMN in df.columns else [])
    if versions[0] != versions[1]:
        return (f"operator counts not compared: counted under torch {', '.join(versions[0]) or '?'} (baseline) and "
                f"{', '.join(versions[1]) or '?'} (current); {REBASELINE} under this torch")
    return None


def _ops(r: dict, side: str) -> float:
    values = [r[f"{c}_{side}"] for c in OPS_COLUMNS]
    return math.nan if all(pd.isna(v) for v in values) else sum(0 if pd.isna(v) else v for v in values)


def more_operators(r: dict) -> bool:
    """A phase of the row dispatches more operators than the baseline's, or has lost its count."""
    for c in OPS_COLUMNS:
        base, cur = r[f"{c}_base"], r[f"{c}_cur"]
        if not pd.isna(base) and (pd.isna(cur) or cur > base):
            return True
    return False


def check_same_machine(baseline: pd.DataFrame, current: pd.DataFrame) -> None:
    """Raw speeds need one machine: refuse when a machine column names different machines."""
    for column in MACHINE_COLUMNS:
        if column in baseline.columns and column in current.columns:
            base, cur = set(baseline[column].dropna().astype(str)), set(current[column].dropna().astype(str))
            if base and cur and base != cur:
                raise ConfigError(f"--raw-speeds-same-machine: the profiles come from different machines "
                                  f"({column} {', '.join(sorted(base))} vs {', '.join(sorted(cur))})")


def compare(baseline: pd.DataFrame, current: pd.DataFrame, max_slowdown: float, max_memory_growth: float,
            reference: str = REFERENCE_MODEL, speed: str = "chars_per_s_best", raw_speeds: bool = False) -> pd.DataFrame:
    """One row per (model, setup, mode) of either side: the speed basis, both speeds, the change,
    both memory figures, the change, and a verdict. Speeds are ratios to ``reference`` in the same
    run, or raw chars/s with ``raw_speeds`` (same machine only). ConfigError on anything that would let
    the gate pass without comparing (see comparable_rows)."""
    from bench.profile_engine import ROW_KEY

    for option, limit in (("--max-slowdown", max_slowdown), ("--max-memory-growth", max_memory_growth)):
        if not (math.isfinite(limit) and limit >= 0):
            raise ConfigError(f"{option} {limit!r}: expected a finite number >= 0")
    if raw_speeds:
        check_same_machine(baseline, current)
    sides = [comparable_rows(df, side, reference, speed, raw_speeds)
             for side, df in (("baseline", baseline), ("current", current))]
    ops_note = operator_gate(baseline, current)
    merged = sides[0].merge(sides[1], on=ROW_KEY, how="outer", suffixes=("_base", "_cur"), indicator=True)
    basis_column = speed if raw_speeds else "speed_ratio"
    rows = []
    for r in merged.to_dict("records"):
        base_speed, cur_speed = r[f"{basis_column}_base"], r[f"{basis_column}_cur"]
        both = r["_merge"] == "both"
        slowdown = 1 - cur_speed / base_speed if both else math.nan
        growth = r[f"{MEMORY_COLUMN}_cur"] / r[f"{MEMORY_COLUMN}_base"] - 1 if both else math.nan
        if r["_merge"] == "left_only":
            verdict = MISSING
        elif r["_merge"] == "right_only":
            verdict = NEW
        else:
            speed_gated = raw_speeds or r["model"] != reference  # the reference's own ratio is 1 by definition
            problems = [SLOWER] if speed_gated and slowdown > max_slowdown else []
            problems += [MORE_MEMORY] if growth > max_memory_growth else []
            problems += [MORE_OPS] if ops_note is None and more_operators(r) else []
            verdict = ", ".join(problems) or OK
        rows.append({**{k: r[k] for k in ROW_KEY}, "basis": "chars/s" if raw_speeds else f"x {reference}",
                     "speed_base": base_speed, "speed_cur": cur_speed, "slowdown": slowdown,
                     "memory_base": r[f"{MEMORY_COLUMN}_base"], "memory_cur": r[f"{MEMORY_COLUMN}_cur"],
                     "memory_growth": growth, "ops_base": _ops(r, "base"), "ops_cur": _ops(r, "cur"),
                     "verdict": verdict})
    result = pd.DataFrame(rows).sort_values(ROW_KEY, kind="stable").reset_index(drop=True)
    result.attrs["ops_note"] = ops_note
    return result


def _number(value: float, fmt: str) -> str:
    return "-" if pd.isna(value) else format(value, fmt)


def result_table(result: pd.DataFrame, max_slowdown: float, max_memory_growth: float) -> Table:
    table = Table(title=f"bench compare (limits: slowdown {max_slowdown:.0%}, memory growth {max_memory_growth:.0%})")
    for header in ("model", "setup", "mode", "speed basis", "baseline", "current", "slowdown",
                   "memory base", "memory now", "growth", "ops base", "ops now", "verdict"):
        table.add_column(header, justify="left" if header in ("model", "setup", "mode", "speed basis", "verdict") else "right")
    for r in result.itertuples():
        style = "bold red" if r.verdict not in (OK, NEW) else ""
        table.add_row(r.model, r.setup, r.mode, r.basis, _number(r.speed_base, ".4g"), _number(r.speed_cur, ".4g"),
                      _number(r.slowdown, "+.1%"), _number(r.memory_base, ",.0f"), _number(r.memory_cur, ",.0f"),
                      _number(r.memory_growth, "+.1%"), _number(r.ops_base, ",.0f"), _number(r.ops_cur, ",.0f"),
                      r.verdict, style=style)
    return table


def main(args: argparse.Namespace, console: Console) -> int:
    from bench.profile_engine import read_profiles

    baseline, current = read_profiles([args.baseline]), read_profiles([args.current])
    result = compare(baseline, current, args.max_slowdown, args.max_memory_growth, args.reference,
                     SPEED_COLUMNS[args.speed], args.raw_speeds_same_machine)
    console.print(result_table(result, args.max_slowdown, args.max_memory_growth))
    if result.attrs.get("ops_note"):
        console.print(f"[yellow]{result.attrs['ops_note']}[/]")
    fewer = result[(result.verdict == OK) & (result.ops_cur < result.ops_base)]
    if len(fewer):
        console.print(f"{len(fewer)} row(s) dispatch fewer operators than the baseline: {REBASELINE} to lock that in")
    failed = result[~result.verdict.isin((OK, NEW))]
    if len(failed):
        console.print(f"[bold red]{len(failed)} regression(s):[/] "
                      + "; ".join(f"{r.model} {r.setup} {r.mode}: {r.verdict}" for r in failed.itertuples()))
        return 1
    compared = int((result.verdict == OK).sum())
    console.print(f"[green]no regression[/] ({compared} row(s) compared)")
    return 0
