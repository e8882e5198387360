"""Figure 2 of the ARMIN paper: validation loss curves on the algorithmic tasks.

A line per model: the median over all its seeds at each validation. A run that solved stopped training
there (``stop_when_solved``), so its curve is held at its last validation loss from then on, and a
marker shows where it stopped: the median stays at or below the solved threshold once most seeds
solved, instead of following the last unsolved seed. (Runs that trained on after dipping below the
threshold did relapse, which is why solved means the whole last validation window below it.) The band
is the interquartile range over the seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from rich.console import Console

from bench.config import ConfigError
from bench.plots import register_plot, save
from bench.plots.style import THRESHOLD_STYLE, caption, log_axis, model_style, thousands_axis
from bench.reports import read_csvs
from bench.reports.table1 import TASK_ORDER

PANEL_SIZE = (4.8, 3.6)  # inches per task panel
LOSS_FLOOR = 1e-5  # log scale cannot show 0
BAND_ALPHA = 0.15
DEFAULT_THRESHOLD = 0.01  # train.solved_threshold's default
CAPTION = ("line: median over all seeds; a solved run stopped training and is held at its last validation "
           "loss (marker: where it stopped); band: interquartile range over seeds")


def curves_of_finished_runs(inputs: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validation curves of runs that have a row in runs.csv (a run killed mid-way is left out), and
    those runs (one row each)."""
    runs = read_csvs(inputs, "runs.csv").drop_duplicates("run_id", keep="last")
    curves = read_csvs(inputs, "curves.csv")
    curves = curves[curves.run_id.isin(runs.run_id)].copy()
    curves["model"] = curves.run_id.map(runs.set_index("run_id").model)  # configurations told apart
    if curves.empty:
        raise ConfigError("no validation curves of finished runs in the given results")
    return curves, runs


def solved_threshold(runs: pd.DataFrame) -> float:
    """The runs' solved threshold (train.solved_threshold in their train_options; the default where
    none is recorded); the smallest where they differ."""
    found = []
    for text in runs.get("train_options", pd.Series(dtype=object)).dropna():
        try:
            value = json.loads(text).get("solved_threshold")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value):
            found.append(float(value))
    return min(found) if found else DEFAULT_THRESHOLD


def held_losses(group: pd.DataFrame, solved_runs: set[str]) -> pd.DataFrame:
    """Validation loss by iteration (rows) and run (columns); a solved run's loss is held at its last
    validation from where it stopped to the last iteration of any run of the group."""
    table = (group.drop_duplicates(["run_id", "iteration"], keep="last")
             .pivot(index="iteration", columns="run_id", values="val_loss").sort_index())
    for run in table.columns:
        if run in solved_runs:
            last = table[run].last_valid_index()
            if last is not None:
                table.loc[table.index >= last, run] = table.at[last, run]
    return table


def task_order(tasks) -> list[str]:
    present = set(tasks)
    return [t for t in TASK_ORDER if t in present] + sorted(present - set(TASK_ORDER))


def task_title(task: str) -> str:
    """"priority_sort-code" -> "priority sort (code variant)"."""
    base, code = (task[:-len("-code")], True) if task.endswith("-code") else (task, False)
    return base.replace("_", " ") + (" (code variant)" if code else "")


@register_plot("figure2")
def figure2(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """ARMIN Figure 2: validation loss per task, a line per model: the median over all seeds, solved
    runs held at their last validation; band: interquartile range over seeds."""
    curves, runs = curves_of_finished_runs(inputs)
    solved = set(runs.run_id[runs.status == "solved"])
    threshold = solved_threshold(runs)
    tasks = task_order(curves.task)
    fig, axes = plt.subplots(1, len(tasks), figsize=(PANEL_SIZE[0] * len(tasks), PANEL_SIZE[1] + 0.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        lows, highs = [], []
        for model, group in curves[curves.task == task].groupby("model"):
            losses = held_losses(group, solved).clip(lower=LOSS_FLOOR)
            median = losses.median(axis=1, skipna=True)
            style = model_style(model)
            seeds = losses.shape[1]
            k = len(solved & set(losses.columns))
            ax.plot(median.index, median.values, color=style["color"], linestyle=style["linestyle"], linewidth=1.4,
                    label=f"{model} ({k}/{seeds} solved)")
            if seeds > 1:
                ax.fill_between(median.index, losses.quantile(0.25, axis=1), losses.quantile(0.75, axis=1),
                                color=style["color"], alpha=BAND_ALPHA, linewidth=0)
            stop_at = [group[group.run_id == r].iteration.max()
                       for r in losses.columns if r in solved]
            if stop_at:  # where each solved seed stopped training, on the median line
                ax.plot(stop_at, [median.loc[x] for x in stop_at], linestyle="none", marker=style["marker"],
                        color=style["color"], markerfacecolor=style["markerfacecolor"], markersize=5)
            lows.append(float(np.nanmin(losses.values)))
            highs.append(float(np.nanmax(median.values)))
        ax.set_yscale("log")
        bottom, top = max(min(lows), LOSS_FLOOR) / 1.15, max(highs) * 1.15  # the data's range, not the threshold's
        ax.set_ylim(bottom, top)
        where = "" if bottom <= threshold <= top else " (below the axis)" if threshold < bottom else " (above)"
        ax.axhline(threshold, **THRESHOLD_STYLE, label=f"solved threshold {threshold:g}{where}")
        ax.set_xlim(0, curves[curves.task == task].iteration.max() * 1.02)
        thousands_axis(ax.xaxis)
        log_axis(ax.yaxis)
        ax.set_title(task_title(task))
        ax.set_xlabel("training iteration")
        ax.legend(fontsize="x-small", loc="best")
        ax.grid(True, which="major", alpha=0.25)
    axes[0][0].set_ylabel("validation BCE per bit")
    caption(fig, CAPTION)
    fig.tight_layout()
    paths = save(fig, out, "figure2")
    plt.close(fig)
    return paths
