"""SQLite backends: memory-backend semantics, exact round-trips, transactions, runtime store."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from soe.backends.memory import InMemoryContextBackend
from soe.backends.sqlite import SqliteBackends, create_sqlite_backends
from soe.backends.sqlite.connection import SqliteDatabase
from soe.backends.sqlite.schema import MAIN_MIGRATIONS
from soe.engine.durability import RuntimeStore, runtime_store
from soe.lib.context_fields import set_field
from soe.lib.missing import MISSING
from soe.lib.operational import new_operational
from soe.local_backends.factory import LocalBackends

ROOT = Path(__file__).resolve().parents[2]
BAD_ID = "../escape"
BAD_ID_MESSAGE = re.escape(f"Invalid id '{BAD_ID}': must not contain path separators, '..', or NUL")


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "state" / "soe.db"


@pytest.fixture
def sb(db_path):
    backends = create_sqlite_backends(db_path)
    yield backends
    backends.close()


def _rows(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


# --- container ---------------------------------------------------------------------------------

def test_container_has_every_backend_and_a_runtime_store(sb, db_path):
    assert isinstance(sb, SqliteBackends) and isinstance(sb, LocalBackends)
    for name in ("context", "workflow", "telemetry", "conversation_history", "context_schema",
                 "identity"):
        assert getattr(sb, name) is not None
    assert isinstance(sb.runtime, RuntimeStore)
    assert runtime_store(sb) is sb.runtime
    sb.context.save_context("e", {"x": [1]})
    assert db_path.exists()  # parent directory created on first use
    assert sb.path == db_path


def test_in_memory_paths_are_refused(tmp_path):
    with pytest.raises(ValueError, match="need a file path"):
        create_sqlite_backends(":memory:")


def test_wal_mode_and_pragmas(sb, db_path):
    sb.context.save_context("e", {"x": [1]})
    conn = sb._db.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


def test_close_then_reuse_and_context_manager(db_path):
    with create_sqlite_backends(db_path) as backends:
        backends.context.save_context("e", {"x": [1]})
        backends.close()
        backends.context.append_to_field("e", "x", 2)  # reopens lazily
    with create_sqlite_backends(db_path) as again:
        assert again.context.get_context("e") == {"x": [1, 2]}


# --- context: exact round-trip ---------------------------------------------------------------

ODD_CONTEXT = {
    "zeta": ["first"],
    "__meta": {"nested": {"deep": [1, 2.5, None, True, False, "ü"]}, "k": []},
    "unicode": ["héllo wörld", "日本語", "emoji 🚀", "lone \ud800 surrogate", "quote \" \\ \n"],
    "numbers": [0, -1, 2**70, 1.5e-300, 3.0, -0.0],
    "empty": [],
    "plain_scalar": "not a list",
    "nested": [{"a": [{"b": {"c": [[], {}, ""]}}]}, [[1], [2, [3]]]],
    "__operational__": {"signals": ["START", "X"], "nodes": {"B": 2, "A": 1}, "llm_calls": 3,
                        "tool_calls": 0, "errors": 1, "main_execution_id": "root",
                        "prompt_tokens": 10, "completion_tokens": 7},
    "after_operational": [None],
    "__raw_list": [1, [2]],
    "": ["empty key"],
}


def test_context_round_trips_exactly_including_key_order(sb):
    sb.context.save_context("e", ODD_CONTEXT)
    got = sb.context.get_context("e")
    assert got == ODD_CONTEXT
    assert list(got) == list(ODD_CONTEXT)
    assert list(got["__operational__"]) == list(ODD_CONTEXT["__operational__"])
    assert list(got["__operational__"]["nodes"]) == ["B", "A"]
    assert type(got["numbers"][4]) is float and type(got["numbers"][2]) is int
    assert str(got["numbers"][5]) == "-0.0"


def test_long_histories_keep_their_order(sb):
    values = [{"i": i} if i % 3 else f"v{i}" for i in range(5000)]
    signals = [f"S{i}" for i in range(3000)]
    sb.context.save_context("e", {"b": values[:10], "a": [],
                                  "__operational__": {**new_operational("e"), "signals": signals}})
    for value in values[10:]:
        sb.context.append_to_field("e", "b", value)
    sb.context.update_operational("e", "signals_broadcast", {"signals": ["LAST"]})
    got = sb.context.get_context("e")
    assert got["b"] == values and got["a"] == []
    assert got["__operational__"]["signals"] == [*signals, "LAST"]


def test_save_context_replaces_everything(sb):
    sb.context.save_context("e", ODD_CONTEXT)
    sb.context.save_context("e", {"only": [1], "__operational__": 5})
    assert sb.context.get_context("e") == {"only": [1], "__operational__": 5}
    sb.context.save_context("e", {})
    assert sb.context.get_context("e") == {}


class _Shown:
    def __str__(self) -> str:
        return "shown"


def test_non_json_values_are_stored_as_strings(sb):
    when = datetime(2026, 1, 5, 10, 0)
    sb.context.save_context("e", {"when": [when], "__t": (1, 2)})
    sb.context.append_to_field("e", "obj", _Shown())
    assert sb.context.get_context("e") == {"when": [str(when)], "__t": [1, 2], "obj": ["shown"]}


def test_get_context_copies_and_unknown_is_not_stored(sb):
    assert sb.context.get_context("nope") == {}
    sb.context.save_context("e", {"x": [{"a": [1]}], "__operational__": new_operational("e")})
    first = sb.context.get_context("e")
    first["x"][0]["a"].append(2)
    first["__operational__"]["signals"].append("LEAK")
    assert sb.context.get_context("e") == {"x": [{"a": [1]}],
                                          "__operational__": new_operational("e")}


def test_key_order_is_first_write_order(sb):
    sb.context.append_to_field("e", "b", 1)
    sb.context.append_to_field("e", "__operational__", new_operational("e"))
    sb.context.append_to_field("e", "a", 2)
    sb.context.append_to_field("e", "b", 3)
    sb.context.update_operational("e", "llm_usage", {"prompt_tokens": 1, "completion_tokens": 2})
    sb.context.append_to_field("e", "__operational__", {"replaced": True})  # keeps its place
    got = sb.context.get_context("e")
    assert list(got) == ["b", "__operational__", "a"]
    assert got == {"b": [1, 3], "__operational__": {"replaced": True}, "a": [2]}


# --- context: optional methods equal the read-modify-write --------------------------------------

def _rmw_append(backend, execution_id, field, value):
    ctx = backend.get_context(execution_id)
    set_field(ctx, field, value)
    backend.save_context(execution_id, ctx)


def _apply_both(memory, sqlite, op, *args):
    """Run one operation on both backends; they must raise alike and end alike."""
    outcomes = []
    for backend in (memory, sqlite):
        try:
            getattr(backend, op)("e", *args)
            outcomes.append(None)
        except Exception as exc:  # noqa: BLE001 - comparing failure modes
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1], (op, args)
    assert sqlite.get_context("e") == memory.get_context("e")
    assert list(sqlite.get_context("e")) == list(memory.get_context("e"))


UNUSUAL_OPERATIONALS = [
    new_operational("m"),
    {"signals": "not-a-list", "nodes": {"A": 1}, "llm_calls": 0, "tool_calls": 0, "errors": 0},
    {"signals": [], "nodes": {"A": "x"}, "llm_calls": 1.5, "tool_calls": 0, "errors": 0},
    {"signals": [], "nodes": [], "llm_calls": 0},
    {"completion_tokens": 4, "signals": []},
    {},
]


@pytest.mark.parametrize("operational", UNUSUAL_OPERATIONALS)
def test_update_operational_matches_memory_for_any_shape(sb, operational):
    memory = InMemoryContextBackend()
    for backend in (memory, sb.context):
        backend.save_context("e", {"x": [1], "__operational__": operational, "y": [2]})
    events = [
        ("signals_broadcast", {"signals": ["A", {"odd": 1}]}),
        ("node_execution", {"node_name": "N", "node_type": "llm"}),
        ("node_execution", {"node_name": "A"}),
        ("node_execution", {"node_name": ""}),
        ("llm_call", {}), ("tool_call", {}), ("agent_tool_call", {}), ("node_error", {}),
        ("llm_usage", {"prompt_tokens": 3, "completion_tokens": 4}),
        ("context_warning", {"warnings": ["w"]}),
        ("signals_broadcast", {"signals": ["B"]}),
    ]
    for event_type, data in events:
        _apply_both(memory, sb.context, "update_operational", event_type, data)


def test_append_to_field_matches_memory_for_any_field(sb):
    memory = InMemoryContextBackend()
    for backend in (memory, sb.context):
        backend.save_context("e", {"s": "scalar", "h": [1], "__r": {"k": 1},
                                   "__operational__": new_operational("e")})
    writes = [("h", 2), ("h", [3]), ("s", "now a list"), ("__r", [1]), ("new", None),
              ("__operational__", [1]), ("__operational__", {"signals": []}), ("h", {"d": 1})]
    for field, value in writes:
        _apply_both(memory, sb.context, "append_to_field", field, value)


def test_update_operational_counts_exactly(sb):
    sb.context.save_context("e", {"__operational__": new_operational("root")})
    for _ in range(3):
        sb.context.update_operational("e", "node_execution", {"node_name": "N"})
    sb.context.update_operational("e", "node_execution", {"node_name": "M"})
    sb.context.update_operational("e", "signals_broadcast", {"signals": ["S1", "S2"]})
    sb.context.update_operational("e", "llm_usage", {"prompt_tokens": 2, "completion_tokens": 5})
    sb.context.update_operational("e", "llm_usage", {"prompt_tokens": 1, "completion_tokens": 1})
    assert sb.context.get_context("e")["__operational__"] == {
        "signals": ["S1", "S2"], "nodes": {"N": 3, "M": 1}, "llm_calls": 0, "tool_calls": 0,
        "errors": 0, "main_execution_id": "root", "prompt_tokens": 3, "completion_tokens": 6}


def test_update_operational_without_block_is_a_no_op(sb):
    sb.context.update_operational("unknown", "llm_call", {})
    sb.context.save_context("raw", {"__operational__": "text"})
    sb.context.update_operational("raw", "llm_call", {})
    assert sb.context.get_context("unknown") == {}
    assert sb.context.get_context("raw") == {"__operational__": "text"}


def test_append_and_counter_update_touch_only_their_rows(sb):
    sb.context.save_context("e", {"h": list(range(1000)), "__operational__": new_operational("e")})
    conn = sb._db.connection()
    before = conn.total_changes
    sb.context.append_to_field("e", "h", 1000)
    assert conn.total_changes - before == 1
    before = conn.total_changes
    sb.context.update_operational("e", "llm_call", {})
    sb.context.update_operational("e", "node_execution", {"node_name": "N"})
    sb.context.update_operational("e", "node_execution", {"node_name": "N"})
    sb.context.update_operational("e", "signals_broadcast", {"signals": ["A"]})
    assert conn.total_changes - before == 4
    assert sb.context.get_context("e")["h"] == list(range(1001))


# --- workflow ------------------------------------------------------------------------------------

REGISTRY = {"main": {"Start": {"node_type": "router", "event_triggers": ["START"]}}}


def test_registry_is_the_same_snapshot_until_saved(sb, db_path):
    workflow = sb.workflow
    assert workflow.get_workflows_registry_snapshot("e") is None
    workflow.save_workflows_registry("e", REGISTRY)
    first = workflow.get_workflows_registry_snapshot("e")
    assert first == REGISTRY and workflow.get_workflows_registry_snapshot("e") is first
    with pytest.raises(TypeError):
        first["main"]["Start"]["event_triggers"].append("X")

    other = create_sqlite_backends(db_path)  # another process would see the same
    try:
        other.workflow.save_workflows_registry("e", {"changed": {}})
        changed = workflow.get_workflows_registry_snapshot("e")
        assert changed == {"changed": {}} and changed is not first
        assert workflow.get_workflows_registry_snapshot("e") is changed
    finally:
        other.close()


def test_registry_readers_get_a_copy_they_may_change(sb):
    sb.workflow.save_workflows_registry("e", REGISTRY)
    registry = sb.workflow.get_workflows_registry("e")
    registry["main"]["Start"]["event_triggers"].append("X")
    assert sb.workflow.get_workflows_registry("e") == REGISTRY


def test_rolled_back_registry_save_is_never_served(sb):
    sb.workflow.save_workflows_registry("e", REGISTRY)
    with pytest.raises(RuntimeError), sb.runtime.transaction():
        sb.workflow.save_workflows_registry("e", {"uncommitted": {}})
        assert sb.workflow.get_workflows_registry("e") == {"uncommitted": {}}
        raise RuntimeError
    assert sb.workflow.get_workflows_registry("e") == REGISTRY


def test_current_name_and_revisions(sb):
    assert sb.workflow.get_current_workflow_name("e") == ""
    sb.workflow.save_current_workflow_name("e", "main")
    sb.workflow.save_current_workflow_name("e", "other")
    assert sb.workflow.get_current_workflow_name("e") == "other"
    assert sb.workflow.get_registry_revisions("e") == []
    sb.workflow.save_workflows_registry("e", REGISTRY)
    snapshot = sb.workflow.get_workflows_registry("e")
    sb.workflow.save_registry_revision("e", {"revision": 0, "diff": [{"value": snapshot}]})
    sb.workflow.save_registry_revision("e", {"revision": 1, "diff": []})
    revisions = sb.workflow.get_registry_revisions("e")
    assert revisions == [{"revision": 0, "diff": [{"value": REGISTRY}]},
                         {"revision": 1, "diff": []}]
    revisions[0]["diff"].clear()
    assert sb.workflow.get_registry_revisions("e")[0]["diff"] == [{"value": REGISTRY}]


# --- telemetry, history, schema, identity ----------------------------------------------------

def test_telemetry_in_order_with_copies(sb):
    assert sb.telemetry.get_events("e") == []
    sb.telemetry.log_event("e", "node_execution", timestamp="T1",
                           context={"node_name": "N", "node_type": "router"})
    sb.telemetry.log_event("e", "signals_broadcast", timestamp="T2", context={"signals": ["A"]})
    events = sb.telemetry.get_events("e")
    assert events == [
        {"event_type": "node_execution", "timestamp": "T1",
         "context": {"node_name": "N", "node_type": "router"}},
        {"event_type": "signals_broadcast", "timestamp": "T2", "context": {"signals": ["A"]}}]
    events[1]["context"]["signals"].append("LEAK")
    assert sb.telemetry.get_events("e")[1]["context"]["signals"] == ["A"]


def test_telemetry_events_since_a_position(sb):
    for index in range(4):
        sb.telemetry.log_event("e", "signals_broadcast", timestamp=f"T{index}", context={"signals": [index]})
    sb.telemetry.log_event("other", "signals_broadcast", timestamp="T", context={"signals": []})
    assert [e["timestamp"] for e in sb.telemetry.get_events_since("e", 2)] == ["T2", "T3"]
    assert sb.telemetry.get_events_since("e", 4) == []
    assert sb.telemetry.get_events_since("e", 0) == sb.telemetry.get_events("e")


def test_conversation_history(sb):
    history = sb.conversation_history
    assert history.get_conversation_history("k") == []
    history.append_to_conversation_history("k", {"role": "system", "content": "S"})
    history.append_to_conversation_history("k", {"role": "user", "content": "ü"})
    got = history.get_conversation_history("k")
    got.append("LEAK")
    assert history.get_conversation_history("k") == [{"role": "system", "content": "S"},
                                                      {"role": "user", "content": "ü"}]
    history.save_conversation_history("k", [{"role": "assistant", "content": "A"}])
    history.append_to_conversation_history("k", {"role": "user", "content": "B"})
    assert [e["content"] for e in history.get_conversation_history("k")] == ["A", "B"]
    history.save_conversation_history("k", [])
    assert history.get_conversation_history("k") == []
    history.append_to_conversation_history("k", {"role": "user", "content": "C"})
    history.delete_conversation_history("k")
    history.delete_conversation_history("never")
    assert history.get_conversation_history("k") == []


def test_schema_and_identity(sb):
    schemas, identity = sb.context_schema, sb.identity
    assert schemas.get_context_schema("e") is None and schemas.get_field_schema("e", "a") is None
    assert schemas.delete_context_schema("e") is False
    schemas.save_context_schema("e", {"a": {"type": "string"}})
    got = schemas.get_context_schema("e")
    got["a"]["type"] = "LEAK"
    assert schemas.get_field_schema("e", "a") == {"type": "string"}
    assert schemas.get_field_schema("e", "b") is None
    assert schemas.delete_context_schema("e") is True
    assert schemas.get_context_schema("e") is None

    assert identity.get_identities("e") is None and identity.get_identity("e", "x") is None
    identity.save_identities("e", {"helper": "Be kind."})
    assert identity.get_identities("e") == {"helper": "Be kind."}
    assert identity.get_identity("e", "helper") == "Be kind."
    assert identity.get_identity("e", "other") is None
    assert identity.delete_identities("e") is True
    assert identity.delete_identities("e") is False


# --- ids -----------------------------------------------------------------------------------------

ID_CALLS = [
    ("context", "save_context", ({},)), ("context", "get_context", ()),
    ("context", "append_to_field", ("f", 1)), ("context", "update_operational", ("llm_call", {})),
    ("workflow", "save_workflows_registry", ({},)), ("workflow", "get_workflows_registry", ()),
    ("workflow", "save_current_workflow_name", ("m",)),
    ("workflow", "get_current_workflow_name", ()),
    ("workflow", "save_registry_revision", ({},)), ("workflow", "get_registry_revisions", ()),
    ("telemetry", "log_event", ("llm_call",)), ("telemetry", "get_events", ()),
    ("conversation_history", "get_conversation_history", ()),
    ("conversation_history", "append_to_conversation_history", ({},)),
    ("conversation_history", "save_conversation_history", ([],)),
    ("conversation_history", "delete_conversation_history", ()),
    ("context_schema", "save_context_schema", ({},)),
    ("context_schema", "get_context_schema", ()),
    ("context_schema", "get_field_schema", ("f",)),
    ("context_schema", "delete_context_schema", ()),
    ("identity", "save_identities", ({},)), ("identity", "get_identities", ()),
    ("identity", "get_identity", ("n",)), ("identity", "delete_identities", ()),
    ("runtime", "set_status", ("main", "running")), ("runtime", "get_status", ()),
    ("runtime", "save_tree", ({},)), ("runtime", "load_tree", ()),
    ("runtime", "acquire_lease", ("owner", 1.0)), ("runtime", "release_lease", ("owner",)),
    ("runtime", "lease_is_fresh", ()), ("runtime", "lease_owner", ()),
]


@pytest.mark.parametrize(("backend", "method", "args"), ID_CALLS,
                         ids=[f"{b}.{m}" for b, m, _ in ID_CALLS])
def test_unsafe_ids_are_refused(sb, backend, method, args):
    with pytest.raises(ValueError, match=BAD_ID_MESSAGE):
        getattr(getattr(sb, backend), method)(BAD_ID, *args)


def test_unsafe_main_id_is_refused(sb):
    with pytest.raises(ValueError, match=BAD_ID_MESSAGE):
        sb.runtime.set_status("ok", BAD_ID, "running")
    assert sb.runtime.get_status("ok") is None


# --- transactions ----------------------------------------------------------------------------

def _write_everything(sb, execution_id):
    sb.context.save_context(execution_id, {"x": [1], "__operational__": new_operational("e")})
    sb.context.append_to_field(execution_id, "x", 2)
    sb.context.update_operational(execution_id, "llm_call", {})
    sb.workflow.save_workflows_registry(execution_id, REGISTRY)
    sb.workflow.save_current_workflow_name(execution_id, "main")
    sb.workflow.save_registry_revision(execution_id, {"revision": 0})
    sb.telemetry.log_event(execution_id, "llm_call", timestamp="T", context={})
    sb.conversation_history.append_to_conversation_history(execution_id, {"role": "user"})
    sb.context_schema.save_context_schema(execution_id, {"a": "str"})
    sb.identity.save_identities(execution_id, {"a": "b"})
    sb.runtime.set_status(execution_id, execution_id, "running")
    sb.runtime.save_tree(execution_id, {"queue": [1]})


def _nothing_of(sb, execution_id):
    return (sb.context.get_context(execution_id) == {}
            and sb.workflow.get_workflows_registry(execution_id) is None
            and sb.workflow.get_current_workflow_name(execution_id) == ""
            and sb.workflow.get_registry_revisions(execution_id) == []
            and sb.telemetry.get_events(execution_id) == []
            and sb.conversation_history.get_conversation_history(execution_id) == []
            and sb.context_schema.get_context_schema(execution_id) is None
            and sb.identity.get_identities(execution_id) is None
            and sb.runtime.get_status(execution_id) is None
            and sb.runtime.load_tree(execution_id) is None)


def test_rollback_leaves_nothing_written(sb, db_path):
    with pytest.raises(KeyError), sb.runtime.transaction():
        _write_everything(sb, "e")
        with sb.runtime.transaction():  # nested: joins
            sb.context.append_to_field("e", "x", 3)
        assert sb.context.get_context("e")["x"] == [1, 2, 3]  # this thread reads its writes
        raise KeyError("boom")
    assert _nothing_of(sb, "e")
    assert _rows(db_path, "SELECT COUNT(*) FROM context_keys") == [(0,)]


def test_commit_is_visible_to_others_only_at_the_end(sb, db_path):
    other = create_sqlite_backends(db_path)
    try:
        with sb.runtime.transaction():
            _write_everything(sb, "e")
            assert other.context.get_context("e") == {}
            assert other.runtime.get_status("e") is None
        assert other.context.get_context("e") == {"x": [1, 2], "__operational__": {
            **new_operational("e"), "llm_calls": 1}}
        assert other.runtime.get_status("e")["status"] == "running"
        assert not _nothing_of(other, "e")
    finally:
        other.close()


def test_other_threads_wait_for_the_transaction_then_write(sb):
    sb.context.save_context("e", {"x": []})
    entered, done = threading.Event(), []

    def writer():
        entered.set()
        sb.context.append_to_field("e", "x", "thread")
        done.append(True)

    with sb.runtime.transaction():
        sb.context.append_to_field("e", "x", "tx")
        thread = threading.Thread(target=writer)
        thread.start()
        entered.wait()
        time.sleep(0.05)
        assert not done  # queued behind the open transaction, not failed
        assert sb.context.get_context("e") == {"x": ["tx"]}
    thread.join()
    assert sb.context.get_context("e") == {"x": ["tx", "thread"]}


# --- journal ---------------------------------------------------------------------------------------

def test_journal_entry_is_committed_at_once(sb, db_path):
    """The runner journals outside every transaction: the entry is durable before anything uses it."""
    assert sb.runtime.journal_get("e/n/1/llm/0") is MISSING
    sb.runtime.journal_put("e/n/1/llm/0", {"answer": [1, "ü"]})
    sb.runtime.journal_put("e/n/1/llm/1", None)
    other = create_sqlite_backends(db_path)
    try:
        assert other.runtime.journal_get("e/n/1/llm/0") == {"answer": [1, "ü"]}
        assert other.runtime.journal_get("e/n/1/llm/1") is None
        sb.runtime.journal_put("e/n/1/llm/0", "replaced")
        assert other.runtime.journal_get("e/n/1/llm/0") == "replaced"
    finally:
        other.close()


# --- lease -----------------------------------------------------------------------------------------

def test_lease_fresh_renewed_expired_released(sb):
    runtime = sb.runtime
    assert runtime.lease_is_fresh("m") is False and runtime.get_lease("m") is None
    assert runtime.lease_owner("m") is None
    assert runtime.acquire_lease("m", "A", 60) is True
    assert runtime.lease_is_fresh("m") is True and runtime.lease_owner("m") == "A"
    assert runtime.acquire_lease("m", "B", 60) is False
    acquired = runtime.get_lease("m")["acquired_at"]
    assert runtime.acquire_lease("m", "A", 60) is True  # renewal keeps acquired_at
    assert runtime.get_lease("m")["acquired_at"] == acquired
    assert runtime.get_lease("m")["owner"] == "A"
    runtime.release_lease("m", "B")  # not the owner: no effect
    assert runtime.lease_is_fresh("m") is True
    runtime.release_lease("m", "A")
    assert runtime.lease_is_fresh("m") is False

    assert runtime.acquire_lease("m", "A", 0.01) is True
    time.sleep(0.03)
    assert runtime.lease_is_fresh("m") is False and runtime.lease_owner("m") is None
    assert runtime.acquire_lease("m", "B", 60) is True
    assert runtime.get_lease("m")["owner"] == "B"


def test_lease_heartbeat_waits_only_for_the_open_transaction(sb):
    """One file, one writer: a heartbeat commits as soon as the (short) transition commits."""
    results = []
    with sb.runtime.transaction():
        sb.context.append_to_field("e", "x", 1)
        thread = threading.Thread(target=lambda: results.append(
            sb.runtime.acquire_lease("m", "A", 60)))
        thread.start()
        thread.join(timeout=0.2)
        assert results == []
    thread.join(timeout=5)
    assert results == [True]


# --- status and tree ----------------------------------------------------------------------------

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_status_records_and_listing(sb):
    runtime = sb.runtime
    assert runtime.get_status("a") is None and runtime.list_executions() == []
    runtime.set_status("a", "a", "running")
    runtime.set_status("b", "a", "running")
    runtime.set_status("c", "c", "failed", "boom")
    runtime.set_status("a", "a", "completed")
    record = runtime.get_status("a")
    assert {k: v for k, v in record.items() if k != "updated_at"} == {
        "execution_id": "a", "main_execution_id": "a", "status": "completed", "error": None}
    assert TIMESTAMP.match(record["updated_at"])
    assert [r["execution_id"] for r in runtime.list_executions()] == ["a", "b", "c"]
    assert [r["execution_id"] for r in runtime.list_executions("running")] == ["b"]
    assert runtime.list_executions("failed")[0]["error"] == "boom"
    assert runtime.list_executions("completed")[0]["execution_id"] == "a"
    runtime.set_status("c", "c", "running")
    assert runtime.get_status("c")["error"] is None
    with pytest.raises(ValueError, match="Unknown status 'done'"):
        runtime.set_status("a", "a", "done")


def test_tree_state(sb):
    assert sb.runtime.load_tree("m") is None
    state = {"steps": 3, "queue": [{"kind": "activation", "node": "N", "signals": ["A"]}]}
    sb.runtime.save_tree("m", state)
    loaded = sb.runtime.load_tree("m")
    assert loaded == state
    loaded["queue"].clear()
    sb.runtime.save_tree("m", {"steps": 4, "queue": []})
    assert sb.runtime.load_tree("m") == {"steps": 4, "queue": []}


# --- prune -----------------------------------------------------------------------------------------

def _execution(sb, execution_id, main_id, status):
    _write_everything(sb, execution_id)
    sb.runtime.set_status(execution_id, main_id, status, "err" if status == "failed" else None)
    sb.runtime.journal_put(f"{execution_id}:call", 1)
    sb.runtime.journal_put(f"{execution_id}/Node/1/llm/0", {"value": "x"})
    sb.runtime.journal_put(f"other-{execution_id}", 2, execution_id=execution_id)
    sb.runtime.acquire_lease(main_id, "owner", 60)


def test_prune_deletes_finished_trees(sb, db_path):
    _execution(sb, "done", "done", "completed")
    _execution(sb, "done-child", "done", "completed")
    _execution(sb, "bad", "bad", "failed")
    _execution(sb, "live", "live", "running")
    _execution(sb, "mixed", "mixed", "completed")
    _execution(sb, "mixed-child", "mixed", "running")
    sb.runtime.journal_put("unrelated-to-done", 3)

    assert sb.runtime.prune(datetime.now(timezone.utc) - timedelta(hours=1)) == 0  # too recent
    assert sb.runtime.prune(timedelta(seconds=-1)) == 2
    for gone in ("done", "done-child"):
        assert _nothing_of(sb, gone)
        assert sb.runtime.journal_get(f"{gone}:call") is MISSING
        assert sb.runtime.journal_get(f"{gone}/Node/1/llm/0") is MISSING
        assert sb.runtime.journal_get(f"other-{gone}") is MISSING
    assert sb.runtime.lease_is_fresh("done") is False
    assert sb.runtime.journal_get("unrelated-to-done") == 3
    for kept in ("bad", "live", "mixed", "mixed-child"):
        assert sb.runtime.get_status(kept) is not None
        assert sb.context.get_context(kept) != {}
    assert sb.runtime.journal_get("bad:call") == 1
    assert sb.runtime.journal_get("bad/Node/1/llm/0") == {"value": "x"}

    naive_future = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=1)
    assert sb.runtime.prune(naive_future, keep_failed=False) == 1
    assert _nothing_of(sb, "bad")
    assert sorted(r["execution_id"] for r in sb.runtime.list_executions()) == [
        "live", "mixed", "mixed-child"]
    tables = [name for (name,) in _rows(db_path, "SELECT name FROM sqlite_master "
                                                 "WHERE type = 'table'")]
    for table in tables:
        if table != "schema_version":
            dump = repr(_rows(db_path, f"SELECT * FROM {table}"))
            assert "'done" not in dump and "'bad" not in dump, table


# --- migrations --------------------------------------------------------------------------------

def test_migrations_are_recorded_once_and_idempotent(db_path):
    for _ in range(3):
        backends = create_sqlite_backends(db_path)
        backends.context.append_to_field("e", "x", 1)
        backends.runtime.journal_put("k", 1)
        backends.close()
    assert [v for (v,) in _rows(db_path, "SELECT version FROM schema_version")] == [1, 2, 3]
    assert [key for (key,) in _rows(db_path, "SELECT key FROM journal")] == ["k"]
    with create_sqlite_backends(db_path) as backends:
        assert backends.context.get_context("e") == {"x": [1, 1, 1]}


def test_the_store_is_one_file(db_path):
    """Journal and leases live in the database itself: copying soe.db copies everything."""
    with create_sqlite_backends(db_path) as backends:
        backends.runtime.journal_put("k", {"value": 1})
        assert backends.runtime.acquire_lease("tree", "me", 30)
    assert sorted(p.name for p in db_path.parent.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [db_path.name]
    assert _rows(db_path, "SELECT owner FROM leases") == [("me",)]


def test_a_newer_schema_is_refused(db_path):
    create_sqlite_backends(db_path).context.get_context("e")
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'future')")
    database = SqliteDatabase(db_path, MAIN_MIGRATIONS)
    with pytest.raises(RuntimeError, match="schema version 99 is newer"):
        database.connection()


# --- concurrency -------------------------------------------------------------------------------

def test_two_threads_appending_lose_nothing(sb):
    sb.context.save_context("e", {"__operational__": new_operational("e")})

    def work(name):
        for index in range(200):
            sb.context.append_to_field("e", "shared", f"{name}{index}")
            sb.context.update_operational("e", "node_execution", {"node_name": name})
            sb.context.update_operational("e", "llm_call", {})

    threads = [threading.Thread(target=work, args=(name,)) for name in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ctx = sb.context.get_context("e")
    assert sorted(ctx["shared"]) == sorted([f"A{i}" for i in range(200)] +
                                           [f"B{i}" for i in range(200)])
    assert [v for v in ctx["shared"] if v.startswith("A")] == [f"A{i}" for i in range(200)]
    assert ctx["__operational__"]["nodes"] == {"A": 200, "B": 200} or \
        ctx["__operational__"]["nodes"] == {"B": 200, "A": 200}
    assert ctx["__operational__"]["llm_calls"] == 400


CHILD = """
import sys
import time
from soe.backends.sqlite import create_sqlite_backends
backends = create_sqlite_backends(sys.argv[1])
print("ready", flush=True)
for index in range(300):
    backends.context.append_to_field("shared", "values", index)
    backends.telemetry.log_event("shared", "tick", n=index)
    time.sleep(0.0005)
backends.runtime.journal_put("child-done", True)
backends.close()
"""


@pytest.mark.slow
def test_a_second_process_writes_while_this_one_reads(sb, db_path):
    sb.context.save_context("shared", {"values": []})
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db_path)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        seen = []
        while child.poll() is None:
            values = sb.context.get_context("shared")["values"]
            assert values == list(range(len(values)))  # always a committed prefix
            sb.context.append_to_field("parent", "reads", len(values))  # and we write too
            seen.append(len(values))
        assert child.wait(timeout=60) == 0, child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
        child.stderr.close()
    assert sb.context.get_context("shared")["values"] == list(range(300))
    assert len(sb.telemetry.get_events("shared")) == 300
    assert sb.runtime.journal_get("child-done") is True
    assert seen and len(sb.context.get_context("parent")["reads"]) == len(seen)


# --- cleanup -----------------------------------------------------------------------------------

def test_cleanup_all_empties_every_table(sb, db_path):
    _execution(sb, "e", "e", "completed")
    sb.cleanup_all()
    assert _nothing_of(sb, "e")
    assert sb.runtime.journal_get("e:call") is MISSING
    assert sb.runtime.lease_is_fresh("e") is False
    assert sb.runtime.list_executions() == []
    assert [v for (v,) in _rows(db_path, "SELECT version FROM schema_version")] == [1, 2, 3]

