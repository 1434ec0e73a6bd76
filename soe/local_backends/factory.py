"""The factories that fill the backends container (SPEC §11.2); the container is re-exported here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from soe.backends.container import LocalBackends
from soe.backends.files import (
    LocalContextBackend,
    LocalContextSchemaBackend,
    LocalConversationHistoryBackend,
    LocalIdentityBackend,
    LocalTelemetryBackend,
    LocalWorkflowBackend,
    StrPath,
)
from soe.backends.memory import (
    InMemoryContextBackend,
    InMemoryContextSchemaBackend,
    InMemoryConversationHistoryBackend,
    InMemoryIdentityBackend,
    InMemoryTelemetryBackend,
    InMemoryWorkflowBackend,
)

__all__ = ["LocalBackends", "create_in_memory_backends", "create_local_backends"]

_DIR_KEYS = (
    "context_storage_dir",
    "workflow_storage_dir",
    "telemetry_storage_dir",
    "conversation_history_storage_dir",
    "context_schema_storage_dir",
    "identity_storage_dir",
)
_SUBDIRS = ("contexts", "workflows", "telemetry", "conversations", "schemas", "identities")
_KEYWORD_DEFAULTS: dict[str, StrPath | None] = {
    key: (None if sub == "telemetry" else f"./orchestration_data/{sub}")
    for key, sub in zip(_DIR_KEYS, _SUBDIRS, strict=True)
}


class _Unset:
    """Marks a keyword the caller did not pass (``None`` is meaningful: it disables)."""

    def __repr__(self) -> str:
        return "<default>"


_UNSET: Any = _Unset()


def create_in_memory_backends() -> LocalBackends:
    """All six in-memory backends, telemetry included."""
    return LocalBackends(
        InMemoryContextBackend(),
        InMemoryWorkflowBackend(),
        InMemoryTelemetryBackend(),
        InMemoryConversationHistoryBackend(),
        InMemoryContextSchemaBackend(),
        InMemoryIdentityBackend(),
    )


def create_local_backends(
    *directories: StrPath | None,
    context_storage_dir: StrPath = _UNSET,
    workflow_storage_dir: StrPath = _UNSET,
    telemetry_storage_dir: StrPath | None = _UNSET,
    conversation_history_storage_dir: StrPath | None = _UNSET,
    context_schema_storage_dir: StrPath | None = _UNSET,
    identity_storage_dir: StrPath | None = _UNSET,
    schema_storage_dir: StrPath | None = _UNSET,
) -> LocalBackends:
    """File backends in the directories chosen by one of §11.2's call shapes.

    One positional argument is a base directory holding the six standard
    subfolders (telemetry on); two or more are per-backend directories in
    keyword order; with none, the keyword defaults apply (telemetry off).
    Explicit keywords override, and a falsy directory disables an optional
    backend. ``schema_storage_dir`` is an alias of ``context_schema_storage_dir``.
    """
    given = (context_storage_dir, workflow_storage_dir, telemetry_storage_dir,
             conversation_history_storage_dir, context_schema_storage_dir, identity_storage_dir)
    explicit = {key: value for key, value in zip(_DIR_KEYS, given, strict=True) if value is not _UNSET}
    if schema_storage_dir is not _UNSET:
        if "context_schema_storage_dir" in explicit:
            raise TypeError("create_local_backends() got both 'context_schema_storage_dir' "
                            "and its alias 'schema_storage_dir'")
        explicit["context_schema_storage_dir"] = schema_storage_dir
    chosen = _positional_dirs(directories, explicit)
    chosen.update(explicit)
    return LocalBackends(
        LocalContextBackend(_required(chosen, "context_storage_dir")),
        LocalWorkflowBackend(_required(chosen, "workflow_storage_dir")),
        _optional(LocalTelemetryBackend, chosen["telemetry_storage_dir"]),
        _optional(LocalConversationHistoryBackend, chosen["conversation_history_storage_dir"]),
        _optional(LocalContextSchemaBackend, chosen["context_schema_storage_dir"]),
        _optional(LocalIdentityBackend, chosen["identity_storage_dir"]),
    )


def _positional_dirs(directories: tuple[Any, ...], explicit: dict[str, Any]) -> dict[str, Any]:
    """Directories implied by the positional arguments, before keywords override them."""
    if len(directories) > len(_DIR_KEYS):
        raise TypeError(f"create_local_backends() takes at most {len(_DIR_KEYS)} positional "
                        f"arguments ({len(directories)} given)")
    if len(directories) == 1:
        if not directories[0]:
            raise TypeError("create_local_backends() base directory must be a path, "
                            f"not {directories[0]!r}")
        base = Path(directories[0])
        return {key: base / sub for key, sub in zip(_DIR_KEYS, _SUBDIRS, strict=True)}
    chosen = dict(_KEYWORD_DEFAULTS)
    for key, value in zip(_DIR_KEYS, directories, strict=False):
        if key in explicit:
            raise TypeError(f"create_local_backends() got multiple values for argument '{key}'")
        chosen[key] = value
    return chosen


def _required(chosen: dict[str, Any], key: str) -> Any:
    directory = chosen[key]
    if not directory:
        raise TypeError(f"create_local_backends() {key} is required, got {directory!r}")
    return directory


def _optional(backend_class: type, directory: Any) -> Any:
    return backend_class(directory) if directory else None
