"""Table 3 of the ARMIN paper: character-level language modelling, test bits per character on Penn
Treebank and enwik8 and the parameter counts, the paper's figures beside ours."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from rich.console import Console

from bench.reports import paper_table, read_csvs, register_report, write_table
from bench.reports.table1 import paper_name
from bench.reports.table2 import figure, mean_std, print_table, real_data_runs

PAPER_TABLE = "paper_table3_charlm"
PAPER_DATASETS = ("ptb", "enwik8")  # the paper's columns
MILLION = 1e6
# The paper's own LSTM baseline (Table 4, setup 2: 1000 units, T_trunc 150, 4.79M) used layer norm and zoneout.
LSTM_ROW, LSTM_UNITS = "LSTM+LN+Zoneout", 1000
NOTES = {"lstm": "ours: plain nn.LSTM (no LN, no zoneout)"}


def paper_row_name(model_class: str, hidden: int, layers: int) -> str:
    """The paper's Table 3 row for one of our models: 'ARMIN (800 units)', 'ARMIN (800 units 2 layer)'."""
    if model_class == "lstm" and hidden == LSTM_UNITS and layers == 1:
        return LSTM_ROW
    return f"{paper_name(model_class)} ({hidden} units" + (f" {layers} layer)" if layers > 1 else ")")


def _class_and_layers(row: pd.Series) -> tuple[str, int]:
    options = json.loads(row.model_options)
    return (options.get("layer", row.model_class) if row.model_class == "stacked" else row.model_class), int(row.layer_count)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (model preset, dataset): test BPC (best-validation weights) beside the paper's."""
    runs = real_data_runs(runs, "charlm")
    paper = paper_table(PAPER_TABLE).set_index("model")
    rows = []
    for (model, dataset), group in runs.groupby(["model", "dataset"], sort=False):
        model_class, layers = _class_and_layers(group.iloc[0])
        hidden = int(group.hidden_size.iloc[0])
        name = paper_row_name(model_class, hidden, layers)
        ref = paper.loc[name] if name in paper.index else None
        same_data = ref is not None and dataset in PAPER_DATASETS
        bpc, spread = mean_std(group.metric_value)
        rows.append({
            "model": model,
            "dataset": dataset,
            "paper row": name if ref is not None else "-",
            "units": hidden,
            "layers": layers,
            "seeds": len(group),
            "epochs": float(group.epochs_run.mean()),
            "BPC (ours)": figure(bpc, spread, 3),
            "BPC (paper)": ref[f"{dataset}_bpc"] if same_data else None,
            "params M (ours)": round(int(group.param_count.iloc[0]) / MILLION, 2),
            "params (paper)": ref[f"{dataset}_params"] if same_data else None,
            "T_trunc": json.loads(group.task_options.iloc[0]).get("tbptt_length"),
            "data": str(group.data.iloc[0]).split(";")[0],
            "notes": NOTES.get(model_class, ""),
        })
    return pd.DataFrame(rows)


def wide(summary: pd.DataFrame) -> pd.DataFrame:
    """Shaped like the paper's Table 3: a row per model, for PTB and enwik8 BPC and parameters, ours and
    the paper's (its row for the model, whether or not we ran that dataset), then any other data."""
    paper = paper_table(PAPER_TABLE).set_index("model")
    rows = []
    for model, group in summary.groupby("model", sort=False):
        first = group.iloc[0]
        ref = paper.loc[first["paper row"]] if first["paper row"] in paper.index else None
        ours = group.set_index("dataset")
        row = {"model": model, "paper row": first["paper row"], "units": first.units, "layers": first.layers}
        datasets = list(PAPER_DATASETS) + [d for d in ours.index if d not in PAPER_DATASETS]
        for dataset in datasets:
            row[f"{dataset} BPC (ours)"] = ours.loc[dataset, "BPC (ours)"] if dataset in ours.index else None
            row[f"{dataset} params M (ours)"] = ours.loc[dataset, "params M (ours)"] if dataset in ours.index else None
            if dataset in PAPER_DATASETS:
                row[f"{dataset} BPC (paper)"] = None if ref is None else ref[f"{dataset}_bpc"]
                row[f"{dataset} params (paper)"] = None if ref is None else ref[f"{dataset}_params"]
        row["notes"] = first.notes
        rows.append(row)
    return pd.DataFrame(rows)


@register_report("table3")
def table3(inputs: list[Path], out: Path, console: Console) -> list[Path]:
    """ARMIN Table 3: test BPC on Penn Treebank and enwik8 and parameters (ours beside the paper's)."""
    summary = summarise(read_csvs(inputs, "runs.csv"))
    title = ("ARMIN paper Table 3 (character-level LM), ours beside the paper's: test bits per character of the "
             "best-validation weights, mean ± std over seeds")
    if summary.empty:
        console.print("[yellow]no finished charlm runs in the inputs[/]")
        return write_table(summary, out, "table3", title)
    table = wide(summary)
    print_table(console, table, title)
    return write_table(summary, out, "table3_long", title) + write_table(table, out, "table3", title)
