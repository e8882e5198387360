"""Build a figure shaped like the paper's (PNG + SVG) from results CSVs.

Examples:
  bench plot figure2                         # reads results/, writes there
  bench plot figure2 --in results/table1 --out results/table1
Names: see `bench list`.
"""

from bench.commands._artifact import artifact_command

NAME = "plot"
HELP = "build a figure shaped like the paper's (PNG + SVG)"
add_arguments, main = artifact_command(NAME, "bench.plots:PLOTS")
