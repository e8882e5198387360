"""mannbench: the harness (CLI, config, runner, trainer, profiler, results store)."""
