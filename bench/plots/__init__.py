"""Plots shaped like the paper's figures, from results CSVs. One module per plot, registered by name
with ``@register_plot``; found automatically. Plots write PNG and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib

from models.registry import Registry, import_submodules

matplotlib.use("Agg")  # files only, no display

# fn(inputs: list of results folders or CSV files, out: folder to write, console) -> files written
PlotFn = Callable[..., list[Path]]
PLOTS = Registry("plot")
register_plot = PLOTS.register  # function decorator: @register_plot("figure2")
FORMATS = ("png", "svg")


def save(fig, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.{fmt}" for fmt in FORMATS]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    return paths


import_submodules(__name__, __path__)
