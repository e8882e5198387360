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
import errno
import importlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable

from rich.console import Console

from bench.commands._arguments import folder
from bench.config import ConfigError
from bench.reports.render import FORMATS, MADE, artifact_options, made_files

DEFAULT_OUT = Path("reports")


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
        parser.add_argument("--format", "-f", choices=FORMATS, default="markdown",
                            help="tables: CSV and Markdown (default), CSV and LaTeX, or CSV alone")
        parser.add_argument("--all-runs", action="store_true",
                            help="generalisation: every run, solved and unsolved apart (default: solved runs only)")

    def main(args: argparse.Namespace, console: Console) -> int:
        builders = getattr(importlib.import_module(module_name), attribute)
        if args.name not in builders:
            raise ConfigError(f"unknown {kind} {args.name!r}; valid: {', '.join(sorted(builders))}")
        inputs = args.inputs or [Path("results")]
        out = args.out
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file; give a folder to write the {kind} into")
        check_writable_folder(out, kind)
        try:
            with tempfile.TemporaryDirectory(prefix="bench-staging-") as staging:
                with artifact_options(format=args.format, all_runs=args.all_runs, destination=out):
                    builders[args.name](inputs, Path(staging), console)
                staged = sorted(p for p in Path(staging).rglob("*") if p.is_file())  # every file it wrote
                written = publish(staged, Path(staging), out, args.force)
        except OSError as err:  # disk full, or the folder changed under us: one line, exit 2
            if not err.filename or not Path(err.filename).resolve().is_relative_to(out.resolve()):
                raise
            raise ConfigError(f"cannot write the {kind} into {out}: {err.strerror or err}") from None
        for path in written:
            console.print(f"wrote {path}", markup=False, highlight=False)
        return 0

    return add_arguments, main


def check_writable_folder(out: Path, kind: str) -> None:
    """ConfigError (one line, exit 2) unless the {kind} can be written into ``out``: ``out``, or where
    it is missing the nearest folder above it that exists (where it would be made), must be a folder
    in which a file can be created. A folder without any write permission bit counts as read-only
    even for root (someone protected it), as the results store counts a file. Nothing is left behind."""
    what = f"--out {out}: cannot write the {kind} there"
    existing = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        if not existing.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise ConfigError(f"{what}: {existing} is read-only; make it writable (chmod u+w) or give another --out")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise ConfigError(f"{what}: {err.strerror or err}") from None
