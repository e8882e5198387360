"""Argument types the commands share: argparse reports a bad value in one line and exits with code 2."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable


def folder(text: str) -> Path:
    """A folder to write into; an empty name (``--out ""``) would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not a folder name; give one, e.g. results/mine")
    return Path(text)


def integer(low: int, high: int) -> Callable[[str], int]:
    """An integer in [low, high] (also written as 1e3)."""

    def parse(text: str) -> int:
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is None or not number.is_integer() or not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not valid: give an integer from {low:,} to {high:,}")
        return int(number)

    return parse
