"""Reports: tables shaped like the paper's, built from results CSVs, with the paper's numbers beside
ours. One module per report, registered by name with ``@register_report``; found automatically."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Callable

import pandas as pd

from bench.config import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
PAPER_DIR = REPO_ROOT / "results" / "paper"  # the paper's tables as CSV (copied from the paper)

# fn(inputs: list of results folders or CSV files, out: folder to write, console) -> files written
ReportFn = Callable[..., list[Path]]
REPORTS: dict[str, ReportFn] = {}


def register_report(name: str):
    def decorate(fn: ReportFn) -> ReportFn:
        REPORTS[name] = fn
        return fn

    return decorate


def paper_table(name: str) -> pd.DataFrame:
    """One of the paper's tables from results/paper/ (comment lines skipped)."""
    return pd.read_csv(PAPER_DIR / f"{name}.csv", comment="#")


def read_csvs(inputs: list[Path], filename: str) -> pd.DataFrame:
    """Concatenate ``filename`` from every input folder (or take inputs that are CSV files)."""
    frames = []
    for path in inputs:
        path = Path(path)
        candidate = path if path.suffix == ".csv" else path / filename
        if path.suffix == ".csv" and path.name != filename:
            candidate = path.parent / filename
        if not candidate.is_file():
            raise ConfigError(f"no {filename} in {path}")
        frames.append(pd.read_csv(candidate))
    if not frames:
        raise ConfigError("no results given")
    return pd.concat(frames, ignore_index=True)


def write_table(df: pd.DataFrame, out: Path, stem: str, title: str) -> list[Path]:
    """Write ``df`` as CSV and Markdown; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / f"{stem}.csv", out / f"{stem}.md"
    df.to_csv(csv_path, index=False)
    md_path.write_text(f"# {title}\n\n{df.to_markdown(index=False)}\n")
    return [csv_path, md_path]


for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
