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


@pytest.fixture(autouse=True)
def _plugins_stay_in_their_test():
    """Models and tasks a test loads from a plugin (--plugin) are unregistered after it, so that no other
    test sees them (tests that go over every registered model)."""
    from bench import plugins

    saved = {kind: dict(registry) for kind, registry in plugins.REGISTRIES.items()}
    loaded, origin, entry_points = dict(plugins.LOADED), dict(plugins.ORIGIN), plugins._ENTRY_POINTS_LOADED
    yield
    for kind, registry in plugins.REGISTRIES.items():
        registry.clear()
        registry.update(saved[kind])
    plugins.LOADED.clear()
    plugins.LOADED.update(loaded)
    plugins.ORIGIN.clear()
    plugins.ORIGIN.update(origin)
    plugins._ENTRY_POINTS_LOADED = entry_points
