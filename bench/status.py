"""The statuses a run ends with (runs.csv's ``status``), defined once for the loops, the runner,
``--resume`` and the reports.

- ``solved``: the paper's solved rule held (algorithmic tasks; bench/training/episodic.py ``is_solved``).
- ``unsolved``: the run trained to its budget (iterations, epochs, early stopping) without being solved;
  epoch-based real-data runs, which have no solved rule, always end so unless they diverge.
- ``diverged``: the divergence rule fired (bench/training/divergence.py): a loss that is not finite,
  or the validation loss far above the untrained model's for several validations in a row;
  ``diverged_at`` holds the iteration and ``error`` the reason.
- ``error``: the run raised an exception (the message in ``error``); ``--resume`` runs it again.

A run is *finished* when it ended by the training rules (solved, unsolved, diverged): ``--resume``
skips it and the reports count it. Error rows are neither.
"""

SOLVED = "solved"
UNSOLVED = "unsolved"
DIVERGED = "diverged"
ERROR = "error"

FINISHED = (SOLVED, UNSOLVED, DIVERGED)
ALL = (*FINISHED, ERROR)
