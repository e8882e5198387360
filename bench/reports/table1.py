"""Table 1 of the ARMIN paper: algorithmic tasks, iterations and time to solve, or final loss."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from bench.reports import paper_table, read_csvs, register_report, write_table
from bench.status import FINISHED

THOUSAND = 1000.0
SECONDS_PER_MINUTE = 60.0
TASK_ORDER = ("copy", "repeat_copy", "associative_recall", "priority_sort")


def paper_name(preset: str) -> str:
    """Our preset name -> the paper's model name ("armin-code" -> "ARMIN", "awta" -> "AwTA")."""
    base = re.split(r"[-\s(]", preset)[0].lower()  # "armin-code", "armin (layer_norm=True)" -> "armin"
    return {"awta": "AwTA", "tardis": "TARDIS"}.get(base, base.upper())


def paper_row(paper: pd.DataFrame, model: str, task: str) -> pd.Series | None:
    """The paper's Table 1 row for our preset ``model`` on ``task`` (``paper`` indexed by model, task)."""
    key = (paper_name(model), task)
    return paper.loc[key] if key in paper.index else None


def _mean_spread(values: pd.Series) -> tuple[float | None, float | None]:
    values = values.dropna()
    if values.empty:
        return None, None
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, task): our figure (k iterations to solve, or final loss) with its spread
    across seeds, minutes, and the paper's figure beside it."""
    runs = runs[runs.status.isin(FINISHED)]
    paper = paper_table("paper_table1_algorithmic").set_index(["model", "task"])
    rows = []
    for (model, task), group in runs.groupby(["model", "task"], sort=False):
        solved = group[group.status == "solved"]
        all_solved = len(solved) == len(group)
        if all_solved:
            value, spread = _mean_spread(solved.iterations_to_solve / THOUSAND)
            minutes, minutes_spread = _mean_spread(solved.time_to_solve_s / SECONDS_PER_MINUTE)
        else:  # the paper's figure for unsolved models: mean loss of the last 10 validations
            value, spread = _mean_spread(group.final_val_loss)
            minutes, minutes_spread = _mean_spread(group.train_time_s / SECONDS_PER_MINUTE)
        ref = paper_row(paper, model, task)
        rows.append({
            "model": model,
            "task": task,
            "variant": ",".join(sorted(set(group.variant.dropna().astype(str)))),
            "seeds": len(group),
            "solved": f"{len(solved)}/{len(group)}",
            "diverged": int((group.status == "diverged").sum()),
            "budget_k": float(group.iterations_budget.max()) / THOUSAND,
            "ours_outcome": "solved" if all_solved else "unsolved",
            "ours_value": value,  # k iterations if solved, else final loss
            "ours_spread": spread,  # standard deviation across seeds
            "ours_minutes": minutes,
            "ours_minutes_spread": minutes_spread,
            "param_count": int(group.param_count.iloc[0]) if group.param_count.notna().any() else None,
            "paper_outcome": None if ref is None else ref.outcome,
            "paper_value": None if ref is None else float(ref.value),
            "paper_minutes": None if ref is None else float(ref.time_min),
            "paper_param_count": None if ref is None else int(ref.param_count),
        })
    df = pd.DataFrame(rows)
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    return df.sort_values(["model", "task"], key=lambda s: s.map(order).fillna(99) if s.name == "task" else s)


def cell(value, spread, minutes, outcome) -> str:
    """'7.6k (±0.4) / 6 min' for solved, 'loss 0.359 / 66 min' for unsolved, as the paper's cells."""
    if value is None or pd.isna(value):
        return "-"
    spread_text = f" ±{spread:.2g}" if spread else ""
    figure = f"{value:.1f}k{spread_text}" if outcome == "solved" else f"loss {value:.3f}{spread_text}"
    return f"{figure} / {minutes:.0f} min" if minutes is not None and not pd.isna(minutes) else figure


def wide(summary: pd.DataFrame) -> pd.DataFrame:
    """Shaped like the paper's Table 1: a row per model, for each task ours and the paper's."""
    paper = paper_table("paper_table1_algorithmic").set_index(["model", "task"])
    tasks = list(dict.fromkeys(summary.task))
    rows = []
    for model, group in summary.groupby("model", sort=False):
        row = {"model": model, "params": group.param_count.iloc[0], "paper params": group.paper_param_count.iloc[0]}
        for _, r in group.iterrows():
            ours = cell(r.ours_value, r.ours_spread, r.ours_minutes, r.ours_outcome)
            row[f"{r.task} (ours)"] = f"{ours} ({r.solved} solved)"
        for task in tasks:  # the paper's cell even where we have no run of that task
            ref = paper_row(paper, model, task)
            if ref is not None:
                row[f"{task} (paper)"] = cell(float(ref.value), None, float(ref.time_min), ref.outcome)
        rows.append(row)
    columns = ["model", "params", "paper params"] + [f"{t} ({who})" for t in tasks for who in ("ours", "paper")]
    return pd.DataFrame(rows).reindex(columns=columns).fillna("-")  # "-": no run of that task, or no paper value


@register_report("table1")
def table1(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """ARMIN Table 1: iterations (k) and minutes to solve, or final loss, beside the paper's."""
    summary = summarise(read_csvs(inputs, "runs.csv"))
    table = wide(summary)
    view = Table(title="Table 1 (ours vs paper): k iterations / minutes to solve, or mean loss of the last 10 validations")
    for col in table.columns:
        view.add_column(str(col))
    for _, r in table.iterrows():
        view.add_row(*(str(v) for v in r.values))
    console.print(view)
    title = "ARMIN paper Table 1, ours beside the paper's (mean ± std over seeds; minutes = training time)"
    return write_table(summary, out, "table1_long", title) + write_table(table, out, "table1", title)
