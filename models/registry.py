"""Name -> class registries for classes built from a dataclass config (``config_class``): the
model registry and, importing this module, the task registry. One implementation for both."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

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
        out[name] = kind(number)
    return out


class Registry(dict):
    """Maps names to classes; ``build`` checks options against the class's config dataclass."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str):
        """Class decorator: make the class constructible by ``name``."""

        def decorate(cls):
            if name in self:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            cls.registry_name = name
            self[name] = cls
            return cls

        return decorate

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
