"""mannbench: the harness (CLI, configuration, execution, training loops, measurements, results store, reports, plots)."""

__version__ = "0.1.0"  # pyproject.toml reads it from here
