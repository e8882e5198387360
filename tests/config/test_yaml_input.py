"""YAML as the configuration reads it, on the command line (-s) and in files: YAML 1.2 booleans only
(true/false in any case; yes/no/on/off are text, so a boolean option refuses them), no unknown top-level
section, and a document bounded in aliases and nodes before anything expands it. Each bad input is one
line and exit 2."""

from __future__ import annotations

import pytest
import yaml

from bench import yaml_reader
from bench.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_overrides

RUN = ["run", "-m", "lstm", "-t", "copy", "-n", "1"]
TEXT = DEFAULT_CONFIG_PATH.read_text()
# nine lines standing for 10^9 leaves: each line names the one above ten times
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))


def one_line_exit_2(cli, capsys, argv, message):
    code, lines = cli(argv, capsys)
    assert code == 2 and len(lines) == 1, (code, lines)
    assert message in lines[0], lines[0]


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "ON", "y", "n"])
def test_yaml_11_booleans_on_the_command_line_are_refused(cli, tmp_path, capsys, word):
    one_line_exit_2(cli, capsys, [*RUN, "--out", str(tmp_path / "out"), "-s", f"train.stop_when_solved={word}"],
                    f"train.stop_when_solved={word!r}: must be true or false")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("word, value", [("true", True), ("TRUE", True), ("tRuE", True), ("False", False),
                                         ("false", False)])
def test_true_and_false_in_any_case_are_booleans(word, value):
    assert parse_overrides([f"train.stop_when_solved={word}"])["train"] == {"stop_when_solved": value}


@pytest.mark.parametrize("where", ["suite", "training"])
def test_yaml_11_booleans_in_a_file_are_refused(cli, tmp_path, capsys, where):
    if where == "suite":
        text = TEXT.replace("suites:", "suites:\n  mine:\n    models: lstm\n    tasks: copy\n    vectorize_seeds: yes\n", 1)
        argv, message = ["run", "--suite", "mine", "-n", "1"], "suites.mine.vectorize_seeds='yes': must be true or false"
    else:
        text = TEXT.replace("\ntraining:", "\ntraining:\n  generalization: off", 1)
        argv, message = RUN, "train.generalization='off': must be true or false"
    path = tmp_path / "config.yaml"
    path.write_text(text)
    one_line_exit_2(cli, capsys, ["--config", str(path), *argv, "--out", str(tmp_path / "out")], message)


def test_a_misspelled_section_is_refused_naming_the_valid_ones(cli, tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(TEXT.replace("\ntraining:", "\ntrainng:", 1))
    one_line_exit_2(cli, capsys, ["--config", str(path), *RUN, "--out", str(tmp_path / "out")],
                    f"{path}: unknown section 'trainng' (a misspelling?); valid sections: models, plugins, profiles, suites, "
                    "tasks, training")


def test_the_default_file_reads_as_before():
    """Merge keys and anchors work; the default file holds no YAML 1.1 boolean words."""
    assert yaml_reader.load(TEXT, "default") == yaml.safe_load(TEXT)


@pytest.mark.parametrize("text, message", [
    ("x-bomb:\n" + "".join("  " + line + "\n" for line in BOMB.splitlines()), "expands to more than 200,000 YAML nodes"),
    (BOMB + "models:\n  lstm: {hidden: *i}\n", "expands to more than 200,000 YAML nodes"),
    ("models: &m {lstm: [*m]}\n", "a YAML alias refers to a node that contains it"),
    ("a: &a 1\nb: [" + ", ".join(["*a"] * 1001) + "]\n", "uses more than 1,000 YAML aliases"),
])
def test_a_yaml_bomb_is_refused_before_it_expands(tmp_path, text, message):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_bench_list_with_a_bomb_is_one_line(cli, tmp_path, capsys):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    one_line_exit_2(cli, capsys, ["--config", str(path), "list"], f"{path} expands to more than 200,000 YAML nodes")
