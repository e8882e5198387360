"""Reports: tables shaped like the paper's, built from results CSVs, with the paper's numbers beside
ours. One module per report, registered by name with ``@register_report``; found automatically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pandas as pd

from bench.config import ConfigError
from bench.status import ERROR
from models.registry import Registry, import_submodules
from bench.store import read_frame, read_runs_frame
from bench.store.table import warn_on_stderr
from bench.reports.render import show_table, write_table  # noqa: F401 (the reports' writers)

PAPER_DIR = Path(__file__).resolve().parents[1] / "paper"  # the paper's tables (links to results/paper/*.csv, package data)

# fn(inputs: list of results folders or CSV files, out: folder to write, console) -> files written
ReportFn = Callable[..., list[Path]]
REPORTS = Registry("report")
register_report = REPORTS.register  # function decorator: @register_report("table1")


def paper_table(name: str) -> pd.DataFrame:
    """One of the paper's tables from results/paper/ (comment lines skipped)."""
    path = PAPER_DIR / f"{name}.csv"
    if not path.is_file():
        raise ConfigError(f"the paper's table {path} is missing from the installed package; reinstall mannbench")
    return pd.read_csv(path, comment="#")


def read_csvs(inputs: list[Path], filename: str) -> pd.DataFrame:
    """Concatenate ``filename`` from every input folder (or take inputs that are CSV files); a file
    named twice (``--in X --in X``, or a folder and its runs.csv) is read once, and runs.csv rows of one
    run count once (``bench.store.read_runs_frame``)."""
    candidates = []
    for path in inputs:
        path = Path(path)
        candidate = path if path.suffix == ".csv" else path / filename
        if path.suffix == ".csv" and path.name != filename:
            candidate = path.parent / filename
        if not candidate.is_file():
            raise ConfigError(f"no {filename} in {path}")
        candidates.append(candidate.resolve())
    candidates = list(dict.fromkeys(candidates))
    if not candidates:
        raise ConfigError("no results given")
    if filename == "runs.csv":
        df = read_runs_frame(candidates)
    else:  # bad lines skipped with a warning
        df = pd.concat([read_frame(candidate) for candidate in candidates], ignore_index=True)
    where = ", ".join(str(p) for p in inputs)
    if df.empty:
        raise ConfigError(f"no rows in {filename} of {where}")
    if filename == "runs.csv" and "status" in df.columns and df.status.eq(ERROR_STATUS).all():
        raise ConfigError(f"no finished run in {where}: all {len(df)} row(s) are errors (see their error column)")
    if filename == "runs.csv":
        warn_mixed_behaviour(df)
        return distinguish_configurations(df)
    return df


BEHAVIOUR_COLUMN = "behaviour_version"  # bench/behaviour.py


def behaviour_versions(runs: pd.DataFrame) -> dict[str, int]:
    """Rows per results-behaviour version ("unrecorded": rows written before the column existed)."""
    if runs.empty:
        return {}
    column = runs[BEHAVIOUR_COLUMN] if BEHAVIOUR_COLUMN in runs.columns else pd.Series([None] * len(runs))
    names = column.map(lambda v: "unrecorded" if pd.isna(v) or str(v).strip() == "" else f"v{int(float(v))}")
    return {str(name): int(count) for name, count in names.value_counts(sort=False).sort_index().items()}


def warn_mixed_behaviour(runs: pd.DataFrame, warn: Callable[[str], None] = warn_on_stderr) -> None:
    """One warning, with counts, when rows come from different results behaviours: the same spec and
    seed may give different results under them, so their numbers are not strictly comparable."""
    counts = behaviour_versions(runs)
    if len(counts) > 1:
        shown = ", ".join(f"{count} row(s) {name}" for name, count in counts.items())
        warn(f"these results mix {len(counts)} results-behaviour versions ({shown}); the same model, "
             f"task and seed can give different results under different versions (see the behaviour_version column)")


ERROR_STATUS = ERROR  # a run that failed: nothing to report
CONFIGURATION_COLUMNS = ("model_options", "dtype")  # what makes two runs of one preset different models


def distinguish_configurations(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of one preset with different model options or dtype (e.g. ``-s model.layer_norm=true``)
    are different models: their ``model`` gets the options that differ, ``armin (layer_norm=True)``,
    so that reports and plots never average across them."""
    if not set(CONFIGURATION_COLUMNS) <= set(runs.columns) or runs.empty:
        return runs
    runs = runs.copy()
    for model, group in runs.groupby("model", sort=False):
        configs = [_configuration(row) for _, row in group.iterrows()]
        keys = sorted({k for c in configs for k in c})
        varying = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
        if not varying:
            continue
        for index, config in zip(group.index, configs):
            shown = ", ".join(f"{k}={config[k]}" for k in varying if k in config)
            runs.loc[index, "model"] = f"{model} ({shown})" if shown else model
    return runs


def _configuration(row: pd.Series) -> dict:
    options = json.loads(row["model_options"]) if isinstance(row["model_options"], str) and row["model_options"] else {}
    sizes_from_the_task = ("input_size", "output_size")
    return {**{k: v for k, v in options.items() if k not in sizes_from_the_task}, "dtype": row["dtype"]}


import_submodules(__name__, __path__)
