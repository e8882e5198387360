"""YAML as the configuration reads it: booleans as YAML 1.2 has them, and a document's size bounded
before anything expands it.

- Booleans: ``true`` and ``false`` in any case. YAML 1.1 (PyYAML's default) also reads ``yes``, ``no``,
  ``on``, ``off``, ``y``, ``n`` as booleans; here they stay text, so a boolean option given one of them
  is refused ("must be true or false") instead of silently meaning true or false.
- Size: aliases (``*name``) let a few lines describe a huge tree (nine lines can stand for 10^9
  values). The document is composed as a graph first (aliases shared, nothing copied), and refused if
  it holds more than ``MAX_ALIASES`` aliases, refers to itself, or would expand to more than
  ``MAX_NODES`` nodes. Only then is it turned into Python values, which the checks copy and walk.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from bench.errors import ConfigError

MAX_ALIASES = 1_000  # alias uses in one document (benchmarks.yaml has a handful)
MAX_NODES = 200_000  # nodes of the document with every alias expanded (benchmarks.yaml: about 3,000)
BOOL_TAG = "tag:yaml.org,2002:bool"
YAML12_BOOL = re.compile(r"^(?:true|false)$", re.IGNORECASE)


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(BOOL_TAG, YAML12_BOOL, list("tTfF"))


def _expanded_size(root: yaml.Node, where: str) -> int:
    """Nodes of the tree ``root`` stands for (each alias counted as a copy of what it names), without
    expanding it: every shared node is sized once. A node inside itself is refused."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            children = _children(node)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > MAX_NODES:
                raise ConfigError(f"{where} expands to more than {MAX_NODES:,} YAML nodes (through its aliases); "
                                  "write the values out or use fewer aliases")
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise ConfigError(f"{where}: a YAML alias refers to a node that contains it (an endless structure)")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load(text: str, where: str) -> Any:
    """The one YAML document in ``text`` as Python values (``where`` names it in errors);
    ``yaml.YAMLError`` for malformed YAML, ``ConfigError`` for a document too big or endless."""
    loader = Loader(text)
    aliases = [0]
    compose_node = loader.compose_node

    def counting_compose_node(parent, index):
        if loader.check_event(yaml.AliasEvent):
            aliases[0] += 1
            if aliases[0] > MAX_ALIASES:
                raise ConfigError(f"{where} uses more than {MAX_ALIASES:,} YAML aliases (*name); write the values out")
        return compose_node(parent, index)

    loader.compose_node = counting_compose_node
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, where)
        return loader.construct_document(node)
    finally:
        loader.dispose()
