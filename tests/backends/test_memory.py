"""Behaviour specific to the in-memory backends (SPEC §11.3)."""

from __future__ import annotations

import re
import threading

import pytest
from conftest import run

from soe.backends.memory import (
    InMemoryContextBackend,
    InMemoryContextSchemaBackend,
    InMemoryConversationHistoryBackend,
    InMemoryIdentityBackend,
    InMemoryTelemetryBackend,
    InMemoryWorkflowBackend,
)
from soe.lib.operational import new_operational
from soe.lib.snapshot import FrozenDict
from soe.local_backends import create_in_memory_backends

READ_ONLY = re.escape("registry snapshots are read-only; copy.deepcopy() one before changing it")


# --- context: copies stay independent whatever the stored values look like ------------------

def _assert_detached(backend, execution_id, mutate):
    before = backend.get_context(execution_id)
    mutate(backend.get_context(execution_id))
    assert backend.get_context(execution_id) == before


def test_appending_a_dict_to_a_scalar_history_still_copies_deeply():
    backend = InMemoryContextBackend()
    backend.save_context("e", {"f": [1, 2]})
    backend.append_to_field("e", "f", {"k": [1]})
    _assert_detached(backend, "e", lambda ctx: ctx["f"][-1]["k"].append(2))
    assert backend.get_context("e") == {"f": [1, 2, {"k": [1]}]}


def test_scalar_history_copy_is_a_new_list():
    backend = InMemoryContextBackend()
    for value in ("a", 1, 2.5, True, None):
        backend.append_to_field("e", "f", value)
    got = backend.get_context("e")
    got["f"].append("LEAK")
    assert backend.get_context("e") == {"f": ["a", 1, 2.5, True, None]}


def test_internal_field_holding_a_dict_is_copied():
    backend = InMemoryContextBackend()
    backend.append_to_field("e", "__parent__", {"signals_to_parent": ["A"]})
    _assert_detached(backend, "e", lambda ctx: ctx["__parent__"]["signals_to_parent"].append("X"))


def test_unusual_operational_block_is_copied_deeply():
    backend = InMemoryContextBackend()
    operational = new_operational("e")
    operational["extra"] = {"nested": [1]}
    backend.save_context("e", {"__operational__": operational})
    _assert_detached(backend, "e", lambda ctx: ctx["__operational__"]["extra"]["nested"].append(2))


def test_non_scalar_signal_makes_operational_copy_deep():
    backend = InMemoryContextBackend()
    backend.save_context("e", {"__operational__": new_operational("e")})
    backend.update_operational("e", "signals_broadcast", {"signals": [{"odd": [1]}]})
    _assert_detached(backend, "e", lambda ctx: ctx["__operational__"]["signals"][0]["odd"].append(2))
    assert backend.get_context("e")["__operational__"]["signals"] == [{"odd": [1]}]


def test_plain_operational_copy_is_independent():
    backend = InMemoryContextBackend()
    backend.save_context("e", {"__operational__": new_operational("e")})
    backend.update_operational("e", "node_execution", {"node_name": "N"})
    backend.update_operational("e", "signals_broadcast", {"signals": ["A"]})
    got = backend.get_context("e")
    got["__operational__"]["nodes"]["N"] = 99
    got["__operational__"]["signals"].append("B")
    got["__operational__"]["llm_calls"] = 7
    assert backend.get_context("e")["__operational__"] == {
        "signals": ["A"], "nodes": {"N": 1}, "llm_calls": 0, "tool_calls": 0, "errors": 0,
        "main_execution_id": "e"}


def test_save_context_accepts_frozen_values_and_stores_plain_ones():
    workflows = InMemoryWorkflowBackend()
    workflows.save_workflows_registry("e", {"w": {"n": {"event_triggers": ["S"]}}})
    node = workflows.get_workflows_registry("e")["w"]["n"]
    backend = InMemoryContextBackend()
    backend.save_context("e", {"node": [node]})
    got = backend.get_context("e")
    got["node"][0]["event_triggers"].append("T")
    assert type(got["node"][0]) is dict
    assert backend.get_context("e") == {"node": [{"event_triggers": ["S"]}]}


def test_concurrent_atomic_writes_lose_nothing():
    backend = InMemoryContextBackend()
    backend.save_context("e", {"__operational__": new_operational("e")})
    threads_count, per_thread = 8, 250

    def work(worker: int) -> None:
        for step in range(per_thread):
            backend.append_to_field("e", "out", f"{worker}-{step}")
            backend.update_operational("e", "node_execution", {"node_name": "N"})
            backend.update_operational("e", "signals_broadcast", {"signals": [f"S{worker}"]})
            backend.update_operational("e", "llm_call", {})

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ctx = backend.get_context("e")
    total = threads_count * per_thread
    assert sorted(ctx["out"]) == sorted(f"{w}-{s}" for w in range(threads_count) for s in range(per_thread))
    assert ctx["__operational__"]["nodes"] == {"N": total}
    assert ctx["__operational__"]["llm_calls"] == total
    assert len(ctx["__operational__"]["signals"]) == total
    for worker in range(threads_count):
        assert ctx["__operational__"]["signals"].count(f"S{worker}") == per_thread


def test_context_cleanup_all():
    backend = InMemoryContextBackend()
    backend.save_context("e", {"x": [1]})
    backend.cleanup_all()
    assert backend.get_context("e") == {}


# --- workflow ------------------------------------------------------------------------------

def test_registry_is_one_frozen_snapshot_until_next_save():
    backend = InMemoryWorkflowBackend()
    assert backend.get_workflows_registry_snapshot("e") is None
    backend.save_workflows_registry("e", {"main": {"A": {"event_triggers": ["S"]}}})
    snapshot = backend.get_workflows_registry_snapshot("e")
    assert isinstance(snapshot, FrozenDict)
    assert backend.get_workflows_registry_snapshot("e") is snapshot
    with pytest.raises(TypeError, match=READ_ONLY):
        snapshot["main"]["B"] = {}
    with pytest.raises(TypeError, match=READ_ONLY):
        snapshot["main"]["A"]["event_triggers"].append("T")

    backend.save_workflows_registry("e", {"main": {}})
    assert backend.get_workflows_registry_snapshot("e") == {"main": {}}
    assert backend.get_workflows_registry_snapshot("e") is not snapshot
    assert snapshot == {"main": {"A": {"event_triggers": ["S"]}}}


def test_get_workflows_registry_returns_a_plain_copy_callers_may_change():
    backend = InMemoryWorkflowBackend()
    assert backend.get_workflows_registry("e") is None
    backend.save_workflows_registry("e", {"main": {"A": {"event_triggers": ["S"]}}})
    registry = backend.get_workflows_registry("e")
    assert type(registry) is dict and type(registry["main"]["A"]["event_triggers"]) is list
    registry["main"]["B"] = {}
    registry["main"]["A"]["event_triggers"].append("T")
    assert backend.get_workflows_registry("e") == {"main": {"A": {"event_triggers": ["S"]}}}


def test_saving_a_snapshot_again_keeps_the_same_object():
    backend = InMemoryWorkflowBackend()
    backend.save_workflows_registry("a", {"main": {}})
    snapshot = backend.get_workflows_registry_snapshot("a")
    backend.save_workflows_registry("b", snapshot)
    assert backend.get_workflows_registry_snapshot("b") is snapshot


def test_current_name_is_stored_as_given():
    backend = InMemoryWorkflowBackend()
    backend.save_current_workflow_name("e", "main")
    assert backend.get_current_workflow_name("e") == "main"
    backend.cleanup_all()
    assert backend.get_current_workflow_name("e") == ""


def test_revisions_are_returned_as_plain_data():
    backend = InMemoryWorkflowBackend()
    backend.save_workflows_registry("e", {"main": {"A": {}}})
    value = backend.get_workflows_registry("e")["main"]
    backend.save_registry_revision("e", {"revision": 0, "diff": [{"op": "add", "path": "/main",
                                                                   "value": value}]})
    got = backend.get_registry_revisions("e")
    assert type(got[0]["diff"][0]["value"]) is dict
    got[0]["diff"][0]["value"]["B"] = {}
    assert backend.get_registry_revisions("e") == [
        {"revision": 0, "diff": [{"op": "add", "path": "/main", "value": {"A": {}}}]}]


# --- telemetry, history, schema, identity ---------------------------------------------------

def test_telemetry_returns_the_stored_list():
    backend = InMemoryTelemetryBackend()
    backend.log_event("e", "llm_call", timestamp="T", context={"identity": None})
    events = backend.get_events("e")
    assert events is backend.get_events("e")
    assert events == [{"event_type": "llm_call", "timestamp": "T", "context": {"identity": None}}]
    assert backend.get_events("nope") == []
    backend.cleanup_all()
    assert backend.get_events("e") == []


def test_history_cleanup_all():
    backend = InMemoryConversationHistoryBackend()
    backend.append_to_conversation_history("k", {"role": "user", "content": "x"})
    backend.cleanup_all()
    assert backend.get_conversation_history("k") == []


def test_schema_and_identities_are_stored_as_given():
    schemas, identities = InMemoryContextSchemaBackend(), InMemoryIdentityBackend()
    schema, ids = {"a": "string"}, {"helper": "Be kind."}
    schemas.save_context_schema("e", schema)
    identities.save_identities("e", ids)
    assert schemas.get_context_schema("e") is schema
    assert identities.get_identities("e") is ids
    schemas.cleanup_all()
    identities.cleanup_all()
    assert schemas.get_context_schema("e") is None
    assert identities.get_identities("e") is None


def test_non_mapping_schema_has_no_field_schema():
    schemas = InMemoryContextSchemaBackend()
    schemas.save_context_schema("e", ["not", "a", "mapping"])
    assert schemas.get_field_schema("e", "not") is None


# --- snapshots: the engine's read-only view shares histories without seeing later writes ------

def test_snapshot_does_not_see_later_appends():
    backend = InMemoryContextBackend()
    backend.save_context("e", {"n": [1], "__operational__": new_operational("e")})
    snapshot = backend.get_context_snapshot("e")
    backend.append_to_field("e", "n", 2)
    assert list(snapshot["n"]) == [1]
    assert snapshot["n"][-1] == 1
    assert backend.get_context("e")["n"] == [1, 2]
    assert backend.get_context_snapshot("e")["n"] == [1, 2]


def test_snapshot_view_plus_leaves_the_store_alone():
    backend = InMemoryContextBackend()
    backend.save_context("e", {"n": [1, 2], "__operational__": new_operational("e")})
    view = backend.get_context_snapshot("e")["n"].plus(3)
    assert view == [1, 2, 3] and view[-1] == 3 and view[1:] == [2, 3]
    assert backend.get_context("e")["n"] == [1, 2]


def test_a_tool_changing_its_parameters_does_not_change_the_context():
    def grab(items):
        items.append("tampered")
        return len(items)

    backends = create_in_memory_backends()
    config = {"main": {"Grab": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "grab",
                                "context_parameter_field": "payload", "output_field": "size"}}}
    eid = run(config, backends, context={"payload": {"items": ["a"]}}, tools={"grab": grab})
    context = backends.context.get_context(eid)
    assert context["payload"] == [{"items": ["a"]}]
    assert context["size"] == [2]
