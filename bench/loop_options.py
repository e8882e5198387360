"""Which ``TrainConfig`` options each training loop reads: declared here, below both the configuration
(which refuses an option the run's loop would not read) and the loops (which register under these
names), so that checking a configuration does not import the training code.

``USED_OPTIONS[loop]`` is the set of options loop ``loop`` reads, together with ``RUNNER_OPTIONS``
(read by the runner around every loop). Any other option does nothing for that loop. A loop added
elsewhere declares its own when it registers (``bench.training.register_trainer``)."""

from __future__ import annotations

# read by the runner for every loop (device and dtype of the model, threads, the inference timing,
# and solved_window for the final_val_loss column)
RUNNER_OPTIONS = frozenset({"device", "dtype", "threads", "inference_batches", "solved_window", "generalization"})

# read by both loops: the shared step (bench/training/step.py), checkpoints and the divergence rule
COMMON_OPTIONS = frozenset({
    "iterations", "batch_size", "optimizer", "lr", "alpha", "momentum", "clip_value", "clip_norm",
    "val_batch_size", "inverse_temperature", "output_dir", "checkpoint_every",
    "divergence_factor", "divergence_patience",
})

# the episodic loop (bench/training/episodic.py): validation every val_every iterations, the solved rule,
# the ARMIN authors' measure (a window of mean training loss)
EPISODIC_OPTIONS = COMMON_OPTIONS | {
    "val_every", "val_batches", "solved_threshold", "solved_window", "solved_max_fraction_above", "stop_when_solved",
    "train_loss_window", "stop_after_both_measures",
}

# the stream loop (bench/training/stream.py): epochs, the learning-rate schedule, early stopping
STREAM_OPTIONS = COMMON_OPTIONS | {
    "epochs", "lr_schedule", "lr_decay", "lr_patience", "lr_step_epochs", "early_stopping_patience",
    "temperature_unit", "test_every_epoch",
}

USED_OPTIONS: dict[str, frozenset[str]] = {
    "episodic": EPISODIC_OPTIONS | RUNNER_OPTIONS,
    "stream": STREAM_OPTIONS | RUNNER_OPTIONS,
}
