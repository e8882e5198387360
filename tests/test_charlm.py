"""Character-level language modelling on tiny files in the real formats (Mikolov's character text, raw
bytes, any text file): parsing and vocabularies, the contiguous-stream layout and windows, bits per
character against hand-computed values, and a whole `bench run`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tasks import data
from bench.cli import main
from bench.training.stream import evaluate
from models.base import ModelConfig, RecurrentModel
from tasks import build_task
from tasks.charlm import stream_layout, window_mask

PTB = {"train": "a b _ c\nc a\n", "valid": "a _ b\n", "test": "b a\n"}
PTB_VOCABULARY = ["<eos>", "_", "a", "b", "c"]  # sorted; one end-of-line symbol per line


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    monkeypatch.setattr(data, "DEFAULT_DATA_DIR", tmp_path / "no-repo-data")
    data._load_cached.cache_clear()
    return tmp_path


def write_ptb(folder, texts=PTB):
    folder.mkdir(parents=True, exist_ok=True)
    for split, text in texts.items():
        (folder / f"ptb.char.{split}.txt").write_text(text)


class FixedPredictor(RecurrentModel):
    """Predicts the same distribution at every step, whatever the input."""

    def __init__(self, log_probs: torch.Tensor):
        super().__init__(ModelConfig(input_size=len(log_probs), output_size=len(log_probs)))
        self.log_probs = nn.Parameter(log_probs, requires_grad=False)
        self.readout = nn.Identity()

    def initial_state(self, batch_size, device=None, dtype=None):
        return {"steps": torch.zeros(batch_size, 1)}

    def cell(self, x_t, state):
        return self.log_probs.expand(x_t.shape[0], -1), {"steps": state["steps"] + 1}


def test_mikolov_format_parsing():
    assert data.parse_mikolov_chars("a b _ c\n\nd\n", "f") == ["a", "b", "_", "c", "<eos>", "d", "<eos>"]
    with pytest.raises(data.DataError, match="f line 2: token 'ab' is not one character"):
        data.parse_mikolov_chars("a b\nab c\n", "f")


def test_ptb_loader_vocabulary_and_ids(data_root):
    write_ptb(data_root / "ptb")
    loaded = data.load("ptb")
    assert loaded.vocabulary == PTB_VOCABULARY
    assert loaded.splits["train"].tolist() == [2, 3, 1, 4, 0, 4, 2, 0]  # a b _ c <eos> c a <eos>
    assert loaded.splits["valid"].tolist() == [2, 1, 3, 0]
    assert "vocabulary 5" in loaded.description
    write_ptb(data_root / "ptb", {**PTB, "test": "b z\n"})
    data._load_cached.cache_clear()
    with pytest.raises(data.DataError, match=r"ptb.char.test.txt: symbol 'z' does not occur in the training split"):
        data.load("ptb")


def test_enwik8_bytes_split_and_size_check(data_root):
    (data_root / "enwik8").mkdir()
    (data_root / "enwik8" / "enwik8").write_bytes(bytes(range(256)) * 4)  # 1024 bytes
    loaded = data.load("enwik8", verify=False)
    assert [len(loaded.splits[s]) for s in data.SPLITS] == [921, 51, 52]  # 90/5/5 of a short file
    assert loaded.splits["valid"][0] == 921 % 256 and len(loaded.vocabulary) == 256
    with pytest.raises(data.DataError, match=r"enwik8/enwik8: 1,024 bytes, expected 100,000,000"):
        data.load("enwik8")


def test_stream_layout_by_hand():
    ids = torch.arange(11)  # 10 predictions
    inputs, targets, lengths = stream_layout(ids, rows=3, keep_remainder=False)
    assert inputs.T.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]  # row r continues where row r - 1 ends
    assert torch.equal(targets, inputs + 1) and lengths.tolist() == [3, 3, 3]  # the last prediction (9 -> 10) dropped
    inputs, targets, lengths = stream_layout(ids, rows=3, keep_remainder=True)
    assert inputs.T.tolist() == [[0, 1, 2, 0], [3, 4, 5, 0], [6, 7, 8, 9]]
    assert targets[:, 2].tolist() == [7, 8, 9, 10] and lengths.tolist() == [3, 3, 4]
    assert window_mask(2, 4, lengths).T.tolist() == [[1, 0], [1, 0], [1, 1]]
    with pytest.raises(ValueError, match="cannot fill 11 rows"):
        stream_layout(ids, rows=11, keep_remainder=True)


def test_windows_continue_each_row_and_count_every_prediction_once(tmp_path):
    text = tmp_path / "t.txt"
    text.write_bytes(bytes(range(200)))  # every byte distinct: ids are positions
    task = build_task("charlm", dataset="text", text_file=str(text), tbptt_length=4)
    assert task.input_size == task.output_size == 200 and [len(task.ids[s]) for s in data.SPLITS] == [180, 10, 10]
    batches = list(task.batches("train", 3))
    assert len(batches) == task.num_batches("train", 3) == 15  # 179 predictions -> 3 rows of 59 -> 15 windows
    for previous, current in zip(batches, batches[1:]):
        last = previous.inputs[-1].argmax(-1)
        assert torch.equal(current.inputs[0].argmax(-1), last + 1)  # batch k + 1 starts where batch k stopped
        assert torch.equal(previous.targets[-1], last + 1)
    assert batches[0].inputs.shape == (4, 3, 200) and batches[-1].inputs.shape == (3, 3, 200)
    valid = list(task.batches("valid", 2))
    assert sum(float(b.mask.sum()) for b in valid) == 9 and len(valid) == task.num_batches("valid", 2)


@pytest.mark.parametrize("batch_size", [1, 2])
def test_bpc_of_a_fixed_predictor_by_hand(data_root, batch_size):
    write_ptb(data_root / "ptb")
    task = build_task("charlm", dataset="ptb", tbptt_length=2, verify=False)
    assert task.vocabulary == PTB_VOCABULARY
    p = torch.tensor([0.25, 0.25, 0.25, 0.125, 0.125])  # <eos> _ a b c
    model = FixedPredictor(p.log())
    # valid: a _ b <eos> -> predictions _ (2 bits), b (3 bits), <eos> (2 bits)
    val_loss, bpc = evaluate(model, task, "valid", batch_size)
    assert bpc == pytest.approx(7 / 3) and val_loss == pytest.approx(7 / 3 * math.log(2))
    uniform = FixedPredictor(torch.zeros(5))
    assert evaluate(uniform, task, "test", batch_size)[1] == pytest.approx(math.log2(5))


def test_bad_options_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="dataset 'text' needs text_file"):
        build_task("charlm", dataset="text")
    with pytest.raises(data.DataError, match="text file .*nope.txt not found"):
        build_task("charlm", dataset="text", text_file=str(tmp_path / "nope.txt"))
    with pytest.raises(ValueError, match="tbptt_length must be >= 1"):
        build_task("charlm", dataset="ptb", tbptt_length=0)


def test_bench_run_charlm_end_to_end(tmp_path):
    rng = np.random.RandomState(0)
    words = ["the", "memory", "network", "reads", "writes", "a", "slot"]
    text = tmp_path / "words.txt"
    text.write_text(" ".join(rng.choice(words, 1000)))
    out = tmp_path / "res"
    code = main(["run", "-m", "lstm,armin", "-t", "text-smoke", "--out", str(out), "-q",
                 "-s", f"task.text_file={text}", "-s", "task.tbptt_length=20", "-s", "model.hidden_size=16",
                 "-s", "train.epochs=2",
                 "-s", "train.batch_size=8", "-s", "train.val_batch_size=2", "-s", "train.optimizer=adam",
                 "-s", "train.lr=0.01", "-s", "train.inference_batches=1"])
    assert code == 0
    runs = pd.read_csv(out / "runs.csv").set_index("model")
    assert (runs.metric_name == "test_bpc").all() and (runs.epochs_run == 2).all()
    vocabulary = len(set(text.read_bytes()))
    assert (runs.metric_value < math.log2(vocabulary)).all()  # learnt something beyond uniform
    assert runs.data.str.contains("words.txt").all()
    epochs = pd.read_csv(out / "epochs.csv")
    assert (epochs.metric_name == "bpc").all() and len(epochs) == 4


def test_table3_matches_our_models_to_the_papers_rows():
    from bench.reports.table3 import summarise, wide

    def row(model, model_class, hidden, dataset, bpc, options=None, seed=0):
        return dict(model=model, model_class=model_class, hidden_size=hidden, task_class="charlm", status="unsolved",
                    task_options=f'{{"dataset": "{dataset}", "tbptt_length": 150}}', seed=seed,
                    model_options=json.dumps(options or {}), metric_value=bpc, epochs_run=10.0, param_count=9_342_670,
                    data=f"{dataset} (/data; checked: md5): x")

    runs = pd.DataFrame([
        row("armin-800", "armin", 800, "ptb", 1.25), row("armin-800", "armin", 800, "ptb", 1.27, seed=1),
        row("armin-800x2", "stacked", 800, "enwik8", 1.40, {"layer": "armin", "num_layers": 2}),
        row("lstm-1000", "lstm", 1000, "ptb", 1.30),
        row("armin-64", "armin", 64, "text", 2.5),
    ])
    summary = summarise(runs).set_index("model")
    assert summary.loc["armin-800", "paper row"] == "ARMIN (800 units)" and summary.loc["armin-800", "BPC (paper)"] == 1.198
    assert summary.loc["armin-800", "BPC (ours)"] == "1.260 ±0.014" and summary.loc["armin-800", "seeds"] == 2
    assert summary.loc["armin-800x2", "paper row"] == "ARMIN (800 units 2 layer)"
    assert summary.loc["armin-800x2", "BPC (paper)"] == 1.331 and summary.loc["armin-800x2", "layers"] == 2
    assert summary.loc["lstm-1000", "paper row"] == "LSTM+LN+Zoneout" and "no LN" in summary.loc["lstm-1000", "notes"]
    assert summary.loc["armin-64", "paper row"] == "-" and pd.isna(summary.loc["armin-64", "BPC (paper)"])
    table = wide(summarise(runs)).set_index("model")
    assert table.loc["armin-800x2", "enwik8 params (paper)"] == "21.6M" and table.loc["armin-800", "ptb params (paper)"] == "9.80M"
    assert table.loc["armin-64", "text BPC (ours)"] == "2.500"


def test_download_fetches_checks_and_unpacks_the_archive(data_root, monkeypatch):
    """The fetch path on a local file:// source: md5 checked, members unpacked under their names, the
    archive removed; a wrong md5 is refused."""
    import dataclasses
    import hashlib
    import io
    import tarfile

    archive = data_root / "simple-examples.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for split, text in PTB.items():
            payload = text.encode()
            info = tarfile.TarInfo(f"./simple-examples/data/ptb.char.{split}.txt")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    ptb = data.DATASETS["ptb"]
    source = dataclasses.replace(ptb.sources[0], urls=(archive.as_uri(),), md5=md5)
    monkeypatch.setitem(data.DATASETS, "ptb", dataclasses.replace(ptb, sources=(source,)))
    folder = data.download("ptb")
    assert folder == data_root / "ptb" and sorted(p.name for p in folder.iterdir()) == [
        "ptb.char.test.txt", "ptb.char.train.txt", "ptb.char.valid.txt"]
    assert data.load("ptb").vocabulary == PTB_VOCABULARY
    bad = dataclasses.replace(source, md5="0" * 32)
    monkeypatch.setitem(data.DATASETS, "ptb", dataclasses.replace(ptb, sources=(bad,)))
    with pytest.raises(data.DataError, match=f"md5 {md5}, expected 0{{32}}"):
        data.download("ptb")
