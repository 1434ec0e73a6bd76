"""Static analysis of a config: every finding at once, each with a code, place and fix.

Validation (§13) stops at the first broken rule and only knows about one node
at a time. Most workflow bugs are between nodes: a signal nobody listens to,
a trigger nothing emits, a loop nothing can stop, a prompt reading a field no
node writes. The engine runs such configs without complaint and they fail
quietly, so this module looks at the whole config and reports them all.
Codes are stable (``SOE001``...); ``CODES`` describes each one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from yaml.nodes import Node

from soe._errors import WorkflowValidationError
from soe.lib.yaml_parser import parse_yaml_nodes
from soe.validation._lint_checks import (
    CODES,
    Finding,
    Model,
    Severity,
    check_children,
    check_loops,
    check_unheard_signals,
    check_unreachable_triggers,
    check_yaml_booleans,
)
from soe.validation._lint_conditions import check_conditions
from soe.validation._lint_fields import check_context_fields
from soe.validation._lint_keys import check_unknown_keys
from soe.validation.config import parse_external_signals, validate_config
from soe.validation.graph import extract_workflows
from soe.validation.locate import validate_text_all

__all__ = [
    "ALL_CHECKS",
    "CODES",
    "Finding",
    "Severity",
    "has_errors",
    "lint_config",
    "lint_file",
    "render_findings",
]

ALL_CHECKS: tuple[Callable[[Model], Iterator[Finding]], ...] = (
    check_unheard_signals,        # SOE002
    check_unreachable_triggers,   # SOE003
    check_children,               # SOE004, SOE005, SOE008
    check_loops,                  # SOE006
    check_yaml_booleans,          # SOE007
    check_context_fields,         # SOE009
    check_conditions,             # SOE010, SOE011
    check_unknown_keys,           # SOE012
)

_PREFIX = re.compile(r"^Workflow '(?P<w>.*?)'(?:, node '(?P<n>.*?)')?[:\s]")
_BOOLEAN_HINT = ("quote YAML 1.1 booleans used as names (signal_name: \"NO\"), "
                 "or add the missing signal_name")


def _invalid(message: str, line: int | None, column: int | None) -> Finding:
    """A config that fails §13: one error, since every other check assumes a valid config."""
    match = _PREFIX.match(message)
    workflow, node = (match.group("w"), match.group("n")) if match else (None, None)
    hint = "fix the config so that it validates; the other checks run on valid configs only"
    if "'signal_name'" in message:
        hint = _BOOLEAN_HINT
    return Finding("SOE001", "error", workflow, node, message, hint, line, column)


def _validate(config: Any, filename: str, loaded: tuple[Any, Node | None] | None) -> list[Finding]:
    """§13 validation, every error located in the text when there is text."""
    if isinstance(config, str):
        return [_invalid(f.message, f.line, f.column)
                for f in validate_text_all(config, filename, loaded=loaded)]
    try:
        validate_config(config)
    except (WorkflowValidationError, ValueError) as exc:
        return [_invalid(str(exc), None, None)]
    return []


def _load(config: Any) -> tuple[Any, Node | None] | None:
    """Text parsed once into values and node marks; ``None`` when it does not parse (validation says why)."""
    if not isinstance(config, str):
        return config, None
    try:
        return parse_yaml_nodes(config)
    except ValueError:
        return None


def _model(loaded: tuple[Any, Node | None], initial_signals: Iterable[Any], fields: Iterable[str]) -> Model:
    """The checks' view of a valid config; YAML text adds node marks for positions."""
    parsed, root = loaded
    workflows = {k: v for k, v in extract_workflows(parsed).items() if isinstance(v, Mapping)}
    combined = isinstance(parsed, Mapping) and "workflows" in parsed
    external = frozenset(name for group in parse_external_signals(parsed) for name in group)
    return Model(workflows, tuple(initial_signals), frozenset(fields), root,
                 ("workflows",) if combined else (), tuple(parsed) if combined else (), external)


def _order(finding: Finding) -> tuple[bool, int, int]:
    """Text order when positions are known (the sort is stable: check order breaks ties)."""
    return (finding.line is None, finding.line or 0, finding.column or 0)


def lint_config(
    config: Any,
    *,
    initial_signals: Iterable[Any] = ("START",),
    initial_context_fields: Iterable[str] = (),
    filename: str | None = None,
) -> list[Finding]:
    """All findings for a config (YAML text or parsed, either shape), in text order.

    ``initial_signals`` and ``initial_context_fields`` describe how workflows
    are started, so signals and fields supplied from outside are not reported.
    ``filename`` names the text in YAML syntax errors; other findings carry
    positions only and ``Finding.format``/``render_findings`` add the name.
    An invalid config yields its ``SOE001`` errors only (one per validation error).
    """
    loaded = _load(config)
    invalid = _validate(config, filename or "<config>", loaded if isinstance(config, str) else None)
    if invalid or loaded is None:
        return invalid
    model = _model(loaded, initial_signals, initial_context_fields)
    return sorted((f for check in ALL_CHECKS for f in check(model)), key=_order)


def lint_file(
    path: str | Path,
    *,
    initial_signals: Iterable[Any] = ("START",),
    initial_context_fields: Iterable[str] = (),
) -> list[Finding]:
    """``lint_config`` on a UTF-8 file; ``OSError`` propagates when it cannot be read."""
    text = Path(path).read_text(encoding="utf-8")
    return lint_config(text, initial_signals=initial_signals,
                       initial_context_fields=initial_context_fields, filename=str(path))


def has_errors(findings: Iterable[Finding]) -> bool:
    """Whether any finding is an error (a CLI's non-zero exit)."""
    return any(f.severity == "error" for f in findings)


def render_findings(findings: Iterable[Finding], filename: str = "<config>") -> str:
    """One ``Finding.format`` line per finding, or ``<file>: no findings``."""
    lines = [finding.format(filename) for finding in findings]
    return "\n".join(lines) if lines else f"{filename}: no findings"
