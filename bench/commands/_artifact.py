"""What ``bench report`` and ``bench plot`` share: pick a registered builder by name, read results
folders, write files."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Callable

from rich.console import Console

from bench.commands._arguments import folder
from bench.config import ConfigError
from bench.reports.render import FORMATS, artifact_options


def artifact_command(kind: str, registry: str) -> tuple[Callable, Callable]:
    """``add_arguments`` and ``main`` for a command that runs one builder of ``registry``
    (e.g. "bench.reports:REPORTS") on results folders."""
    module_name, attribute = registry.split(":")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help=f"which {kind} (see bench list)")
        parser.add_argument("--in", "-i", dest="inputs", action="append", type=Path,
                            help="results folder or CSV (repeatable; default results/)")
        parser.add_argument("--out", "-o", type=folder, help="folder to write (default: the first input folder)")
        parser.add_argument("--format", "-f", choices=FORMATS, default="markdown",
                            help="tables: CSV and Markdown (default), CSV and LaTeX, or CSV alone")
        parser.add_argument("--all-runs", action="store_true",
                            help="generalisation: every run, solved and unsolved apart (default: solved runs only)")

    def main(args: argparse.Namespace, console: Console) -> int:
        builders = getattr(importlib.import_module(module_name), attribute)
        if args.name not in builders:
            raise ConfigError(f"unknown {kind} {args.name!r}; valid: {', '.join(sorted(builders))}")
        inputs = args.inputs or [Path("results")]
        out = args.out or (inputs[0] if inputs[0].suffix != ".csv" else inputs[0].parent)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file; give a folder to write the {kind} into")
        with artifact_options(format=args.format, all_runs=args.all_runs):
            written = builders[args.name](inputs, out, console)
        for path in written:
            console.print(f"wrote {path}")
        return 0

    return add_arguments, main
