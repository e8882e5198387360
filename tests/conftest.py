"""Shared by every test: the CLI run in this process."""

import pytest

from bench.cli import main


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    """``bench ARGV`` in this process: (exit code, lines on stderr). argparse's errors exit via SystemExit."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.fixture
def cli():
    return run_cli
