"""The profile engine (bench/profile_engine.py), `bench profile`, `bench plot figure3` and `bench report table4`:
the workload's semantics, hand-computed memory figures, the repeatable saved-bytes figure, the paths
recorded, and the CSV, plot and report on tiny sizes. Timing itself is measured in benchmarks/."""

import pandas as pd
import pytest
import torch
import yaml

from bench.cli import main
from bench.config import DEFAULT_CONFIG_PATH, SCOPES, load_config
from bench.profile_engine import (
    COLUMNS_FILE,
    PROFILE_COLUMNS,
    CharStreamConfig,
    StepRunner,
    StepTimes,
    SyntheticCharStream,
    build_request,
    run_profile,
    time_interleaved,
    timing_columns,
)
from bench.training import make_optimizer
from bench.config import TrainConfig
from models import build_model

CONFIG = load_config()
NO_OVERRIDES = {scope: {} for scope in SCOPES}
TINY = {"tbptt": 3, "batch_size": 2, "vocab": 5, "repeats": 2, "warmup": 1}
FLOAT32 = 4  # bytes
TINY_CLI = ["--tbptt", "3", "--batch-size", "2", "--vocab", "5", "--repeats", "2", "--warmup", "1", "-q"]


def profile_rows(models: str, hidden: str, **flags) -> pd.DataFrame:
    request = build_request(CONFIG, "ci", {**TINY, "models": models, "hidden": hidden, **flags}, NO_OVERRIDES)
    return pd.DataFrame(run_profile(request, CONFIG, torch.device("cpu"), lambda rows: None))


def test_char_stream_is_one_hot_next_character_prediction():
    task = SyntheticCharStream(CharStreamConfig(vocab=7, length=6))
    batch = task.sample(3, torch.Generator().manual_seed(1))
    assert batch.inputs.shape == (6, 3, 7) and batch.targets.shape == (6, 3) and batch.mask.shape == (6, 3)
    assert torch.equal(batch.inputs.sum(-1), torch.ones(6, 3))  # one-hot
    assert torch.equal(batch.inputs[1:].argmax(-1), batch.targets[:-1])  # target t = input t+1
    assert task.loss_kind == "ce" and task.input_size == task.output_size == 7
    logits = torch.zeros(6, 3, 7)  # uniform prediction: cross-entropy ln 7
    assert task.loss(logits, batch).item() == pytest.approx(torch.log(torch.tensor(7.0)).item())


def test_train_step_updates_weights_and_carries_a_detached_state_infer_step_does_not_train():
    task = SyntheticCharStream(CharStreamConfig(vocab=5, length=4))
    batches = [task.sample(2, torch.Generator().manual_seed(0))]
    model = build_model("armin", input_size=5, output_size=5, hidden_size=6, memory_slots=3)
    runner = StepRunner(model, task, batches, "train", make_optimizer(model, TrainConfig(lr=1e-2)))
    before = [p.detach().clone() for p in model.parameters()]
    runner.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert runner.state["filled"].item() == 4 and not any(t.requires_grad for t in runner.state.values())
    runner.step()  # continues from the carried state: the memory keeps filling
    assert runner.state["filled"].item() == 8

    infer = StepRunner(model, task, batches, "infer")
    after_training = [p.detach().clone() for p in model.parameters()]
    infer.step()
    assert not model.training and infer.path == "eval:argmax-index-inplace"
    assert all(torch.equal(a, b) for a, b in zip(after_training, model.parameters()))


def test_time_interleaved_runs_every_step_once_per_round():
    calls = []
    times = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3, torch.device("cpu"))
    assert calls == ["a", "b"] * 3
    assert all(len(t.wall) == len(t.cpu) == 3 for t in times.values())
    assert all(s >= 0 for t in times.values() for s in t.wall + t.cpu)


def test_timing_columns_hand_computed():
    cols = timing_columns(StepTimes(wall=[0.2, 0.1, 0.4], cpu=[0.25, 0.125, 0.3]), chars_per_step=100)
    assert cols == {"step_time_s": 0.2, "step_time_min_s": 0.1, "step_time_max_s": 0.4, "step_cpu_time_min_s": 0.125,
                    "chars_per_s": 500.0, "chars_per_s_best": 1000.0, "chars_per_cpu_s": 800.0}


def test_rows_memory_figures_and_paths():
    rows = profile_rows("lstm,armin,tardis", "8").set_index(["model", "mode"])
    b, h, slots = TINY["batch_size"], 8, 20  # the ci profile: memory 20 x d_h
    lstm = rows.loc[("lstm", "infer")]
    assert lstm.state_bytes == 2 * b * h * FLOAT32  # h and c
    assert lstm.param_bytes == lstm.param_count * FLOAT32
    assert lstm.exact_memory_bytes == lstm.param_bytes + lstm.state_bytes
    armin = rows.loc[("armin", "infer")]
    assert (armin.memory_slots, armin.memory_width) == (slots, h)
    assert armin.state_bytes == (b * h + b * slots * h) * FLOAT32 + 8  # h, M, and the int64 fill counter
    train = rows.loc[("armin", "train")]
    assert train.exact_memory_bytes == train.saved_tensor_bytes > train.param_bytes
    assert rows.loc[("lstm", "train"), "path"] == "fused-nn.LSTM"
    assert train.path == "train:gumbel-st" and armin.path == "eval:argmax-index-inplace"
    assert rows.loc[("tardis", "infer"), "path"] == "eval:argmax-index-inplace"
    assert (rows.chars_per_step == TINY["tbptt"] * b).all()
    assert (rows.chars_per_s == rows.chars_per_step / rows.step_time_s).all()
    assert (rows.step_time_min_s <= rows.step_time_s).all() and (rows.step_time_s <= rows.step_time_max_s).all()


def test_saved_bytes_are_identical_across_runs_and_grow_with_hidden_size():
    first, second = (profile_rows("lstm,ntm,armin", "8,16") for _ in range(2))
    key = ["model", "hidden_size", "mode"]
    a, b = first.set_index(key).exact_memory_bytes, second.set_index(key).exact_memory_bytes
    assert a.equals(b)
    saved = first[first["mode"] == "train"].set_index(["model", "hidden_size"]).saved_tensor_bytes
    for model in ("lstm", "ntm", "armin"):
        assert saved[(model, 16)] > saved[(model, 8)] > 0


def test_saved_bytes_count_a_storage_freed_on_the_way_apart_from_the_next_one():
    from bench.run_metrics import saved_bytes

    n, dropped = 1024, 10  # 4 KB factors: glibc hands a freed block of that size to the next one

    def compute():
        x = torch.ones(n, requires_grad=True)
        for factor in range(dropped):
            (x * torch.full((n,), float(factor))).sum()  # saves the factor (4n bytes); the graph is dropped at once
        return (x * torch.full((n,), -1.0)).sum()

    assert saved_bytes(compute) == (dropped + 1) * 4 * n  # each factor's storage once, also where addresses repeat


def test_profile_cli_writes_documented_rows_and_the_plot_renders(tmp_path):
    out = tmp_path / "prof"
    assert main(["profile", "-m", "lstm,armin", "--hidden", "8,16", "--out", str(out), *TINY_CLI]) == 0
    rows = pd.read_csv(out / "profile.csv")
    assert list(rows.columns) == list(PROFILE_COLUMNS)
    assert len(rows) == 2 * 2 * 2 and rows.run_id.nunique() == 1
    assert sorted(rows.setup.unique()) == ["h16-T3-B2", "h8-T3-B2"]
    assert rows.torch_version.notna().all() and rows.git_commit.notna().all() and (rows.device == "cpu").all()
    assert "step_time_s" in (out / COLUMNS_FILE).read_text()

    assert main(["plot", "figure3", "--in", str(out), "--out", str(tmp_path / "plot")]) == 0
    for suffix in ("png", "svg"):
        assert (tmp_path / "plot" / f"figure3.{suffix}").stat().st_size > 10_000
    assert main(["compare", str(out), str(out / "profile.csv")]) == 0  # a profile matches itself


def test_table4_report_from_a_scaled_down_profile(tmp_path):
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    for setup in config["profiles"]["table4"]["setups"].values():
        setup["hidden"] //= 50
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "t4"
    assert main(["--config", str(path), "profile", "-p", "table4", "--out", str(out), *TINY_CLI]) == 0
    assert main(["report", "table4", "--in", str(out), "--out", str(out)]) == 0
    table = pd.read_csv(out / "table4.csv").set_index("quantity")
    assert list(table.columns) == ["LSTM-1", "LSTM-2", "ARMIN-1", "ARMIN-2"]
    assert table.loc["hidden", "ARMIN-1"] == "10" and table.loc["n_mem", "ARMIN-2"] == "10"
    assert table.loc["train chars/s (paper)", "LSTM-1"] == "71000" and table.loc["sizes as paper", "LSTM-1"] == "no"
    rows = pd.read_csv(out / "profile.csv").set_index(["setup", "mode"])
    train = rows.loc[("ARMIN-1", "train")]
    assert table.loc["train operators/step: fwd, bwd, opt (ours)", "ARMIN-1"] == (
        f"{train.ops_forward:,.0f}, {train.ops_backward:,.0f}, {train.ops_optimizer:,.0f}")
    assert table.loc["infer operators/step (ours)", "LSTM-1"] == f"{rows.loc[('LSTM-1', 'infer'), 'ops_forward']:,.0f}"
    assert table.loc["operators counted under torch", "ARMIN-1"] == torch.__version__


@pytest.mark.parametrize("args, message", [
    (["-m", "nosuch", "--hidden", "8"], "unknown model"),
    (["-m", "lstm", "--hidden", "0"], "hidden size"),
    (["-m", "lstm", "--hidden", "8,x"], "--hidden"),
    (["-m", "lstm", "--hidden", "8", "--mode", "fit"], "--mode"),
    (["-m", "lstm", "--hidden", "8", "--warmup", "0"], "--warmup"),
    (["-p", "nosuch"], "unknown profile"),
    (["-p", "table4", "--hidden", "8"], "grid profiles"),
    (["-m", "lstm", "--hidden", "8", "-s", "task.length=3"], "model.* and train.*"),
    (["-m", "armin", "--hidden", "8", "-s", "model.nosuch=1"], "no option"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    assert main(["profile", *TINY_CLI, *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
