"""What ``bench report`` and ``bench plot`` share: pick a registered builder by name, read results
folders, write files.

Inputs are never written: by default the files go to ``reports/`` in the current folder (``--out``
names another). A builder writes into a staging folder first; its files then replace files in the
output folder only if this command made them before (they are listed in the folder's
``.bench-made``) or ``--force`` is given; otherwise nothing is written and the command says which
files it would replace (exit 2).
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from rich.console import Console

from bench.commands._arguments import folder
from bench.config import ConfigError

DEFAULT_OUT = Path("reports")
MADE = ".bench-made"  # in an output folder: the files bench report / bench plot wrote there, one a line


def made_files(out: Path) -> set[str]:
    try:
        return {line for line in (out / MADE).read_text().splitlines() if line}
    except OSError:
        return set()


def publish(staged: list[Path], staging: Path, out: Path, force: bool) -> list[Path]:
    """Move the staged files into ``out`` (the same relative paths), refusing to replace a file that
    bench did not make there unless ``force``; returns their new paths."""
    relative = [path.resolve().relative_to(staging.resolve()).as_posix() for path in staged]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--out {out} cannot be made: {err.strerror or err}") from None
    made = made_files(out)
    foreign = [name for name in relative if (out / name).exists() and name not in made]
    if foreign and not force:
        shown = ", ".join(str(out / name) for name in foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise ConfigError(f"would replace {len(foreign)} file(s) that bench did not write: {shown}; "
                          f"give another --out folder, or --force to replace them")
    written = []
    for name in relative:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise ConfigError(f"{target} is a folder; give another --out folder")
        shutil.move(str(staging / name), str(target))
        written.append(target)
    (out / MADE).write_text("".join(f"{name}\n" for name in sorted(made | set(relative))))
    return written


def artifact_command(kind: str, registry: str) -> tuple[Callable, Callable]:
    """``add_arguments`` and ``main`` for a command that runs one builder of ``registry``
    (e.g. "bench.reports:REPORTS") on results folders."""
    module_name, attribute = registry.split(":")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help=f"which {kind} (see bench list)")
        parser.add_argument("--in", "-i", dest="inputs", action="append", type=Path,
                            help="results folder or CSV (repeatable; default results/); never written")
        parser.add_argument("--out", "-o", type=folder, default=DEFAULT_OUT,
                            help=f"folder to write (default {DEFAULT_OUT}/ in the current folder)")
        parser.add_argument("--force", action="store_true",
                            help="replace files in --out that bench report/plot did not write")

    def main(args: argparse.Namespace, console: Console) -> int:
        builders = getattr(importlib.import_module(module_name), attribute)
        if args.name not in builders:
            raise ConfigError(f"unknown {kind} {args.name!r}; valid: {', '.join(sorted(builders))}")
        inputs = args.inputs or [Path("results")]
        out = args.out
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file; give a folder to write the {kind} into")
        with tempfile.TemporaryDirectory(prefix="bench-staging-") as staging:
            builders[args.name](inputs, Path(staging), console)
            staged = sorted(p for p in Path(staging).rglob("*") if p.is_file())  # every file it wrote
            written = publish(staged, Path(staging), out, getattr(args, "force", False))
        for path in written:
            console.print(f"wrote {path}")
        return 0

    return add_arguments, main
