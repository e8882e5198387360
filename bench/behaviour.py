"""The results-behaviour version: which behaviour of the harness made a row.

Two rows of the same spec and seed are comparable only if the harness computed them the same way.
``BEHAVIOUR_VERSION`` names that behaviour; every row carries it (runs.csv ``behaviour_version``) and
the reports warn, with counts, when they combine rows of different versions.

Move it (add 1) in the commit that changes what the same spec and seed give: the data stream of a
task, a model's initialisation or equations, the training step, validation, the solved or divergence
rule, the defaults in benchmarks.yaml that a preset uses. Changes of speed, logging, reports or new
options whose defaults keep the old result do not move it.

A version moved by hand gets forgotten, so tests/test_behaviour.py pins it: it trains every preset on
every algorithmic task for a few iterations and compares the losses with
tests/data/golden_trajectories.json, stored with the version they were made by. A change of behaviour
fails that test until the version moves and the file is made again:

    python -m tests.test_behaviour --regenerate
"""

# 1: the harness before versions were recorded (rows without the column, read as unknown)
# 2: DNC's and SAM's controller biases start at zero; the -code presets' initialisations and sam-code's step
#    as the authors' code; each seed of a vectorized group trains on its own run's batches and noise;
#    armin-code's soft write and the DNC's write weighting as one lerp (float rounding)
BEHAVIOUR_VERSION = 2
