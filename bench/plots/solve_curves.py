"""Solve curves: per task, the Kaplan-Meier estimate of the fraction of seeds solved against iterations
and against minutes of training, a line per model with its 95% band (unsolved runs censored at their
budget, as in the Table 1 statistics), and the paper's iterations-to-solve marked where the paper solved."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from rich.console import Console

from bench.config import ConfigError
from bench.plots import register_plot, save
from bench.reports import paper_table, read_csvs
from bench.reports.table1 import FINISHED, TASK_ORDER, paper_row, solve_sample
from bench.stats import km_curve

PANEL_SIZE = (4.5, 3.5)  # inches per panel
BAND_ALPHA = 0.15
CENSOR_MARK_SIZE = 10  # a tick where a run ended unsolved (censored)
UNITS = (("iterations", "thousand iterations"), ("minutes", "minutes of training"))


@register_plot("solve-curves")
def solve_curves(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """Fraction of seeds solved (Kaplan-Meier, 95% band) per task against iterations and minutes, a tick
    where a run ended unsolved; the paper's iterations-to-solve as a dotted line in the model's colour."""
    runs = read_csvs(inputs, "runs.csv")
    runs = runs[runs.status.isin(FINISHED)] if "status" in runs else runs.iloc[:0]
    if runs.empty:
        raise ConfigError("no finished runs (solved, unsolved or diverged) in the given results")
    paper = paper_table("paper_table1_algorithmic").set_index(["model", "task"])
    tasks = [t for t in TASK_ORDER if t in set(runs.task)] + sorted(set(runs.task) - set(TASK_ORDER))
    fig, axes = plt.subplots(len(tasks), len(UNITS), figsize=(PANEL_SIZE[0] * len(UNITS), PANEL_SIZE[1] * len(tasks)),
                             squeeze=False)
    for row, task in zip(axes, tasks):
        for ax, (unit, label) in zip(row, UNITS):
            for model, group in runs[runs.task == task].groupby("model"):
                sample = solve_sample(group, unit)
                if not sample.n:
                    continue
                curve = km_curve(sample)
                (line,) = ax.step(curve.time, curve.solved, where="post", label=f"{model} ({sample.k}/{sample.n})")
                ax.fill_between(curve.time, curve.low, curve.high, step="post", color=line.get_color(), alpha=BAND_ALPHA)
                censored = [t for t, solved in zip(sample.durations, sample.solved) if not solved]
                at = curve.set_index("time").solved
                ax.plot(censored, [at[at.index <= t].iloc[-1] for t in censored], "|", color=line.get_color(),
                        markersize=CENSOR_MARK_SIZE)
                ref = paper_row(paper, model, task)
                if unit == "iterations" and ref is not None and ref.outcome == "solved":
                    ax.axvline(float(ref.value), color=line.get_color(), linestyle=":", linewidth=1.2)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlim(left=0)
            ax.set_title(f"{task.replace('_', ' ')}")
            ax.set_xlabel(label)
            ax.set_ylabel("fraction of seeds solved")
            ax.legend(fontsize="small", title="dotted: paper's k to solve" if unit == "iterations" else None,
                      title_fontsize="x-small")
    fig.tight_layout()
    paths = save(fig, out, "solve_curves")
    plt.close(fig)
    return paths

