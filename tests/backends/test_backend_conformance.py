"""Semantics every built-in backend set shares: in-memory, local-file, SQLite and PostgreSQL backends."""

from __future__ import annotations

import copy

import pytest

from soe.backends.sqlite import create_sqlite_backends
from soe.lib.context_fields import set_field
from soe.lib.operational import apply_operational_event, new_operational
from soe.local_backends import create_in_memory_backends, create_local_backends


@pytest.fixture(params=["memory", "files", "sqlite", "postgres"])
def backends(request, tmp_path):
    if request.param == "memory":
        return create_in_memory_backends()
    if request.param == "sqlite":
        return create_sqlite_backends(tmp_path / "soe.db")
    if request.param == "postgres":
        return request.getfixturevalue("postgres_backends")
    return create_local_backends(tmp_path)


def _containers(value, found=None):
    """Ids of every dict and list inside ``value``."""
    found = set() if found is None else found
    if isinstance(value, dict):
        found.add(id(value))
        for item in value.values():
            _containers(item, found)
    elif isinstance(value, list):
        found.add(id(value))
        for item in value:
            _containers(item, found)
    return found


def _rmw_append(backend, execution_id, field, value):
    ctx = backend.get_context(execution_id)
    set_field(ctx, field, value)
    backend.save_context(execution_id, ctx)


def _rmw_operational(backend, execution_id, event_type, data):
    ctx = backend.get_context(execution_id)
    if isinstance(ctx.get("__operational__"), dict):
        apply_operational_event(ctx["__operational__"], event_type, data)
        backend.save_context(execution_id, ctx)


# --- context -------------------------------------------------------------------------------

def test_unknown_context_is_a_new_empty_dict_not_stored(backends):
    first = backends.context.get_context("nope")
    first["x"] = [1]
    assert first == {"x": [1]}
    assert backends.context.get_context("nope") == {}


def test_context_round_trip_copies_both_ways(backends):
    original = {"user": ["alice"], "items": [[1, 2]], "deep": [{"a": [1]}], "__meta": {"k": [1]},
                "__operational__": new_operational("e1")}
    backends.context.save_context("e1", original)
    original["user"].append("mallory")
    original["deep"][0]["a"].append(2)

    got = backends.context.get_context("e1")
    assert got == {"user": ["alice"], "items": [[1, 2]], "deep": [{"a": [1]}], "__meta": {"k": [1]},
                   "__operational__": {"signals": [], "nodes": {}, "llm_calls": 0, "tool_calls": 0,
                                       "errors": 0, "main_execution_id": "e1"}}
    again = backends.context.get_context("e1")
    assert not _containers(got) & _containers(again)

    got["user"].append("eve")
    got["items"][0].append(3)
    got["deep"][0]["a"].append(9)
    got["__meta"]["k"].append(2)
    got["__operational__"]["signals"].append("X")
    got["__operational__"]["nodes"]["N"] = 1
    assert backends.context.get_context("e1") == again


def test_append_to_field_equals_read_modify_write(backends):
    ctx_backend = backends.context
    base = {"name": ["a"], "raw": "not-a-list", "__operational__": new_operational("m")}
    ctx_backend.save_context("atomic", base)
    ctx_backend.save_context("rmw", base)
    writes = [("name", "b"), ("name", {"nested": [1]}), ("new", 1), ("new", None),
              ("raw", "now-a-list"), ("__internal", {"x": [1]}), ("__internal", 5), ("list", [1, 2])]
    for field, value in writes:
        ctx_backend.append_to_field("atomic", field, value)
        _rmw_append(ctx_backend, "rmw", field, value)
    ctx_backend.append_to_field("fresh", "f", "v")
    assert ctx_backend.get_context("atomic") == ctx_backend.get_context("rmw")
    assert ctx_backend.get_context("atomic") == {
        "name": ["a", "b", {"nested": [1]}], "raw": ["now-a-list"],
        "__operational__": new_operational("m"), "new": [1, None], "__internal": 5, "list": [[1, 2]],
    }
    assert ctx_backend.get_context("fresh") == {"f": ["v"]}


def test_append_to_field_stores_a_copy(backends):
    value = {"k": [1]}
    backends.context.append_to_field("e", "field", value)
    value["k"].append(2)
    got = backends.context.get_context("e")
    got["field"][0]["k"].append(3)
    assert backends.context.get_context("e") == {"field": [{"k": [1]}]}


EVENTS = [
    ("signals_broadcast", {"signals": ["A", "B"]}),
    ("node_execution", {"node_name": "N", "node_type": "llm"}),
    ("node_execution", {"node_name": "N", "node_type": "llm"}),
    ("node_execution", {"node_type": "router"}),
    ("llm_call", {"identity": None}),
    ("tool_call", {"tool_name": "t", "max_retries": 0}),
    ("agent_tool_call", {"node_name": "A", "tool_name": "t", "tool_args": {}}),
    ("node_error", {"error": "boom"}),
    ("llm_usage", {"prompt_tokens": 3, "completion_tokens": 4}),
    ("llm_usage", {"prompt_tokens": 1, "completion_tokens": 1}),
    ("signals_broadcast", {"signals": ["C"]}),
]


def test_update_operational_equals_read_modify_write(backends):
    ctx_backend = backends.context
    for execution_id in ("atomic", "rmw"):
        ctx_backend.save_context(execution_id, {"x": [1], "__operational__": new_operational("root")})
    for event_type, data in EVENTS:
        ctx_backend.update_operational("atomic", event_type, data)
        _rmw_operational(ctx_backend, "rmw", event_type, data)
    atomic = ctx_backend.get_context("atomic")
    assert atomic == ctx_backend.get_context("rmw")
    assert atomic["__operational__"] == {
        "signals": ["A", "B", "C"], "nodes": {"N": 2}, "llm_calls": 1, "tool_calls": 2, "errors": 1,
        "main_execution_id": "root", "prompt_tokens": 4, "completion_tokens": 5,
    }
    assert list(atomic["__operational__"]) == [
        "signals", "nodes", "llm_calls", "tool_calls", "errors", "main_execution_id",
        "prompt_tokens", "completion_tokens",
    ]


def test_update_operational_is_a_no_op_without_operational(backends):
    backends.context.update_operational("unknown", "llm_call", {})
    backends.context.save_context("plain", {"x": [1]})
    backends.context.update_operational("plain", "llm_call", {})
    assert backends.context.get_context("unknown") == {}
    assert backends.context.get_context("plain") == {"x": [1]}


def test_update_operational_does_not_alias_event_data(backends):
    backends.context.save_context("e", {"__operational__": new_operational("e")})
    signals = ["A"]
    backends.context.update_operational("e", "signals_broadcast", {"signals": signals})
    signals.append("LEAK")
    got = backends.context.get_context("e")
    got["__operational__"]["signals"].append("LEAK")
    assert backends.context.get_context("e")["__operational__"]["signals"] == ["A"]


# --- workflow registry and revisions ---------------------------------------------------------

REGISTRY = {"main": {"Start": {"node_type": "router", "event_triggers": ["START"],
                               "event_emissions": [{"signal_name": "DONE"}]}}}


def test_registry_round_trip_never_aliases(backends):
    source = copy.deepcopy(REGISTRY)
    backends.workflow.save_workflows_registry("e", source)
    source["main"]["Start"]["event_triggers"].append("LEAK")
    got = backends.workflow.get_workflows_registry("e")
    assert got == REGISTRY
    got["main"]["Start"]["event_triggers"].append("LEAK")  # a copy: changing it is allowed (Q25)
    got["other"] = {}
    assert backends.workflow.get_workflows_registry("e") == REGISTRY


def test_current_workflow_name(backends):
    assert backends.workflow.get_current_workflow_name("e") == ""
    backends.workflow.save_current_workflow_name("e", "main")
    assert backends.workflow.get_current_workflow_name("e") == "main"


def test_registry_revisions_in_order_and_copied(backends):
    workflow = backends.workflow
    assert workflow.get_registry_revisions("e") == []
    workflow.save_workflows_registry("e", REGISTRY)
    snapshot = workflow.get_workflows_registry("e")
    first = {"revision": 0, "author": "api", "operation": "orchestrate", "timestamp": "T0Z",
             "diff": [{"op": "add", "path": "/main", "value": snapshot["main"]}]}
    second = {"revision": 1, "author": "Injector", "operation": "soe_inject_node",
              "timestamp": "T1Z", "diff": [{"op": "remove", "path": "/main/Start"}]}
    workflow.save_registry_revision("e", first)
    workflow.save_registry_revision("e", second)
    second["diff"].clear()

    expected = [
        {"revision": 0, "author": "api", "operation": "orchestrate", "timestamp": "T0Z",
         "diff": [{"op": "add", "path": "/main", "value": REGISTRY["main"]}]},
        {"revision": 1, "author": "Injector", "operation": "soe_inject_node", "timestamp": "T1Z",
         "diff": [{"op": "remove", "path": "/main/Start"}]},
    ]
    got = workflow.get_registry_revisions("e")
    assert got == expected
    got[0]["diff"][0]["value"]["Start"]["event_triggers"].append("LEAK")
    got.append({"revision": 2})
    assert workflow.get_registry_revisions("e") == expected
    assert workflow.get_registry_revisions("other") == []


# --- telemetry ---------------------------------------------------------------------------------

def test_telemetry_events(backends):
    telemetry = backends.telemetry
    assert telemetry.get_events("e") == []
    telemetry.log_event("e", "llm_call", timestamp="T", context={"identity": None})
    telemetry.log_event("e", "signals_broadcast", timestamp="T2", context={"signals": ["A"]})
    assert telemetry.get_events("e") == [
        {"event_type": "llm_call", "timestamp": "T", "context": {"identity": None}},
        {"event_type": "signals_broadcast", "timestamp": "T2", "context": {"signals": ["A"]}},
    ]
    assert telemetry.get_events("other") == []


# --- conversation history ----------------------------------------------------------------------

def test_conversation_history_semantics(backends):
    history = backends.conversation_history
    unknown = history.get_conversation_history("k")
    unknown.append({"role": "user", "content": "x"})
    assert history.get_conversation_history("k") == []

    history.append_to_conversation_history("k", {"role": "system", "content": "S"})
    entry = {"role": "user", "content": "hi"}
    history.append_to_conversation_history("k", entry)
    entry["content"] = "LEAK"
    got = history.get_conversation_history("k")
    got[0]["content"] = "LEAK"
    got.append({"role": "x", "content": "LEAK"})
    assert history.get_conversation_history("k") == [
        {"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]

    replacement = [{"role": "assistant", "content": "A"}]
    history.save_conversation_history("k", replacement)
    replacement.append({"role": "user", "content": "LEAK"})
    assert history.get_conversation_history("k") == [{"role": "assistant", "content": "A"}]

    history.delete_conversation_history("k")
    history.delete_conversation_history("never")
    assert history.get_conversation_history("k") == []


# --- schema and identity -------------------------------------------------------------------

def test_context_schema_semantics(backends):
    schemas = backends.context_schema
    schema = {"summary": "string", "profile": {"type": "object", "properties": {"a": "int"}}}
    assert schemas.get_context_schema("e") is None
    assert schemas.get_field_schema("e", "summary") is None
    schemas.save_context_schema("e", schema)
    assert schemas.get_context_schema("e") == schema
    assert schemas.get_field_schema("e", "summary") == "string"
    assert schemas.get_field_schema("e", "profile") == {"type": "object", "properties": {"a": "int"}}
    assert schemas.get_field_schema("e", "missing") is None
    assert schemas.delete_context_schema("e") is True
    assert schemas.delete_context_schema("e") is False
    assert schemas.get_context_schema("e") is None


def test_identity_semantics(backends):
    identity = backends.identity
    assert identity.get_identities("e") is None
    assert identity.get_identity("e", "helper") is None
    identity.save_identities("e", {"helper": "You are helpful.", "critic": "Be harsh."})
    assert identity.get_identities("e") == {"helper": "You are helpful.", "critic": "Be harsh."}
    assert identity.get_identity("e", "critic") == "Be harsh."
    assert identity.get_identity("e", "nobody") is None
    assert identity.delete_identities("e") is True
    assert identity.delete_identities("e") is False
    assert identity.get_identities("e") is None


# --- cleanup ---------------------------------------------------------------------------------

def test_container_cleanup_all_forgets_everything(backends):
    backends.context.save_context("e", {"x": [1]})
    backends.workflow.save_workflows_registry("e", REGISTRY)
    backends.workflow.save_current_workflow_name("e", "main")
    backends.workflow.save_registry_revision("e", {"revision": 0})
    backends.telemetry.log_event("e", "llm_call", timestamp="T", context={})
    backends.conversation_history.append_to_conversation_history("e", {"role": "user"})
    backends.context_schema.save_context_schema("e", {"a": "str"})
    backends.identity.save_identities("e", {"a": "b"})

    backends.cleanup_all()

    assert backends.context.get_context("e") == {}
    assert backends.workflow.get_workflows_registry("e") in (None, {})
    assert backends.workflow.get_current_workflow_name("e") == ""
    assert backends.workflow.get_registry_revisions("e") == []
    assert backends.telemetry.get_events("e") == []
    assert backends.conversation_history.get_conversation_history("e") == []
    assert backends.context_schema.get_context_schema("e") is None
    assert backends.identity.get_identities("e") is None
