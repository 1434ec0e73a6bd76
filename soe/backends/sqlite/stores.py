"""SQLite workflow, telemetry, conversation-history, context-schema and identity backends.

Return semantics mirror the in-memory backends (SPEC §11.3): reads hand out
fresh objects (a registry is the one frozen snapshot per save, see
:class:`SqliteWorkflowBackend`), unknown ids give ``None``/``[]``/``""``, and
deletes report whether something was there. Every execution id and history
key passes :func:`check_id` first, as with the file backends.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Any, cast

from soe.backends._keyed_objects import ContextSchemaMethods, IdentityMethods
from soe.backends.sqlite.codec import decode, decode_many, encode
from soe.backends.sqlite.connection import Database
from soe.lib.ids import check_id
from soe.lib.snapshot import FrozenDict, freeze, thaw

__all__ = [
    "SqliteContextSchemaBackend",
    "SqliteConversationHistoryBackend",
    "SqliteIdentityBackend",
    "SqliteTelemetryBackend",
    "SqliteWorkflowBackend",
]


class SqliteWorkflowBackend:
    """Registries, current workflow names and registry revisions.

    ``get_workflows_registry_snapshot`` returns the same frozen snapshot object until the
    registry is saved again (by any process), so the engine's per-snapshot
    listener index stays cached. Each save stores a new random token next to the
    JSON; a read fetches only the token and parses the JSON again only when the
    token differs from the cached one. A rolled-back save leaves the old token in
    the file, so the cache can never serve a registry that was not committed.
    """

    def __init__(self, db: Database, cache_size: int = 256) -> None:
        self._db = db
        self._cache: OrderedDict[str, tuple[str, FrozenDict]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def save_workflows_registry(self, id: str, workflows: dict[str, Any]) -> None:
        check_id(id)
        snapshot = freeze(workflows)
        token = uuid.uuid4().hex
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO workflow_registries (execution_id, token, registry_json) "
                "VALUES (?, ?, ?) ON CONFLICT (execution_id) DO UPDATE SET "
                "token = excluded.token, registry_json = excluded.registry_json",
                (id, token, encode(snapshot)))
        self._remember(id, token, snapshot)

    def get_workflows_registry(self, id: str) -> dict[str, Any] | None:
        """A plain copy of the registry (changing it never changes the store), or ``None``."""
        snapshot = self.get_workflows_registry_snapshot(id)
        return None if snapshot is None else thaw(snapshot)

    def get_workflows_registry_snapshot(self, id: str) -> FrozenDict | None:
        """The registry as a frozen snapshot for the engine, or ``None`` when none was saved."""
        check_id(id)
        conn = self._db.connection()
        row = conn.execute("SELECT token FROM workflow_registries WHERE execution_id = ?",
                           (id,)).fetchone()
        if row is None:
            self._forget(id)
            return None
        with self._lock:
            cached = self._cache.get(id)
            if cached is not None and cached[0] == row[0]:
                self._cache.move_to_end(id)
                return cached[1]
        row = conn.execute("SELECT token, registry_json FROM workflow_registries "
                           "WHERE execution_id = ?", (id,)).fetchone()
        if row is None:
            return None
        snapshot = freeze(decode(row[1]))
        self._remember(id, row[0], snapshot)
        return cast("FrozenDict | None", snapshot)

    def save_current_workflow_name(self, id: str, name: str) -> None:
        check_id(id)
        with self._db.transaction() as conn:
            conn.execute("INSERT INTO workflow_names (execution_id, name) VALUES (?, ?) "
                         "ON CONFLICT (execution_id) DO UPDATE SET name = excluded.name",
                         (id, name))

    def get_current_workflow_name(self, id: str) -> str:
        check_id(id)
        row = self._db.connection().execute(
            "SELECT name FROM workflow_names WHERE execution_id = ?", (id,)).fetchone()
        return "" if row is None else row[0]

    def save_registry_revision(self, execution_id: str, revision: dict[str, Any]) -> None:
        check_id(execution_id)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO registry_revisions (execution_id, seq, revision_json) "
                "SELECT ?, COALESCE(MAX(seq), -1) + 1, ? FROM registry_revisions "
                "WHERE execution_id = ?", (execution_id, encode(revision), execution_id))

    def get_registry_revisions(self, execution_id: str) -> list[dict[str, Any]]:
        check_id(execution_id)
        rows = self._db.connection().execute(
            "SELECT revision_json FROM registry_revisions WHERE execution_id = ? ORDER BY seq",
            (execution_id,))
        return decode_many(text for (text,) in rows)

    def cleanup_all(self) -> None:
        with self._db.transaction() as conn:
            for table in ("workflow_registries", "workflow_names", "registry_revisions"):
                conn.execute(f"DELETE FROM {table}")
        with self._lock:
            self._cache.clear()

    def _remember(self, id: str, token: str, snapshot: FrozenDict) -> None:
        with self._lock:
            self._cache[id] = (token, snapshot)
            self._cache.move_to_end(id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _forget(self, id: str) -> None:
        with self._lock:
            self._cache.pop(id, None)


class SqliteTelemetryBackend:
    """Events per execution id, in logging order, as ``{"event_type": ..., **event_data}``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def log_event(self, execution_id: str, event_type: str, **event_data: Any) -> None:
        check_id(execution_id)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO telemetry_events (execution_id, seq, event_type, data_json) "
                "SELECT ?, COALESCE(MAX(seq), -1) + 1, ?, ? FROM telemetry_events "
                "WHERE execution_id = ?", (execution_id, event_type, encode(event_data),
                                           execution_id))

    def get_events(self, execution_id: str) -> list[dict[str, Any]]:
        return self.get_events_since(execution_id, 0)

    def get_events_since(self, execution_id: str, start: int) -> list[dict[str, Any]]:
        """The events from position ``start`` on (optional method: a live stream reads only what is new)."""
        check_id(execution_id)
        rows = self._db.connection().execute(
            "SELECT event_type, data_json FROM telemetry_events WHERE execution_id = ? AND seq >= ? "
            "ORDER BY seq", (execution_id, start)).fetchall()
        datas = decode_many(data_json for _, data_json in rows)
        return [{"event_type": event_type, **data}
                for (event_type, _), data in zip(rows, datas, strict=True)]

    def cleanup_all(self) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM telemetry_events")


class SqliteConversationHistoryBackend:
    """Histories per key, one row per entry, so an append never rewrites the history."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get_conversation_history(self, key: str) -> list[Any]:
        check_id(key)
        rows = self._db.connection().execute(
            "SELECT entry_json FROM conversation_entries WHERE history_key = ? ORDER BY seq",
            (key,))
        return decode_many(text for (text,) in rows)

    def append_to_conversation_history(self, key: str, entry: dict[str, Any]) -> None:
        check_id(key)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO conversation_entries (history_key, seq, entry_json) "
                "SELECT ?, COALESCE(MAX(seq), -1) + 1, ? FROM conversation_entries "
                "WHERE history_key = ?", (key, encode(entry), key))

    def save_conversation_history(self, key: str, history: list[Any]) -> None:
        check_id(key)
        rows = [(key, seq, encode(entry)) for seq, entry in enumerate(history)]
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM conversation_entries WHERE history_key = ?", (key,))
            conn.executemany("INSERT INTO conversation_entries (history_key, seq, entry_json) "
                             "VALUES (?, ?, ?)", rows)

    def delete_conversation_history(self, key: str) -> None:
        check_id(key)
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM conversation_entries WHERE history_key = ?", (key,))

    def cleanup_all(self) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM conversation_entries")


class _JsonObjectStore:
    """One JSON value per execution id in ``table`` (schema and identity semantics)."""

    _table = ""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _save(self, execution_id: str, value: Any) -> None:
        check_id(execution_id)
        with self._db.transaction() as conn:
            conn.execute(f"INSERT INTO {self._table} (execution_id, value_json) VALUES (?, ?) "
                         "ON CONFLICT (execution_id) DO UPDATE SET value_json = excluded.value_json",
                         (execution_id, encode(value)))

    def _get(self, execution_id: str) -> Any:
        check_id(execution_id)
        row = self._db.connection().execute(
            f"SELECT value_json FROM {self._table} WHERE execution_id = ?",
            (execution_id,)).fetchone()
        return None if row is None else decode(row[0])

    def _delete(self, execution_id: str) -> bool:
        check_id(execution_id)
        with self._db.transaction() as conn:
            cursor = conn.execute(f"DELETE FROM {self._table} WHERE execution_id = ?",
                                  (execution_id,))
            return cast("bool", cursor.rowcount > 0)

    def _entry(self, execution_id: str, name: str) -> Any:
        stored = self._get(execution_id)
        return stored.get(name) if isinstance(stored, dict) else None

    def cleanup_all(self) -> None:
        with self._db.transaction() as conn:
            conn.execute(f"DELETE FROM {self._table}")


class SqliteContextSchemaBackend(ContextSchemaMethods, _JsonObjectStore):
    """Context schemas (field name -> definition) per execution id."""

    _table = "context_schemas"


class SqliteIdentityBackend(IdentityMethods, _JsonObjectStore):
    """Identities (name -> system prompt) per execution id."""

    _table = "identities"

