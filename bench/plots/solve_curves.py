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
from bench.plots.figure2 import task_order, task_title
from bench.plots.style import model_style, thousands_axis
from bench.reports.table1 import FINISHED, paper_row, solve_sample
from bench.stats import km_curve

PANEL_SIZE = (4.5, 3.5)  # inches per panel
BAND_ALPHA = 0.15
CENSOR_MARK_SIZE = 10  # a tick where a run ended unsolved (censored)
UNITS = (("iterations", "training iteration"), ("minutes", "minutes of training (measured)"))
SCALE = {"iterations": 1000.0, "minutes": 1.0}  # solve_sample counts iterations in thousands


@register_plot("solve-curves")
def solve_curves(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """Fraction of seeds solved (Kaplan-Meier, 95% band) per task against iterations and minutes, a tick
    where a run ended unsolved; the paper's iterations-to-solve as a dotted line in the model's colour."""
    runs = read_csvs(inputs, "runs.csv")
    runs = runs[runs.status.isin(FINISHED)] if "status" in runs else runs.iloc[:0]
    if runs.empty:
        raise ConfigError("no finished runs (solved, unsolved or diverged) in the given results")
    paper = paper_table("paper_table1_algorithmic").set_index(["model", "task"])
    tasks = task_order(runs.task)
    fig, axes = plt.subplots(len(tasks), len(UNITS), figsize=(PANEL_SIZE[0] * len(UNITS), PANEL_SIZE[1] * len(tasks)),
                             squeeze=False)
    for row, task in zip(axes, tasks):
        for ax, (unit, label) in zip(row, UNITS):
            scale, right, beyond, any_solved = SCALE[unit], 0.0, [], False
            for model, group in runs[runs.task == task].groupby("model"):
                sample = solve_sample(group, unit)
                if not sample.n:
                    continue
                style = model_style(model)
                curve = km_curve(sample)
                times = curve.time * scale
                ax.step(times, curve.solved, where="post", color=style["color"], linestyle=style["linestyle"],
                        label=f"{model} ({sample.k}/{sample.n})")
                ax.fill_between(times, curve.low, curve.high, step="post", color=style["color"], alpha=BAND_ALPHA,
                                linewidth=0)
                censored = [t for t, solved in zip(sample.durations, sample.solved) if not solved]
                at = curve.set_index("time").solved
                ax.plot([t * scale for t in censored], [at[at.index <= t].iloc[-1] for t in censored], "|",
                        color=style["color"], markersize=CENSOR_MARK_SIZE)
                right = max(right, max(sample.durations) * scale)
                any_solved = any_solved or sample.k > 0
                ref = paper_row(paper, model, task)
                if unit == "iterations" and ref is not None and ref.outcome == "solved":
                    beyond.append((float(ref.value) * scale, style["color"], model))
            right = right * 1.04 or 1.0
            for at_x, color, model in beyond:  # the paper's k to solve: a line where it falls on the axis
                if at_x <= right:
                    ax.axvline(at_x, color=color, linestyle=":", linewidth=1.2)
                else:
                    ax.plot([], [], linestyle=":", color=color, label=f"paper {model}: {at_x / 1000:g}k (off the axis)")
            if not any_solved:
                ax.text(0.5, 0.5, "no run solved", transform=ax.transAxes, ha="center", va="center", color="0.4")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlim(0, right)
            if unit == "iterations":
                thousands_axis(ax.xaxis)
            ax.set_title(f"{task_title(task)}: by {'iterations' if unit == 'iterations' else 'minutes'}")
            ax.set_xlabel(label)
            ax.set_ylabel("fraction of seeds solved")
            ax.grid(True, alpha=0.25)
            ax.legend(fontsize="x-small", title="dotted: paper's k to solve" if unit == "iterations" else None,
                      title_fontsize="x-small")
    fig.tight_layout()
    paths = save(fig, out, "solve_curves")
    plt.close(fig)
    return paths

