"""Static analysis of a config: every finding at once, each with a code, place and fix.

Validation (§13) stops at the first broken rule and only knows about one node
at a time. Most workflow bugs are between nodes: a signal nobody listens to,
a trigger nothing emits, a loop nothing can stop, a prompt reading a field no
node writes. The engine runs such configs without complaint and they fail
quietly, so this module looks at the whole config and reports them all.
Codes are stable (``SOE001``...); see ``CODES``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError

from soe._errors import WorkflowValidationError
from soe.lib.templating import compile_template, has_template_syntax, is_jinja_condition
from soe.validation import _lint_checks as checks
from soe.validation._lint_checks import Finding, Site
from soe.validation.config import validate_config
from soe.validation.graph import (
    emissions_of,
    extract_workflows,
    is_signal,
    listeners,
    unconditional,
)
from soe.validation.locate import compose_text, node_position, validate_text, walk_path

__all__ = ["CODES", "Finding", "lint_config", "lint_file", "render_findings"]

CODES = checks.CODES
_PREFIX = re.compile(r"^Workflow '(?P<w>.*?)'(?:, node '(?P<n>.*?)')?(?::|\s)")


def _invalid(message: str, line: int | None, column: int | None) -> Finding:
    """A config that fails §13: one error, since every other check assumes a valid config."""
    match = _PREFIX.match(message)
    workflow, node = (match.group("w"), match.group("n")) if match else (None, None)
    hint = "fix the config so that it validates; the other checks run on valid configs only"
    if "missing 'signal_name'" in message or "must have 'signal_name'" in message:
        hint = ("quote YAML 1.1 booleans used as names (signal_name: \"NO\"), "
                "or add the missing signal_name")
    return Finding("SOE001", "error", workflow, node, message, hint, line, column)


def _validate(config: Any) -> tuple[list[Finding], Any]:
    """Validation first; ``([error], None)`` on failure, else ``([], composed YAML root)``."""
    if isinstance(config, str):
        failure = validate_text(config)
        if failure is not None:
            return [_invalid(failure.message, failure.line, failure.column)], None
        return [], compose_text(config)
    try:
        validate_config(config)
    except (WorkflowValidationError, ValueError) as exc:
        return [_invalid(str(exc), None, None)], None
    return [], None


def _locator(config: Any, root: Any) -> Any:
    """A function ``Site -> (line, column)`` (``(None, None)`` without YAML text to point into)."""
    combined = isinstance(config, (str, Mapping)) and "workflows" in (
        extract_workflows_root(config))

    def locate(site: Site) -> tuple[int | None, int | None]:
        if root is None:
            return None, None
        path = (["workflows"] if combined else []) + list(site)
        target = walk_path(root, path)
        return node_position(target) if target is not None else (None, None)

    return locate


def extract_workflows_root(config: Any) -> Mapping[Any, Any]:
    """The parsed top level (to tell the two shapes apart when pointing into the text)."""
    from soe.lib.yaml_parser import parse_yaml

    parsed = parse_yaml(config)
    return parsed if isinstance(parsed, Mapping) else {}


def lint_config(
    config: Any,
    *,
    initial_signals: Iterable[Any] = ("START",),
    initial_context_fields: Iterable[str] = (),
    filename: str | None = None,
) -> list[Finding]:
    """All findings for a config (YAML text or parsed, either shape), sorted by position.

    ``initial_signals`` and ``initial_context_fields`` describe how the
    workflows are started, so triggers and fields supplied from outside are
    not reported. ``filename`` is only used for messages of unreadable input.
    """
    del filename  # positions come from the text; the renderer adds the file name
    errors, root = _validate(config)
    if errors:
        return errors
    workflows = {k: v for k, v in extract_workflows(config).items() if isinstance(v, Mapping)}
    model = checks.Model(workflows, tuple(initial_signals), frozenset(initial_context_fields),
                         root, _locator(config, root))
    findings = [finding for check in checks.ALL_CHECKS for finding in check(model)]
    return sorted(findings, key=_order)


def _order(finding: Finding) -> tuple[bool, int, int, str]:
    """Text order when positions are known; codes break ties."""
    return (finding.line is None, finding.line or 0, finding.column or 0, finding.code)


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


def render_findings(findings: Iterable[Finding], filename: str) -> str:
    """One line per finding (``Finding.format``), or ``<file>: no findings``."""
    lines = [finding.format(filename) for finding in findings]
    return "\n".join(lines) if lines else f"{filename}: no findings"


# Re-exported for the checks module's type hints and for callers that want them.
_ = (compile_template, has_template_syntax, is_jinja_condition, TemplateSyntaxError,
     emissions_of, is_signal, listeners, unconditional, Iterator)
