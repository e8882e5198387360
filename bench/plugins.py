"""Plugins: models and tasks that live outside mannbench, registered with the same public decorators
(``models.base.register_model``, ``tasks.base.register_task``) as the built-in ones.

Three ways in, all ending in an import that runs those decorators:
- ``--plugin path/to/file.py`` (any command; repeatable): the file is imported as a module of its own;
- ``--plugin package.module``: an importable module (installed, or on PYTHONPATH);
- an installed distribution that declares entry points in the groups ``mannbench.models`` or
  ``mannbench.tasks`` (``ENTRY_POINT_GROUPS``): loaded by every command, without being asked for.
A configuration file may list plugins too (``plugins: [mine.py, mypkg.models]``; a relative file path
is relative to that file).

A plugin that was asked for and fails to import, or registers something invalid, is a ``ConfigError``
naming it (one line, exit 2). A broken installed entry point is a warning and is skipped, so one bad
package cannot break every command.

Each plugin has an identity: the SHA-256 of a file plugin's bytes, or the installed version of the
distribution that holds a module or entry point. A run whose model or task class comes from a plugin
carries the plugin's source and identity in its spec (``RunSpec.plugins``): they are part of its
fingerprint, so ``--resume`` never counts a run of one version of the user's model as done for another,
and worker processes (``--jobs``, Ray) import the plugin again from its source before building the run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import models
import tasks
from bench.config import ConfigError

ENTRY_POINT_GROUPS = {"mannbench.models": "model", "mannbench.tasks": "task"}
FILE_MODULE_PREFIX = "mannbench_plugin_"  # a file plugin's module name in sys.modules
REGISTRIES = {"model": models.MODEL_REGISTRY, "task": tasks.TASK_REGISTRY}


@dataclass(frozen=True)
class Plugin:
    """Where a plugin comes from and which version of it was loaded."""

    source: str  # "file:/abs/path.py", "module:pkg.mod" or "entry-point:group:name"
    identity: str  # "sha256:..." of a file, or "DIST==VERSION" of the distribution holding a module
    registered: tuple[str, ...] = ()  # "model:NAME", "task:NAME"

    def label(self) -> str:
        return f"{self.source}@{self.identity}"

    def ref(self) -> dict[str, str]:
        """What a run carries (JSON-able): enough to import it again and to notice a different version."""
        return {"source": self.source, "identity": self.identity}


LOADED: dict[str, Plugin] = {}  # source -> plugin
ORIGIN: dict[tuple[str, str], Plugin] = {}  # (kind, registered name) -> the plugin that registered it
_ENTRY_POINTS_LOADED = False


# --- identities -------------------------------------------------------------------------------------
def file_identity(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def module_identity(module_name: str, module: Any = None) -> str:
    """The distribution version holding a module (``mygru==0.1.0``); a module not installed from a
    distribution (on PYTHONPATH) is identified by the hash of its file."""
    top = module_name.split(".")[0]
    dists = importlib.metadata.packages_distributions().get(top, [])
    if dists:
        dist = dists[0]
        return f"{dist}=={importlib.metadata.version(dist)}"
    file = getattr(module, "__file__", None)
    return file_identity(Path(file)) if file else "unversioned"


# --- loading ----------------------------------------------------------------------------------------
def _snapshot() -> dict[str, set[str]]:
    return {kind: set(registry) for kind, registry in REGISTRIES.items()}


def _import_file(path: Path):
    name = FILE_MODULE_PREFIX + hashlib.sha1(str(path).encode()).hexdigest()[:10]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _register_and_check(source: str, identity: str, importer, shown: str) -> Plugin:
    """Run ``importer``, see what it registered, check it; remove what it registered if it was invalid."""
    before = _snapshot()
    try:
        importer()
    except ConfigError:
        raise
    except SystemExit as err:
        raise ConfigError(f"plugin {shown} could not be loaded: it called exit({err.code})") from None
    except Exception as err:  # noqa: BLE001 - whatever a user's file raises is one line
        _forget(before)
        first = str(err).splitlines()[0] if str(err) else ""
        raise ConfigError(f"plugin {shown} could not be loaded: {type(err).__name__}: {first}") from None
    added = {kind: sorted(set(registry) - before[kind]) for kind, registry in REGISTRIES.items()}
    try:
        for kind, names in added.items():
            for name in names:
                check_registered(kind, name, REGISTRIES[kind][name])
    except ConfigError as err:
        _forget(before)
        raise ConfigError(f"plugin {shown}: {err}") from None
    plugin = Plugin(source, identity, tuple(f"{k}:{n}" for k, names in added.items() for n in names))
    LOADED[source] = plugin
    for kind, names in added.items():
        for name in names:
            ORIGIN[(kind, name)] = plugin
    return plugin


def _forget(before: dict[str, set[str]]) -> None:
    for kind, registry in REGISTRIES.items():
        for name in set(registry) - before[kind]:
            del registry[name]


def check_registered(kind: str, name: str, thing: Any) -> None:
    """What the harness needs of a registered model or task class (``ConfigError`` otherwise)."""
    base, config_base = ((models.RecurrentModel, models.ModelConfig) if kind == "model"
                         else (tasks.Task, tasks.TaskConfig))
    if not isinstance(name, str) or not name or name != name.strip() or "," in name or "/" in name:
        raise ConfigError(f"{kind} name {name!r} is not usable: give a non-empty name without commas or slashes")
    if not (isinstance(thing, type) and issubclass(thing, base)):
        raise ConfigError(f"{kind} {name!r} is {thing!r}, not a subclass of {base.__module__}.{base.__name__}")
    config_class = getattr(thing, "config_class", None)
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)
            and issubclass(config_class, config_base)):
        raise ConfigError(f"{kind} {name!r}: config_class must be a dataclass subclassing "
                          f"{config_base.__name__}, got {config_class!r}")
    try:
        config_class()
    except TypeError as err:
        raise ConfigError(f"{kind} {name!r}: every option of {config_class.__name__} needs a default ({err})") from None


def load_plugin(ref: str, base_dir: Path | None = None) -> Plugin:
    """Load ``ref``: a ``.py`` file (relative to ``base_dir`` or the current folder) or a module name.
    Loading the same source twice does nothing; a file that changed since is an error."""
    if ref.endswith(".py") or "/" in ref or "\\" in ref:
        path = Path(ref).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        path = path.resolve()
        if not path.is_file():
            raise ConfigError(f"plugin file not found: {ref}")
        source, identity = f"file:{path}", file_identity(path)
        if source in LOADED:
            return _same_version(LOADED[source], identity, ref)
        return _register_and_check(source, identity, lambda: _import_file(path), str(path))
    if not all(part.isidentifier() for part in ref.split(".")):
        raise ConfigError(f"--plugin {ref!r}: give a .py file or a module name such as mypackage.models")
    source = f"module:{ref}"
    if source in LOADED:
        return LOADED[source]
    holder: dict[str, Any] = {}
    plugin = _register_and_check(source, "", lambda: holder.setdefault("m", importlib.import_module(ref)), ref)
    plugin = dataclasses.replace(plugin, identity=module_identity(ref, holder.get("m")))
    _relabel(plugin)
    return plugin


def _relabel(plugin: Plugin) -> None:
    LOADED[plugin.source] = plugin
    for item in plugin.registered:
        kind, name = item.split(":", 1)
        ORIGIN[(kind, name)] = plugin


def _same_version(plugin: Plugin, identity: str, shown: str) -> Plugin:
    if plugin.identity != identity:
        raise ConfigError(f"plugin {shown} changed since it was loaded ({plugin.identity} -> {identity}); "
                          "rerun the command")
    return plugin


def load_plugins(refs: Iterable[str], base_dir: Path | None = None) -> list[Plugin]:
    return [load_plugin(ref, base_dir) for ref in refs]


def load_entry_points(warn=None) -> list[Plugin]:
    """Every installed entry point of ``ENTRY_POINT_GROUPS`` (once per process). An entry point names
    a module (its import registers) or an object inside one. A broken one is a warning (``warn(text)``,
    default ``warnings.warn``) and is skipped."""
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return [p for p in LOADED.values() if p.source.startswith("entry-point:")]
    _ENTRY_POINTS_LOADED = True
    loaded = []
    for group in ENTRY_POINT_GROUPS:
        for entry in importlib.metadata.entry_points(group=group):
            source = f"entry-point:{group}:{entry.name}"
            if source in LOADED:
                continue
            dist = getattr(entry, "dist", None)
            identity = f"{dist.name}=={dist.version}" if dist is not None else module_identity(entry.module)
            try:
                loaded.append(_register_and_check(source, identity, entry.load, f"{entry.name} ({entry.value})"))
            except ConfigError as err:
                text = f"skipping installed plugin from entry point {group}:{entry.name}: {err}"
                if warn:
                    warn(text)
                else:
                    warnings.warn(text, stacklevel=2)
    return loaded


# --- runs -------------------------------------------------------------------------------------------
def plugins_of(model_class: str, task_class: str, model_options: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """The plugins a run of these classes needs (refs, JSON-able), in a stable order; [] for built-ins.
    A stack's layer class counts as well."""
    needed = [("model", model_class), ("task", task_class)]
    layer = (model_options or {}).get("layer")
    if isinstance(layer, str):
        needed.append(("model", layer))
    refs = {ORIGIN[key].source: ORIGIN[key].ref() for key in needed if key in ORIGIN}
    return [refs[source] for source in sorted(refs)]


def ensure(refs: Iterable[dict[str, str]]) -> None:
    """In whatever process runs a run (a ``--jobs`` worker, a Ray task): import the run's plugins from
    their sources, and refuse a plugin whose version differs from the one the run was planned with."""
    for ref in refs:
        source, identity = ref["source"], ref["identity"]
        kind, _, where = source.partition(":")
        if source in LOADED:
            plugin = LOADED[source]
        elif kind == "file":
            plugin = load_plugin(where)
        elif kind == "module":
            plugin = load_plugin(where)
        else:
            load_entry_points()
            plugin = LOADED.get(source)
            if plugin is None:
                raise ConfigError(f"plugin {source} is not installed where this run executes")
        if plugin.identity != identity:
            raise ConfigError(f"plugin {source} is {plugin.identity} here but the run was planned with {identity}")


def describe(refs: Iterable[dict[str, str]]) -> str:
    """The row's ``plugins`` column: ``SOURCE@IDENTITY`` joined with "; " (empty for built-ins)."""
    return "; ".join(f"{r['source']}@{r['identity']}" for r in refs)
