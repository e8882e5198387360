"""The spine has no import circle: the configuration is read and checked without the results store or
the training code (errors and the loops' option declarations live below all three)."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(statement: str) -> set[str]:
    """The bench modules a fresh interpreter holds after ``statement``."""
    code = f"import sys; {statement}; print(' '.join(m for m in sys.modules if m.startswith('bench')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_importing_the_config_imports_neither_training_nor_store():
    loaded = loaded_after("import bench.config")
    assert "bench.config" in loaded
    assert not {m for m in loaded if m.startswith(("bench.training", "bench.store"))}, loaded


def test_checking_a_run_grid_needs_no_training_code():
    """The check that refuses options a loop would not read uses the declarations alone."""
    loaded = loaded_after("from bench.config import load_config, expand_runs, parse_overrides; "
                          "expand_runs(load_config(), ['lstm'], ['copy'], [0], parse_overrides(['train.lr=0.01']))")
    assert not {m for m in loaded if m.startswith(("bench.training", "bench.store"))}, loaded


def test_the_declared_options_are_the_registered_loops():
    from bench.loop_options import USED_OPTIONS as declared
    from bench.training import TRAINERS, USED_OPTIONS

    assert USED_OPTIONS is declared
    assert set(TRAINERS) == set(declared) == {"episodic", "stream"}
