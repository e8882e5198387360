"""The ``bench`` command line: a thin dispatcher.

Each subcommand is a module in bench/commands/ that defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``main(args, console) -> exit code``; it is found by name, so adding a
command touches no code here. Errors in configuration or arguments (``ConfigError``) are one line on
stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import os
import sys

from rich.console import Console

import bench.commands
from bench import plugins
from bench.config import DEFAULT_CONFIG_PATH, ConfigError

EXIT_USAGE = 2
WIDE_CONSOLE = 160  # columns when output goes to a file or CI log


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def command_modules():
    """The subcommand modules, in a stable order."""
    names = sorted(m.name for m in pkgutil.iter_modules(bench.commands.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"bench.commands.{name}") for name in names]


def add_plugin_argument(parser: argparse.ArgumentParser, dest: str) -> None:
    parser.add_argument("--plugin", dest=dest, action="append", default=[], metavar="FILE.py|MODULE",
                        help="load models/tasks registered in a Python file or module (repeatable; see docs/plugins.md)")


def build_parser() -> tuple[Parser, dict]:
    parser = Parser(
        prog="bench",
        description="mannbench: train and profile memory-augmented recurrent networks on shared tasks.",
        epilog="Configuration lives in benchmarks.yaml (model/task presets, training defaults, suites).",
    )
    parser.add_argument("--config", default=None, help=f"configuration YAML laid on top of the packaged defaults "
                        f"({DEFAULT_CONFIG_PATH})")
    add_plugin_argument(parser, "plugin_first")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    handlers = {}
    for module in command_modules():
        doc = (module.__doc__ or module.HELP).strip()
        command = sub.add_parser(module.NAME, help=module.HELP, description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command)
        add_plugin_argument(command, "plugin")
        handlers[module.NAME] = module.main
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    # a terminal's width, or $COLUMNS; a file or CI log gets WIDE_CONSOLE
    console = Console() if sys.stdout.isatty() or os.environ.get("COLUMNS") else Console(width=WIDE_CONSOLE)
    try:
        plugins.load_entry_points(warn=lambda text: print(f"bench: warning: {text}", file=sys.stderr))
        plugins.load_plugins(args.plugin_first + getattr(args, "plugin", []))
        return handlers[args.command](args, console)
    except ConfigError as err:
        print(f"bench: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
