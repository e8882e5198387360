"""Table 1 of the ARMIN paper: algorithmic tasks, iterations and time to solve, or final loss; with solve
statistics over seeds (bench/stats.py): per cell the solve fraction k/n with its Wilson 95% interval and
the Kaplan-Meier median iterations (and minutes) to solve with its 95% interval, unsolved runs censored at
their budget; per task, log-rank comparisons between every two models (table1_pairs).

Censoring: an unsolved run is censored at its iteration budget and its training time; a diverged run
cannot solve any more, so it is censored at its budget too, and at the time that budget would have
taken at its pace (train_time_s x budget / iterations run)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from bench.config import ConfigError
from bench.reports import paper_table, read_csvs, register_report, write_table
from bench.status import FINISHED
from bench.stats import MIN_RUNS_FOR_MEDIAN_INTERVAL, Sample, compare_samples, km_median, wilson_interval

THOUSAND = 1000.0
SECONDS_PER_MINUTE = 60.0
TASK_ORDER = ("copy", "repeat_copy", "associative_recall", "priority_sort")
UNRELIABLE = "†"  # marks a median interval from fewer than MIN_RUNS_FOR_MEDIAN_INTERVAL runs
FOOTNOTE = (f"k/n solved [Wilson 95% interval]; median [95% interval] by Kaplan-Meier, unsolved runs censored "
            f"at their budget; ∞: not reached; {UNRELIABLE}: fewer than {MIN_RUNS_FOR_MEDIAN_INTERVAL} runs, "
            "where no interval of a median can hold 95% coverage")


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


def solve_sample(group: pd.DataFrame, unit: str) -> Sample:
    """The runs of one cell as a censored sample in ``unit`` ("iterations", in thousands, or "minutes").
    Rows whose figure is missing (a malformed or truncated row) are left out."""
    def number(column: str) -> pd.Series:  # a malformed value reads as missing
        return pd.to_numeric(group[column], errors="coerce") if column in group else pd.Series(math.nan, group.index)

    solved = group.status == "solved"
    budget = number("iterations_budget")
    if unit == "iterations":
        durations = number("iterations_to_solve").where(solved, budget) / THOUSAND
    else:
        run = number("iterations_run").fillna(budget)
        pace = number("train_time_s") / run  # seconds per iteration
        censored = number("train_time_s").where(group.status != "diverged", pace * budget)
        durations = number("time_to_solve_s").where(solved, censored) / SECONDS_PER_MINUTE
    usable = durations.map(lambda d: math.isfinite(d) and d >= 0)
    return Sample.of(durations[usable].tolist(), solved[usable].tolist())


def solve_statistics(group: pd.DataFrame) -> dict:
    """The statistics columns of one cell."""
    k, n = int((group.status == "solved").sum()), len(group)
    low, high = wilson_interval(k, n)
    row = {"solve_fraction": k / n, "solve_low": low, "solve_high": high}
    for unit, prefix in (("iterations", "median_k"), ("minutes", "median_minutes")):
        sample = solve_sample(group, unit)
        median = km_median(sample) if sample.n else None
        row.update({prefix: median and median.value, f"{prefix}_low": median and median.low,
                    f"{prefix}_high": median and median.high})
    row["median_interval_reliable"] = n >= MIN_RUNS_FOR_MEDIAN_INTERVAL
    return row


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
            **solve_statistics(group),
        })
    if not rows:
        raise ConfigError("no finished runs (solved, unsolved or diverged) in the given results")
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


def _bound(value: float) -> str:
    return "∞" if value == float("inf") else f"{value:.1f}k"


def stats_cell(r) -> str:
    """'3/3 solved [44-100%], median 6.2k [6.2k, 18.8k]† / 2 min' where any run solved, else
    '0/2 solved [0-66%], loss 0.404 / 20 min' (the paper's figure for unsolved cells)."""
    solved = f"{r.solved} solved [{r.solve_low:.0%}-{r.solve_high:.0%}]"
    if r.ours_outcome == "unsolved" and not (r.solve_fraction > 0):
        return f"{solved}, {cell(r.ours_value, None, r.ours_minutes, 'unsolved')}"
    if r.median_k is None or pd.isna(r.median_k):
        return solved
    mark = "" if r.median_interval_reliable else UNRELIABLE
    if r.median_k == float("inf"):
        median = f"median not reached (> {r.budget_k:g}k)"
    else:
        median = f"median {r.median_k:.1f}k [{_bound(r.median_k_low)}, {_bound(r.median_k_high)}]{mark}"
    minutes = "" if pd.isna(r.median_minutes) or r.median_minutes == float("inf") else f" / {r.median_minutes:.0f} min"
    return f"{solved}, {median}{minutes}"


def pairs(runs: pd.DataFrame) -> pd.DataFrame:
    """Per task, every two models: log-rank test on iterations and on minutes to solve, which is faster,
    and a verdict that says when the runs are too few to tell."""
    runs = runs[runs.status.isin(FINISHED)]
    rows = []
    for task, by_task in runs.groupby("task", sort=False):
        models = sorted(by_task.model.unique())
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                ga, gb = by_task[by_task.model == a], by_task[by_task.model == b]
                row = {"task": task, "model_a": a, "model_b": b,
                       "solved_a": f"{(ga.status == 'solved').sum()}/{len(ga)}",
                       "solved_b": f"{(gb.status == 'solved').sum()}/{len(gb)}"}
                for unit in ("iterations", "minutes"):
                    sa, sb = solve_sample(ga, unit), solve_sample(gb, unit)
                    result = compare_samples(sa, sb, a, b) if sa.n and sb.n else None
                    row.update({f"p_{unit}": result and result.p_value,
                                f"faster_{unit}": result and result.faster,  # only where significant
                                f"verdict_{unit}": result.verdict if result else "no usable runs"})
                rows.append(row)
    columns = ["task", "model_a", "model_b", "solved_a", "solved_b"] + [
        f"{c}_{u}" for u in ("iterations", "minutes") for c in ("p", "faster", "verdict")]
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    df = pd.DataFrame(rows, columns=columns)
    return df.sort_values("task", key=lambda s: s.map(order).fillna(99), kind="stable").reset_index(drop=True)


def wide(summary: pd.DataFrame) -> pd.DataFrame:
    """Shaped like the paper's Table 1: a row per model, for each task ours and the paper's."""
    paper = paper_table("paper_table1_algorithmic").set_index(["model", "task"])
    tasks = list(dict.fromkeys(summary.task))
    rows = []
    for model, group in summary.groupby("model", sort=False):
        row = {"model": model, "params": group.param_count.iloc[0], "paper params": group.paper_param_count.iloc[0]}
        for r in group.itertuples():
            row[f"{r.task} (ours)"] = stats_cell(r)
        for task in tasks:  # the paper's cell even where we have no run of that task
            ref = paper_row(paper, model, task)
            if ref is not None:
                row[f"{task} (paper)"] = cell(float(ref.value), None, float(ref.time_min), ref.outcome)
        rows.append(row)
    columns = ["model", "params", "paper params"] + [f"{t} ({who})" for t in tasks for who in ("ours", "paper")]
    return pd.DataFrame(rows).reindex(columns=columns).fillna("-")  # "-": no run of that task, or no paper value


@register_report("table1")
def table1(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """ARMIN Table 1: solve fraction, median iterations (k) and minutes to solve, or final loss, beside
    the paper's; and the log-rank comparisons of every two models per task (table1_pairs)."""
    runs = read_csvs(inputs, "runs.csv")
    summary = summarise(runs)
    table, comparisons = wide(summary), pairs(runs)
    for frame, title in ((table, "Table 1 (ours vs paper): solved k/n, median k iterations / minutes to solve, "
                                 "or mean loss of the last 10 validations"),
                         (comparisons[["task", "model_a", "model_b", "solved_a", "solved_b", "verdict_iterations",
                                       "verdict_minutes"]], "Which model solves faster (log-rank test over seeds)")):
        view = Table(title=title, caption=FOOTNOTE if frame is table else None)
        for col in frame.columns:
            view.add_column(str(col))
        for _, r in frame.iterrows():
            view.add_row(*(str(v) for v in r.values))
        console.print(view)
    title = ("ARMIN paper Table 1, ours beside the paper's (minutes = training time; "
             f"long table: also mean ± std over the seeds that solved)\n\n{FOOTNOTE}")
    pairs_title = ("Table 1 pairwise: which model solves faster, log-rank test on iterations and on minutes to "
                   "solve (unsolved runs censored at their budget); a verdict at p < 0.05, or that the runs are too "
                   "few for any outcome to reach it")
    return (write_table(summary, out, "table1_long", title) + write_table(table, out, "table1", title)
            + write_table(comparisons, out, "table1_pairs", pairs_title))
