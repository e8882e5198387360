"""Generalisation plot (as the NTM paper's figures 4 and 7): error against the grown size, a line per
model (mean over runs, band = min..max), the training range shaded. Runs that solved only, unless
``--all-runs``: then the unsolved runs are lines of their own (dotted), never averaged with the solved."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from rich.console import Console

from bench.generalisation import BCE, BIT_ERRORS
from bench.plots import register_plot, save
from bench.config import ConfigError
from bench.plots.style import model_style
from bench.reports.generalization import SOLVED, read_generalization, select_runs
from bench.reports.render import options
from bench.reports.table1 import TASK_ORDER

PANEL_SIZE = (4.5, 3.5)  # inches per panel
BAND_ALPHA = 0.2
TRAINING_SHADE = {"color": "grey", "alpha": 0.15}
METRICS = ((BIT_ERRORS, "bit errors per sequence"), (BCE, "BCE per answer bit"))


@register_plot("generalization")
def generalization(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """Per task and grown size, bit errors per sequence and BCE against that size, the training range shaded."""
    all_runs = options().all_runs
    rows = select_runs(read_generalization(inputs), all_runs)
    if rows.empty:
        raise ConfigError("no run that solved has generalisation rows; --all-runs plots the unsolved runs")
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    panels = sorted(rows[["task", "parameter"]].drop_duplicates().itertuples(index=False),
                    key=lambda p: (order.get(p.task, len(order)), p.task, p.parameter))
    fig, axes = plt.subplots(len(METRICS), len(panels), figsize=(PANEL_SIZE[0] * len(panels), PANEL_SIZE[1] * len(METRICS)),
                             squeeze=False)
    for column, (task, parameter) in enumerate(panels):
        subset = rows[(rows.task == task) & (rows.parameter == parameter)]
        training_max = subset[subset.scale == 1].parameter_value
        for row, (metric, label) in enumerate(METRICS):
            ax = axes[row][column]
            if not training_max.empty:
                ax.axvspan(0, training_max.iloc[0], **TRAINING_SHADE, label="training range")
            for (model, outcome), group in subset[subset.metric == metric].groupby(["model", "outcome"]):
                stats = group.groupby("parameter_value").value.agg(["mean", "min", "max"])
                runs = group.run_id.nunique()
                style = model_style(model)
                if outcome != SOLVED:
                    style = {**style, "linestyle": ":", "markerfacecolor": "none"}
                name = f"{model}, {runs} {outcome} run{'s' if runs > 1 else ''}"
                ax.plot(stats.index, stats["mean"], **style, label=name)
                if runs > 1:
                    ax.fill_between(stats.index, stats["min"], stats["max"], color=style["color"], alpha=BAND_ALPHA,
                                    linewidth=0)
            ax.set_xlim(left=0)
            ax.set_ylim(bottom=0)
            ax.set_title(f"{task.replace('_', ' ')}: {label.split(' per ')[0]} against {parameter}")
            ax.set_xlabel(parameter)
            ax.set_ylabel(label)
            ax.legend(fontsize="small")
    fig.tight_layout()
    paths = save(fig, out, "generalization")
    plt.close(fig)
    return paths
