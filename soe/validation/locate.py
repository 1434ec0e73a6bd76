"""Config validation with a source location: ``file:line:col: message``.

``validate_config`` (SPEC §13.2) reports the first failing rule by name
(workflow, node, key) but not by position; an editor or CI log wants a line
and a column. This module runs the same validation and maps its message back
onto the YAML text through PyYAML's node marks (``yaml.compose``), so the
rules stay in one place and only the pointing lives here. The node-mark
helpers the linter shares are in :mod:`soe.validation.yaml_nodes`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from soe._errors import WorkflowValidationError
from soe.lib.yaml_parser import parse_yaml_nodes
from soe.validation.config import EXTERNAL_SIGNALS_KEY, LIMITS_KEY, RESERVED_KEYS, validate_config
from soe.validation.yaml_nodes import (
    DOCUMENT_START,
    Position,
    mapping_items,
    mapping_value,
    node_position,
    parse_path,
    scalar_value,
    walk_path,
    workflow_nodes,
    workflows_container,
)

__all__ = [
    "ValidationFailure",
    "locate_message",
    "render_result",
    "validate_file",
    "validate_text",
    "validate_text_all",
]

_QUOTED = re.compile(r"'([^']*)'")
_POSITION = re.compile(r"position (\d+)")
_SECTIONS = ("workflows", "context_schema", "identities", LIMITS_KEY, EXTERNAL_SIGNALS_KEY)
_BLAMED_NODE = re.compile(r"^Workflow '(?P<w>.*?)'(?:, node '(?P<n>.*?)': |: node name '(?P<r>.*?)' is reserved| )")
_MAX_FAILURES = 100
_MISSING = object()


@dataclass(frozen=True)
class ValidationFailure:
    """The first validation error of a config file and where it is (1-based line and column)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


# --------------------------------------------------------------------------- message -> node


def _emission_item(node: Node, signal: str) -> Node | None:
    """The emission item whose ``signal_name`` prints as ``signal`` (router condition errors)."""
    pair = mapping_value(node, "event_emissions")
    items = pair[1].value if pair is not None and isinstance(pair[1], SequenceNode) else []
    for item in items:
        name = mapping_value(item, "signal_name")
        if name is not None and str(scalar_value(name[1])) == signal:
            return cast("Node | None", item)
    return None


def _locate_emission(node: Node, rest: str) -> Node | None:
    """``position <i>`` (1-based) and ``Event emission '<s>' condition`` messages."""
    position = _POSITION.search(rest)
    if position is not None:
        item = walk_path(node, ["event_emissions", int(position.group(1)) - 1])
    else:
        signal = rest[len("Event emission '"):].split("' condition:", 1)[0]
        item = _emission_item(node, signal)
    if item is None:
        return None
    key = "condition" if "condition" in rest else "signal_name"
    return walk_path(item, [key]) or item


def _first_non_string(node: Node, key: str) -> Node | None:
    """The first list item under ``key`` that does not load as a string."""
    pair = mapping_value(node, key)
    if pair is None or not isinstance(pair[1], SequenceNode):
        return None
    for item in pair[1].value:
        if not isinstance(item, ScalarNode) or not isinstance(scalar_value(item), str):
            return cast("Node | None", item)
    return pair[0]


def _locate_in_node(key_node: Node, node: Node, rest: str) -> Node:
    """Where a node-level message points: the offending key, item or value; else the node."""
    if not isinstance(node, MappingNode):
        return node
    if rest.startswith("unknown node_type"):
        pair = mapping_value(node, "node_type")
        return pair[1] if pair else key_node
    if rest.startswith(("Each event_emission", "Event emission")):
        return _locate_emission(node, rest) or key_node
    if rest.startswith("All items in '"):
        return _first_non_string(node, rest.split("'")[1]) or key_node
    for token in _QUOTED.findall(rest):
        target = walk_path(node, parse_path(token))
        if target is not None:
            return target
    return key_node


def _locate_workflow(name: str, key_node: Node, value: Node, message: str) -> Node:
    """A ``Workflow '<w>'...`` message: the named node's key or inner key, else the workflow."""
    best: tuple[int, Node] | None = None
    for node_key, node_value in mapping_items(value):
        node_name = str(scalar_value(node_key))
        prefix = f"Workflow '{name}', node '{node_name}': "
        reserved = f"Workflow '{name}': node name '{node_name}' is reserved"
        if message.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), _locate_in_node(node_key, node_value, message[len(prefix):]))
        elif message.startswith(reserved):
            return node_key
    return best[1] if best is not None else key_node


def _locate_section(root: Node, message: str) -> Node | None:
    """Section messages (``'identities' section ...``, ``limits.<k>: ...``) and reserved names."""
    for reserved in RESERVED_KEYS:
        if message.startswith(f"'{reserved}' is reserved"):
            pair = mapping_value(workflows_container(root), reserved)
            return pair[0] if pair else None
    for section in _SECTIONS:
        pair = mapping_value(root, section)
        if pair is None:
            continue
        if message.startswith((f"'{section}' section", f"'{section}' must", f"{section}[")):
            return pair[0]
        for entry_key, _ in mapping_items(pair[1]):
            if message.startswith(f"{section}.{scalar_value(entry_key)}: "):
                return entry_key
    return None


def locate_message(root: Node | None, message: str) -> Position:
    """Map a §13.2 validation message onto the composed document: 1-based ``(line, column)``."""
    if not isinstance(root, MappingNode):
        return node_position(root)
    best: tuple[int, Node] | None = None
    for name, key_node, value in workflow_nodes(root):
        prefix = f"Workflow '{name}'"
        if message.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), _locate_workflow(name, key_node, value, message))
    if best is not None:
        return node_position(best[1])
    return node_position(_locate_section(root, message) or root)


# --------------------------------------------------------------------------- entry points


def _yaml_failure(filename: str, exc: ValueError) -> ValidationFailure:
    """A YAML error at the YAML error's own mark (problem first, then context), on one line.

    PyYAML's text names the file ``"<unicode string>"`` and quotes the source
    with a caret over several lines; the file name and positions say the same.
    """
    cause = exc.__cause__
    mark = getattr(cause, "problem_mark", None) or getattr(cause, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else DOCUMENT_START
    if not isinstance(cause, yaml.MarkedYAMLError):
        return ValidationFailure(filename, line, column, str(exc).replace('"<unicode string>"', f'"{filename}"'))
    parts = []
    for text, at in ((cause.context, cause.context_mark), (cause.problem, cause.problem_mark)):
        if text:
            parts.append(text if at is None else f'{text} (in "{filename}", line {at.line + 1}, column {at.column + 1})')
    return ValidationFailure(filename, line, column, "Invalid YAML configuration: " + "; ".join(parts))


def _container(parsed: dict[str, Any]) -> Any:
    """Where the workflows are: ``workflows`` in the combined shape, else the top level."""
    return parsed["workflows"] if "workflows" in parsed else parsed


def _named(mapping: Any, name: str) -> Any:
    """The key of ``mapping`` that prints as ``name`` (messages quote keys with ``str``)."""
    if isinstance(mapping, dict):
        for key in mapping:
            if str(key) == name:
                return key
    return _MISSING


def _drop_node(parsed: dict[str, Any], workflow: str, node: str | None) -> bool:
    """Remove the node (or the whole workflow) a message names; a workflow left empty goes too."""
    container = _container(parsed)
    wf_key = _named(container, workflow)
    if wf_key is _MISSING:
        return False
    nodes = container[wf_key]
    node_key = _named(nodes, node) if node is not None else _MISSING
    if node_key is not _MISSING:
        del nodes[node_key]
    if node_key is _MISSING or not nodes:
        del container[wf_key]
    return True


def _drop_blamed(parsed: dict[str, Any], message: str) -> bool:
    """Remove the part of ``parsed`` that ``message`` blames, so validation can go on past it.

    ``False`` when the message blames the config as a whole (nothing more can be checked).
    """
    match = _BLAMED_NODE.match(message)
    if match is not None:
        return _drop_node(parsed, match.group("w"), match.group("n") or match.group("r"))
    for reserved in RESERVED_KEYS:
        if message.startswith(f"'{reserved}' is reserved"):
            return _drop_node(parsed, reserved, None)
    for section in _SECTIONS[1:]:
        starts = (f"'{section}' section", f"{section}.", f"'{section}' must", f"{section}[")
        if message.startswith(starts) and section in parsed:
            del parsed[section]
            return True
    return False


def _bare_nodes(parsed: dict[str, Any], root: Node | None, filename: str) -> list[ValidationFailure]:
    """Workflows that are really nodes (the workflow-name level was forgotten), explained and removed.

    ``A: {node_type: router, ...}`` at the top is read as workflow ``A`` whose
    nodes are ``node_type``... and fails with a puzzling "node config must be a
    mapping"; the fix is one more level of indentation under a workflow name.
    """
    failures = []
    container = _container(parsed)
    for name, value in list(container.items()) if isinstance(container, dict) else []:
        if isinstance(value, dict) and isinstance(value.get("node_type"), str):
            pair = mapping_value(workflows_container(root), name)
            line, column = node_position(pair[0] if pair else root)
            failures.append(ValidationFailure(filename, line, column, (
                f"Workflow '{name}' looks like a node, not a workflow: it has a 'node_type'. "
                "A config maps workflow names to nodes: add a workflow name line (e.g. 'main:') "
                f"above '{name}:' and indent the nodes under it")))
            del container[name]
    return failures


def validate_text_all(text: str, filename: str = "<string>", *,
                      loaded: tuple[Any, Node | None] | None = None) -> list[ValidationFailure]:
    """Every validation error of config text (§13.2), in the order validation meets them.

    ``validate_config`` stops at the first broken rule, as ``orchestrate`` must;
    a person fixing a file wants them all. So the part each error blames (a
    node, a workflow, a section) is set aside and validation runs again, until
    the rest is valid or an error blames the config as a whole. ``loaded`` is
    the text already parsed (``parse_yaml_nodes``); it is changed only when
    an error is found.
    """
    if loaded is None:
        try:
            loaded = parse_yaml_nodes(text)
        except ValueError as exc:
            return [_yaml_failure(filename, exc)]
    parsed, root = loaded
    if not isinstance(parsed, dict):
        parsed = text  # let validate_config give its shape message
        failures: list[ValidationFailure] = []
    else:
        failures = _bare_nodes(parsed, root, filename)
    for _ in range(_MAX_FAILURES):
        try:
            validate_config(parsed)
        except WorkflowValidationError as exc:
            line, column = locate_message(root, str(exc))
            failures.append(ValidationFailure(filename, line, column, str(exc)))
            if not isinstance(parsed, dict) or not _drop_blamed(parsed, str(exc)):
                break
        else:
            break
    return failures


def validate_text(text: str, filename: str = "<string>") -> ValidationFailure | None:
    """Validate config text as ``orchestrate`` would (§13.2); the first error with its position.

    Returns ``None`` when the config is valid.
    """
    failures = validate_text_all(text, filename)
    return failures[0] if failures else None


def validate_file(path: str | Path) -> ValidationFailure | None:
    """Validate a config file (UTF-8); ``OSError`` propagates when it cannot be read."""
    return validate_text(Path(path).read_text(encoding="utf-8"), str(path))


def render_result(failure: ValidationFailure | None, filename: str) -> str:
    """One line for a terminal: the located error, or ``<file>: OK``."""
    return str(failure) if failure is not None else f"{filename}: OK"
