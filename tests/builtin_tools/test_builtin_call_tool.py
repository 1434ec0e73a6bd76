"""soe_call_tool: call a registered tool by name with JSON arguments (SPEC §10.2)."""

from __future__ import annotations

import pytest

from soe.builtin_tools import BUILTIN_TOOLS
from soe.types import BudgetExceeded, TemplateRenderError


def seed(backends, eid="e1"):
    backends.context.save_context(eid, {"__operational__": {
        "signals": [], "nodes": {}, "llm_calls": 0, "tool_calls": 0, "errors": 0, "main_execution_id": eid}})


def add(a, b=0):
    return a + b


def boom():
    raise RuntimeError("kaput")


def call(backends, registry, *args, **kwargs):
    return BUILTIN_TOOLS["soe_call_tool"]("e1", backends, registry)(*args, **kwargs)


def tool_calls(backends):
    return [e["context"] for e in backends.telemetry.get_events("e1") if e["event_type"] == "tool_call"]


def test_success_registers_tool_call(backends):
    seed(backends)
    assert call(backends, {"add": add}, "add", '{"a": 2, "b": 3}') == {"success": True, "tool_name": "add", "result": 5}
    assert tool_calls(backends) == [{"meta_tool": "call_tool", "invoked_tool": "add", "arguments": {"a": 2, "b": 3}}]
    assert backends.context.get_context("e1")["__operational__"]["tool_calls"] == 1


def test_dict_entry_and_empty_arguments(backends):
    seed(backends)
    registry = {"now": {"function": lambda: "t", "max_retries": 2}}
    assert call(backends, registry, "now", "") == {"success": True, "tool_name": "now", "result": "t"}
    assert call(backends, registry, "now") == {"success": True, "tool_name": "now", "result": "t"}


def test_bad_json(backends):
    seed(backends)
    result = call(backends, {"add": add}, "add", "{nope")
    assert result["tool_name"] == "add"
    assert result["error"].startswith("Invalid JSON arguments: Expecting property name")
    assert call(backends, {"add": add}, "add", "[1]") == {
        "error": "Invalid JSON arguments: expected a JSON object, got list", "tool_name": "add"}
    assert tool_calls(backends) == []


def test_unknown_tool_lists_the_first_twenty(backends):
    seed(backends)
    registry = {f"t{i}": add for i in range(25)}
    result = call(backends, registry, "soe_get_context")
    assert result == {"error": "Tool 'soe_get_context' not found", "available_tools": [f"t{i}" for i in range(20)]}
    assert call(backends, None, "x") == {"error": "Tool 'x' not found", "available_tools": []}


def test_invalid_entries(backends):
    seed(backends)
    assert call(backends, {"t": 42}, "t") == {"error": "Invalid tool registry entry for 't'"}
    assert call(backends, {"t": {"function": "no"}}, "t") == {"error": "Tool 't' is not callable"}
    assert call(backends, {"t": {}}, "t") == {"error": "Tool 't' is not callable"}
    assert tool_calls(backends) == []


def test_tool_failures_become_error_dicts(backends):
    seed(backends)
    result = call(backends, {"add": add}, "add", '{"c": 1}')
    assert result["tool_name"] == "add"
    assert result["error"].startswith("Argument error for 'add': ")
    assert "unexpected keyword argument 'c'" in result["error"]
    assert call(backends, {"boom": boom}, "boom") == {"error": "Tool 'boom' failed: kaput", "tool_name": "boom"}
    assert len(tool_calls(backends)) == 2


@pytest.mark.parametrize("error", [BudgetExceeded("max_llm_calls", 1, 1, "e1"),
                                   TemplateRenderError("Template error", node_name="n", field="prompt", template="x")])
def test_engine_aborts_propagate(backends, error):
    seed(backends)

    def aborting():
        raise error

    with pytest.raises(type(error)):
        call(backends, {"t": aborting}, "t")
