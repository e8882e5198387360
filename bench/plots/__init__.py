"""Plots shaped like the paper's figures, from results CSVs. One module per plot, registered by name
with ``@register_plot``; found automatically. Plots write PNG and SVG."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")  # files only, no display

# fn(inputs: list of results folders or CSV files, out: folder to write, console) -> files written
PlotFn = Callable[..., list[Path]]
PLOTS: dict[str, PlotFn] = {}
FORMATS = ("png", "svg")


def register_plot(name: str):
    def decorate(fn: PlotFn) -> PlotFn:
        PLOTS[name] = fn
        return fn

    return decorate


def save(fig, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.{fmt}" for fmt in FORMATS]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return paths


for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
