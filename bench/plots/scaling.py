"""Figure 1 of the SAM paper (Rae et al. 2016) from `bench profile --slots ...` output: time per step and
memory against the number of memory slots N, log-log, one line per model; training and inference
panels. Models without memory (LSTM) are a flat reference line across the sizes. Skipped rows are left
out (their reason is in the CSV)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from bench.config import ConfigError
from bench.plots import register_plot, save
from bench.plots.figure3 import memory_measure
from bench.plots.style import log_axis, model_style
from bench.profile_engine import MODES, latest, read_profiles

SCALING_SETUP = r"^h\d+-T\d+-B\d+-N\d+$"  # setups of a --slots grid
PANEL_TITLES = {"train": "training (forward + backward + update)", "infer": "inference (forward)"}
MS, MIB = 1e3, 2**20


def scaling_rows(inputs: list[Path]) -> pd.DataFrame:
    """The latest run row of each (model, setup, mode) of a --slots grid, skipped rows left out."""
    df = read_profiles(inputs)
    grid = df[df.setup.astype(str).str.match(SCALING_SETUP)]
    if "skipped" in grid.columns:
        grid = grid[grid.skipped.isna() | (grid.skipped.astype(str) == "")]
    if grid.empty:
        raise ConfigError("no --slots rows (setups hH-TT-BB-NN) in the profile; run bench profile --slots ...")
    return latest(grid, ["model", "setup", "mode"])


@register_plot("scaling")
def scaling(inputs: list[Path], out: Path, console) -> list[Path]:
    """SAM Figure 1: time per time step (top) and memory (bottom) against N, training and inference."""
    grid = scaling_rows(inputs)
    for column in ("tbptt", "batch_size", "device", "hidden_size"):
        if grid[column].nunique() > 1:
            raise ConfigError(f"the profile mixes {column} values {sorted(map(str, grid[column].unique()))}; "
                              "plot one shape and device at a time")
    first = grid.iloc[0]
    column, label = memory_measure(str(first["device"]))
    grid = grid.assign(N=grid.setup.str.extract(r"-N(\d+)$")[0].astype(int))
    models = list(dict.fromkeys(grid.model))

    fig, axes = plt.subplots(2, len(MODES), figsize=(12, 8.5))
    for j, mode in enumerate(MODES):
        rows = grid[grid["mode"] == mode]
        for model in models:
            m = rows[rows.model == model].sort_values("N")
            if m.empty:
                continue
            flat = (m.memory_slots == 0).all()  # no memory (LSTM): run at every N, a flat reference line
            style = {**model_style(model), "label": model}
            if flat:
                style["linestyle"] = ":"
            axes[0, j].plot(m.N, m.step_cpu_time_min_s / m.tbptt * MS, **style)
            axes[1, j].plot(m.N, m[column] / MIB, **style)
        axes[0, j].set_title(PANEL_TITLES[mode])
        axes[0, j].set_ylabel("CPU time per time step (ms, least of the timed steps)")
        axes[1, j].set_ylabel(f"{label} in MiB", fontsize=8)
        for ax in axes[:, j]:
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("memory slots N")
            ax.grid(True, which="both", alpha=0.3)
            log_axis(ax.yaxis)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(models), 8), fontsize=8, bbox_to_anchor=(0.5, -0.03))
    device = "CPU" if str(first["device"]) == "cpu" else "GPU"
    fig.suptitle(f"SAM Figure 1 (ours, {device}: {first['device_name']}, {int(first['num_threads'])} thread(s)): "
                 f"d_h {int(first['hidden_size'])}, word {int(first['memory_width'])}, T={int(first['tbptt'])}, "
                 f"batch {int(first['batch_size'])}, {first['dtype']}", fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    paths = save(fig, out, "scaling")
    plt.close(fig)
    return paths
