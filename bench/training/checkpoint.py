"""Checkpoint files of a run, shared by both loops.

A checkpoint lives at ``OUTPUT_DIR/checkpoints/NAME.KIND.pt`` with NAME = model class, task class,
seed and the run's fingerprint (``RunSpec.spec_hash``: the one fingerprint of a run, which
``--resume`` matches too). A checkpoint is used only if its format and fingerprint match.

Writes are atomic: the content goes to a temporary file unique to the writing process (pid and a
random suffix, so two processes on one run never write through one file), is fsynced, then renamed
over the old checkpoint; a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import pickle
import random
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_FORMAT = 2
CHECKPOINT_FOLDER = "checkpoints"


def run_name(model, task, seed: int, fingerprint: str) -> str:
    """The file name stem of a run's checkpoints, e.g. ``armin-copy-s0-3f2a9c01b4de``."""
    return f"{model.registry_name}-{task.registry_name}-s{seed}-{fingerprint}"


class _WholeWrites:
    """torch.save's output: each write goes to ``fd`` whole, or raises the ``OSError`` that stopped it.
    Given an ordinary file, torch reports a full disk as ``RuntimeError: [enforce fail at
    inline_container.cc...] unexpected pos``, which never says why; through this the errno survives."""

    def __init__(self, fd: int):
        self.fd = fd

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(self.fd, view):]
        return len(data)

    def flush(self) -> None:
        pass


def save_atomic(obj: Any, path: Path) -> None:
    """Write ``obj`` (torch.save) to ``path`` whole or not at all; a full disk raises ``OSError``
    with errno ENOSPC ("No space left on device")."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            torch.save(obj, _WholeWrites(fd))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class CheckpointFile:
    """One checkpoint file of one run: save (atomic), load (if it is this run's), delete."""

    def __init__(self, path: Path, fingerprint: str):
        self.path, self.fingerprint = Path(path), fingerprint

    @classmethod
    def in_folder(cls, output_dir: str | Path, name: str, kind: str, fingerprint: str) -> "CheckpointFile":
        folder = Path(output_dir) / CHECKPOINT_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder / f"{name}.{kind}.pt", fingerprint)

    def save(self, **content: Any) -> None:
        save_atomic({"format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint, **content}, self.path)

    def load(self, device: torch.device) -> dict[str, Any] | None:
        """The checkpoint if it exists, can be read and belongs to this run (same format and
        fingerprint), else None (the run then trains afresh and overwrites it)."""
        if not self.path.is_file():
            return None
        try:
            checkpoint = torch.load(self.path, map_location=device, weights_only=True)
        except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as err:
            warnings.warn(f"ignoring unreadable checkpoint {self.path}: {type(err).__name__}: {err}", stacklevel=2)
            return None
        ok = (isinstance(checkpoint, dict) and checkpoint.get("format") == CHECKPOINT_FORMAT
              and checkpoint.get("fingerprint") == self.fingerprint)
        return checkpoint if ok else None

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


def rng_state(device: torch.device) -> dict[str, Any]:
    """Every global random state a run may draw from: torch (CPU, and the device's CUDA generator),
    Python's ``random`` and numpy's global generator."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.copy()), pos, has_gauss, cached],
    }


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.cpu().numpy(), pos, has_gauss, cached))
