"""No node writes a ``__`` field; an LLM output field cannot start with ``_`` (issue 13, item 7)."""

from __future__ import annotations

import pytest
from conftest import run

from soe.builtin_tools import BUILTIN_TOOLS
from soe.types import WorkflowValidationError
from soe.validation import validate_config

RESERVED = "fields starting with '__' are reserved for the engine"


def tool_node(**extra) -> dict:
    return {"node_type": "tool", "event_triggers": ["START"], "tool_name": "make", **extra}


def child_node(**extra) -> dict:
    return {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "kid",
            "child_initial_signals": ["START"], **extra}


def llm_node(node_type: str, output_field: str) -> dict:
    return {"node_type": node_type, "event_triggers": ["START"], "prompt": "hi", "output_field": output_field}


@pytest.mark.parametrize("node, message", [
    (tool_node(output_field="__parent__"), f"'output_field' cannot be '__parent__' - {RESERVED}"),
    (llm_node("llm", "__x"), f"'output_field' cannot be '__x' - {RESERVED}"),
    (child_node(fan_out_field="items", child_input_field="__parent__"),
     f"'child_input_field' cannot be '__parent__' - {RESERVED}"),
    (child_node(context_updates_to_parent=["__operational__"]),
     f"'context_updates_to_parent' cannot be '__operational__' - {RESERVED}"),
    (llm_node("llm", "_x"), "'output_field' cannot start with '_' (got '_x') - it names a field of the "
                            "LLM's response, and response fields starting with '_' are not allowed"),
    (llm_node("agent", "_x"), "'output_field' cannot start with '_' (got '_x') - it names a field of the "
                              "LLM's response, and response fields starting with '_' are not allowed"),
])
def test_reserved_output_fields_are_refused(node, message):
    with pytest.raises(WorkflowValidationError) as info:
        validate_config({"wf": {"N": node}, "kid": {"K": tool_node()}})
    assert str(info.value) == f"Workflow 'wf', node 'N': {message}"


def test_a_tool_cannot_redirect_a_child_through_parent_field(backends):
    """The attack: a tool writes a crafted ``__parent__`` so a child reports into another execution."""
    crafted = {"parent_execution_id": "victim", "signals_to_parent": ["EVIL"],
               "context_updates_to_parent": [], "main_execution_id": "victim"}
    with pytest.raises(WorkflowValidationError, match=RESERVED):
        run({"wf": {"N": tool_node(output_field="__parent__")}}, backends, tools={"make": lambda: crafted})


def test_inject_node_refuses_a_reserved_output_field(backends):
    eid = "e1"
    backends.context.save_context(eid, {"__operational__": {
        "signals": [], "nodes": {}, "llm_calls": 0, "tool_calls": 0, "errors": 0, "main_execution_id": eid}})
    backends.workflow.save_workflows_registry(eid, {"wf": {"A": tool_node()}})
    inject = BUILTIN_TOOLS["soe_inject_node"](execution_id=eid, backends=backends, tools_registry={})
    with pytest.raises(WorkflowValidationError, match=RESERVED):
        inject(workflow_name="wf", node_name="B", node_config_data=tool_node(output_field="__parent__"))
    assert backends.workflow.get_workflows_registry(eid) == {"wf": {"A": tool_node()}}
