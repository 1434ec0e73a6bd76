"""soe.nodes.tool.lib.parameters: optional helpers raising ToolParameterError."""

from __future__ import annotations

import pytest

from soe import ToolParameterError
from soe.nodes.tool.lib.parameters import extract_tool_parameters, validate_tool_parameters


def add(a: int, b: int, scale: int = 1) -> int:
    return (a + b) * scale


def test_extract_parses_text_and_returns_mappings():
    ctx = {"p": ['{"a": 1}', "a: 2\nb: 3"]}
    assert extract_tool_parameters(ctx, "p") == {"a": 2, "b": 3}
    assert extract_tool_parameters({"p": [{"a": 1}]}, "p") == {"a": 1}


@pytest.mark.parametrize("ctx, message", [
    ({}, "Parameter field 'p' not found in context"),
    ({"p": [[1, 2]]}, "Parameter field 'p' must hold an object, got list"),
    ({"p": ["a: [unclosed"]}, "Parameter field 'p' is not valid JSON or YAML: Invalid YAML configuration"),
])
def test_extract_errors(ctx, message):
    with pytest.raises(ToolParameterError, match="^" + message.replace("[", r"\[")):
        extract_tool_parameters(ctx, "p")


def test_validate_parameters():
    validate_tool_parameters(add, {"a": 1, "b": 2}, "add")
    with pytest.raises(ToolParameterError, match=r"^Tool 'add' is missing required parameters: \['b'\]$"):
        validate_tool_parameters(add, {"a": 1}, "add")
    with pytest.raises(ToolParameterError, match=r"^Tool 'add' got unknown parameters: \['c'\]$"):
        validate_tool_parameters(add, {"a": 1, "b": 2, "c": 3}, "add")
    validate_tool_parameters(lambda **kw: None, {"anything": 1}, "loose")
