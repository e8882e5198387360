"""Training: the loops (episodic.py: fresh state every iteration, the algorithmic tasks; stream.py:
epochs over a data split, the real-data tasks; group.py: the seeds of a seed group as one
computation, each seed an episodic run), the one step both take (step.py), their checkpoints
(checkpoint.py), the divergence rule (divergence.py) and the registry of loops with the options
each reads (registry.py). Importing the package registers both loops."""

from bench.training.outcome import TrainOutcome, ValidationPoint
from bench.training.registry import RUNNER_OPTIONS, TRAINERS, USED_OPTIONS, register_trainer
from bench.training.step import DTYPES, make_optimizer, train_step
from bench.training import episodic, stream  # noqa: E402  each registers its loop

__all__ = ["DTYPES", "RUNNER_OPTIONS", "TRAINERS", "TrainOutcome", "USED_OPTIONS", "ValidationPoint",
           "episodic", "make_optimizer", "register_trainer", "stream", "train_step"]
