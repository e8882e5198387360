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

    def final_val_loss(self, window: int) -> float | None:
        """Mean of the last ``window`` validation losses (the paper's figure for unsolved runs)."""
        losses = [p.val_loss for p in self.curve[-window:]]
        return sum(losses) / len(losses) if losses else None

    def diverge(self, iteration: int, reason: str) -> None:
        self.status, self.diverged_at, self.diverged_reason = DIVERGED, iteration, reason
