"""Table 1 of the ARMIN paper: algorithmic tasks, iterations and time to solve, or final loss; with solve
statistics over seeds (bench/stats.py): per cell the solve fraction k/n with its Wilson 95% interval and
the Kaplan-Meier median iterations (and minutes) to solve with its 95% interval, unsolved runs censored at
their budget; per task, log-rank comparisons between every two models (table1_pairs).

Censoring: an unsolved run is censored at its iteration budget and its training time; a diverged run
cannot solve any more, so it is censored at its budget too, and at the time that budget would have
taken at its pace (train_time_s x budget / iterations run).

Variants (table1_variants, written when the runs hold a model in both variants): per model, the paper
variant's cells, the reference-code variant's and the paper's Table 1 cell side by side, with a log-rank
test of paper against code variant per task. A preset named "<base>-code" of the same class as the preset
"<base>" (benchmarks.yaml, else the runs' class columns) is base's code variant, for models ("dnc-code")
and tasks ("priority_sort-code" is a column of Table 1's "priority_sort"). A run is of the code variant
when its model or its task is such a preset, or its model records a "code:" variant (options set on the
command line).

Two measures of "solved" per cell of table1_variants (and columns of table1_long): the paper's rule on
validation (status, iterations_to_solve), and beside it the ARMIN authors' measure (their train.py logs the
mean training loss of each 200 iterations and never validates): train_loss_solved_at, the first iteration
ending a 200-iteration window whose mean training loss fell below the threshold, censored at the
iterations run where it never did. Rows written before that column existed get it from their curves
where the curve's training loss is that of whole windows (val_every equal to the window)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Mapping

import pandas as pd
from rich.console import Console

from bench.config import ConfigError, load_config
from bench.reports import paper_table, read_csvs, register_report, show_table, write_table
from bench.status import FINISHED
from bench.iteration_cost import FILENAME as COST_FILE
from bench.iteration_cost import read_costs
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
    """The paper's Table 1 row for our preset ``model`` on ``task`` (``paper`` indexed by model, task); a
    task's "-code" preset ("priority_sort-code") is a variant of the paper's task and has its row."""
    if task.endswith("-code") and task[:-len("-code")] in TASK_ORDER:
        task = task[:-len("-code")]
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


TRAIN_LOSS_MEASURE = "train_loss_solved_at"  # the authors' measure (bench/training/outcome.py)
TRAIN_OPTION_DEFAULTS = {"solved_threshold": 0.01, "val_every": 200, "train_loss_window": 200}


def _train_options(row) -> dict:
    try:
        options = json.loads(row.get("train_options") or "{}")
    except (TypeError, ValueError):
        options = {}
    return {k: options.get(k, v) for k, v in TRAIN_OPTION_DEFAULTS.items()}


def measure_from_curve(points: pd.DataFrame, window: int, threshold: float) -> int | None:
    """The authors' measure from one run's curve (iteration, train_loss: the mean training loss since the
    previous validation): the first point closing a whole window (at a multiple of ``window``, ``window``
    iterations after the point before it) whose training loss is below ``threshold``."""
    previous = 0
    for iteration, loss in points.sort_values("iteration")[["iteration", "train_loss"]].itertuples(index=False):
        iteration = int(iteration)
        if iteration % window == 0 and iteration - previous == window and loss < threshold:
            return iteration
        previous = iteration
    return None


def with_train_loss_measure(runs: pd.DataFrame, curves: pd.DataFrame | None) -> pd.DataFrame:
    """``runs`` with the authors' measure filled in from ``curves`` where the row has none and the curve
    holds whole windows (its val_every equals the window)."""
    runs = runs.copy()
    if TRAIN_LOSS_MEASURE not in runs.columns:
        runs[TRAIN_LOSS_MEASURE] = math.nan
    runs[TRAIN_LOSS_MEASURE] = pd.to_numeric(runs[TRAIN_LOSS_MEASURE], errors="coerce")
    if curves is None or not {"run_id", "iteration", "train_loss"} <= set(curves.columns):
        return runs
    curves = curves.assign(iteration=pd.to_numeric(curves.iteration, errors="coerce"),
                           train_loss=pd.to_numeric(curves.train_loss, errors="coerce")).dropna(
        subset=["iteration", "train_loss"])
    by_run = dict(tuple(curves.groupby("run_id")))
    for index, row in runs[runs[TRAIN_LOSS_MEASURE].isna()].iterrows():
        options, points = _train_options(row), by_run.get(row.get("run_id"))
        if points is None or options["val_every"] != options["train_loss_window"]:
            continue
        found = measure_from_curve(points, int(options["train_loss_window"]), float(options["solved_threshold"]))
        if found is not None:
            runs.at[index, TRAIN_LOSS_MEASURE] = found
    return runs


def train_loss_statistics(group: pd.DataFrame) -> dict:
    """The authors' measure of one cell: how many runs reached it, and its Kaplan-Meier median in k
    iterations, runs that never did censored at the iterations they ran."""
    at = pd.to_numeric(group.get(TRAIN_LOSS_MEASURE, pd.Series(math.nan, group.index)), errors="coerce")
    run = pd.to_numeric(group.get("iterations_run", pd.Series(math.nan, group.index)), errors="coerce")
    run = run.fillna(pd.to_numeric(group.iterations_budget, errors="coerce"))
    reached = at.notna()
    durations = at.where(reached, run) / THOUSAND
    usable = durations.map(lambda d: math.isfinite(d) and d >= 0)
    sample = Sample.of(durations[usable].tolist(), reached[usable].tolist())
    median = km_median(sample) if sample.n and reached.any() else None
    return {"train_loss_solved": f"{int(reached.sum())}/{len(group)}",
            "train_loss_median_k": median and median.value,
            "train_loss_median_k_low": median and median.low, "train_loss_median_k_high": median and median.high}


def train_loss_cell(r) -> str:
    """'authors' measure 5/5, median 4.6k [3.6k, 6.2k]' (mean training loss of a 200-iteration window
    below the threshold)."""
    text = f"authors' measure {r.train_loss_solved}"
    if r.train_loss_median_k is None or pd.isna(r.train_loss_median_k):
        return text
    if r.train_loss_median_k == float("inf"):
        return f"{text}, median not reached"
    mark = "" if r.median_interval_reliable else UNRELIABLE
    return (f"{text}, median {r.train_loss_median_k:.1f}k [{_bound(r.train_loss_median_k_low)}, "
            f"{_bound(r.train_loss_median_k_high)}]{mark}")


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
    return {**row, **train_loss_statistics(group)}


NUMBER_COLUMNS = {"iterations_budget", "iterations_to_solve", "time_to_solve_s", "train_time_s", "final_val_loss",
                  "param_count", "iterations_run", TRAIN_LOSS_MEASURE}  # the figures summarise averages


PROFILED = "≈"  # marks minutes computed as iterations x the per-iteration cost profiled alone
PROFILED_NOTE = (f"{PROFILED} min: iterations x the training cost per iteration profiled alone on one machine "
                 "(bench cost; validation excluded), comparable across models; the measured minutes are columns "
                 "of their own in the long table")


def minutes_note(costs: pd.DataFrame | None) -> str:
    """What a Table 1 cell's minutes are, with or without profiled per-iteration costs."""
    if costs is not None:
        return PROFILED_NOTE
    return ("min: training time as measured, not comparable across models trained at once or vectorized "
            "(bench cost profiles each alone)")


def add_profiled_minutes(summary: pd.DataFrame, costs: pd.DataFrame | None) -> pd.DataFrame:
    """Columns ``seconds_per_iteration`` (from ``costs``, bench cost's iteration_cost.csv), and minutes as
    iterations x that cost: ``median_minutes_profiled`` (with its interval, from the median iterations to
    solve) and ``budget_minutes_profiled``; missing where no cost was profiled for the model and task."""
    summary = summary.copy()
    per = {} if costs is None else {(m, t): float(c) for m, t, c in
                                    costs[["model", "task", "seconds_per_iteration"]].itertuples(index=False)}
    seconds = summary.apply(lambda r: per.get((r.model, r.task), math.nan), axis=1).astype(float)
    summary["seconds_per_iteration"] = seconds
    for column in ("median_k", "median_k_low", "median_k_high"):
        summary[column.replace("median_k", "median_minutes_profiled")] = (
            pd.to_numeric(summary[column], errors="coerce") * THOUSAND * seconds / SECONDS_PER_MINUTE)
    summary["budget_minutes_profiled"] = summary.budget_k * THOUSAND * seconds / SECONDS_PER_MINUTE
    return summary


def summarise(runs: pd.DataFrame, costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (model, task): our figure (k iterations to solve, or final loss) with its spread
    across seeds, measured minutes, minutes from the profiled per-iteration cost where ``costs`` has it,
    and the paper's figure beside it."""
    runs = runs[runs.status.isin(FINISHED)].copy()
    for column in NUMBER_COLUMNS & set(runs.columns):  # a malformed value reads as missing
        runs[column] = pd.to_numeric(runs[column], errors="coerce")
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
    df = add_profiled_minutes(pd.DataFrame(rows), costs)
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    return df.sort_values(["model", "task"], key=lambda s: s.map(order).fillna(99) if s.name == "task" else s)


def cell(value, spread, minutes, outcome) -> str:
    """'7.6k (±0.4) / 6 min' for solved, 'loss 0.359 / 66 min' for unsolved, as the paper's cells."""
    if value is None or pd.isna(value):
        return "-"
    spread_text = f" ±{spread:.2g}" if spread else ""
    figure = f"{value:.1f}k{spread_text}" if outcome == "solved" else f"loss {value:.3f}{spread_text}"
    return f"{figure} / {minutes:.0f} min" if minutes is not None and not pd.isna(minutes) else figure


def _minutes(value: float) -> str:
    """'6.7 min' under 10 minutes, '42 min' from there."""
    return f"{value:.1f} min" if value < 10 else f"{value:.0f} min"


def _bound(value: float) -> str:
    return "∞" if value == float("inf") else f"{value:.1f}k"


def stats_cell(r) -> str:
    """'3/3 solved [44-100%], median 6.2k [6.2k, 18.8k]† / 2 min' where any run solved, else
    '0/2 solved [0-66%] in 30k, loss 0.404 / 20 min' (the paper's figure for unsolved cells, with the
    largest budget of those runs: losses after different budgets are not comparable)."""
    solved = f"{r.solved} solved [{r.solve_low:.0%}-{r.solve_high:.0%}]"
    profiled = not pd.isna(getattr(r, "seconds_per_iteration", math.nan))
    if r.ours_outcome == "unsolved" and not (r.solve_fraction > 0):
        if profiled:
            return f"{solved} in {r.budget_k:g}k, loss {r.ours_value:.3f} / {PROFILED}{_minutes(r.budget_minutes_profiled)}"
        return f"{solved} in {r.budget_k:g}k, {cell(r.ours_value, None, r.ours_minutes, 'unsolved')}"
    if r.median_k is None or pd.isna(r.median_k):
        return solved
    mark = "" if r.median_interval_reliable else UNRELIABLE
    if r.median_k == float("inf"):
        median = f"median not reached (> {r.budget_k:g}k)"
    else:
        median = f"median {r.median_k:.1f}k [{_bound(r.median_k_low)}, {_bound(r.median_k_high)}]{mark}"
    shown, mark = (r.median_minutes_profiled, PROFILED) if profiled else (r.median_minutes, "")
    minutes = "" if pd.isna(shown) or shown == float("inf") else f" / {mark}{_minutes(shown) if profiled else f'{shown:.0f} min'}"
    return f"{solved}, {median}{minutes}"


def compare_runs(ga: pd.DataFrame, gb: pd.DataFrame, a: str, b: str) -> dict:
    """Log-rank test of the runs ``ga`` (named ``a``) against ``gb`` on iterations and on minutes to solve:
    p, which is faster (only where significant) and the verdict, per unit."""
    row = {}
    for unit in ("iterations", "minutes"):
        sa, sb = solve_sample(ga, unit), solve_sample(gb, unit)
        result = compare_samples(sa, sb, a, b) if sa.n and sb.n else None
        row.update({f"p_{unit}": result and result.p_value,
                    f"faster_{unit}": result and result.faster,  # only where significant
                    f"verdict_{unit}": result.verdict if result else "no usable runs"})
    return row


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
                rows.append({"task": task, "model_a": a, "model_b": b,
                             "solved_a": f"{(ga.status == 'solved').sum()}/{len(ga)}",
                             "solved_b": f"{(gb.status == 'solved').sum()}/{len(gb)}", **compare_runs(ga, gb, a, b)})
    columns = ["task", "model_a", "model_b", "solved_a", "solved_b"] + [
        f"{c}_{u}" for u in ("iterations", "minutes") for c in ("p", "faster", "verdict")]
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    df = pd.DataFrame(rows, columns=columns)
    return df.sort_values("task", key=lambda s: s.map(order).fillna(99), kind="stable").reset_index(drop=True)


def wide(summary: pd.DataFrame) -> pd.DataFrame:
    """Shaped like the paper's Table 1: a row per model, for each task ours and the paper's."""
    paper = paper_table("paper_table1_algorithmic").set_index(["model", "task"])
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    tasks = sorted(dict.fromkeys(summary.task), key=lambda t: (order.get(t.removesuffix(CODE_SUFFIX), len(order)), t))
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


CODE_SUFFIX = "-code"  # preset "<base>-code" of base's class: base as its reference code computes it
CODE_VARIANT = "code:"  # how a model records reference-code options in its variant column
PAPER_SIDE, CODE_SIDE = "paper variant", "code variant"


def preset_of(model: str) -> str:
    """The preset of a report's model name ("armin-code (soft_write=True)" -> "armin-code"): reports.
    distinguish_configurations appends " (options)" to runs of one preset with different options."""
    return model.split(" (", 1)[0]


def code_base(name: str, classes: Mapping[str, str]) -> str | None:
    """The preset whose reference-code variant the preset ``name`` is ("dnc-code" -> "dnc",
    "priority_sort-code" -> "priority_sort"): ``name`` less "-code" where both are presets of one class
    (``classes``: preset -> class); None for any other preset."""
    if not name.endswith(CODE_SUFFIX) or name not in classes:
        return None
    base = name[:-len(CODE_SUFFIX)]
    return base if classes.get(base) == classes[name] else None


def preset_classes(runs: pd.DataFrame, section: str, name_column: str, class_column: str) -> dict[str, str]:
    """Preset -> class for ``section`` ("models" or "tasks"): benchmarks.yaml's presets, and for presets
    it does not hold (runs made with another configuration) the class the runs recorded."""
    try:
        classes = {name: str((options or {}).get("class", name)) for name, options in load_config()[section].items()}
    except ConfigError:  # no configuration file: the runs' own record
        classes = {}
    if {name_column, class_column} <= set(runs.columns):
        recorded = runs[[name_column, class_column]].dropna().drop_duplicates()
        for name, cls in recorded.itertuples(index=False):
            classes.setdefault(preset_of(str(name)), str(cls))
    return classes


def _variant_entries(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Each summary row (a model on a task) with its base model, base task and side (paper or code)."""
    model_classes = preset_classes(runs, "models", "model", "model_class")
    task_classes = preset_classes(runs, "tasks", "task", "task_class")
    rows = []
    for r in summary.itertuples(index=False):
        preset, task = preset_of(str(r.model)), str(r.task)
        model_base, task_base = code_base(preset, model_classes), code_base(task, task_classes)
        code = model_base is not None or task_base is not None or str(r.variant).startswith(CODE_VARIANT)
        rows.append({"base": model_base or preset, "base_task": task_base or task,
                     "side": CODE_SIDE if code else PAPER_SIDE, "row": r})
    return pd.DataFrame(rows, columns=["base", "base_task", "side", "row"])


def _entry_name(r, task: str) -> str:
    """A summary row's name in a cell of ``task``: its model, and its task where not the column's."""
    return r.model + ("" if r.task == task else f" on {r.task}")


def _joined(named: list[tuple[str, str]]) -> str:
    """One cell from (name, text) pairs: "-" for none, the text for one, each named for several."""
    if len(named) <= 1:
        return named[0][1] if named else "-"
    return "; ".join(f"{name}: {text}" for name, text in named)


def variants(runs: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame | None:
    """A row per base model: per task its paper variant's cell, its code variant's, the paper's Table 1
    cell and the log-rank verdict of paper against code variant on iterations to solve; None when no
    model has runs of both variants."""
    entries = _variant_entries(summary, runs)
    sides = entries.groupby("base").side.agg(set)
    if not any(len(s) == 2 for s in sides):
        return None
    runs = runs[runs.status.isin(FINISHED)]
    paper = paper_table("paper_table1_algorithmic")
    paper_order = {name: i for i, name in enumerate(dict.fromkeys(paper.model))}
    paper = paper.set_index(["model", "task"])
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    tasks = sorted(dict.fromkeys(entries.base_task), key=lambda t: (order.get(t, len(order)), t))
    bases = sorted(sides.index, key=lambda b: (paper_order.get(paper_name(b), len(paper_order)), b))

    def runs_of(r) -> pd.DataFrame:
        return runs[(runs.model == r.model) & (runs.task == r.task)]

    rows = []
    for base in bases:
        mine = entries[entries.base == base]
        row = {"model": base}
        for side in (PAPER_SIDE, CODE_SIDE):
            row[side] = ", ".join(dict.fromkeys(r.model for r in mine[mine.side == side].row)) or "-"
        for task in tasks:
            here = mine[mine.base_task == task]
            ours = {side: list(here[here.side == side].row) for side in (PAPER_SIDE, CODE_SIDE)}
            for side in (PAPER_SIDE, CODE_SIDE):
                row[f"{task} {side} (ours)"] = _joined([(_entry_name(r, task), f"{stats_cell(r)} ({train_loss_cell(r)})")
                                                        for r in ours[side]])
            ref = paper_row(paper, base, task)
            row[f"{task} paper (Table 1)"] = "-" if ref is None else cell(
                float(ref.value), None, float(ref.time_min), ref.outcome)
            row[f"{task} paper vs code (log-rank)"] = _joined([
                (f"{_entry_name(p, task)} vs {_entry_name(c, task)}",
                 compare_runs(runs_of(p), runs_of(c), "paper", "code")["verdict_iterations"])
                for p in ours[PAPER_SIDE] for c in ours[CODE_SIDE]])
        rows.append(row)
    return pd.DataFrame(rows)


VARIANTS_TITLE = ("Table 1 by variant: each model as its paper describes it, as its authors' code computes it, "
                  "and Table 1")
VARIANTS_NOTE = ("code variant: the model's -code preset (the model itself where it has none) on the task's -code "
                 "preset (the task itself where it has none), or a model run with reference-code options; a cell "
                 "holding several names them; paper vs code: log-rank test on iterations to solve; each cell: the "
                 "paper's rule (validation), then the authors' measure (the mean training loss of a 200-iteration "
                 "window below the threshold, as their train.py logs it), k/n and its median")


def runs_inputs(inputs: list[Path]) -> list[Path]:
    """The inputs less the folders that hold only profiled iteration costs (bench cost --out FOLDER)."""
    def cost_only(path: Path) -> bool:
        folder = path.parent if path.suffix == ".csv" else path
        return (folder / COST_FILE).is_file() and not (folder / "runs.csv").is_file()

    return [Path(p) for p in inputs if not cost_only(Path(p))] or list(inputs)


@register_report("table1")
def table1(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """ARMIN Table 1: solve fraction, median iterations (k) and minutes to solve, or final loss, beside
    the paper's; the log-rank comparisons of every two models per task (table1_pairs); and where the runs
    hold a model in both variants, paper and code variant beside Table 1 (table1_variants)."""
    costs = read_costs(inputs)
    runs = read_csvs(runs_inputs(inputs), "runs.csv")
    try:
        curves = read_csvs(runs_inputs(inputs), "curves.csv")
    except ConfigError:  # no curves: the authors' measure only where the rows hold it
        curves = None
    runs = with_train_loss_measure(runs, curves)
    summary = summarise(runs, costs)
    footnote = f"{FOOTNOTE}; {minutes_note(costs)}"
    table, comparisons, by_variant = wide(summary), pairs(runs), variants(runs, summary)
    views = [(table, "Table 1 (ours vs paper): solved k/n, median k iterations / minutes to solve, or mean loss of "
                     "the last 10 validations", footnote),
             (comparisons[["task", "model_a", "model_b", "solved_a", "solved_b", "verdict_iterations",
                           "verdict_minutes"]], "Which model solves faster (log-rank test over seeds)", None)]
    if by_variant is not None:
        views.append((by_variant, VARIANTS_TITLE, footnote))
    for frame, title, caption in views:
        show_table(console, frame, title, caption)
    title = ("ARMIN paper Table 1, ours beside the paper's (long table: also mean ± std over the seeds that solved, "
             f"and the measured minutes)\n\n{footnote}")
    pairs_title = ("Table 1 pairwise: which model solves faster, log-rank test on iterations and on minutes to "
                   "solve (unsolved runs censored at their budget); a verdict at p < 0.05, or that the runs are too "
                   "few for any outcome to reach it")
    written = (write_table(summary, out, "table1_long", title) + write_table(table, out, "table1", title)
               + write_table(comparisons, out, "table1_pairs", pairs_title))
    if by_variant is not None:
        written += write_table(by_variant, out, "table1_variants", f"{VARIANTS_TITLE}\n\n{VARIANTS_NOTE}\n\n{footnote}")
    return written
