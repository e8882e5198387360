"""Figure 2 of the ARMIN paper: validation loss curves on the algorithmic tasks."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from rich.console import Console

from bench.config import ConfigError
from bench.plots import register_plot, save
from bench.reports import read_csvs
from bench.reports.table1 import TASK_ORDER

PANEL_SIZE = (4.5, 3.5)  # inches per task panel
LOSS_FLOOR = 1e-5  # log scale cannot show 0
BAND_ALPHA = 0.2


def curves_of_finished_runs(inputs: list[Path]) -> pd.DataFrame:
    """Validation curves of runs that have a row in runs.csv (a run killed mid-way is left out)."""
    runs = read_csvs(inputs, "runs.csv")
    curves = read_csvs(inputs, "curves.csv")
    curves = curves[curves.run_id.isin(runs.run_id)].copy()
    curves["model"] = curves.run_id.map(runs.set_index("run_id").model)  # configurations told apart
    if curves.empty:
        raise ConfigError("no validation curves of finished runs in the given results")
    return curves


@register_plot("figure2")
def figure2(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """ARMIN Figure 2: validation loss per task, a line per model (median), band = min..max over seeds."""
    curves = curves_of_finished_runs(inputs)
    tasks = [t for t in TASK_ORDER if t in set(curves.task)] + sorted(set(curves.task) - set(TASK_ORDER))
    fig, axes = plt.subplots(1, len(tasks), figsize=(PANEL_SIZE[0] * len(tasks), PANEL_SIZE[1]), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for model, group in curves[curves.task == task].groupby("model"):
            stats = group.groupby("iteration").val_loss.agg(["median", "min", "max"]).clip(lower=LOSS_FLOOR)
            seeds = group.seed.nunique()
            (line,) = ax.plot(stats.index, stats["median"], label=f"{model} ({seeds} seed{'s' if seeds > 1 else ''})")
            if seeds > 1:
                ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=BAND_ALPHA)
        ax.set_yscale("log")
        ax.set_title(task.replace("_", " "))
        ax.set_xlabel("iteration")
        ax.axhline(0.01, color="grey", linestyle=":", linewidth=1)  # the solved threshold
        ax.legend(fontsize="small")
    axes[0][0].set_ylabel("validation BCE (per bit)")
    fig.tight_layout()
    paths = save(fig, out, "figure2")
    plt.close(fig)
    return paths
