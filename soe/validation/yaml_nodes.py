"""Reading a composed YAML document by node: values, keys, paths and source positions.

The validator (:mod:`soe.validation.locate`) and the linter both point at YAML
nodes through PyYAML's marks (``yaml.compose``); these helpers are what they
share: scalar values, mapping lookups that honour ``<<`` merges, dotted paths
and the ``(line, column)`` of a node.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from soe.lib.yaml_parser import compose_yaml
from soe.validation.config import RESERVED_KEYS

__all__ = [
    "DOCUMENT_START",
    "Position",
    "compose_text",
    "mapping_items",
    "mapping_value",
    "node_position",
    "parse_path",
    "scalar_value",
    "value_at",
    "walk_path",
    "workflow_nodes",
    "workflows_container",
]

Position = tuple[int, int]
DOCUMENT_START: Position = (1, 1)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def scalar_value(node: Node | None) -> Any:
    """The Python value a scalar node loads as (YAML 1.1, like ``safe_load``); ``None`` otherwise."""
    if not isinstance(node, ScalarNode):
        return None
    try:
        return SafeConstructor().construct_object(node, deep=True)
    except yaml.YAMLError:
        return node.value


def _own_and_merged(node: MappingNode) -> tuple[list[tuple[Node, Node]], list[Node]]:
    """A mapping's own pairs and the sources of its merge keys (``<<``), in order."""
    own: list[tuple[Node, Node]] = []
    merged: list[Node] = []
    for key, value in node.value:
        if key.tag == _MERGE_TAG:
            merged.extend(value.value if isinstance(value, SequenceNode) else [value])
        else:
            own.append((key, value))
    return own, merged


def mapping_items(node: Node | None) -> Iterator[tuple[Node, Node]]:
    """``(key, value)`` node pairs of a mapping, merge keys (``<<``) expanded after its own keys."""
    if not isinstance(node, MappingNode):
        return
    own, merged = _own_and_merged(node)
    yield from own
    for source in merged:
        yield from mapping_items(source)


def _same_key(key_node: Node, key: Any) -> bool:
    """Equal and of the same type, so ``1`` and ``true`` (both ``== 1``) stay distinct."""
    value = scalar_value(key_node)
    return value == key and type(value) is type(key)


_KEY_INDEXES: weakref.WeakKeyDictionary[MappingNode, dict[tuple[type, Any], tuple[Node, Node]]] = (
    weakref.WeakKeyDictionary())


def _key_index(node: MappingNode) -> dict[tuple[type, Any], tuple[Node, Node]]:
    """A mapping's own hashable keys, typed, to their last pair: lookups stay linear over a lint."""
    index = _KEY_INDEXES.get(node)
    if index is None:
        index = {}
        for key_node, value_node in _own_and_merged(node)[0]:
            value = scalar_value(key_node)
            try:
                index[(type(value), value)] = (key_node, value_node)
            except TypeError:
                continue  # unhashable: found by the scan below
        _KEY_INDEXES[node] = index
    return index


def mapping_value(node: Node | None, key: Any) -> tuple[Node, Node] | None:
    """The ``(key, value)`` nodes for ``key`` as ``safe_load`` resolves it.

    The last own occurrence wins; a key only present through a merge comes
    from the first merged mapping that has it.
    """
    if not isinstance(node, MappingNode):
        return None
    try:
        found = _key_index(node).get((type(key), key))
    except TypeError:
        found = None
    if found is not None:
        return found
    own, merged = _own_and_merged(node)
    for key_node, value_node in reversed(own):
        if _same_key(key_node, key):
            return key_node, value_node
    for source in merged:
        pair = mapping_value(source, key)
        if pair is not None:
            return pair
    return None


def node_position(node: Node | None) -> Position:
    """A node's 1-based ``(line, column)``; the document start when there is no node."""
    if node is None:
        return DOCUMENT_START
    return node.start_mark.line + 1, node.start_mark.column + 1


def parse_path(path: str) -> list[str | int]:
    """``parameters.items[0].q`` -> ``["parameters", "items", 0, "q"]`` (the §13.2 path style)."""
    return [int(index) if index else key for key, index in _PATH_TOKEN.findall(path)]


def walk_path(node: Node | None, path: list[Any]) -> Node | None:
    """The deepest node along ``path``: a mapping step lands on its key, a list step on the item.

    Returns ``None`` when even the first step is missing, so callers can fall
    back to the enclosing node.
    """
    target: Node | None = None
    current = node
    for step in path:
        if isinstance(step, int) and isinstance(current, SequenceNode):
            if not 0 <= step < len(current.value):
                break
            target = current = current.value[step]
            continue
        pair = mapping_value(current, step)
        if pair is None:
            break
        target, current = pair
    return target


def value_at(node: Node | None, path: list[Any]) -> Node | None:
    """The value node (not the key) at ``path``, or ``None`` when any step is missing."""
    current = node
    for step in path:
        if isinstance(step, int):
            items = current.value if isinstance(current, SequenceNode) else []
            current = items[step] if 0 <= step < len(items) else None
        else:
            pair = mapping_value(current, step)
            current = pair[1] if pair is not None else None
        if current is None:
            return None
    return current


def compose_text(text: str) -> Node | None:
    """The document's node tree; raises ``yaml.YAMLError`` like ``parse_yaml``'s loader."""
    return compose_yaml(text)


def workflows_container(root: Node | None) -> Node | None:
    """The node holding the workflows: ``workflows`` in the combined shape, else the root."""
    pair = mapping_value(root, "workflows")
    return pair[1] if pair is not None else root


def workflow_nodes(root: Node | None) -> Iterator[tuple[str, Node, Node]]:
    """``(workflow name, key node, value node)`` for each workflow, both config shapes."""
    combined = mapping_value(root, "workflows") is not None
    for key_node, value_node in mapping_items(workflows_container(root)):
        name = scalar_value(key_node)
        if not combined and name in RESERVED_KEYS:
            continue
        yield str(name), key_node, value_node
