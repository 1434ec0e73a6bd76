"""orchestrate step by step (SPEC §4.1, §3, §13.1)."""

from __future__ import annotations

import uuid

import pytest
from conftest import events, run

from soe import WorkflowValidationError, create_all_nodes, orchestrate
from soe.types import ConfigShapeError

ONE_ROUTER = {"wf": {"Start": {"node_type": "router", "event_triggers": ["START"],
                               "event_emissions": [{"signal_name": "DONE"}]}}}


def test_orchestrate_returns_uuid_and_prepares_context(backends):
    eid = run(ONE_ROUTER, backends, context={"user": "alice", "items": [1, 2], "__meta": 7})
    assert str(uuid.UUID(eid)) == eid
    ctx = backends.context.get_context(eid)
    assert ctx == {
        "user": ["alice"], "items": [[1, 2]], "__meta": 7,
        "__operational__": {"signals": ["START", "DONE"], "nodes": {"Start": 1}, "llm_calls": 0,
                            "tool_calls": 0, "errors": 0, "main_execution_id": eid},
    }
    assert list(ctx)[-1] == "__operational__"
    assert backends.workflow.get_current_workflow_name(eid) == "wf"


def test_orchestrate_router_event_sequence(backends):
    eid = run(ONE_ROUTER, backends)
    got = [(e["event_type"], e["context"]) for e in events(backends, eid)]
    assert got == [
        ("orchestration_start", {"workflow_name": "wf"}),
        ("signals_broadcast", {"signals": ["START"]}),
        ("node_execution", {"node_name": "Start", "node_type": "router"}),
        ("node_execution", {"node_type": "router"}),
        ("signals_broadcast", {"signals": ["DONE"]}),
    ]
    assert all(e["timestamp"].endswith("Z") for e in events(backends, eid))


@pytest.mark.parametrize("signals, name, message", [
    ("START", "wf", "'initial_signals' must be a list, got str. Example: initial_signals=['START']"),
    ([], "wf", "'initial_signals' cannot be empty - at least one signal is required to start execution"),
    (["START"], "", "'initial_workflow_name' must be a non-empty string"),
])
def test_orchestrate_parameter_errors(backends, signals, name, message):
    _, broadcast = create_all_nodes(backends)
    with pytest.raises(WorkflowValidationError) as info:
        orchestrate(ONE_ROUTER, name, signals, {}, backends, broadcast)
    assert str(info.value) == message


def test_orchestrate_requires_config_or_inheritance(backends):
    _, broadcast = create_all_nodes(backends)
    with pytest.raises(WorkflowValidationError, match="^Either 'config' or 'inherit_config_from_id' must be provided$"):
        orchestrate(None, "wf", ["START"], {}, backends, broadcast)


def test_orchestrate_unknown_workflow_lists_available(backends):
    with pytest.raises(WorkflowValidationError) as info:
        run(ONE_ROUTER, backends, workflow="nope")
    assert str(info.value) == "Workflow 'nope' not found in config. Available workflows: ['wf']"


@pytest.mark.parametrize("config", [{}, ""])
def test_orchestrate_falsy_config_skips_validation(backends, config):
    with pytest.raises(WorkflowValidationError) as info:
        run(config, backends, workflow="wf")
    assert str(info.value) == "Workflow 'wf' not found in config. Available workflows: []"


def test_orchestrate_non_mapping_config_is_config_shape_error(backends):
    with pytest.raises(ConfigShapeError) as info:
        run("just a string", backends, workflow="wf")
    assert isinstance(info.value, AttributeError)
    assert str(info.value) == "Config must be a mapping of workflow names to workflows, got str"


def test_orchestrate_invalid_yaml(backends):
    with pytest.raises(ValueError, match="^Invalid YAML configuration: "):
        run("wf: [unclosed", backends, workflow="wf")


def test_orchestrate_combined_shape_saves_schema_and_identities(backends):
    config = {"workflows": ONE_ROUTER, "context_schema": {"summary": "string"},
              "identities": {"helper": "Be kind."}, "other": 1}
    eid = run(config, backends, workflow="wf")
    assert backends.workflow.get_workflows_registry(eid) == ONE_ROUTER
    assert backends.context_schema.get_context_schema(eid) == {"summary": "string"}
    assert backends.identity.get_identities(eid) == {"helper": "Be kind."}


def test_orchestrate_caller_chosen_id(backends):
    eid = run(ONE_ROUTER, backends, execution_id="order-42")
    assert eid == "order-42"
    with pytest.raises(WorkflowValidationError, match="^Execution 'order-42' already exists$"):
        run(ONE_ROUTER, backends, execution_id="order-42")


@pytest.mark.parametrize("bad", ["../x", "a/b", "x\0y"])
def test_orchestrate_refuses_escaping_ids(backends, bad):
    with pytest.raises(ValueError) as info:
        run(ONE_ROUTER, backends, execution_id=bad)
    assert str(info.value) == f"Invalid id '{bad}': must not contain path separators, '..', or NUL"
    assert backends.context.get_context(bad) == {}


def test_inherit_config_and_context(backends):
    config = {"workflows": ONE_ROUTER, "identities": {"a": "A"}, "context_schema": {"s": "string"}}
    source = run(config, backends, workflow="wf", context={"x": 1})
    _, broadcast = create_all_nodes(backends)
    eid = orchestrate(None, "wf", ["START"], {"x": 2, "y": 3}, backends, broadcast,
                      inherit_config_from_id=source, inherit_context_from_id=source)
    ctx = backends.context.get_context(eid)
    assert ctx["x"] == [1, 2] and ctx["y"] == [3]
    assert ctx["__operational__"]["main_execution_id"] == eid
    assert ctx["__operational__"]["signals"] == ["START", "DONE"]
    assert backends.identity.get_identities(eid) == {"a": "A"}
    assert backends.context_schema.get_context_schema(eid) == {"s": "string"}
    kinds = [e["event_type"] for e in events(backends, eid)][:5]
    assert kinds == ["config_inheritance_start", "orchestration_start", "context_inheritance_start",
                     "context_merge", "signals_broadcast"]
    assert events(backends, eid, "context_merge")[0]["context"] == {"fields": ["x", "y"]}


def test_inherit_from_missing_sources(backends):
    _, broadcast = create_all_nodes(backends)
    with pytest.raises(ValueError, match="^Cannot inherit config from execution 'nope': no workflows registry found$"):
        orchestrate(None, "wf", ["START"], {}, backends, broadcast, inherit_config_from_id="nope")
    with pytest.raises(ValueError, match="^Cannot inherit context from execution 'nope': no context found$"):
        orchestrate(ONE_ROUTER, "wf", ["START"], {}, backends, broadcast, inherit_context_from_id="nope")


def test_initial_operational_is_kept(backends):
    operational = {"signals": ["OLD"], "nodes": {}, "llm_calls": 5, "tool_calls": 0, "errors": 0,
                   "main_execution_id": "m"}
    eid = run(ONE_ROUTER, backends, context={"__operational__": operational})
    assert backends.context.get_context(eid)["__operational__"]["llm_calls"] == 5


def test_same_yaml_text_runs_independent_executions(backends):
    text = "wf:\n  A:\n    node_type: router\n    event_triggers: [START]\n    event_emissions: [{signal_name: DONE}]\n"
    first = run(text, backends, workflow="wf", context={"n": 1})
    second = run(text, backends, workflow="wf", context={"n": 2})
    assert backends.context.get_context(first)["n"] == [1]
    assert backends.context.get_context(second)["n"] == [2]
