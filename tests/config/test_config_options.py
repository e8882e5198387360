"""Options: typed and ranged, one merge rule for every scope, options a run would not read rejected.
Every bad value is one line naming the option, the value and what is valid, exit 2, and no run starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import (
    ConfigError,
    TrainConfig,
    deep_merge,
    expand_runs,
    load_config,
    merge_overrides,
    parse_overrides,
    seed_list,
)

CONFIG = load_config()




def specs(models: str, task: str, *options: str, seeds=(0,)):
    return expand_runs(CONFIG, models.split(","), task.split(","), list(seeds), parse_overrides(list(options)))


COPY = ["run", "-m", "armin,lstm", "-t", "copy", "-n", "2"]


@pytest.mark.parametrize("extra, message", [
    # numbers: finite, in range; booleans strict
    (["-s", "train.clip_value=nan"], "train.clip_value='nan': must be a finite number"),
    (["-s", "train.solved_threshold=nan"], "train.solved_threshold='nan': must be a finite number"),
    (["-s", "train.alpha=nan"], "train.alpha='nan': must be a finite number"),
    (["-s", "train.lr=inf"], "train.lr='inf': must be a finite number"),
    (["-s", "train.momentum=-1"], "train.momentum=-1: must be greater than or equal to 0"),
    (["-s", "train.alpha=1.5"], "train.alpha=1.5: must be less than or equal to 1"),
    (["-s", "train.stop_when_solved=maybe"], "train.stop_when_solved='maybe': must be true or false"),
    (["-s", "train.stop_when_solved=1"], "train.stop_when_solved=1: must be true or false"),
    (["-s", "model.layer_norm=1"], "model.layer_norm=1: must be true or false"),
    (["-s", "task.bits=true"], "task.bits=True: must be a number, not true/false"),
    (["-s", "train.optimizer=sgd"], "train.optimizer='sgd': must be 'rmsprop' or 'adam'"),
    (["-s", "train.inverse_temperature=3"], "train.inverse_temperature=3: must be a mapping of options"),
    (["-s", "train.inverse_temperature.every=0"], "train.inverse_temperature.every=0: must be greater than or equal to 1"),
    # sizes that would not fit
    (["--seeds", "999999999999"], "--seeds: '999999999999' is not valid: give an integer from 1 to 10,000"),
    (["-s", "task.max_length=1e30"], "task.max_length='1e30': must be less than or equal to 10000000"),
    (["-s", "model.hidden_size=100000"], "has 50,036,903,598 weights and buffers; at most 1,000,000,000 fit"),
    # empty values
    (["-s", "model.hidden_size="], "option model.hidden_size has no value ('model.hidden_size='); give model.hidden_size=VALUE"),
    (["-s", "model.hidden_size=null"], "model.hidden_size=None: must be an integer"),
    (["--out", ""], "argument --out/-o: '' is not a folder name"),
    # options the run would not read
    (["-s", "model.memory_slots=8"], "model.memory_slots=8: model 'lstm' (class lstm) has no memory"),
    (["-s", "train.early_stopping_patience=2"], "train.early_stopping_patience=2 is not used by task 'copy' (episodic training loop"),
    (["-s", "train.lr_schedule=plateau"], "train.lr_schedule='plateau' is not used by task 'copy'"),
    (["-s", "train.epochs=3"], "train.epochs=3 is not used by task 'copy'"),
    (["-s", "train.optimizer=adam", "-s", "train.momentum=0.5"], "train.momentum=0.5 is not used by task 'copy' "
                                                                   "(episodic training loop, optimizer adam"),
])
def test_bad_option_is_one_line_exit_2_and_no_run(cli, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    code, lines = cli([*COPY, "--out", str(out), *extra], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert message in lines[0], lines[0]
    assert not out.exists()  # nothing ran, nothing was written


def test_stream_task_rejects_the_episodic_loops_options(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("some text to model " * 50)
    task_file = f"task.text_file={text}"
    assert specs("lstm", "text-smoke", task_file, "train.epochs=2")  # the stream loop reads epochs
    with pytest.raises(ConfigError, match=r"train.val_every=5 is not used by task 'text-smoke' \(stream training loop"):
        specs("lstm", "text-smoke", task_file, "train.val_every=5")
    with pytest.raises(ConfigError, match="train.stop_when_solved=False is not used by task 'text-smoke'"):
        specs("lstm", "text-smoke", task_file, "train.stop_when_solved=false")
    with pytest.raises(ConfigError, match="train.lr_patience=3 is not used .* only lr_schedule plateau reads it"):
        specs("lstm", "text-smoke", task_file, "train.lr_schedule=step", "train.lr_patience=3")


def test_one_deep_merge_rule_for_every_scope():
    # the preset's layer_options keep layer_norm when one key of them is set
    spec, = specs("armin-800x2", "copy", "model.layer_options.zoneout=0.1")
    assert spec.model_options["layer_options"] == {"layer_norm": True, "zoneout": 0.1}
    # training options: the same rule for a nested mapping
    spec, = specs("armin", "copy", "train.inverse_temperature.every=100")
    assert (spec.train.inverse_temperature.every, spec.train.inverse_temperature.max) == (100, 50.0)
    # suite options, then --set on top: merged the same way
    merged = merge_overrides({"model": {"layer_options": {"a": 1, "b": 2}}}, {"model": {"layer_options": {"b": 3}}})
    assert merged["model"] == {"layer_options": {"a": 1, "b": 3}}
    assert deep_merge({"x": {"y": 1}}, {"x": 5}) == {"x": 5}  # a value replaces a mapping


def test_a_stacked_models_layer_options_are_checked_as_the_layers_own():
    with pytest.raises(ConfigError, match="model.layer_options.zoneout='lots': must be a number"):
        specs("armin-800x2", "copy", "model.layer_options.zoneout=lots")
    with pytest.raises(ConfigError, match="layer 'armin' has no option.s. colour"):
        specs("armin-800x2", "copy", "model.layer_options.colour=red")
    config = {**CONFIG, "models": {**CONFIG["models"], "lstm-stack": {"class": "stacked", "layer": "lstm"}}}
    expand_runs(config, ["lstm-stack"], ["copy"], [0])
    with pytest.raises(ConfigError, match="model.memory_slots=4: model 'lstm-stack' .class lstm. has no memory"):
        expand_runs(config, ["lstm-stack"], ["copy"], [0], parse_overrides(["model.memory_slots=4"]))


def test_numbers_written_as_text_are_numbers_and_the_fingerprint_is_stable():
    a, = specs("armin", "copy", "train.lr=1e-3", "model.hidden_size=1e1")
    b, = specs("armin", "copy", "train.lr=0.001", "model.hidden_size=10")
    assert a.train.lr == 0.001 and a.model_options["hidden_size"] == 10 and type(a.model_options["hidden_size"]) is int
    assert a.spec_hash == b.spec_hash


def test_train_config_from_a_mapping_checks_every_field():
    assert TrainConfig.from_dict({"lr": "3e-4"}).lr == 3e-4
    for options, message in [({"iterations": True}, "train.iterations=True"), ({"epochs": -1}, "train.epochs=-1"),
                             ({"device": "tpu"}, "train.device='tpu'"), ({"lr_decay": 0}, "train.lr_decay=0"),
                             ({"dtype": "float16"}, "train.dtype='float16'"), ({"colour": 1}, "train.colour: no such option")]:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
            TrainConfig.from_dict(options)


def test_seed_list_bounds():
    assert seed_list(5, 3) == [5, 6, 7]
    for first, count in [(0, 0), (0, 10**12), (-1, 1), (2**31 - 1, 2), (True, 1)]:
        with pytest.raises(ConfigError, match="--seed"):
            seed_list(first, count)
