"""The errors a user sees as one line (the CLI prints them and exits with code 2). Every layer raises
them (configuration, results store, training, commands), so they live here, importing nothing."""


class ConfigError(ValueError):
    """A user error in configuration, arguments or input files (reported in one line, exit code 2)."""
