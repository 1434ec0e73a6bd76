"""The backends container and every call shape of ``create_local_backends`` (SPEC §11.2)."""

from __future__ import annotations

from pathlib import Path

import pytest

import soe.local_backends as local_backends
import soe.local_backends.factory as factory
from soe.backends.files import (
    LocalContextBackend,
    LocalContextSchemaBackend,
    LocalConversationHistoryBackend,
    LocalIdentityBackend,
    LocalTelemetryBackend,
    LocalWorkflowBackend,
)
from soe.backends.memory import (
    InMemoryContextBackend,
    InMemoryContextSchemaBackend,
    InMemoryConversationHistoryBackend,
    InMemoryIdentityBackend,
    InMemoryTelemetryBackend,
    InMemoryWorkflowBackend,
)
from soe.local_backends import create_in_memory_backends, create_local_backends
from soe.local_backends.factory import LocalBackends

ATTRIBUTES = ("context", "workflow", "telemetry", "conversation_history", "context_schema", "identity")
DEFAULTS = {
    "context": Path("orchestration_data/contexts"),
    "workflow": Path("orchestration_data/workflows"),
    "telemetry": None,
    "conversation_history": Path("orchestration_data/conversations"),
    "context_schema": Path("orchestration_data/schemas"),
    "identity": Path("orchestration_data/identities"),
}


def _dirs(backends: LocalBackends) -> dict:
    """Each attribute's storage directory, or None when the backend is disabled."""
    found = {}
    for name in ATTRIBUTES:
        backend = getattr(backends, name)
        found[name] = None if backend is None else backend.storage_dir
    return found


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_module_exports():
    assert local_backends.__all__ == [
        "create_in_memory_backends", "create_local_backends", "LocalContextBackend",
        "LocalWorkflowBackend", "LocalTelemetryBackend", "LocalConversationHistoryBackend"]
    assert sorted(factory.__all__) == ["LocalBackends", "create_in_memory_backends",
                                       "create_local_backends"]
    for name in ("LocalContextSchemaBackend", "LocalIdentityBackend", "LocalBackends",
                 "InMemoryContextBackend"):
        assert hasattr(local_backends, name)


def test_container_attributes_and_defaults():
    backends = LocalBackends("c", "w")
    assert (backends.context, backends.workflow) == ("c", "w")
    assert [getattr(backends, name) for name in ATTRIBUTES[2:]] == [None, None, None, None]
    full = LocalBackends("c", "w", "t", "h", "s", "i")
    assert [getattr(full, name) for name in ATTRIBUTES] == ["c", "w", "t", "h", "s", "i"]


class _Recorder:
    def __init__(self, name: str, calls: list) -> None:
        self.name, self.calls = name, calls

    def cleanup_all(self) -> None:
        self.calls.append(self.name)


def test_container_cleanup_all_skips_missing_backends():
    calls: list[str] = []
    backends = LocalBackends(_Recorder("c", calls), _Recorder("w", calls), None,
                             _Recorder("h", calls), None, _Recorder("i", calls))
    backends.cleanup_all()
    assert calls == ["c", "w", "h", "i"]


def test_in_memory_backends():
    backends = create_in_memory_backends()
    assert [type(getattr(backends, name)) for name in ATTRIBUTES] == [
        InMemoryContextBackend, InMemoryWorkflowBackend, InMemoryTelemetryBackend,
        InMemoryConversationHistoryBackend, InMemoryContextSchemaBackend, InMemoryIdentityBackend]
    assert create_in_memory_backends().context is not backends.context


def test_base_directory_form(tmp_path):
    backends = create_local_backends(tmp_path / "data")
    assert [type(getattr(backends, name)) for name in ATTRIBUTES] == [
        LocalContextBackend, LocalWorkflowBackend, LocalTelemetryBackend,
        LocalConversationHistoryBackend, LocalContextSchemaBackend, LocalIdentityBackend]
    base = tmp_path / "data"
    assert _dirs(backends) == {
        "context": base / "contexts", "workflow": base / "workflows", "telemetry": base / "telemetry",
        "conversation_history": base / "conversations", "context_schema": base / "schemas",
        "identity": base / "identities"}
    assert sorted(p.name for p in base.iterdir()) == [
        "contexts", "conversations", "identities", "schemas", "telemetry", "workflows"]


def test_base_directory_form_as_string(in_tmp):
    backends = create_local_backends("./data")
    assert _dirs(backends)["context"] == Path("data/contexts")
    assert (in_tmp / "data" / "telemetry").is_dir()


def test_base_directory_form_with_overrides(tmp_path):
    backends = create_local_backends(tmp_path / "data", telemetry_storage_dir=None,
                                     identity_storage_dir=tmp_path / "ids",
                                     conversation_history_storage_dir="")
    base = tmp_path / "data"
    assert _dirs(backends) == {
        "context": base / "contexts", "workflow": base / "workflows", "telemetry": None,
        "conversation_history": None, "context_schema": base / "schemas", "identity": tmp_path / "ids"}
    assert not (base / "telemetry").exists()


def test_base_directory_form_with_schema_alias(tmp_path):
    backends = create_local_backends(tmp_path, schema_storage_dir=tmp_path / "my_schemas")
    assert backends.context_schema.storage_dir == tmp_path / "my_schemas"


def test_no_arguments_uses_keyword_defaults(in_tmp):
    backends = create_local_backends()
    assert _dirs(backends) == DEFAULTS
    assert sorted(p.name for p in (in_tmp / "orchestration_data").iterdir()) == [
        "contexts", "conversations", "identities", "schemas", "workflows"]


def test_keywords_only(in_tmp, tmp_path):
    backends = create_local_backends(context_storage_dir=tmp_path / "c",
                                     telemetry_storage_dir=tmp_path / "t",
                                     context_schema_storage_dir=None)
    assert _dirs(backends) == {**DEFAULTS, "context": tmp_path / "c", "telemetry": tmp_path / "t",
                               "context_schema": None}


def test_schema_alias_with_keywords(in_tmp, tmp_path):
    backends = create_local_backends(schema_storage_dir=tmp_path / "s")
    assert _dirs(backends) == {**DEFAULTS, "context_schema": tmp_path / "s"}
    disabled = create_local_backends(schema_storage_dir=None)
    assert disabled.context_schema is None


def test_two_positional_arguments_map_in_keyword_order(in_tmp, tmp_path):
    backends = create_local_backends(tmp_path / "c", tmp_path / "w")
    assert _dirs(backends) == {**DEFAULTS, "context": tmp_path / "c", "workflow": tmp_path / "w"}


def test_positional_and_keywords_combine(in_tmp, tmp_path):
    backends = create_local_backends(tmp_path / "c", tmp_path / "w", tmp_path / "t",
                                     identity_storage_dir=None)
    assert _dirs(backends) == {**DEFAULTS, "context": tmp_path / "c", "workflow": tmp_path / "w",
                               "telemetry": tmp_path / "t", "identity": None}


def test_six_positional_arguments(tmp_path):
    names = ["c", "w", "t", "h", "s", "i"]
    backends = create_local_backends(*(tmp_path / name for name in names))
    assert [d for d in _dirs(backends).values()] == [tmp_path / name for name in names]


def test_positional_none_disables_an_optional_backend(tmp_path):
    backends = create_local_backends(tmp_path / "c", tmp_path / "w", None, None, None, None)
    assert _dirs(backends) == {"context": tmp_path / "c", "workflow": tmp_path / "w",
                               "telemetry": None, "conversation_history": None,
                               "context_schema": None, "identity": None}


@pytest.mark.parametrize("call, message", [
    (lambda d: create_local_backends(*[d] * 7),
     "create_local_backends() takes at most 6 positional arguments (7 given)"),
    (lambda d: create_local_backends(d / "c", d / "w", context_storage_dir=d / "x"),
     "create_local_backends() got multiple values for argument 'context_storage_dir'"),
    (lambda d: create_local_backends(context_schema_storage_dir=d, schema_storage_dir=d),
     "create_local_backends() got both 'context_schema_storage_dir' and its alias "
     "'schema_storage_dir'"),
    (lambda d: create_local_backends(None),
     "create_local_backends() base directory must be a path, not None"),
    (lambda d: create_local_backends(context_storage_dir=None),
     "create_local_backends() context_storage_dir is required, got None"),
    (lambda d: create_local_backends(d, workflow_storage_dir=""),
     "create_local_backends() workflow_storage_dir is required, got ''"),
    (lambda d: create_local_backends(unknown_dir=d),
     "create_local_backends() got an unexpected keyword argument 'unknown_dir'"),
])
def test_invalid_calls(call, message, in_tmp):
    with pytest.raises(TypeError) as raised:
        call(in_tmp)
    assert str(raised.value) == message
