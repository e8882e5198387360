"""Name -> class registries for classes built from a dataclass config (``config_class``): the
model registry and, importing this module, the task registry. One implementation for both."""

from __future__ import annotations

import dataclasses
from typing import Any


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
        return config_class(**options)

    def build(self, name: str, **options: Any):
        """An instance of class ``name`` built from keyword options."""
        config = self.make_config(name, **options)
        return self[name](config)
