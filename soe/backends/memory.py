"""In-memory backends (SPEC §11.3): one process, no files, thread-safe.

Reads never hand out the stored objects (upstream did, which caused quirks Q2
and Q11), yet stay cheap on long runs: the context backend remembers, per
field, whether a stored value can be copied shallowly, so ``get_context`` on a
100,000-step history is a few ``list.copy()`` calls, not a ``deepcopy``.
"""

from __future__ import annotations

import threading
from typing import Any

from soe.backends._keyed_objects import ContextSchemaMethods, IdentityMethods
from soe.lib.context_fields import is_internal, set_field
from soe.lib.history import HistoryPrefix
from soe.lib.operational import apply_operational_event
from soe.lib.snapshot import FrozenDict, fast_copy, freeze, thaw

__all__ = [
    "InMemoryContextBackend",
    "InMemoryContextSchemaBackend",
    "InMemoryConversationHistoryBackend",
    "InMemoryIdentityBackend",
    "InMemoryTelemetryBackend",
    "InMemoryWorkflowBackend",
]

_SCALARS = frozenset({str, int, float, bool, type(None)})

# How a stored context value is copied out by get_context.
_SHARE = "share"              # an immutable scalar: returned as is
_LIST_COPY = "list_copy"      # a list holding only scalars: list.copy()
_OPERATIONAL = "operational"  # an ordinary __operational__ block: copy signals and nodes
_DEEP = "deep"                # anything else: fast_copy


def _only_scalars(values: Any) -> bool:
    return all(type(value) in _SCALARS for value in values)


def _plain_operational(operational: Any) -> bool:
    """Whether ``operational`` has the usual shape, so copying two containers suffices."""
    return (
        type(operational) is dict
        and type(operational.get("signals")) is list
        and type(operational.get("nodes")) is dict
        and _only_scalars(operational["signals"])
        and _only_scalars(operational["nodes"].values())
        and _only_scalars(v for k, v in operational.items() if k not in ("signals", "nodes"))
    )


def _still_plain(operational: dict[str, Any], event_type: str, data: dict[str, Any]) -> bool:
    """Whether a plain block stayed plain after one event, looking only at what the event changed.

    Only a broadcast (its signals) and a usage report (its token counts) store
    values taken from the event; every other event increments an int.
    """
    if event_type == "signals_broadcast":
        return _only_scalars(data["signals"])
    if event_type == "llm_usage":
        return _only_scalars((operational.get("prompt_tokens"), operational.get("completion_tokens")))
    return True


def _kind_of(field: str, value: Any) -> str:
    """Classify a freshly stored value (O(len) for lists; done once per write, not per read)."""
    cls = type(value)
    if cls in _SCALARS:
        return _SHARE
    if cls is list and _only_scalars(value):
        return _LIST_COPY
    if field == "__operational__" and _plain_operational(value):
        return _OPERATIONAL
    return _DEEP


def _copy_value(kind: str | None, value: Any) -> Any:
    if kind == _SHARE:
        return value
    if kind == _LIST_COPY:
        return value.copy()
    if kind == _OPERATIONAL:
        copied = dict(value)
        copied["signals"] = value["signals"].copy()
        copied["nodes"] = dict(value["nodes"])
        return copied
    return fast_copy(value)


def _snapshot_value(kind: str | None, key: str, value: Any) -> Any:
    if kind == _OPERATIONAL:
        copied = dict(value)
        copied["signals"] = HistoryPrefix(value["signals"], len(value["signals"]))
        copied["nodes"] = dict(value["nodes"])
        return copied
    if type(value) is list and not is_internal(key):
        return HistoryPrefix(value, len(value))
    return _copy_value(kind, value)


class InMemoryContextBackend:
    """Contexts per execution id; reads and writes copy, optional methods are atomic."""

    def __init__(self) -> None:
        self._contexts: dict[str, dict[str, Any]] = {}
        self._kinds: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def save_context(self, id: str, context: dict[str, Any]) -> None:
        stored = {key: fast_copy(value) for key, value in context.items()}
        kinds = {key: _kind_of(key, value) for key, value in stored.items()}
        with self._lock:
            self._contexts[id] = stored
            self._kinds[id] = kinds

    def get_context(self, id: str) -> dict[str, Any]:
        with self._lock:
            stored = self._contexts.get(id)
            if stored is None:
                return {}
            kinds = self._kinds[id]
            return {key: _copy_value(kinds.get(key), value) for key, value in stored.items()}

    def get_context_snapshot(self, id: str) -> dict[str, Any]:
        """The engine's read: like ``get_context``, but histories are ``HistoryPrefix`` views.

        Stored histories are only ever appended to in place (or replaced whole), so
        a prefix view is a true snapshot taken in O(1) per field; the engine never
        mutates what it reads. ``__operational__`` gets its small containers copied
        and its signal list as a prefix view. Not for applications: they get copies.
        """
        with self._lock:
            stored = self._contexts.get(id)
            if stored is None:
                return {}
            kinds = self._kinds[id]
            return {key: _snapshot_value(kinds.get(key), key, value) for key, value in stored.items()}

    def append_to_field(self, execution_id: str, field: str, value: Any) -> None:
        """``set_field`` on the stored context, in O(1) for history fields."""
        value = fast_copy(value)
        with self._lock:
            stored = self._contexts.setdefault(execution_id, {})
            kinds = self._kinds.setdefault(execution_id, {})
            previous = stored.get(field)
            set_field(stored, field, value)
            if is_internal(field) or not isinstance(previous, list):
                kinds[field] = _kind_of(field, stored[field])
            elif not (kinds.get(field) == _LIST_COPY and type(value) in _SCALARS):
                kinds[field] = _DEEP

    def update_operational(self, execution_id: str, event_type: str, data: dict[str, Any]) -> None:
        """Apply an event's counter change to the stored ``__operational__`` in place."""
        if event_type == "signals_broadcast" and not _only_scalars(data["signals"]):
            data = fast_copy(data)  # only signals are stored; scalars need no copy
        with self._lock:
            operational = self._contexts.get(execution_id, {}).get("__operational__")
            if not isinstance(operational, dict):
                return
            apply_operational_event(operational, event_type, data)
            kinds = self._kinds[execution_id]
            if kinds.get("__operational__") == _OPERATIONAL and not _still_plain(
                    operational, event_type, data):
                kinds["__operational__"] = _DEEP

    def cleanup_all(self) -> None:
        with self._lock:
            self._contexts.clear()
            self._kinds.clear()


class InMemoryWorkflowBackend:
    """Registries kept as frozen snapshots; readers get copies, the engine the snapshot itself."""

    def __init__(self) -> None:
        self._registries: dict[str, FrozenDict] = {}
        self._names: dict[str, str] = {}
        self._revisions: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def save_workflows_registry(self, id: str, workflows: dict[str, Any]) -> None:
        snapshot = freeze(workflows)
        with self._lock:
            self._registries[id] = snapshot

    def get_workflows_registry(self, id: str) -> dict[str, Any] | None:
        """A plain copy: changing it never changes the store (SPEC Q25)."""
        snapshot = self.get_workflows_registry_snapshot(id)
        return None if snapshot is None else thaw(snapshot)

    def get_workflows_registry_snapshot(self, id: str) -> FrozenDict | None:
        """The stored read-only snapshot itself, for the engine (``registry_snapshot``)."""
        with self._lock:
            return self._registries.get(id)

    def save_current_workflow_name(self, id: str, name: str) -> None:
        with self._lock:
            self._names[id] = name

    def get_current_workflow_name(self, id: str) -> str:
        with self._lock:
            return self._names.get(id, "")

    def save_registry_revision(self, execution_id: str, revision: dict[str, Any]) -> None:
        revision = freeze(revision)  # frozen parts (the registry snapshot) are shared, not copied
        with self._lock:
            self._revisions.setdefault(execution_id, []).append(revision)

    def get_registry_revisions(self, execution_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return fast_copy(self._revisions.get(execution_id, []))

    def cleanup_all(self) -> None:
        with self._lock:
            self._registries.clear()
            self._names.clear()
            self._revisions.clear()


class InMemoryTelemetryBackend:
    """Events per execution id, kept as logged (no copy: the log is append-only)."""

    def __init__(self) -> None:
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def log_event(self, execution_id: str, event_type: str, **event_data: Any) -> None:
        event = {"event_type": event_type, **event_data}
        with self._lock:
            self._events.setdefault(execution_id, []).append(event)

    def get_events(self, execution_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._events.get(execution_id, [])

    def cleanup_all(self) -> None:
        with self._lock:
            self._events.clear()


class InMemoryConversationHistoryBackend:
    """Histories per key; every read and write copies, so callers never alias the store."""

    def __init__(self) -> None:
        self._histories: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def get_conversation_history(self, key: str) -> list[Any]:
        with self._lock:
            return fast_copy(self._histories.get(key, []))

    def append_to_conversation_history(self, key: str, entry: dict[str, Any]) -> None:
        entry = fast_copy(entry)
        with self._lock:
            self._histories.setdefault(key, []).append(entry)

    def save_conversation_history(self, key: str, history: list[Any]) -> None:
        history = list(fast_copy(history))
        with self._lock:
            self._histories[key] = history

    def delete_conversation_history(self, key: str) -> None:
        with self._lock:
            self._histories.pop(key, None)

    def cleanup_all(self) -> None:
        with self._lock:
            self._histories.clear()


class _ObjectStore:
    """Objects stored as given, per execution id (schema and identity semantics)."""

    def __init__(self) -> None:
        self._objects: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _save(self, execution_id: str, value: Any) -> None:
        with self._lock:
            self._objects[execution_id] = value

    def _get(self, execution_id: str) -> Any:
        with self._lock:
            return self._objects.get(execution_id)

    def _delete(self, execution_id: str) -> bool:
        with self._lock:
            found = execution_id in self._objects
            self._objects.pop(execution_id, None)
            return found

    def _entry(self, execution_id: str, name: str) -> Any:
        stored = self._get(execution_id)
        return stored.get(name) if isinstance(stored, dict) else None

    def cleanup_all(self) -> None:
        with self._lock:
            self._objects.clear()


class InMemoryContextSchemaBackend(ContextSchemaMethods, _ObjectStore):
    """Context schemas (field name -> definition) per execution id."""


class InMemoryIdentityBackend(IdentityMethods, _ObjectStore):
    """Identities (name -> system prompt) per execution id."""

