"""The results store: results files written whole by one writer, readers that skip what they cannot
trust, and the locks on a results folder (one sweep) and on a run (one training process).

What other modules use is here; the submodules are its implementation:
  table.py    append_rows (whole rows, cut back on failure), read_rows / read_frame (tolerant readers)
  results.py  runs.csv and curves.csv: their columns, ResultsStore (the sweep's writer), finished runs,
              the readers of run rows (each run counted once: unique_runs)
  lock.py     folder_lock, run_lock
"""

from bench.store.lock import LockHeld, folder_lock, run_lock
from bench.store.results import (
    CURVE_COLUMNS,
    DUPLICATES,
    FINISHED,
    RUN_COLUMNS,
    ResultsStore,
    check_header,
    environment,
    finished_spec_hashes,
    read_runs,
    read_runs_frame,
    unique_runs,
    utc_now,
)
from bench.store.table import StoreError, append_rows, read_frame, read_rows

__all__ = [
    "CURVE_COLUMNS", "DUPLICATES", "FINISHED", "RUN_COLUMNS", "LockHeld", "ResultsStore", "StoreError", "append_rows", "check_header",
    "environment", "finished_spec_hashes", "folder_lock", "read_frame", "read_rows", "read_runs", "read_runs_frame",
    "run_lock", "unique_runs", "utc_now",
]
