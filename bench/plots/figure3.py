"""Figure 3 of the ARMIN paper from `bench profile` output: memory as bars, speed as lines, one panel
for training and one for inference, models side by side at each hidden size."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from bench.config import ConfigError
from bench.plots import register_plot, save
from bench.plots.style import color_of, log_axis
from bench.profile_engine import MODES, latest, read_profiles

GRID_SETUP = r"^h\d+-T\d+-B\d+$"  # grid points (named setups such as Table 4's are left out)
PANEL_TITLES = {"train": "(a) training", "infer": "(b) inference"}
BAR_ALPHA = 0.45
GB, MB = 2**30, 2**20


PAPER_MEMORY = "the paper: GB of GPU memory"


def memory_measure(device: str) -> tuple[str, str]:
    """(column, axis label): measured peak memory on a GPU; on the CPU, whose RSS figures depend on
    the allocator, the exact figure (saved for backward in training, parameters + state in inference)."""
    if device.startswith("cuda"):
        return "peak_memory_bytes", "peak GPU memory allocated"
    return "exact_memory_bytes", "memory saved for backward (train),\nparams + state (infer)"


@register_plot("figure3")
def figure3(inputs: list[Path], out: Path, console) -> list[Path]:
    """Figure 3: speed (lines) and memory (bars) per model and hidden size, training and inference."""
    df = read_profiles(inputs)
    grid = df[df.setup.astype(str).str.match(GRID_SETUP)]
    if grid.empty:
        raise ConfigError("no grid rows (setups hHIDDEN-TTBPTT-BBATCH) in the profile; run bench profile --hidden ...")
    grid = latest(grid, ["model", "setup", "mode"])
    for column in ("tbptt", "batch_size", "device"):
        if grid[column].nunique() > 1:
            raise ConfigError(f"the profile mixes {column} values {sorted(map(str, grid[column].unique()))}; "
                              "plot one shape and device at a time")
    first = grid.iloc[0]
    column, label = memory_measure(str(first["device"]))
    scale, unit = (GB, "GB") if grid[column].max() >= GB else (MB, "MB")
    models = list(dict.fromkeys(grid.model))
    hidden = sorted(grid.hidden_size.unique())
    colors = {model: color_of(model) for model in models}
    x = np.arange(len(hidden))
    width = 0.8 / len(models)

    fig, axes = plt.subplots(1, len(MODES), figsize=(13, 4.8))
    speed_axes = [ax.twinx() for ax in axes]
    for ax, speed_ax, mode in zip(axes, speed_axes, MODES):
        rows = grid[grid["mode"] == mode]
        for i, model in enumerate(models):
            m = rows[rows.model == model].set_index("hidden_size").reindex(hidden)
            ax.bar(x + (i - (len(models) - 1) / 2) * width, m[column] / scale, width, color=colors[model],
                   alpha=BAR_ALPHA, label=f"{model} memory")
            speed_ax.plot(x, m.chars_per_s, marker="o", color=colors[model], label=f"{model} speed")
        ax.set_xticks(x, [str(h) for h in hidden])
        ax.set_xlabel(f"hidden size $d_h$ (memory {int(grid.memory_slots.max())} x $d_h$)")
        ax.set_ylabel(f"{label} in {unit}\n({PAPER_MEMORY})", fontsize=8)
        speed_ax.set_yscale("log")
        log_axis(speed_ax.yaxis)
        speed_ax.set_ylabel("speed (chars/s, median)")
        ax.set_title(PANEL_TITLES[mode])
    bars, bar_labels = axes[0].get_legend_handles_labels()
    lines, line_labels = speed_axes[0].get_legend_handles_labels()
    fig.legend(bars + lines, bar_labels + line_labels, loc="lower center", ncol=len(models), fontsize=8,
               bbox_to_anchor=(0.5, -0.12))
    device = "CPU" if str(first["device"]) == "cpu" else "GPU"
    fig.suptitle(f"Figure 3 (ours, {device}: {first['device_name']}, {int(first['num_threads'])} thread(s), torch "
                 f"{first['torch_version']}): T={int(first['tbptt'])}, batch {int(first['batch_size'])}, "
                 f"vocab {int(first['vocab'])}, {first['dtype']}", fontsize=9)
    fig.tight_layout()
    paths = save(fig, out, "figure3")
    plt.close(fig)
    return paths
