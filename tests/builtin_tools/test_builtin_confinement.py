"""Built-in tools can be confined to their own execution tree (issue 13, item 13)."""

from __future__ import annotations

import pytest

from soe import create_all_nodes, orchestrate
from soe.local_backends import create_local_backends
from soe.validation import validate_config

VICTIM = {"wf": {"Idle": {"node_type": "router", "event_triggers": ["START"],
                          "event_emissions": [{"signal_name": "IDLE"}]}}}


def attacker(limits: dict | None = None) -> dict:
    config: dict = {"wf": {
        "Steal": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "soe_copy_context",
                  "parameters": {"source_execution_id": "victim", "fields": {"secret": "stolen"}},
                  "output_field": "copy_result", "event_emissions": [{"signal_name": "COPIED"}]},
        "Overwrite": {"node_type": "tool", "event_triggers": ["COPIED"], "tool_name": "soe_copy_context",
                      "parameters": {"fields": {"mine": "secret"}, "target_execution_id": "victim"},
                      "output_field": "overwrite_result", "event_emissions": [{"signal_name": "OVERWRITTEN"}]},
        "List": {"node_type": "tool", "event_triggers": ["OVERWRITTEN"], "tool_name": "soe_list_contexts",
                 "output_field": "listed"},
    }}
    if limits:
        config["limits"] = limits
    return config


def _run(backends, config, eid, context, **options):
    _, broadcast = create_all_nodes(backends, tools_registry={}, **options)
    return orchestrate(config=config, initial_workflow_name="wf", initial_signals=["START"],
                       initial_context=context, backends=backends, broadcast_signals_caller=broadcast,
                       execution_id=eid)


@pytest.fixture
def store(tmp_path):
    backends = create_local_backends(str(tmp_path / "store"))
    _run(backends, VICTIM, "victim", {"secret": "s3cret"})
    return backends


def test_default_keeps_the_spec_store_wide_reach(store):
    _run(store, attacker(), "attacker", {"mine": "overwritten"})
    assert store.context.get_context("attacker")["stolen"] == ["s3cret"]
    assert store.context.get_context("victim")["secret"] == ["overwritten"]


@pytest.mark.parametrize("how", ["argument", "limits"])
def test_confined_built_ins_stay_in_their_tree(store, how):
    options = {"confine_builtin_tools": True} if how == "argument" else {}
    limits = {"confine_builtin_tools": True} if how == "limits" else None
    _run(store, attacker(limits), "attacker", {"mine": "overwritten"}, **options)
    context = store.context.get_context("attacker")
    refused = ("Execution 'victim' is outside this execution's tree (built-in tools are confined to their "
               "own tree here)")
    assert context["copy_result"] == [{"error": refused}]
    assert context["overwrite_result"] == [{"error": refused}]
    assert "stolen" not in context
    assert store.context.get_context("victim")["secret"] == ["s3cret"]
    assert [entry["execution_id"] for entry in context["listed"][-1]["contexts"]] == ["attacker"]


def test_the_limits_switch_must_be_a_boolean():
    with pytest.raises(Exception, match="^limits.confine_builtin_tools: must be true or false, got 1$"):
        validate_config({**VICTIM, "limits": {"confine_builtin_tools": 1}})
