"""Memory at work: a trained model run on one sample of its task, with the read and write weights of
every head at every step recorded (``models.base.recording_memory``), drawn as time x slot heatmaps
beside the input, the target and the output (the layout of the NTM paper's copy figures), and written
as CSV.

Weights of a run are kept by ``bench run --keep-weights`` (``save_weights``: OUT/weights/RUN_ID.pt,
with everything needed to rebuild the model and its task: classes, options, seed, plugins).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.config import ConfigError

WEIGHTS_FOLDER = "weights"
WEIGHTS_FORMAT = 1
KINDS = ("write", "read", "usage", "allocation")  # what a trace step may hold, in drawing order


def save_weights(job, model) -> Path:
    """The run's final weights and what rebuilds it, to OUT/weights/RUN_ID.pt (returns the path)."""
    from bench.training.checkpoint import save_atomic

    spec = job.spec
    folder = Path(job.out_dir) / WEIGHTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{job.run_id}.pt"
    save_atomic({
        "format": WEIGHTS_FORMAT, "run_id": job.run_id, "model": spec.model, "task": spec.task, "seed": spec.seed,
        "model_class": spec.model_class, "model_options": spec.model_options, "task_class": spec.task_class,
        "task_options": spec.task_options, "spec_hash": spec.spec_hash, "plugins": spec.plugins,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }, path)
    return path


def find_weights(run: str, folders: list[Path]) -> Path:
    """The kept weights of ``run``: a .pt file, or a run id (or a unique start of one) in a folder's runs.csv."""
    path = Path(run)
    if path.suffix == ".pt":
        if not path.is_file():
            raise ConfigError(f"weights file not found: {run}")
        return path
    matches = []
    for folder in folders:
        runs = folder / "runs.csv" if folder.is_dir() else folder
        if not runs.is_file():
            continue
        with runs.open(newline="") as f:
            matches += [(row, runs) for row in csv.DictReader(f) if row.get("run_id", "").startswith(run)]
    if not matches:
        raise ConfigError(f"no run {run!r} in {', '.join(str(f) for f in folders)} (give a run id from runs.csv "
                          "or a weights .pt file)")
    exact = [m for m in matches if m[0]["run_id"] == run]
    if len(exact) != 1 and len({m[0]["run_id"] for m in matches}) > 1:
        raise ConfigError(f"{run!r} matches {len(matches)} runs: {', '.join(m[0]['run_id'] for m in matches[:3])} ...")
    row, runs = (exact or matches)[-1]
    kept = row.get("weights") or ""
    if not kept:
        raise ConfigError(f"run {row['run_id']} kept no weights: rerun it with bench run --keep-weights")
    kept_path = Path(kept)
    if not kept_path.is_file():  # a results folder moved since: look beside its runs.csv
        kept_path = runs.parent / WEIGHTS_FOLDER / Path(kept).name
    if not kept_path.is_file():
        raise ConfigError(f"the weights of run {row['run_id']} are gone: {kept}")
    return kept_path


def load_trained(path: Path):
    """(saved record, model in eval mode with the kept weights, task) from a weights file."""
    from bench.plugins import ensure
    from models import build_model
    from tasks import build_task

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - an unreadable file is one line
        raise ConfigError(f"cannot read weights file {path}: {type(err).__name__}: {err}") from None
    if not isinstance(saved, dict) or saved.get("format") != WEIGHTS_FORMAT:
        raise ConfigError(f"{path} is not a weights file of bench run --keep-weights")
    ensure(saved.get("plugins") or [])
    task = build_task(saved["task_class"], **saved["task_options"])
    model = build_model(saved["model_class"], **saved["model_options"])
    model.load_state_dict(saved["state_dict"])
    return saved, model.eval(), task


@dataclass
class Inspection:
    """One sample through a trained model, with its memory trace."""

    run: str
    inputs: torch.Tensor  # (T, I)
    targets: torch.Tensor  # (T, O) bits, or (T,) class ids
    mask: torch.Tensor  # (T,)
    outputs: torch.Tensor  # (T, O): sigmoid of the logits (bce tasks) or softmax (ce tasks)
    weights: dict[str, torch.Tensor]  # kind -> (T, heads, N)
    read_kind: str  # "soft" or "hard" (models.base.RecurrentModel.read_kind)
    loss: float


def inspect(model, task, run: str, sample_seed: int | None = None, training_mode: bool = False) -> Inspection:
    """Run ``model`` on one sample of ``task`` recording its memory addressing: the task's longest
    sample (``Task.max_batch``), or the one its generator seeded with ``sample_seed`` draws. Inference
    mode unless ``training_mode`` (then sampling reads draw noise)."""
    from models.base import recording_memory

    model.train(training_mode)
    batch = (task.max_batch(1) if sample_seed is None
             else task.sample(1, torch.Generator().manual_seed(sample_seed)))
    p = next(model.parameters())
    batch = batch.to(p.device, p.dtype)
    with torch.no_grad(), recording_memory(model) as trace:
        logits, _ = model(batch.inputs)
    if not trace:
        raise ConfigError(f"model {type(model).registry_name!r} records no memory addressing "
                          "(its cell does not fill RecurrentModel.memory_trace)")
    weights = {kind: torch.stack([step[kind][0] if step[kind].dim() == 3 else step[kind][0][None] for step in trace])
               for kind in KINDS if kind in trace[0]}
    outputs = torch.sigmoid(logits) if task.loss_kind == "bce" else torch.softmax(logits, dim=-1)
    return Inspection(run, batch.inputs[:, 0], batch.targets[:, 0], batch.mask[:, 0], outputs[:, 0], weights,
                      model.read_kind(), task.loss(logits, batch).item())


def write_csv(result: Inspection, path: Path) -> None:
    """Long format: step, kind, head, slot, weight (one row per number)."""
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["run", "read_kind", "step", "kind", "head", "slot", "weight"])
        for kind, w in result.weights.items():
            steps, heads, slots = w.shape
            for t in range(steps):
                for h in range(heads):
                    for i in range(slots):
                        out.writerow([result.run, result.read_kind, t, kind, h, i, f"{w[t, h, i].item():.6g}"])


def draw(result: Inspection, path: Path, title: str) -> None:
    """Input, target and output over time, then per head the write and read weights (slot x time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[tuple[str, torch.Tensor, str]] = [("input", result.inputs.T, "Greys")]
    targets = result.targets if result.targets.dim() == 2 else torch.nn.functional.one_hot(
        result.targets.long(), result.outputs.shape[-1])
    panels.append(("target (answer phase)", (targets * result.mask[:, None]).T, "Greys"))
    panels.append(("output", (result.outputs * result.mask[:, None]).T, "Greys"))
    for kind, w in result.weights.items():
        for h in range(w.shape[1]):
            label = f"{kind} weights" + (f", head {h}" if w.shape[1] > 1 else "")
            panels.append((label, w[:, h].T, "viridis"))
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.2 + 1.3 * len(panels)), sharex=True, squeeze=False)
    for ax, (label, image, cmap) in zip(axes[:, 0], panels):
        ax.imshow(image.cpu().float().numpy(), aspect="auto", interpolation="nearest", cmap=cmap,
                  vmin=0, vmax=1, origin="upper")
        ax.set_ylabel("slot" if "weights" in label else "bit", fontsize=8)
        ax.set_title(label, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary(result: Inspection) -> list[str]:
    """A few lines per head: how sharp the addressing is and which slot each step reads and writes."""
    lines = [f"{result.run}: {result.inputs.shape[0]} steps, loss {result.loss:.4g}, reads {result.read_kind}"]
    for kind in ("write", "read"):
        if kind not in result.weights:
            continue
        w = result.weights[kind]
        for h in range(w.shape[1]):
            peaks = w[:, h].argmax(dim=-1).tolist()
            sharp = w[:, h].max(dim=-1).values.mean().item()
            shown = " ".join(str(p) for p in peaks[:40]) + (" ..." if len(peaks) > 40 else "")
            lines.append(f"  {kind} head {h}: mean peak weight {sharp:.2f}; peak slot per step: {shown}")
    return lines
