"""The six backends on PostgreSQL: the SQLite backends' SQL, plus what many writers need.

Each class is its SQLite counterpart running on a
:class:`~soe.backends.postgres.connection.PostgresDatabase`, so both stores
read and write the same rows the same way. Two things change, because
PostgreSQL, unlike SQLite, runs writers in parallel:

* a write that reads before it writes (a context save, a field append, a
  counter update) takes its execution's advisory lock first;
* appends to telemetry, conversation histories and registry revisions let an
  identity column number the row instead of computing ``MAX(seq) + 1``.
"""

from __future__ import annotations

from typing import Any

from soe.backends.postgres.connection import PostgresDatabase
from soe.backends.sqlite.codec import decode_many, encode
from soe.backends.sqlite.context import SqliteContextBackend
from soe.backends.sqlite.stores import (
    SqliteContextSchemaBackend,
    SqliteConversationHistoryBackend,
    SqliteIdentityBackend,
    SqliteTelemetryBackend,
    SqliteWorkflowBackend,
)
from soe.lib.ids import check_id

__all__ = [
    "PostgresContextBackend",
    "PostgresContextSchemaBackend",
    "PostgresConversationHistoryBackend",
    "PostgresIdentityBackend",
    "PostgresTelemetryBackend",
    "PostgresWorkflowBackend",
]


class PostgresContextBackend(SqliteContextBackend):
    """Contexts stored field by field; each write holds its execution's lock."""

    _db: PostgresDatabase

    def save_context(self, id: str, context: dict[str, Any]) -> None:
        with self._db.lock(check_id(id)):
            super().save_context(id, context)

    def append_to_field(self, execution_id: str, field: str, value: Any) -> None:
        with self._db.lock(check_id(execution_id)):
            super().append_to_field(execution_id, field, value)

    def update_operational(self, execution_id: str, event_type: str, data: dict[str, Any]) -> None:
        with self._db.lock(check_id(execution_id)):
            super().update_operational(execution_id, event_type, data)


class PostgresWorkflowBackend(SqliteWorkflowBackend):
    """Registries (cached per save token), workflow names and numbered revisions."""

    def save_registry_revision(self, execution_id: str, revision: dict[str, Any]) -> None:
        check_id(execution_id)
        with self._db.transaction() as conn:
            conn.execute("INSERT INTO registry_revisions (execution_id, revision_json) "
                         "VALUES (?, ?)", (execution_id, encode(revision)))


class PostgresTelemetryBackend(SqliteTelemetryBackend):
    """Events per execution id, in logging order."""

    def log_event(self, execution_id: str, event_type: str, **event_data: Any) -> None:
        check_id(execution_id)
        with self._db.transaction() as conn:
            conn.execute("INSERT INTO telemetry_events (execution_id, event_type, data_json) "
                         "VALUES (?, ?, ?)", (execution_id, event_type, encode(event_data)))

    def get_events_since(self, execution_id: str, start: int) -> list[dict[str, Any]]:
        """The events from position ``start`` on: ``seq`` is numbered across executions here."""
        check_id(execution_id)
        rows = self._db.connection().execute(
            "SELECT event_type, data_json FROM telemetry_events WHERE execution_id = ? "
            "ORDER BY seq OFFSET ?", (execution_id, start)).fetchall()
        return [{"event_type": event_type, **data}
                for (event_type, _), data in zip(rows, decode_many(d for _, d in rows), strict=True)]


class PostgresConversationHistoryBackend(SqliteConversationHistoryBackend):
    """Histories per key, one row per entry."""

    _db: PostgresDatabase

    def append_to_conversation_history(self, key: str, entry: dict[str, Any]) -> None:
        check_id(key)
        with self._db.transaction() as conn:
            conn.execute("INSERT INTO conversation_entries (history_key, entry_json) "
                         "VALUES (?, ?)", (key, encode(entry)))

    def save_conversation_history(self, key: str, history: list[Any]) -> None:
        check_id(key)
        with self._db.lock(key) as conn:
            conn.execute("DELETE FROM conversation_entries WHERE history_key = ?", (key,))
            conn.executemany("INSERT INTO conversation_entries (history_key, entry_json) "
                             "VALUES (?, ?)", [(key, encode(entry)) for entry in history])


class PostgresContextSchemaBackend(SqliteContextSchemaBackend):
    """Context schemas (field name -> definition) per execution id."""


class PostgresIdentityBackend(SqliteIdentityBackend):
    """Identities (name -> system prompt) per execution id."""
