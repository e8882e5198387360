"""Table 2 of the ARMIN paper: permuted pixel-by-pixel MNIST: test accuracy, parameters, memory and
minutes per epoch of training, the paper's figures beside ours, with the data actually used."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from rich.console import Console

from bench.reports import paper_table, read_csvs, register_report, show_table, write_table
from bench.reports.table1 import paper_name
from bench.status import FINISHED  # epoch-based runs end unsolved (trained to their budget) or diverged

PAPER_TABLE = "paper_table2_pmnist"
GB = 2**30
SECONDS_PER_MINUTE = 60.0
PERCENT = 100.0
SPLIT_SIZES = re.compile(r"train/valid/test (\d+)/(\d+)/(\d+)")


def real_data_runs(runs: pd.DataFrame, task_class: str) -> pd.DataFrame:
    """Finished runs of ``task_class`` with their task options and the dataset as columns."""
    runs = runs[(runs.task_class == task_class) & runs.status.isin(FINISHED)].copy()
    options = runs.task_options.map(json.loads)
    runs["dataset"] = options.map(lambda o: o.get("dataset", ""))
    runs["layer_count"] = runs.model_options.map(lambda o: json.loads(o).get("num_layers", 1))
    return runs


def mean_std(values: pd.Series, scale: float = 1.0) -> tuple[float | None, float | None]:
    values = values.dropna().astype(float) * scale
    if values.empty:
        return None, None
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def figure(mean: float | None, std: float | None, digits: int) -> str:
    """'94.3' or '94.3 ±0.2' (spread across seeds), '-' when missing."""
    if mean is None or pd.isna(mean):
        return "-"
    return f"{mean:.{digits}f}" + (f" ±{std:.{digits}f}" if std else "")


def memory_figure(group: pd.DataFrame) -> tuple[float | None, str]:
    """Peak GPU memory in GB when the runs used a GPU, else the process's peak RSS (and which it is)."""
    gpu = group.peak_cuda_bytes.dropna() if "peak_cuda_bytes" in group else pd.Series(dtype=float)
    if not gpu.empty:
        return float(gpu.max()) / GB, "GPU"
    return float(group.max_rss_bytes.max()) / GB, "CPU RSS"


def _data_label(group: pd.DataFrame) -> str:
    match = SPLIT_SIZES.search(str(group.data.iloc[0]))
    sizes = f" {match.group(1)}/{match.group(2)}/{match.group(3)}" if match else ""
    return f"{group.dataset.iloc[0]}{sizes}"


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (model preset, dataset): ours beside the paper's row for the model."""
    runs = real_data_runs(runs, "pmnist")
    paper = paper_table(PAPER_TABLE).set_index("model")
    rows = []
    for (model, dataset), group in runs.groupby(["model", "dataset"], sort=False):
        name = paper_name(group.model_class.iloc[0])
        ref = paper.loc[name] if name in paper.index else None
        accuracy, accuracy_std = mean_std(group.metric_value, PERCENT)
        minutes, _ = mean_std(group.train_time_s / SECONDS_PER_MINUTE / group.epochs_run)
        memory, memory_kind = memory_figure(group)
        slots, width = group.memory_slots.iloc[0], group.memory_width.iloc[0]
        rows.append({
            "model": model,
            "paper model": name,
            "data (train/valid/test)": _data_label(group),
            "seeds": len(group),
            "epochs": float(group.epochs_run.mean()),
            "test acc % (ours)": figure(accuracy, accuracy_std, 1),
            "test acc % (paper)": None if ref is None else ref.test_acc_pct,
            "hidden": int(group.hidden_size.iloc[0]),
            "memory": f"{int(slots)}x{int(width)}" if pd.notna(slots) and slots else "-",
            "params (ours)": int(group.param_count.iloc[0]),
            "params (paper)": None if ref is None or pd.isna(ref.param_count) else int(ref.param_count),
            "memory GB (ours)": round(memory, 3),
            "memory measured": f"{memory_kind}, {group.device.iloc[0]}",
            "GPU memory GB (paper)": None if ref is None else ref.gpu_memory_gb,
            "min/epoch (ours)": round(minutes, 2) if minutes is not None else None,
            "min/epoch (paper)": None if ref is None else ref.time_min_per_epoch,
            "dtype": ",".join(sorted(set(group.dtype.astype(str)))),
            "diverged": int((group.status == "diverged").sum()),
        })
    return pd.DataFrame(rows)


def print_table(console: Console, table: pd.DataFrame, title: str) -> None:
    show_table(console, table, title)


@register_report("table2")
def table2(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """ARMIN Table 2: pMNIST test accuracy, params, memory, min/epoch (ours beside the paper's)."""
    table = summarise(read_csvs(inputs, "runs.csv"))
    title = ("ARMIN paper Table 2 (pMNIST), ours beside the paper's: test accuracy of the best-validation weights, "
             "mean ± std over seeds; min/epoch = training time per epoch, evaluation excluded. The paper: MNIST, "
             "float64, Tesla K80")
    if table.empty:
        console.print("[yellow]no finished pmnist runs in the inputs[/]")
    else:
        print_table(console, table, title)
    return write_table(table, out, "table2", title)
