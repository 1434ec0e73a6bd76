"""Optional helpers for reading and checking tool parameters (SPEC §1.7).

Exported for compatibility with SOE 0.1.4; the tool node does not call them
(it reports a bad call through the tool's own ``TypeError``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from soe.lib.context_fields import get_field
from soe.lib.yaml_parser import parse_yaml
from soe.nodes import ToolParameterError

__all__ = ["extract_tool_parameters", "validate_tool_parameters"]


def extract_tool_parameters(context: dict[str, Any], field: str) -> dict[str, Any]:
    """The mapping stored in ``field`` (JSON or YAML text is parsed).

    Raises:
        ToolParameterError: the field is missing or does not hold a mapping.
    """
    if field not in context:
        raise ToolParameterError(f"Parameter field '{field}' not found in context")
    value = get_field(context, field)
    if isinstance(value, str):
        try:
            value = parse_yaml(value)
        except ValueError as exc:
            raise ToolParameterError(f"Parameter field '{field}' is not valid JSON or YAML: {exc}") from exc
    if not isinstance(value, Mapping):
        raise ToolParameterError(f"Parameter field '{field}' must hold an object, got {type(value).__name__}")
    return dict(value)


def validate_tool_parameters(func: Callable[..., Any], params: Mapping[str, Any], tool_name: str) -> None:
    """Check ``params`` against ``func``'s signature before calling it.

    Raises:
        ToolParameterError: a required parameter is missing or an unknown one is given.
    """
    signature = inspect.signature(func)
    accepted = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = [name for name in params if name not in accepted and not takes_any]
    if unknown:
        raise ToolParameterError(f"Tool '{tool_name}' got unknown parameters: {unknown}")
    missing = [name for name, p in accepted.items()
               if p.default is inspect.Parameter.empty and name not in params
               and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    if missing:
        raise ToolParameterError(f"Tool '{tool_name}' is missing required parameters: {missing}")
