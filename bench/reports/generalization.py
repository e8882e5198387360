"""Generalisation report: per model, task and setting (1x, 2x, 4x the training maximum), the mean BCE
and bit errors per sequence over the runs evaluated after training (OUT/generalization.csv, written by
``bench run -s train.generalization=true``; bench/generalisation.py). Solved and unsolved runs are never
averaged together: by default only the runs that solved are shown (an unsolved run's errors say
nothing of how a solution generalises); ``--all-runs`` shows the unsolved runs too, as their own rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console

from bench.config import ConfigError
from bench.generalisation import BCE, BIT_ERRORS, FILENAME
from bench.reports import read_csvs, register_report, show_table, write_table
from bench.reports.render import options

KEY = ["model", "outcome", "task", "parameter", "parameter_value", "scale"]
SOLVED, UNSOLVED = "solved", "unsolved"


def read_generalization(inputs: list[Path]) -> pd.DataFrame:
    """generalization.csv rows with the status and model label of their run (from runs.csv); rows of
    failed evaluations and rows without a number are left out."""
    rows = read_csvs(inputs, FILENAME)
    runs = read_csvs(inputs, "runs.csv")
    rows["value"] = pd.to_numeric(rows.get("value"), errors="coerce")
    rows = rows[rows.metric.isin((BCE, BIT_ERRORS)) & rows.value.notna()].copy()
    by_run = runs.drop_duplicates("run_id", keep="last").set_index("run_id")
    rows = rows[rows.run_id.isin(by_run.index)]
    rows["model"] = rows.run_id.map(by_run.model)  # configurations told apart, as in the other reports
    rows["status"] = rows.run_id.map(by_run.status)
    rows["outcome"] = rows.status.map(lambda s: SOLVED if s == SOLVED else UNSOLVED)
    if rows.empty:
        raise ConfigError(f"no generalisation rows of finished runs in {', '.join(map(str, inputs))}")
    return rows


def select_runs(rows: pd.DataFrame, all_runs: bool) -> pd.DataFrame:
    """The solved runs' rows, or with ``all_runs`` every row (each keeps its outcome column)."""
    return rows if all_runs else rows[rows.outcome == SOLVED]


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per model, task and setting: runs, how many had solved, mean and range of each metric."""
    out = []
    for key, group in rows.groupby(KEY, sort=True):
        runs = group.drop_duplicates("run_id")
        row = dict(zip(KEY, key))
        row.update(runs=len(runs),
                   presentation_steps=int(runs.presentation_steps.max()),
                   memory_slots=int(runs.memory_slots.max()), memory_holds=",".join(sorted(set(runs.memory_holds.dropna().astype(str)))))
        for metric in (BCE, BIT_ERRORS):
            values = group[group.metric == metric].value
            row.update({f"{metric}_mean": values.mean(), f"{metric}_min": values.min(), f"{metric}_max": values.max()})
        out.append(row)
    return pd.DataFrame(out)


def _cell(r, metric: str, fmt: str) -> str:
    mean, low, high = r[f"{metric}_mean"], r[f"{metric}_min"], r[f"{metric}_max"]
    spread = f" ({low:{fmt}}-{high:{fmt}})" if r.runs > 1 else ""
    return f"{mean:{fmt}}{spread}"


@register_report("generalization")
def generalization(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """Errors beyond the training lengths: mean BCE per bit and bit errors per sequence at 1x, 2x and 4x,
    of the runs that solved (``--all-runs``: solved and unsolved runs as separate rows)."""
    every = read_generalization(inputs)
    all_runs = options().all_runs
    rows = select_runs(every, all_runs)
    left_out = every[~every.index.isin(rows.index)].run_id.nunique()
    note = "" if all_runs else (f"; {left_out} unsolved run(s) left out (--all-runs shows them)" if left_out else "")
    title = ("Generalisation beyond the training maximum: mean over runs (min-max) of BCE per answer bit and answer "
             "bits wrong per sequence, " + ("solved and unsolved runs apart" if all_runs else "runs that solved")
             + note + "; steps / slots: input steps before the answer vs memory rows")
    if rows.empty:
        console.print(f"[yellow]no solved run has generalisation rows in {', '.join(map(str, inputs))}; "
                      "--all-runs shows the unsolved runs[/]")
        empty = pd.DataFrame(columns=KEY)
        return write_table(empty, out, "generalization_long", title) + write_table(empty, out, "generalization_table", title)
    summary = summarise(rows)
    shown = pd.DataFrame({
        "model": summary.model, "runs": summary.outcome, "task": summary.task,
        "setting": summary.parameter + "=" + summary.parameter_value.astype(str),
        "x train max": summary.scale.map(lambda s: f"{s:g}x"),
        "n runs": summary.runs,
        "BCE per bit": [_cell(r, BCE, ".3g") for _, r in summary.iterrows()],
        "bit errors per sequence": [_cell(r, BIT_ERRORS, ".1f") for _, r in summary.iterrows()],
        "steps / slots": [f"{r.presentation_steps} / {r.memory_slots}" if r.memory_slots else f"{r.presentation_steps} / -"
                          for _, r in summary.iterrows()],
        "memory holds": summary.memory_holds.replace("", "-"),
    })
    show_table(console, shown, "Generalisation: errors at 1x, 2x, 4x the training maximum (mean over runs, range in "
               "brackets)" + note)
    # not "generalization": generalization.csv is the data this reads
    return write_table(summary, out, "generalization_long", title) + write_table(shown, out, "generalization_table", title)
