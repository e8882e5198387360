"""Executors: run RunSpecs somewhere (this process, local worker processes, a Ray cluster) and send
their results back; the sweep's process is the only writer of results, and a run whose worker dies
becomes an "error" row that says so.

  run.py       one run: RunJob -> its row (in whatever process executes it)
  executor.py  the Executor interface, the in-process executor, rows of lost workers
  local.py     worker processes on this machine (--jobs N)
  ray.py       Ray tasks (--executor ray)
  sweep.py     run_sweep: the executor's events -> curves.csv, runs.csv, the progress display
"""
