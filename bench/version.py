"""Where a row came from: the package version and the git commit of the harness.

A checkout (the package folder sits in a git work tree with its ``.git``) reads the commit from git,
with ``-dirty`` when tracked files have changes. A wheel built from a checkout carries the commit
it was built from in ``bench/_build_info.py``, written at build time by setup.py (which loads this
file by path, so it imports nothing of the package). Elsewhere the commit is "unknown".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the checkout, or site-packages when installed


def git_commit(root: Path) -> str | None:
    """The commit of the git work tree at ``root`` ('-dirty' with uncommitted changes to tracked
    files), None if ``root`` is not the top of a work tree or git is missing."""
    if not (root / ".git").exists():  # only the checkout itself: never a repository that holds a venv
        return None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("-dirty" if dirty else "")) if commit else None


def harness_commit() -> str:
    """The commit this harness runs from: git in a checkout, else the one stamped into the wheel."""
    commit = git_commit(SOURCE_ROOT)
    if commit:
        return commit
    try:
        from bench._build_info import GIT_COMMIT  # written by setup.py into a wheel built from a checkout
    except ImportError:
        return "unknown"
    return GIT_COMMIT or "unknown"
