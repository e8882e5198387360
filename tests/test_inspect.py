"""bench inspect: a kept run's memory addressing, drawn and written as CSV. Soft reads are weights that
sum to 1 over the slots, hard reads one-hot; NTM's written slot is where its write weights peak."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.inspect import inspect
from models import build_model
from models.base import recording_memory
from tasks import build_task

TINY = ["-t", "copy", "-n", "30", "--val-every", "15", "-q", "-s", "task.max_length=4", "-s", "model.hidden_size=16",
        "-s", "model.memory_slots=6", "-s", "train.val_batches=1", "-s", "train.inference_batches=1"]


@pytest.fixture(scope="module")
def kept(tmp_path_factory) -> Path:
    """A tiny trained ARMIN as the paper reads (gumbel: hard) and as the authors' code reads (soft)."""
    out = tmp_path_factory.mktemp("inspect") / "out"
    assert main(["run", "-m", "armin,armin-code", *TINY, "--keep-weights", "--out", str(out)]) == 0
    return out


def read_weights(out: Path, run_id: str) -> pd.DataFrame:
    return pd.read_csv(out / "inspect" / f"{run_id}-weights.csv")


def test_inspect_draws_and_writes_soft_and_hard_reads(kept, capsys):
    runs = pd.read_csv(kept / "runs.csv").set_index("model")
    for model, kind in (("armin", "hard"), ("armin-code", "soft")):
        run_id = runs.loc[model, "run_id"]
        assert Path(runs.loc[model, "weights"]).is_file()
        assert main(["inspect", run_id[:-3], "--in", str(kept)]) == 0  # a unique start of the id will do
        figure = kept / "inspect" / f"{run_id}-memory.png"
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        w = read_weights(kept, run_id)
        assert set(w["read_kind"]) == {kind} and set(w["kind"]) == {"read", "write"}
        reads = w[w["kind"] == "read"].pivot_table(index="step", columns="slot", values="weight")
        assert reads.shape[1] == 6 and len(reads) >= 3  # copy of 1-4 vectors: at least 3 steps
        assert ((reads.sum(axis=1) - 1).abs() < 1e-5).all()  # every read is a distribution over slots
        one_hot = ((reads == 0) | (reads == 1)).all(axis=1) & (reads == 1).sum(axis=1).eq(1)
        if kind == "hard":
            assert one_hot.all()
        else:
            assert not one_hot.any() and (reads > 0).all().all()
        writes = w[w["kind"] == "write"].pivot_table(index="step", columns="slot", values="weight")
        assert (writes.iloc[:6].idxmax(axis=1).tolist() == list(range(min(6, len(writes)))))  # fills slots in order
    assert "reads hard" in capsys.readouterr().out


def test_a_run_without_kept_weights_is_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "-m", "armin", *TINY, "-n", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["inspect", "armin-copy", "--in", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kept no weights: rerun it with bench run --keep-weights" in err[0]


def test_ntm_writes_where_its_write_weights_peak():
    """The memory row that changes most at a step is the slot of the write head's peak weight (the
    addressing made sharp: a large gamma, eq. 9)."""
    torch.manual_seed(0)
    task = build_task("copy", bits=4, min_length=5, max_length=5)
    model = build_model("ntm", input_size=task.input_size, output_size=task.output_size, hidden_size=16,
                        memory_slots=8, memory_width=6)
    with torch.no_grad():  # gamma of every head: oneplus(bias) ~ 30
        width = model.head_width
        for head in range(model.H_r + model.H_w):
            model.W_head.bias[head * width + width - 1] = 30.0
    result = inspect(model, task, "ntm-test", sample_seed=1)
    write = result.weights["write"][:, 0]  # (T, N)
    state = model.initial_state(1)
    changed = []
    with torch.no_grad():
        for x_t in result.inputs[:, None]:
            before = state["M"][0].clone()
            _, state = model.step(x_t, state)
            changed.append((state["M"][0] - before).norm(dim=-1).argmax().item())
    sharp = write.max(dim=-1).values > 0.5
    assert sharp.sum() >= len(write) // 2, write.max(dim=-1).values
    assert write.argmax(dim=-1)[sharp].tolist() == torch.tensor(changed)[sharp].tolist()
    assert len(set(write.argmax(dim=-1).tolist())) > 1  # the head moves: the check is not one slot throughout


def test_recording_is_off_unless_asked_and_only_observes():
    torch.manual_seed(0)
    model = build_model("dnc", input_size=3, output_size=2, hidden_size=8, memory_slots=5, memory_width=4)
    x = torch.rand(6, 2, 3)
    plain, _ = model(x)
    assert model.memory_trace is None
    with recording_memory(model) as trace:
        traced, _ = model(x)
    assert model.memory_trace is None and torch.equal(plain, traced)
    assert len(trace) == 6 and set(trace[0]) == {"read", "write", "usage", "allocation"}
    assert trace[0]["read"].shape == (2, 1, 5) and trace[0]["usage"].shape == (2, 5)
    with recording_memory(build_model("lstm", input_size=3, output_size=2, hidden_size=4)) as trace:
        pass
    assert trace == []


@pytest.mark.parametrize("name", ["tardis", "awta"])
def test_tardis_and_awta_record_one_hot_reads_and_the_slot_written(name):
    """Both read one cell and write the next empty one while the memory fills (then the one read)."""
    torch.manual_seed(0)
    model = build_model(name, input_size=3, output_size=2, hidden_size=8, memory_slots=4, memory_width=4).eval()
    with torch.no_grad(), recording_memory(model) as trace:
        model(torch.rand(7, 1, 3))
    reads = torch.stack([step["read"][0, 0] for step in trace])
    writes = torch.stack([step["write"][0, 0] for step in trace])
    assert model.read_kind() == "hard" and torch.equal(reads.sum(-1), torch.ones(7))
    assert set(reads.flatten().tolist()) == {0.0, 1.0} and set(writes.flatten().tolist()) == {0.0, 1.0}
    assert writes.argmax(-1)[:4].tolist() == [0, 1, 2, 3]  # filling
    assert writes.argmax(-1)[4:].tolist() == reads.argmax(-1)[4:].tolist()  # full: the cell just read
