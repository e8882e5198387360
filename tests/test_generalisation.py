"""Generalisation to longer instances (bench/generalisation.py and the tasks' generalization_settings):
a model that copies perfectly makes no error at any length, an untrained one is at chance, the CSV has
its columns, and `bench run -s train.generalization=true` writes it."""

import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from torch import nn

from bench.cli import main
from bench.generalisation import (BCE, BIT_ERRORS, FAILED, FILENAME, GENERALIZATION_COLUMNS, evaluate, evaluate_run,
                                  setting_seed, write_rows)
from models import build_model
from tasks import build_task

CONFIDENT = 20.0  # logit of a sure bit: BCE = log(1 + e^-20) ~ 2e-9


class PerfectCopier(nn.Module):
    """Reads a copy-task sequence (start flag, L vectors, end flag, L blanks) and answers with the L
    vectors: a function of the inputs alone, so it copies at any length."""

    def __init__(self, bits: int, memory_slots: int = 0):
        super().__init__()
        self.bits = bits
        self.unused = nn.Parameter(torch.zeros(1))  # device and dtype for the evaluator
        self.config = SimpleNamespace(memory_slots=memory_slots)

    def forward(self, inputs):  # (T, B, I) with T = 2L + 2
        length = (inputs.shape[0] - 2) // 2
        logits = torch.full((inputs.shape[0], inputs.shape[1], self.bits), -CONFIDENT)  # (T, B, bits)
        logits[length + 2:] = (inputs[1 : length + 1, :, : self.bits] * 2 - 1) * CONFIDENT
        return logits, None


def by_setting(rows, metric):
    return {r["setting"]: r["value"] for r in rows if r["metric"] == metric}


def test_perfect_copier_has_no_error_at_any_length():
    task = build_task("copy", bits=4, min_length=1, max_length=5)
    rows = evaluate(PerfectCopier(bits=4), task, "copy", sequences=8)
    assert sorted(by_setting(rows, BIT_ERRORS)) == ["length=10", "length=20", "length=5"]
    assert all(v == 0 for v in by_setting(rows, BIT_ERRORS).values())
    assert all(v < 1e-6 for v in by_setting(rows, BCE).values())
    assert {r["scale"] for r in rows} == {1, 2, 4}
    assert {r["presentation_steps"] for r in rows} == {7, 12, 22}  # L + 2


def test_a_copier_that_fails_past_the_training_length_shows_it():
    class ShortMemory(PerfectCopier):  # forgets every vector after the 5th
        def forward(self, inputs):
            logits, _ = super().forward(inputs)
            length = (inputs.shape[0] - 2) // 2
            logits[length + 2 + 5 :] = 0.0  # unsure: BCE ln 2, and 0 > 0 is False, so ones count as wrong
            return logits, None

    task = build_task("copy", bits=4, min_length=1, max_length=5)
    inputs = task.generalization_settings(4)[0].task.sample(8, torch.Generator().manual_seed(0))
    rows = evaluate(ShortMemory(bits=4), task, "copy", sequences=8)
    errors = by_setting(rows, BIT_ERRORS)
    assert errors["length=5"] == 0 and 0 < errors["length=10"] < errors["length=20"]
    assert by_setting(rows, BCE)["length=20"] == pytest.approx(math.log(2) * 15 / 20, rel=1e-3)
    assert inputs.inputs.shape[0] == 2 * 20 + 2


def test_untrained_model_is_at_chance():
    task = build_task("copy", bits=8, min_length=1, max_length=10)
    torch.manual_seed(0)
    model = build_model("lstm", input_size=task.input_size, output_size=task.output_size, hidden_size=16)
    rows = evaluate(model, task, "copy")
    for setting, bce in by_setting(rows, BCE).items():
        assert bce == pytest.approx(math.log(2), abs=0.03), setting
    # about half of the L x 8 answer bits wrong per sequence
    assert by_setting(rows, BIT_ERRORS)["length=40"] == pytest.approx(40 * 8 / 2, rel=0.15)
    assert model.training  # left in the mode it was in


def test_settings_of_every_task_keep_the_training_encoding():
    repeat = build_task("repeat_copy", bits=4, min_length=1, max_length=3, min_repeats=1, max_repeats=5)
    settings = {s.name: s for s in repeat.generalization_settings(4)}
    assert set(settings) == {"length=12", "repeats=20"}
    batch = settings["repeats=20"].task.sample(2, torch.Generator().manual_seed(0))
    assert batch.inputs[3 + 1, 0, 4 + 1].item() == pytest.approx(20 / 5)  # R / the training max_repeats
    assert int(batch.mask[:, 0].sum()) == 3 * 20 + 1
    recall = build_task("associative_recall", bits=4, item_length=2, min_items=2, max_items=3)
    assert [s.value for s in recall.generalization_settings(2)] == [6]
    sort = build_task("priority_sort", bits=4, num_inputs=10, num_outputs=4)
    (wider,) = sort.generalization_settings(2)
    assert wider.value == 20 and wider.task.sample(1, torch.Generator()).inputs.shape[0] == 20 + 4
    assert not hasattr(build_task("ngram", order=3, length=10), "generalization_settings")


def test_each_setting_has_fixed_data_of_its_own():
    assert setting_seed("copy", "length=100") == setting_seed("copy", "length=100")
    assert setting_seed("copy", "length=100") != setting_seed("copy", "length=200")
    task = build_task("copy", bits=4, min_length=1, max_length=5)
    model = build_model("lstm", input_size=task.input_size, output_size=task.output_size, hidden_size=8)
    assert evaluate(model, task, "copy", sequences=4) == evaluate(model, task, "copy", sequences=4)


def test_evaluate_run_writes_the_csv_and_says_when_memory_cannot_hold_the_input(tmp_path):
    task = build_task("copy", bits=4, min_length=1, max_length=5)
    run = {"run_id": "r1", "model": "stub", "task": "copy", "seed": 3, "status": "solved"}
    write_rows(tmp_path, evaluate_run(PerfectCopier(bits=4, memory_slots=10), task, run))
    table = pd.read_csv(tmp_path / FILENAME)
    assert list(table.columns) == list(GENERALIZATION_COLUMNS)
    assert "| memory_holds |" in (tmp_path / "GENERALIZATION_COLUMNS.md").read_text()
    assert len(table) == 6 and (table.run_id == "r1").all() and (table.seed == 3).all()
    holds = table.drop_duplicates("setting").set_index("setting").memory_holds
    assert holds.to_dict() == {"length=5": "yes", "length=10": "no", "length=20": "no"}  # 12 and 22 steps > 10 slots


def test_a_failing_evaluation_is_an_error_row_not_an_exception(tmp_path):
    class Broken(PerfectCopier):
        def forward(self, inputs):
            raise RuntimeError("boom")

    task = build_task("copy", bits=4, min_length=1, max_length=5)
    rows = evaluate_run(Broken(bits=4), task, {"run_id": "r", "model": "m", "task": "copy", "seed": 0})
    write_rows(tmp_path, rows)
    assert rows == [{"run_id": "r", "model": "m", "task": "copy", "seed": 0, "metric": FAILED,
                     "error": "RuntimeError: boom"}]
    assert pd.read_csv(tmp_path / FILENAME).metric.tolist() == [FAILED]


TINY = ["-s", "task.max_length=3", "-s", "task.bits=4", "-s", "model.hidden_size=8", "-q", "-n", "4",
        "--val-every", "2", "-s", "train.val_batches=1", "-s", "train.val_batch_size=2", "-s", "train.inference_batches=1"]


def test_bench_run_writes_generalization_only_when_asked(tmp_path, capsys):
    assert main(["run", "-m", "lstm,armin", "-t", "copy", "--out", str(tmp_path / "off"), *TINY]) == 0
    assert not (tmp_path / "off" / FILENAME).exists()
    assert main(["run", "-m", "lstm,armin", "-t", "copy", "--out", str(tmp_path / "on"), *TINY,
                 "-s", "train.generalization=true"]) == 0
    table = pd.read_csv(tmp_path / "on" / FILENAME)
    runs = pd.read_csv(tmp_path / "on" / "runs.csv")
    assert set(table.run_id) == set(runs.run_id) and set(table.setting) == {"length=3", "length=6", "length=12"}
    assert set(table.metric) == {BCE, BIT_ERRORS} and table.value.notna().all()
    # the fingerprint ignores the option: --resume finds the runs made without it
    assert set(runs.spec_hash) == set(pd.read_csv(tmp_path / "off" / "runs.csv").spec_hash)


def test_report_and_plot_of_generalization(tmp_path, capsys):
    from bench.reports.generalization import read_generalization, summarise

    task = build_task("copy", bits=4, min_length=1, max_length=5)
    runs = []
    for run_id, model, status in (("a", PerfectCopier(bits=4), "solved"), ("b", PerfectCopier(bits=4), "solved")):
        write_rows(tmp_path, evaluate_run(model, task, {"run_id": run_id, "model": "stub", "task": "copy", "seed": 0}))
        runs.append({"run_id": run_id, "model": "stub", "task": "copy", "status": status})
    with open(tmp_path / FILENAME, "a") as f:
        f.write("a,stub,copy,0,length=5,len")  # a truncated last line: the reader survives it
    pd.DataFrame(runs).to_csv(tmp_path / "runs.csv", index=False)
    summary = summarise(read_generalization([tmp_path])).set_index("parameter_value")
    assert summary.loc[20, "runs"] == 2 and summary.loc[20, "outcome"] == "solved"
    assert summary.loc[20, "bit_errors_mean"] == 0
    assert main(["report", "generalization", "--in", str(tmp_path), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "generalization_table.md").is_file()
    assert len(pd.read_csv(tmp_path / FILENAME, on_bad_lines="skip")) >= 12  # the data file is not overwritten
    assert main(["plot", "generalization", "--in", str(tmp_path), "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "generalization.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["report", "generalization", "--in", str(tmp_path / "fig")]) == 2  # no data there: one line
    assert "no generalization.csv" in capsys.readouterr().err


def test_on_in_the_table1_suite_and_off_with_a_flag():
    from argparse import Namespace

    from bench.commands.run import specs_from_args
    from bench.config import load_config

    def specs(options=None):
        args = Namespace(suite="table1", models="ntm", tasks="copy", iterations=None, seeds=1, seed=0, batch_size=None,
                         val_every=None, device=None, dtype=None, options=options, jobs=1)
        return specs_from_args(args, load_config())

    (on,), (off,) = specs(), specs(["train.generalization=false"])
    assert on.train.generalization and not off.train.generalization
    assert on.spec_hash == off.spec_hash  # evaluating afterwards does not change what the run learns
