"""Behaviour specific to the local-file backends (SPEC §11.4)."""

from __future__ import annotations

import datetime
import inspect
import json
import os
import re
import threading

import pytest
import yaml

from soe.backends.files import (
    LocalContextBackend,
    LocalContextSchemaBackend,
    LocalConversationHistoryBackend,
    LocalIdentityBackend,
    LocalTelemetryBackend,
    LocalWorkflowBackend,
)
from soe.lib.ids import check_id
from soe.lib.operational import new_operational
from soe.types import StoreError

ALL_CLASSES = [LocalContextBackend, LocalWorkflowBackend, LocalTelemetryBackend,
               LocalConversationHistoryBackend, LocalContextSchemaBackend, LocalIdentityBackend]


def _names(directory) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# --- construction and layout -----------------------------------------------------------------

@pytest.mark.parametrize("cls, sub", list(zip(ALL_CLASSES, ["contexts", "workflows", "telemetry",
                                                       "conversations", "schemas", "identities"], strict=False)))
def test_default_directory_and_created_storage_dir(cls, sub, tmp_path):
    default = inspect.signature(cls).parameters["storage_dir"].default
    assert default == f"./orchestration_data/{sub}"
    backend = cls(tmp_path / "a" / "b")
    assert backend.storage_dir == tmp_path / "a" / "b"
    assert backend.storage_dir.is_dir()


def test_context_file_layout(tmp_path):
    backend = LocalContextBackend(tmp_path)
    context = {"user": ["alice"], "when": [datetime.date(2024, 1, 2)]}
    backend.save_context("e1", context)
    assert _names(tmp_path) == ["e1.json"]
    assert (tmp_path / "e1.json").read_text() == json.dumps(
        {"user": ["alice"], "when": ["2024-01-02"]}, indent=2)
    assert backend.get_context("e1") == {"user": ["alice"], "when": ["2024-01-02"]}


def test_workflow_file_layout(tmp_path):
    backend = LocalWorkflowBackend(tmp_path)
    assert backend.get_workflows_registry("e") == {}
    backend.save_workflows_registry("e", {"main": {"A": {}}})
    backend.save_current_workflow_name("e", "  main\n")
    backend.save_registry_revision("e", {"revision": 0})
    assert _names(tmp_path) == ["e_current.txt", "e_revisions.json", "e_workflows.json"]
    assert (tmp_path / "e_workflows.json").read_text() == json.dumps({"main": {"A": {}}}, indent=2)
    assert backend.get_current_workflow_name("e") == "main"
    first, second = backend.get_workflows_registry("e"), backend.get_workflows_registry("e")
    assert first == second == {"main": {"A": {}}} and first is not second


def test_telemetry_lines_and_malformed_lines(tmp_path):
    backend = LocalTelemetryBackend(tmp_path)
    backend.log_event("e", "llm_call", timestamp="T", context={"when": datetime.date(2024, 1, 2)})
    path = tmp_path / "e.jsonl"
    with open(path, "a") as handle:
        handle.write("\n   \n{not json\n[1, 2]\n")
    backend.log_event("e", "node_error", timestamp="T2", context={"error": "x"})
    lines = path.read_text().splitlines()
    assert lines[0] == '{"event_type": "llm_call", "timestamp": "T", "context": {"when": "2024-01-02"}}'
    assert backend.get_events("e") == [
        {"event_type": "llm_call", "timestamp": "T", "context": {"when": "2024-01-02"}},
        {"event_type": "node_error", "timestamp": "T2", "context": {"error": "x"}},
    ]


def test_conversation_file_layout(tmp_path):
    backend = LocalConversationHistoryBackend(tmp_path)
    backend.append_to_conversation_history("k", {"role": "user", "content": "hi"})
    assert _names(tmp_path) == ["k.json"]
    assert json.loads((tmp_path / "k.json").read_text()) == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("cls, save", [(LocalContextSchemaBackend, "save_context_schema"),
                                       (LocalIdentityBackend, "save_identities")])
def test_yaml_layout_and_cache(cls, save, tmp_path):
    backend = cls(tmp_path)
    value = {"b": "string", "a": {"type": "list", "items": "int"}}
    getattr(backend, save)("e", value)
    assert _names(tmp_path) == ["e.yaml"]
    assert (tmp_path / "e.yaml").read_text() == yaml.dump(value, default_flow_style=False)
    getter = "get_context_schema" if cls is LocalContextSchemaBackend else "get_identities"
    assert getattr(backend, getter)("e") is value
    fresh = cls(tmp_path)
    assert getattr(fresh, getter)("e") == value
    assert getattr(fresh, getter)("missing") is None


def test_schema_delete_counts_only_the_file(tmp_path):
    backend = LocalContextSchemaBackend(tmp_path)
    backend.save_context_schema("e", {"a": "str"})
    (tmp_path / "e.yaml").unlink()
    assert backend.delete_context_schema("e") is False
    assert backend.get_context_schema("e") is None


def test_identity_delete_counts_cache_or_file(tmp_path):
    backend = LocalIdentityBackend(tmp_path)
    backend.save_identities("e", {"a": "b"})
    (tmp_path / "e.yaml").unlink()
    assert backend.delete_identities("e") is True
    assert backend.delete_identities("e") is False
    LocalIdentityBackend(tmp_path).save_identities("f", {"a": "b"})
    assert backend.delete_identities("f") is True


def test_schema_cleanup_recreates_the_directory(tmp_path):
    backend = LocalContextSchemaBackend(tmp_path / "s")
    backend.save_context_schema("e", {"a": "str"})
    (tmp_path / "s" / "stray.txt").write_text("x")
    backend.cleanup_all()
    assert backend.storage_dir.is_dir() and _names(backend.storage_dir) == []
    assert backend.get_context_schema("e") is None


def test_identity_cleanup_deletes_only_yaml(tmp_path):
    backend = LocalIdentityBackend(tmp_path)
    backend.save_identities("e", {"a": "b"})
    (tmp_path / "stray.txt").write_text("x")
    backend.cleanup_all()
    assert _names(tmp_path) == ["stray.txt"]
    assert backend.get_identities("e") is None


@pytest.mark.parametrize("cls, write, kept", [
    (LocalContextBackend, lambda b: b.save_context("e", {}), "e.json"),
    (LocalTelemetryBackend, lambda b: b.log_event("e", "x"), "e.jsonl"),
    (LocalConversationHistoryBackend, lambda b: b.save_conversation_history("e", []), "e.json"),
])
def test_cleanup_deletes_only_its_pattern(cls, write, kept, tmp_path):
    backend = cls(tmp_path)
    write(backend)
    (tmp_path / "notes.txt").write_text("x")
    assert _names(tmp_path) == sorted([kept, "notes.txt"])
    backend.cleanup_all()
    assert _names(tmp_path) == ["notes.txt"]


@pytest.mark.parametrize("cls", [LocalContextBackend, LocalWorkflowBackend,
                                 LocalConversationHistoryBackend, LocalIdentityBackend])
def test_cleanup_removes_temporary_files_of_dead_writers(cls, tmp_path):
    backend = cls(tmp_path)
    (tmp_path / ".e.json.0123abcd.tmp").write_text("{")
    backend.cleanup_all()
    assert _names(tmp_path) == []


def test_workflow_cleanup_deletes_all_its_files(tmp_path):
    backend = LocalWorkflowBackend(tmp_path)
    backend.save_workflows_registry("e", {})
    backend.save_current_workflow_name("e", "main")
    backend.save_registry_revision("e", {"revision": 0})
    (tmp_path / "notes.txt").write_text("x")
    backend.cleanup_all()
    assert _names(tmp_path) == ["notes.txt"]


# --- id checks ---------------------------------------------------------------------------------

BAD_IDS = ["../x", "/abs", "a/b", "a\\b", "nul\0byte", ".."]
CALLS = [
    (LocalContextBackend, lambda b, i: b.save_context(i, {})),
    (LocalContextBackend, lambda b, i: b.get_context(i)),
    (LocalContextBackend, lambda b, i: b.append_to_field(i, "f", 1)),
    (LocalContextBackend, lambda b, i: b.update_operational(i, "llm_call", {})),
    (LocalWorkflowBackend, lambda b, i: b.save_workflows_registry(i, {})),
    (LocalWorkflowBackend, lambda b, i: b.get_workflows_registry(i)),
    (LocalWorkflowBackend, lambda b, i: b.save_current_workflow_name(i, "w")),
    (LocalWorkflowBackend, lambda b, i: b.get_current_workflow_name(i)),
    (LocalWorkflowBackend, lambda b, i: b.save_registry_revision(i, {})),
    (LocalWorkflowBackend, lambda b, i: b.get_registry_revisions(i)),
    (LocalTelemetryBackend, lambda b, i: b.log_event(i, "x")),
    (LocalTelemetryBackend, lambda b, i: b.get_events(i)),
    (LocalConversationHistoryBackend, lambda b, i: b.get_conversation_history(i)),
    (LocalConversationHistoryBackend, lambda b, i: b.append_to_conversation_history(i, {})),
    (LocalConversationHistoryBackend, lambda b, i: b.save_conversation_history(i, [])),
    (LocalConversationHistoryBackend, lambda b, i: b.delete_conversation_history(i)),
    (LocalContextSchemaBackend, lambda b, i: b.save_context_schema(i, {})),
    (LocalContextSchemaBackend, lambda b, i: b.get_context_schema(i)),
    (LocalContextSchemaBackend, lambda b, i: b.get_field_schema(i, "f")),
    (LocalContextSchemaBackend, lambda b, i: b.delete_context_schema(i)),
    (LocalIdentityBackend, lambda b, i: b.save_identities(i, {})),
    (LocalIdentityBackend, lambda b, i: b.get_identities(i)),
    (LocalIdentityBackend, lambda b, i: b.get_identity(i, "n")),
    (LocalIdentityBackend, lambda b, i: b.delete_identities(i)),
]


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize("cls, call", CALLS)
def test_bad_ids_are_refused_before_any_file_is_touched(cls, call, bad_id, tmp_path):
    base = tmp_path / "base" / "inner"
    backend = cls(base)
    message = f"Invalid id '{bad_id}': must not contain path separators, '..', or NUL"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call(backend, bad_id)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("good_id", ["e1", "3f2c-uuid", "a.b", "name with spaces", "é"])
def test_ordinary_ids_pass(good_id):
    assert check_id(good_id) == good_id


# --- atomic writes -----------------------------------------------------------------------------

def _crash(*args, **kwargs):
    raise OSError("simulated crash")


@pytest.mark.parametrize("cls, first, second, read, name", [
    (LocalContextBackend, lambda b: b.save_context("e", {"v": [1]}),
     lambda b: b.save_context("e", {"v": [2]}), lambda b: b.get_context("e"), "e.json"),
    (LocalContextBackend, lambda b: b.save_context("e", {"v": [1]}),
     lambda b: b.append_to_field("e", "v", 2), lambda b: b.get_context("e"), "e.json"),
    (LocalWorkflowBackend, lambda b: b.save_workflows_registry("e", {"v": {}}),
     lambda b: b.save_workflows_registry("e", {"w": {}}), lambda b: b.get_workflows_registry("e"),
     "e_workflows.json"),
    (LocalWorkflowBackend, lambda b: b.save_current_workflow_name("e", "one"),
     lambda b: b.save_current_workflow_name("e", "two"), lambda b: b.get_current_workflow_name("e"),
     "e_current.txt"),
    (LocalConversationHistoryBackend, lambda b: b.append_to_conversation_history("e", {"n": 1}),
     lambda b: b.append_to_conversation_history("e", {"n": 2}),
     lambda b: b.get_conversation_history("e"), "e.json"),
    (LocalIdentityBackend, lambda b: b.save_identities("e", {"a": "1"}),
     lambda b: b.save_identities("e", {"a": "2"}), lambda b: LocalIdentityBackend(b.storage_dir)
     .get_identities("e"), "e.yaml"),
])
def test_crash_during_write_keeps_previous_file(cls, first, second, read, name, tmp_path,
                                                monkeypatch):
    backend = cls(tmp_path)
    first(backend)
    before_text, before_value = (tmp_path / name).read_text(), read(backend)
    monkeypatch.setattr(os, "replace", _crash)
    with pytest.raises(StoreError, match="simulated crash"):
        second(backend)
    monkeypatch.undo()
    assert _names(tmp_path) == [name]
    assert (tmp_path / name).read_text() == before_text
    assert read(backend) == before_value


def test_many_writes_leave_no_temporary_files(tmp_path):
    backend = LocalContextBackend(tmp_path)
    backend.save_context("e", {"__operational__": new_operational("e")})
    for step in range(20):
        backend.append_to_field("e", "out", step)
        backend.update_operational("e", "node_execution", {"node_name": "N"})
    assert _names(tmp_path) == ["e.json"]
    assert backend.get_context("e")["out"] == list(range(20))
    assert backend.get_context("e")["__operational__"]["nodes"] == {"N": 20}


def test_concurrent_appends_to_files_lose_nothing(tmp_path):
    backend = LocalContextBackend(tmp_path)
    backend.save_context("e", {"__operational__": new_operational("e")})

    def work(worker: int) -> None:
        for step in range(15):
            backend.append_to_field("e", "out", f"{worker}-{step}")
            backend.update_operational("e", "llm_call", {})

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ctx = backend.get_context("e")
    assert sorted(ctx["out"]) == sorted(f"{w}-{s}" for w in range(4) for s in range(15))
    assert ctx["__operational__"]["llm_calls"] == 60
    assert _names(tmp_path) == ["e.json"]


def test_registry_snapshot_is_shared_until_the_file_is_replaced(tmp_path):
    """The engine's view is parsed once per version of the file, whoever wrote it."""
    backend = LocalWorkflowBackend(tmp_path)
    assert backend.get_workflows_registry_snapshot("e1") is None
    backend.save_workflows_registry("e1", {"wf": {"A": {"node_type": "router"}}})
    first = backend.get_workflows_registry_snapshot("e1")
    assert first == {"wf": {"A": {"node_type": "router"}}}
    assert backend.get_workflows_registry_snapshot("e1") is first
    with pytest.raises(TypeError):
        first["wf"] = {}  # type: ignore[index]
    backend.get_workflows_registry("e1")["wf"] = {}  # a caller's plain copy never reaches the snapshot
    assert backend.get_workflows_registry_snapshot("e1") is first

    LocalWorkflowBackend(tmp_path).save_workflows_registry("e1", {"wf": {"B": {"node_type": "router"}}})
    second = backend.get_workflows_registry_snapshot("e1")
    assert second == {"wf": {"B": {"node_type": "router"}}}
    assert second is not first
