"""Build a table shaped like the paper's (CSV + Markdown, printed) from results CSVs, with the
paper's numbers beside ours.

Examples:
  bench report table1                        # reads results/, writes there
  bench report table1 --in results/table1 --in results/extra --out results/table1
Names: see `bench list`.
"""

from bench.commands._artifact import artifact_command

NAME = "report"
HELP = "build a table shaped like the paper's, with the paper's numbers beside ours"
add_arguments, main = artifact_command(NAME, "bench.reports:REPORTS")
