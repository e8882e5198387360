"""The one registry of the project: name -> thing, filled by a decorator in the module that defines the
thing, and found by importing that module's package (``import_submodules``). Models and tasks
(classes built from a dataclass config: ``build``), reports and plots (functions) all use it.

    MODEL_REGISTRY = Registry("model")
    @MODEL_REGISTRY.register("armin")
    class ARMIN(RecurrentModel): ...

It lives here, at the bottom of the layers, so that models/ and tasks/ use it without importing bench/.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import typing
from typing import Any, Iterable


def import_submodules(package: str, path: Iterable[str], skip: tuple[str, ...] = ()) -> None:
    """Import every public module of ``package`` (``path``: its ``__path__``) except ``skip``, so that
    their registration decorators run: adding a model, task, report or plot is adding one file."""
    for module in pkgutil.iter_modules(path):
        if not module.name.startswith("_") and module.name not in skip:
            importlib.import_module(f"{package}.{module.name}")


def coerce_options(config_class, options: dict[str, Any], scope: str) -> dict[str, Any]:
    """``options`` with numbers given as text made numbers, for the config dataclass's int and float
    fields: YAML reads ``1e-3`` (no dot) as a string. A value of the wrong type is a ValueError that
    names the option, its type and the value."""
    hints = typing.get_type_hints(config_class)
    out = dict(options)
    for name, value in options.items():
        kind = hints.get(name)
        if kind not in (int, float) or value is None:
            continue
        number = value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ValueError(f"{scope}.{name} must be a number ({kind.__name__}), got {value!r}")
        if kind is int and not float(number).is_integer():  # also rejects inf and nan
            raise ValueError(f"{scope}.{name} must be an integer, got {value!r}")
        if kind is float and not math.isfinite(number):
            raise ValueError(f"{scope}.{name} must be a finite number, got {value!r}")
        out[name] = kind(number)
    return out


class Registry(dict):
    """Maps names to registered things (classes or functions). For classes with a ``config_class``
    dataclass, ``make_config`` and ``build`` check options against it."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str):
        """Decorator: make the class or function available by ``name``."""

        def decorate(thing):
            if name in self:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            thing.registry_name = name
            self[name] = thing
            return thing

        return decorate

    def get_or_error(self, name: str):
        """The thing registered as ``name``; a KeyError listing the valid names otherwise."""
        if name not in self:
            raise KeyError(f"unknown {self.kind} {name!r}; valid: {', '.join(sorted(self))}")
        return self[name]

    def make_config(self, name: str, **options: Any):
        """The config dataclass of class ``name`` from keyword options (unknown options are an error)."""
        if name not in self:
            raise KeyError(f"unknown {self.kind} class {name!r}; known: {', '.join(sorted(self))}")
        config_class = self[name].config_class
        fields = {f.name for f in dataclasses.fields(config_class)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise ValueError(
                f"{self.kind} {name!r} has no option(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}"
            )
        return config_class(**coerce_options(config_class, options, self.kind))

    def build(self, name: str, **options: Any):
        """An instance of class ``name`` built from keyword options."""
        config = self.make_config(name, **options)
        return self[name](config)
