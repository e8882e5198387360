"""The shape of benchmarks.yaml: every malformed section, preset or suite is one line naming where it
is and what is valid, exit 2, before any run starts; the default file travels inside the package."""

from __future__ import annotations

import copy

import pytest
import yaml

from bench.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, suite

DEFAULT = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def write(tmp_path, change) -> str:
    config = copy.deepcopy(DEFAULT)
    change(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)




def set_suite(name, entry):
    return lambda config: config["suites"].__setitem__(name, entry)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["models"].__setitem__("lstm", [1, 2]), "models.lstm=[1, 2]: must be a mapping of options"),
    (lambda c: c["tasks"].__setitem__("copy", "copy"), "tasks.copy='copy': must be a mapping of options"),
    (lambda c: c.__setitem__("training", [1]), "training=[1]: must be a mapping of options"),
    (lambda c: c.__setitem__("models", {"mine": 3}), "models.mine=3: must be a mapping of options"),
    (lambda c: c.__setitem__("plugins", [3]), "plugins.0=3: must be a valid string"),
    (set_suite("mine", "lstm"), "suites.mine='lstm': must be a mapping of options"),
    (set_suite("mine", 7), "suites.mine=7: must be a mapping of options"),
    (set_suite("mine", {"models": 5, "tasks": ["copy"]}), "suites.mine.models=5: must be a list of preset names"),
    (set_suite("mine", {"models": ["lstm"], "tasks": ["copy"], "seeds": "many"}),
     "suites.mine.seeds='many': must be an integer"),
    (set_suite("mine", {"models": ["lstm"], "tasks": ["copy"], "seeds": 10**12}),
     "suites.mine.seeds=1000000000000: must be less than or equal to 10000"),
    (set_suite("mine", {"models": ["lstm"], "tasks": ["copy"], "train": [1]}),
     "suites.mine.train=[1]: must be a mapping of options"),
    (set_suite("mine", {"models": ["lstm"], "taks": ["copy"]}), "suites.mine.taks: no such option"),
    (set_suite("mine", {"models": ["lstm"], "tasks": ["copy"], "vectorize_seeds": "yes"}),
     "suites.mine.vectorize_seeds='yes': must be true or false"),
    (set_suite("mine", {"models": ["lstm"], "tasks": ["copy"], "vectorize_seeds": 1}),
     "suites.mine.vectorize_seeds=1: must be true or false"),
])
def test_malformed_file_is_one_line_exit_2(cli, tmp_path, capsys, change, message):
    path = write(tmp_path, change)
    out = tmp_path / "out"
    code, lines = cli(["--config", path, "run", "-m", "lstm", "-t", "copy", "-n", "1", "--out", str(out)], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert f"{path}: {message}" in lines[0], lines[0]
    assert not out.exists()


def test_a_user_file_adds_to_the_packaged_presets_instead_of_replacing_them(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("models:\n  lstm-tiny: {class: lstm, hidden_size: 8}\n  armin: {hidden_size: 7}\n"
                    "suites:\n  mine: {models: [lstm-tiny, armin-code], tasks: [copy]}\ntraining: {lr: 0.5}\n")
    config, packaged = load_config(path), load_config()
    assert config["models"]["lstm-tiny"] == {"class": "lstm", "hidden_size": 8}
    assert config["models"]["armin"] == {"hidden_size": 7}  # a name in both: the user's entry, whole
    assert config["models"]["armin-code"] == packaged["models"]["armin-code"]
    assert set(config["tasks"]) == set(packaged["tasks"]) and "table1" in config["suites"]
    assert config["training"]["lr"] == 0.5
    assert config["training"]["val_every"] == packaged["training"]["val_every"]
    assert suite(config, "mine")["models"] == ["lstm-tiny", "armin-code"]


def test_non_utf8_file_is_one_line(cli, tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(DEFAULT_CONFIG_PATH.read_text().replace("# mannbench", "# mannbench caf\u00e9").encode("latin-1"))
    code, lines = cli(["--config", str(path), "list"], capsys)
    assert code == 2 and len(lines) == 1 and "is not UTF-8 text" in lines[0], lines


def test_a_suite_names_presets_as_a_list_or_a_comma_separated_string(tmp_path):
    path = write(tmp_path, set_suite("mine", {"models": "lstm, armin", "tasks": ["copy"], "seeds": 2, "model": None}))
    entry = suite(load_config(path), "mine")
    assert (entry["models"], entry["tasks"], entry["seeds"]) == (["lstm", "armin"], ["copy"], 2)
    assert entry["overrides"]["model"] == {}


def test_every_suite_of_the_default_file_resolves():
    from bench.config import expand_runs, merge_overrides

    config = load_config()
    for name in config["suites"]:
        entry = suite(config, name)
        real_data = {"pmnist", "pmnist-fashion", "pmnist-demo", "pmnist-fashion-8k", "ptb", "enwik8", "text-smoke"}
        if set(entry["tasks"]) & real_data:
            continue  # their data files may be absent here; tests/test_pmnist.py and test_charlm.py cover them
        assert expand_runs(config, entry["models"], entry["tasks"], [0], merge_overrides(entry["overrides"], {}))


def test_the_default_file_is_package_data():
    assert DEFAULT_CONFIG_PATH.parent.name == "bench" and DEFAULT_CONFIG_PATH.is_file()
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(DEFAULT_CONFIG_PATH.parent / "nope.yaml")
