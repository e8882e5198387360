"""Show the model presets, tasks, suites, reports and plots that bench knows."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

import models
import tasks
from bench.config import load_config

NAME = "list"
HELP = "show the model presets, tasks, suites, reports and plots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    return table


def main(args: argparse.Namespace, console: Console) -> int:
    config = load_config(args.config)  # first: a bad file is refused before the heavy imports below
    from bench.plots import PLOTS
    from bench.reports import REPORTS

    rows = []
    for name, preset in sorted(config["models"].items()):
        preset = dict(preset or {})
        cls = preset.pop("class", name)
        mem = f"{preset.pop('memory_slots')}x{preset.pop('memory_width', '')}" if "memory_slots" in preset else "-"
        hidden = str(preset.pop("hidden_size", "-"))
        extra = ", ".join(f"{k}={v}" for k, v in preset.items())
        rows.append((name, cls, hidden, mem, "yes" if cls in models.MODEL_REGISTRY else "[red]no[/]", extra))
    console.print(_table("models (presets in benchmarks.yaml)", ("preset", "class", "hidden", "memory", "implemented", "options"), rows))
    from bench.plugins import ORIGIN

    plugged = sorted((kind, name, plugin.label()) for (kind, name), plugin in ORIGIN.items())
    if plugged:  # usable by name (-m NAME) with their config's defaults
        console.print(_table("from plugins (usable by name)", ("kind", "name", "plugin"), plugged))
    rows = []
    for name, preset in sorted(config["tasks"].items()):
        preset = dict(preset or {})
        cls = preset.pop("class", name)
        ok = "" if cls in tasks.TASK_REGISTRY else " [red](not implemented)[/]"
        rows.append((name, cls + ok, ", ".join(f"{k}={v}" for k, v in preset.items())))
    console.print(_table("tasks", ("preset", "class", "options"), rows))
    suites = config.get("suites") or {}
    rows = [(name, str((suite or {}).get("description", ""))) for name, suite in sorted(suites.items())]
    console.print(_table("suites (bench run --suite NAME)", ("suite", "description"), rows or [("-", "none defined")]))
    console.print(_table("reports (bench report NAME)", ("report", "description"), [(n, f.__doc__.strip().splitlines()[0]) for n, f in sorted(REPORTS.items())]))
    console.print(_table("plots (bench plot NAME)", ("plot", "description"), [(n, f.__doc__.strip().splitlines()[0]) for n, f in sorted(PLOTS.items())]))
    return 0
