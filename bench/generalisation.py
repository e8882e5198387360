"""Generalisation beyond the training distribution (NTM paper, figures 4 and 7).

After training, a run of an algorithmic task is evaluated on instances 1x, 2x and 4x the training
maximum in the size that tests generalisation (the task's ``generalization_settings``: copy length,
repeat-copy length and repeats, recall items, priority-sort inputs), in inference mode
(``model.eval()``, no grad), on fixed data of their own: each setting's sequences come from a seed of
that setting alone, so every model and run sees the same sequences. Per setting, two metrics:

  bce         mean binary cross-entropy per answer bit (ln 2 = 0.69 for a model that outputs 0.5)
  bit_errors  answer bits wrong per sequence (output > 0.5 vs target), the NTM paper's "cost per sequence"

Slot memories that store one row per presented step cannot hold inputs longer than their slots; such
runs are still evaluated, and the rows say so: ``presentation_steps`` against ``memory_slots``
(``memory_holds`` = no).

Rows go to ``OUT/generalization.csv`` (columns in GENERALIZATION_COLUMNS, also written to
``OUT/GENERALIZATION_COLUMNS.md``).
"""

from __future__ import annotations

import traceback
import zlib
from pathlib import Path
from typing import Any

import torch

from models import RecurrentModel
from tasks.base import Batch, Task

FILENAME = "generalization.csv"
COLUMNS_FILE = "GENERALIZATION_COLUMNS.md"
SCALES = (1, 2, 4)  # multiples of the training maximum
SEQUENCES = 32  # evaluated sequences per setting (one batch)
EVAL_SEED = 14_000  # base of each setting's own seed (crc32 of its name added): fixed data, not the run's
BCE, BIT_ERRORS, FAILED = "bce", "bit_errors", "error"
LOGIT_THRESHOLD = 0.0  # sigmoid(logit) > 0.5

GENERALIZATION_COLUMNS: dict[str, str] = {
    "run_id": "run id, as in runs.csv",
    "model": "model preset",
    "task": "task preset",
    "seed": "seed of the run (the evaluation data has seeds of its own, the same for every run)",
    "setting": "what the instances are, e.g. length=100",
    "parameter": "the size that grew: length | repeats | items | inputs",
    "parameter_value": "its value in these instances",
    "scale": "parameter_value / its training maximum (1: the longest training instances)",
    "metric": "bce (mean BCE per answer bit) | bit_errors (answer bits wrong per sequence) | error (evaluation failed)",
    "value": "the metric's value (empty for error)",
    "sequences": "sequences evaluated",
    "presentation_steps": "input steps before the answer phase",
    "memory_slots": "memory rows of the model (0: no external memory)",
    "memory_holds": "yes if memory_slots >= presentation_steps, no if fewer (a slot memory that stores one "
                    "row per step cannot hold the input), empty for models without external memory",
    "error": "what failed, for metric=error",
}


def setting_seed(task_name: str, setting_name: str) -> int:
    """The fixed seed of one setting's data, the same for every model, run and process."""
    return EVAL_SEED + zlib.crc32(f"{task_name}:{setting_name}".encode())


def answer_errors(logits: torch.Tensor, batch: Batch) -> tuple[float, float]:
    """(mean BCE per answer bit, mean answer bits wrong per sequence) of (T, B, O) logits."""
    mask = batch.mask.unsqueeze(-1).expand_as(logits)  # (T, B, O)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.targets, reduction="none")
    wrong = ((logits > LOGIT_THRESHOLD) != (batch.targets > 0.5)).to(mask.dtype) * mask  # (T, B, O)
    per_sequence = wrong.sum(dim=(0, 2))  # (B,)
    return float((bce * mask).sum() / mask.sum()), float(per_sequence.mean())


def evaluate(model: RecurrentModel, task: Task, task_name: str, scales=SCALES, sequences: int = SEQUENCES) -> list[dict[str, Any]]:
    """Rows (without run columns) for every generalisation setting of ``task`` at ``scales``; [] for a
    task without settings (e.g. a real-data task). The model is left in the mode it was in."""
    settings = [s for scale in scales for s in getattr(task, "generalization_settings", lambda _: [])(scale)]
    if not settings:
        return []
    p = next(model.parameters())
    memory_slots = int(getattr(model.config, "memory_slots", 0) or 0)
    was_training = model.training
    model.eval()
    rows = []
    try:
        for setting in settings:
            generator = torch.Generator().manual_seed(setting_seed(task_name, setting.name))
            batch = setting.task.sample(sequences, generator).to(p.device, p.dtype)
            with torch.no_grad():
                logits, _ = model(batch.inputs)  # (T, B, O)
            bce, bit_errors = answer_errors(logits.float(), batch.to(dtype=torch.float32))
            steps = int((batch.mask[:, 0] == 0).sum())  # presentation phase
            common = {"setting": setting.name, "parameter": setting.parameter, "parameter_value": setting.value,
                      "scale": setting.scale, "sequences": sequences, "presentation_steps": steps,
                      "memory_slots": memory_slots,
                      "memory_holds": ("yes" if memory_slots >= steps else "no") if memory_slots else ""}
            rows += [{**common, "metric": BCE, "value": bce}, {**common, "metric": BIT_ERRORS, "value": bit_errors}]
    finally:
        model.train(was_training)
    return rows


def write_rows(out_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Append to OUT/generalization.csv whole rows under the store's file lock (header once), with
    OUT/GENERALIZATION_COLUMNS.md saying what each column means. The sweep calls this: it is the
    only writer of a results folder."""
    from bench.store import append_rows

    out_dir = Path(out_dir)
    lines = [f"# Columns of {FILENAME}", "", "| column | meaning |", "| --- | --- |"]
    if not (out_dir / COLUMNS_FILE).is_file():  # once per folder, not once per run
        (out_dir / COLUMNS_FILE).write_text("\n".join(lines + [f"| {c} | {d} |" for c, d in GENERALIZATION_COLUMNS.items()]) + "\n")
    append_rows(out_dir / FILENAME, GENERALIZATION_COLUMNS, rows)


def evaluate_run(model: RecurrentModel, task: Task, run: dict[str, Any]) -> list[dict[str, Any]]:
    """What a run calls after training: the rows of its evaluation, tagged with ``run``'s run_id,
    model, task and seed (the sweep writes them: ``write_rows``). A failure is one ``error`` row,
    never a failed run (measuring must not change what is measured)."""
    keys = {k: run[k] for k in ("run_id", "model", "task", "seed")}
    try:
        rows = [{**keys, **row} for row in evaluate(model, task, run["task"])]
    except Exception as err:  # noqa: BLE001 - the run's own result stands
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        rows = [{**keys, "metric": FAILED, "error": last}]
    return rows
