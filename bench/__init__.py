"""mannbench: the harness (CLI, configuration, execution, training loops, measurements, results store, reports, plots)."""
