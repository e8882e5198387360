"""Plugins: a model from a file, a module or an installed entry point runs by its registered name
(also in --jobs workers), reports and profiles; its identity is in every run's fingerprint and row; a
broken plugin asked for is one line, exit 2; a broken installed one is a warning and is skipped."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from bench import plugins
from bench.cli import main
from bench.config import ConfigError, expand_runs, load_config
from models import MODEL_REGISTRY

GRU = textwrap.dedent('''
    from dataclasses import dataclass
    import torch
    from torch import nn
    from models.base import ModelConfig, RecurrentModel, register_model

    @dataclass
    class PlugGRUConfig(ModelConfig):
        hidden_size: int = 6

    @register_model("{name}")
    class PlugGRU(RecurrentModel):
        config_class = PlugGRUConfig

        def __init__(self, config):
            super().__init__(config)
            self.gru = nn.GRUCell(config.input_size, config.hidden_size)
            self.readout = nn.Linear(config.hidden_size, config.output_size)

        def initial_state(self, batch_size, device=None, dtype=None):
            return {{"h": torch.zeros(batch_size, self.config.hidden_size, **self._like(device, dtype))}}

        def cell(self, x_t, state):
            h = self.gru(x_t, state["h"])
            return h, {{"h": h}}
''')
TINY = ["-t", "copy", "-n", "4", "--val-every", "2", "-q", "-s", "task.max_length=3", "-s", "train.val_batches=1",
        "-s", "train.inference_batches=1"]


def plugin_file(folder: Path, name: str = "plug-gru", extra: str = "") -> Path:
    path = folder / "plug_gru.py"
    path.write_text(GRU.format(name=name) + extra)
    return path


def forget_plugins() -> None:
    """As a new process would start: no plugin loaded (the conftest fixture restores after the test)."""
    for (kind, name) in list(plugins.ORIGIN):
        plugins.REGISTRIES[kind].pop(name, None)
    plugins.ORIGIN.clear()
    plugins.LOADED.clear()


def test_a_file_plugin_runs_by_name_with_jobs_reports_and_profiles(tmp_path, capsys):
    path, out = plugin_file(tmp_path), tmp_path / "out"
    assert main(["run", "--plugin", str(path), "-m", "plug-gru,lstm", *TINY, "-s", "model.hidden_size=5",
                 "--jobs", "2", "--out", str(out)]) == 0
    runs = pd.read_csv(out / "runs.csv", keep_default_na=False).set_index("model")
    assert runs.loc["plug-gru", "status"] in ("solved", "unsolved") and runs.loc["plug-gru", "model_class"] == "plug-gru"
    assert runs.loc["plug-gru", "plugins"] == f"file:{path.resolve()}@{plugins.file_identity(path)}"
    assert runs.loc["lstm", "plugins"] == ""  # built-ins carry nothing
    assert runs.loc["plug-gru", "param_count"] == 3 * (3 * 5 * (10 + 5) + 2 * 3 * 5) // 3 + 5 * 8 + 8
    assert main(["report", "table1", "--in", str(out), "--out", str(tmp_path / "report")]) == 0
    assert "plug-gru" in (tmp_path / "report" / "table1_long.csv").read_text()
    prof = tmp_path / "prof"
    assert main(["profile", "--plugin", str(path), "-m", "plug-gru", "--hidden", "4", "--mode", "train,infer",
                 "--tbptt", "3", "--batch-size", "2", "--repeats", "1", "--warmup", "1", "-q", "--out", str(prof)]) == 0
    profile = pd.read_csv(prof / "profile.csv")
    assert set(profile["model"]) == {"plug-gru"} and len(profile) == 2
    capsys.readouterr()
    assert main(["list", "--plugin", str(path)]) == 0
    assert "plug-gru" in capsys.readouterr().out


def test_editing_the_plugin_file_changes_the_fingerprint_and_resume_reruns(tmp_path, capsys):
    path, out = plugin_file(tmp_path), tmp_path / "out"
    args = ["run", "--plugin", str(path), "-m", "plug-gru", *TINY, "--out", str(out), "--resume"]
    assert main(args) == 0
    plugins.load_plugin(str(path))
    [spec] = expand_runs(load_config(), ["plug-gru"], ["copy"], [0])
    forget_plugins()
    assert main(args) == 0  # the same file: skipped
    assert "--resume: 1 finished run(s) skipped" in capsys.readouterr().out
    plugin_file(tmp_path, extra="\n# a changed comment is a changed file\n")
    forget_plugins()
    plugins.load_plugin(str(path))
    [edited] = expand_runs(load_config(), ["plug-gru"], ["copy"], [0])
    assert edited.spec_hash != spec.spec_hash and edited.model_options == spec.model_options
    with pytest.raises(ConfigError, match="changed since it was loaded"):  # one process never mixes two versions
        plugin_file(tmp_path, extra="\n# edited again\n") and plugins.load_plugin(str(path))
    plugin_file(tmp_path, extra="\n# a changed comment is a changed file\n")
    forget_plugins()
    assert main(args) == 0
    assert "--resume: 0 finished run(s) skipped" in capsys.readouterr().out
    runs = pd.read_csv(out / "runs.csv")
    assert runs["spec_hash"].nunique() == 2 and runs["plugins"].nunique() == 2


def test_a_module_plugin_and_plugins_listed_in_a_users_config(tmp_path, monkeypatch, capsys):
    package = tmp_path / "mymodels"
    package.mkdir()
    (package / "__init__.py").write_text("")
    plugin_file(package, name="mod-gru")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "conf" / "mine.yaml"
    config.parent.mkdir()
    plugin_file(tmp_path, name="yaml-gru")
    config.write_text("plugins: [../plug_gru.py]\nmodels:\n  yaml-gru-8: {class: yaml-gru, hidden_size: 8}\n")
    out = tmp_path / "out"
    assert main(["--config", str(config), "run", "--plugin", "mymodels.plug_gru", "-m", "mod-gru,yaml-gru-8,armin",
                 *TINY, "--out", str(out)]) == 0
    runs = pd.read_csv(out / "runs.csv", keep_default_na=False).set_index("model")
    assert runs.loc["mod-gru", "plugins"].startswith("module:mymodels.plug_gru@sha256:")
    assert runs.loc["yaml-gru-8", "hidden_size"] == "8" and runs.loc["yaml-gru-8", "plugins"].startswith("file:")
    assert runs.loc["armin", "status"] != "error"  # the packaged presets are still there


@pytest.mark.parametrize("content, message", [
    ("import not_a_module_anywhere\n", "could not be loaded: ModuleNotFoundError: No module named 'not_a_module_anywhere'"),
    ("raise RuntimeError('boom')\n", "could not be loaded: RuntimeError: boom"),
    ("from models.base import register_model\n@register_model('fn')\ndef fn(): pass\n",
     "model 'fn' is <function fn"),
    (GRU.format(name="nodefault").replace("config_class = PlugGRUConfig", "config_class = dict"),
     "model 'nodefault': config_class must be a dataclass subclassing ModelConfig"),
    (GRU.format(name="armin"), "model 'armin' registered twice"),
])
def test_a_broken_plugin_is_one_line_naming_it_exit_2(cli, tmp_path, capsys, content, message):
    path = tmp_path / "bad_plugin.py"
    path.write_text(content)
    code, lines = cli(["run", "--plugin", str(path), "-m", "lstm", *TINY, "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert f"bad_plugin.py" in lines[0] and message in lines[0], lines[0]
    assert "fn" not in MODEL_REGISTRY and "nodefault" not in MODEL_REGISTRY and not (tmp_path / "out").exists()


@pytest.mark.parametrize("ref, message", [
    ("nowhere.py", "plugin file not found: nowhere.py"),
    ("not-a-module!", "give a .py file or a module name"),
    ("no_such_package.models", "could not be loaded: ModuleNotFoundError"),
])
def test_a_plugin_that_is_not_there_is_one_line(cli, tmp_path, capsys, ref, message):
    code, lines = cli(["check-model", "lstm", "--plugin", ref], capsys)
    assert code == 2 and len(lines) == 1 and message in lines[0], lines


def fake_distribution(site: Path, dist: str, version: str, entry: str, module: str, source: str) -> None:
    """An installed distribution as pip leaves it: a module and a .dist-info with entry points."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[mannbench.models]\n{entry} = {module}\n")


def test_installed_entry_points_load_and_a_broken_one_is_a_warning(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    site.mkdir()
    fake_distribution(site, "ep_gru", "0.2.0", "ep-gru", "ep_gru_model", GRU.format(name="ep-gru"))
    fake_distribution(site, "ep_broken", "1.0", "broken", "ep_broken_model", "raise ImportError('half installed')\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(plugins, "_ENTRY_POINTS_LOADED", False)
    out = tmp_path / "out"
    assert main(["run", "-m", "ep-gru", *TINY, "--seeds", "2", "--jobs", "2", "--out", str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench: warning: skipping installed plugin from entry point "
                                               "mannbench.models:broken") and "half installed" in err[0], err
    runs = pd.read_csv(out / "runs.csv")
    assert runs["plugins"].tolist() == ["entry-point:mannbench.models:ep-gru@ep_gru==0.2.0"] * 2
    assert (runs["status"] != "error").all()


def test_a_plugin_model_runs_in_ray_workers(tmp_path):
    pytest.importorskip("ray")
    path, out = plugin_file(tmp_path), tmp_path / "out"
    assert main(["run", "--plugin", str(path), "-m", "plug-gru", *TINY, "--executor", "ray", "--jobs", "1",
                 "--out", str(out)]) == 0
    [row] = pd.read_csv(out / "runs.csv", keep_default_na=False).to_dict("records")
    assert row["status"] != "error" and row["plugins"] == f"file:{path.resolve()}@{plugins.file_identity(path)}"
    assert "/" in row["node"]  # NODE_IP/NODE_ID: it ran in a Ray worker
