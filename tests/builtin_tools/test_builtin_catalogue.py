"""The built-in catalogue: names, factories, function names and per-execution binding (SPEC §10, Q7)."""

from __future__ import annotations

import importlib
import inspect

import pytest

from soe import create_all_nodes, orchestrate
from soe.builtin_tools import BUILTIN_TOOLS, get_builtin_tool_factory
from soe.builtin_tools.soe_explore_docs import soe_explore_docs
from soe.nodes._tools import resolve_tool

KEY_ORDER = [
    "soe_inject_workflow", "soe_inject_node", "soe_get_workflows", "soe_get_available_tools",
    "soe_explore_docs", "soe_remove_workflow", "soe_remove_node", "soe_get_context",
    "soe_update_context", "soe_copy_context", "soe_list_contexts", "soe_add_signal",
    "soe_call_tool", "soe_get_identities", "soe_inject_identity", "soe_remove_identity",
    "soe_get_context_schema", "soe_inject_context_schema_field", "soe_remove_context_schema_field",
]

FUNCTION_NAMES = {
    "soe_get_context": "get_context",
    "soe_update_context": "update_context",
    "soe_copy_context": "copy_context",
    "soe_list_contexts": "list_contexts",
    "soe_get_workflows": "soe_get_workflows",
    "soe_inject_workflow": "soe_inject_workflow",
    "soe_inject_node": "soe_soe_inject_node",
    "soe_remove_workflow": "soe_remove_workflow",
    "soe_remove_node": "soe_remove_node",
    "soe_add_signal": "add_signal",
    "soe_call_tool": "call_tool",
    "soe_get_available_tools": "soe_get_available_tools",
    "soe_get_identities": "soe_get_identities",
    "soe_inject_identity": "soe_inject_identity",
    "soe_remove_identity": "soe_remove_identity",
    "soe_get_context_schema": "soe_get_context_schema",
    "soe_inject_context_schema_field": "soe_inject_context_schema_field",
    "soe_remove_context_schema_field": "soe_remove_context_schema_field",
    "soe_explore_docs": "soe_explore_docs",
}

PARAMETERS = {
    "soe_get_context": ["field", "fields"],
    "soe_update_context": ["updates"],
    "soe_copy_context": ["source_execution_id", "fields", "all_fields", "target_execution_id"],
    "soe_list_contexts": ["include_current"],
    "soe_get_workflows": ["workflow_name", "list_only"],
    "soe_inject_workflow": ["workflow_name", "workflow_data"],
    "soe_inject_node": ["workflow_name", "node_name", "node_config_data"],
    "soe_remove_workflow": ["workflow_name"],
    "soe_remove_node": ["workflow_name", "node_name"],
    "soe_add_signal": ["workflow_name", "node_name", "signal_name", "condition"],
    "soe_call_tool": ["tool_name", "arguments"],
    "soe_get_available_tools": [],
    "soe_get_identities": ["identity_name", "list_only"],
    "soe_inject_identity": ["identity_name", "system_prompt"],
    "soe_remove_identity": ["identity_name"],
    "soe_get_context_schema": ["field_name"],
    "soe_inject_context_schema_field": ["field_name", "field_definition"],
    "soe_remove_context_schema_field": ["field_name"],
    "soe_explore_docs": ["path", "action", "query", "tag"],
}

CONTEXT_TOOLS = {"soe_get_context", "soe_update_context", "soe_copy_context", "soe_list_contexts"}


def test_key_order_is_the_spec_order():
    assert list(BUILTIN_TOOLS) == KEY_ORDER


def test_available_tools_names_match_the_catalogue():
    """``soe_get_available_tools`` reads a names tuple kept apart to avoid an import cycle."""
    from soe.builtin_tools._names import BUILTIN_TOOL_NAMES

    assert BUILTIN_TOOL_NAMES == tuple(BUILTIN_TOOLS)


def test_get_builtin_tool_factory():
    for name, factory in BUILTIN_TOOLS.items():
        assert get_builtin_tool_factory(name) is factory
    assert get_builtin_tool_factory("nope") is None
    assert get_builtin_tool_factory(None) is None


@pytest.mark.parametrize("name", KEY_ORDER)
def test_each_tool_has_its_module_and_factory(name):
    module = importlib.import_module(f"soe.builtin_tools.{name}")
    factory = getattr(module, f"create_{name}_tool")
    assert BUILTIN_TOOLS[name] is factory
    assert f"create_{name}_tool" in module.__all__


@pytest.mark.parametrize("name", sorted(set(KEY_ORDER) - {"soe_explore_docs"}))
def test_factory_positional_order(name, backends):
    params = list(inspect.signature(BUILTIN_TOOLS[name]).parameters.values())
    expected = (["backends", "execution_id"] if name in CONTEXT_TOOLS else ["execution_id", "backends"])
    assert [p.name for p in params] == [*expected, "tools_registry"]
    assert params[2].default is None
    positional = (backends, "e1", {}) if name in CONTEXT_TOOLS else ("e1", backends, {})
    assert BUILTIN_TOOLS[name](*positional).__name__ == FUNCTION_NAMES[name]


@pytest.mark.parametrize("name", KEY_ORDER)
def test_function_names_parameters_and_docstrings(name, backends):
    function = BUILTIN_TOOLS[name](execution_id="e1", backends=backends, tools_registry={})
    assert function.__name__ == FUNCTION_NAMES[name]
    signature = inspect.signature(function)
    assert list(signature.parameters) == PARAMETERS[name]
    for parameter in signature.parameters.values():
        assert not isinstance(parameter.annotation, str)  # real objects: agents build models from them
    assert function.__doc__


def test_explore_docs_factory_returns_the_module_function(backends):
    assert BUILTIN_TOOLS["soe_explore_docs"]() is soe_explore_docs
    assert BUILTIN_TOOLS["soe_explore_docs"](execution_id="e", backends=backends) is soe_explore_docs


def test_optional_parameters_default_as_documented(backends):
    def defaults(name):
        function = BUILTIN_TOOLS[name](execution_id="e1", backends=backends)
        return {p.name: p.default for p in inspect.signature(function).parameters.values()
                if p.default is not inspect.Parameter.empty}

    assert defaults("soe_get_context") == {"field": None, "fields": None}
    assert defaults("soe_copy_context") == {"source_execution_id": None, "fields": None,
                                            "all_fields": False, "target_execution_id": None}
    assert defaults("soe_list_contexts") == {"include_current": True}
    assert defaults("soe_get_workflows") == {"workflow_name": None, "list_only": False}
    assert defaults("soe_call_tool") == {"arguments": "{}"}
    assert defaults("soe_get_identities") == {"identity_name": None, "list_only": False}
    assert defaults("soe_get_context_schema") == {"field_name": None}
    assert defaults("soe_add_signal") == {}


# --- Q7: bound per execution, registry never mutated ----------------------------------------

def _seed(backends, eid):
    backends.context.save_context(eid, {"__operational__": {
        "signals": [], "nodes": {}, "llm_calls": 0, "tool_calls": 0, "errors": 0, "main_execution_id": eid}})


def test_two_executions_resolving_the_same_builtin_act_on_their_own_ids(backends):
    registry = {"user_tool": lambda: 1}
    before = dict(registry)
    _seed(backends, "e1")
    _seed(backends, "e2")
    first = resolve_tool("soe_update_context", registry, "e1", backends)
    second = resolve_tool("soe_update_context", registry, "e2", backends)
    first.function({"x": 1})
    second.function({"x": 2})
    assert backends.context.get_context("e1")["x"] == [1]
    assert backends.context.get_context("e2")["x"] == [2]
    assert registry == before


def test_orchestrated_executions_share_a_registry_dict_without_caching(backends):
    registry: dict = {}
    _, broadcast = create_all_nodes(backends, tools_registry=registry)
    config = {"wf": {"Write": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "soe_update_context",
                               "parameters": {"updates": {"seen": "{{ context.name }}"}}}}}
    ids = [orchestrate(config, "wf", ["START"], {"name": name}, backends, broadcast) for name in ("a", "b")]
    assert [backends.context.get_context(i)["seen"] for i in ids] == [["a"], ["b"]]
    assert registry == {}


def test_available_tools_lists_builtins_and_only_user_tools(backends):
    registry = {"mine": lambda: None, "other": {"function": lambda: None}}
    tool = BUILTIN_TOOLS["soe_get_available_tools"]("e1", backends, registry)
    assert tool() == {"builtin_tools": KEY_ORDER, "user_tools": ["mine", "other"]}
    assert BUILTIN_TOOLS["soe_get_available_tools"]("e1", backends)() == {
        "builtin_tools": KEY_ORDER, "user_tools": []}
    resolve_tool("soe_get_context", registry, "e1", backends)
    assert tool()["user_tools"] == ["mine", "other"]
