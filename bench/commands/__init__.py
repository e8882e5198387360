"""Subcommands of ``bench``: one module each (NAME, HELP, add_arguments, main)."""
