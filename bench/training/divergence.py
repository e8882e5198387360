"""When a run has diverged (status ``diverged``), the same rule in both loops:

1. a training or validation loss that is not finite (NaN, inf): at once;
2. the validation loss above ``divergence_factor`` x the *reference* loss for ``divergence_patience``
   validations in a row (``divergence_patience = 0`` turns this part off). The reference is the
   validation loss of the untrained model where the loop can afford one (episodic: the batches of
   its first validation, before any step), else the first validation of the run (stream: after
   the first epoch, since a pass over a whole validation split before training would cost an epoch's
   evaluation);
3. a run that ends (its budget spent) while such a streak is running: no validation is left to end
   the streak, so it counts (``check_end``).

Defaults (TrainConfig): factor 100, patience 3. An untrained model sits near chance (about 0.69 per
bit for the bit tasks); a training run that wanders does not stay above 100 x that for three
validations, while ``-s train.lr=1e6`` gives validation losses of 1e7 and more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class DivergenceRule:
    factor: float
    patience: int  # validations in a row; 0: only non-finite losses count
    reference: float | None = None  # the loss the factor multiplies; the first one seen if not set
    above: int = 0  # validations in a row above factor x reference so far

    @classmethod
    def from_config(cls, cfg) -> "DivergenceRule":
        return cls(cfg.divergence_factor, cfg.divergence_patience)

    @staticmethod
    def check_train_loss(loss: float) -> str | None:
        """The reason a training loss means divergence, or None."""
        return None if math.isfinite(loss) else f"training loss is {loss}"

    def check_validation(self, val_loss: float) -> str | None:
        """Feed one validation loss; the reason the run diverged, or None."""
        if not math.isfinite(val_loss):
            return f"validation loss is {val_loss}"
        if self.reference is None:
            self.reference = val_loss
            return None
        if not self.patience:
            return None
        limit = self.factor * self.reference
        self.above = self.above + 1 if val_loss > limit else 0
        if self.above >= self.patience:
            return (f"validation loss {val_loss:.4g} above {self.factor:g} x the initial {self.reference:.4g} "
                    f"for {self.patience} validations in a row")
        return None

    def check_end(self) -> str | None:
        """At the end of the run (budget spent, or stopped early): a streak still running is a
        divergence, since no validation is left to end it (with validation every 200 iterations, a
        300-iteration budget could never see three in a row). The reason, or None."""
        if not self.patience or not self.above:
            return None
        return (f"validation loss above {self.factor:g} x the initial {self.reference:.4g} for the last {self.above} "
                f"validation(s) when the run ended (before {self.patience} in a row could be seen)")

    def state(self) -> dict:
        return {"reference": self.reference, "above": self.above}

    def load_state(self, state: dict) -> None:
        self.reference, self.above = state["reference"], state["above"]
