"""What a training loop returns: the validation curve and the run's result columns."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.status import DIVERGED


@dataclass
class ValidationPoint:
    iteration: int
    val_loss: float
    train_loss: float  # mean training loss since the previous validation
    inverse_temperature: float
    train_time_s: float  # training time so far


@dataclass
class TrainOutcome:
    status: str  # a bench.status: solved | unsolved | diverged
    iterations_run: int = 0
    iterations_to_solve: int | None = None
    time_to_solve_s: float | None = None  # training time until solved
    diverged_at: int | None = None  # iteration at which the divergence rule fired
    diverged_reason: str | None = None  # which rule fired, with the numbers
    curve: list[ValidationPoint] = field(default_factory=list)
    train_time_s: float = 0.0
    val_time_s: float = 0.0
    wall_time_s: float = 0.0
    train_steps: int = 0  # time steps x batch processed in training
    extra: dict = field(default_factory=dict)  # loop-specific result columns (metric_name, metric_value, ...)
    # the ARMIN authors' measure (``record_train_loss``) and its open window (kept here for checkpoints)
    train_loss_solved_at: int | None = None
    window_loss_sum: float = 0.0
    window_loss_count: int = 0

    def final_val_loss(self, window: int) -> float | None:
        """Mean of the last ``window`` validation losses (the paper's figure for unsolved runs)."""
        losses = [p.val_loss for p in self.curve[-window:]]
        return sum(losses) / len(losses) if losses else None

    def record_train_loss(self, iteration: int, loss: float, window: int, threshold: float) -> None:
        """The ARMIN authors' measure of "solved" (github.com/zoharli/armin 9bf8e45,
        algorithimic_tasks/train.py:181, 196-213: no validation, the mean training loss of each 200
        iterations is logged): ``train_loss_solved_at`` is the first iteration ending a window of
        ``window`` iterations (windows end at multiples of ``window``) whose mean training loss is below
        ``threshold``. Their windows end one iteration later (0-based iteration 200 closes 1..200,
        i.e. our 2..201; their first window is iteration 0 alone)."""
        if self.train_loss_solved_at is not None:
            return
        self.window_loss_sum += loss
        self.window_loss_count += 1
        if iteration % window == 0:
            if self.window_loss_sum / self.window_loss_count < threshold:
                self.train_loss_solved_at = iteration
            self.window_loss_sum, self.window_loss_count = 0.0, 0

    def should_stop(self, stop_when_solved: bool, both_measures: bool) -> bool:
        """Solved by the paper's rule (and, with ``both_measures``, by the authors' measure too), with
        ``stop_when_solved``."""
        if not stop_when_solved or self.iterations_to_solve is None:
            return False
        return not both_measures or self.train_loss_solved_at is not None

    def diverge(self, iteration: int, reason: str) -> None:
        self.status, self.diverged_at, self.diverged_reason = DIVERGED, iteration, reason
