"""Config text to Python data, with YAML 1.1 semantics (SPEC §2.1), bounded.

Every YAML text SOE reads from outside — config files and strings, the CLI's
context values and files, built-in tool arguments, tool parameters — goes
through :func:`load_yaml`. PyYAML shares an aliased node instead of copying
it, so a 500-byte "billion laughs" document parses into a small graph that
expands to 10⁹ values as soon as anything copies, serialises or walks it.
The composed node graph is therefore measured before anything is built:
aliases may add at most ``MAX_YAML_ALIAS_NODES`` nodes, nesting may go
``MAX_YAML_DEPTH`` levels deep, and an alias may not contain itself.
"""

from __future__ import annotations

from typing import Any, cast

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

__all__ = ["MAX_YAML_ALIAS_NODES", "MAX_YAML_DEPTH", "YamlLimitError", "compose_yaml", "load_yaml",
           "load_yaml_nodes", "parse_yaml", "parse_yaml_nodes"]

MAX_YAML_ALIAS_NODES = 100_000
MAX_YAML_DEPTH = 100

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: fast, no Python recursion


class YamlLimitError(yaml.YAMLError):
    """The document is valid YAML but too large once expanded, too deep, or self-referencing."""


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_graph(root: Node) -> None:
    """Measure the expanded size and depth of a composed document without expanding it.

    One pass over the distinct nodes (each subtree's expanded size is memoised),
    so the check is linear in the text however large the expansion would be.
    """
    size: dict[int, int] = {}
    distinct = 0
    on_path: set[int] = set()
    stack: list[tuple[Node, list[Node] | None]] = [(root, None)]
    while stack:
        node, children = stack.pop()
        key = id(node)
        if children is not None:  # all its children are measured
            on_path.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in children)
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlLimitError("an alias refers to a node that contains it (recursive YAML)")
        if len(on_path) >= MAX_YAML_DEPTH:
            raise YamlLimitError(f"values are nested more than {MAX_YAML_DEPTH} levels deep")
        distinct += 1
        children = _children(node)
        if not children:
            size[key] = 1
            continue
        on_path.add(key)
        stack.append((node, children))
        stack.extend((child, None) for child in children if id(child) not in size)
    if size[id(root)] - distinct > MAX_YAML_ALIAS_NODES:
        raise YamlLimitError(f"aliases expand the document by {size[id(root)] - distinct} values, more than "
                             f"{MAX_YAML_ALIAS_NODES} (a YAML alias bomb?)")


def _checked_root(loader: Any) -> Node | None:
    try:
        root = loader.get_single_node()
    except RecursionError:
        raise YamlLimitError(f"values are nested more than {MAX_YAML_DEPTH} levels deep") from None
    if root is not None:
        _check_graph(root)
    return cast("Node | None", root)


def compose_yaml(text: str) -> Node | None:
    """The document's checked node tree (with line marks), or ``None`` for an empty document.

    Raises:
        yaml.YAMLError: the text does not parse, or breaks a bound (:class:`YamlLimitError`).
    """
    loader = _Loader(text)
    try:
        return _checked_root(loader)
    finally:
        loader.dispose()


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` for untrusted text: the same values, or an error before anything expands.

    Raises:
        yaml.YAMLError: the text does not parse, or breaks a bound (:class:`YamlLimitError`).
    """
    return load_yaml_nodes(text)[0]


def load_yaml_nodes(text: str) -> tuple[Any, Node | None]:
    """The document's values and its checked node tree (line marks) from one parse.

    Tools that report positions (validation of text, lint) need both; parsing
    a large file once instead of twice halves their time.
    """
    loader = _Loader(text)
    try:
        root = _checked_root(loader)
        return (None if root is None else loader.construct_document(root)), root
    finally:
        loader.dispose()


def parse_yaml(data: Any) -> Any:
    """Parse a YAML string with :func:`load_yaml`; any other value is returned as is.

    Raises:
        ValueError: ``Invalid YAML configuration: <yaml error>``.
    """
    if not isinstance(data, str):
        return data
    return parse_yaml_nodes(data)[0]


def parse_yaml_nodes(text: str) -> tuple[Any, Node | None]:
    """:func:`load_yaml_nodes`, failing as :func:`parse_yaml` does.

    Raises:
        ValueError: ``Invalid YAML configuration: <yaml error>``.
    """
    try:
        return load_yaml_nodes(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"Invalid YAML configuration: {exc}") from exc
