"""Table layout and forward migrations of the PostgreSQL store.

The tables are the SQLite store's (``soe.backends.sqlite.schema``) in
PostgreSQL types, so the two stores share their SQL; the differences are:

* append-only tables (telemetry, conversation entries, registry revisions)
  number their rows with an identity column instead of ``MAX(seq) + 1``, so
  many processes append to one execution without racing for a number;
* ``executions.rowid`` is an identity column standing for SQLite's implicit
  ``rowid`` (the order executions were first recorded);
* ``journal.key`` sorts bytewise (``COLLATE "C"``), so a key-prefix range scan
  means the same as on SQLite whatever the database's collation;
* times are ``double precision`` seconds since the epoch, as on SQLite.

Values stay JSON *text*, never ``jsonb``: ``jsonb`` reorders object keys, and
SOE contexts keep insertion order.

``schema_version`` holds one row per applied migration; migrations are only
ever appended, and each runs in one transaction under an advisory lock, so
processes starting together never apply one twice.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, cast

from psycopg import sql

__all__ = ["MIGRATIONS", "migrate", "schema_version"]

_CONTEXT = (
    """CREATE TABLE context_keys (
        execution_id TEXT NOT NULL,
        key TEXT NOT NULL,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL,
        value_json TEXT,
        PRIMARY KEY (execution_id, key))""",
    "CREATE INDEX context_keys_position ON context_keys (execution_id, position)",
    """CREATE TABLE context_history (
        execution_id TEXT NOT NULL,
        key TEXT NOT NULL,
        seq BIGINT NOT NULL,
        value_json TEXT NOT NULL,
        PRIMARY KEY (execution_id, key, seq))""",
    """CREATE TABLE operational_items (
        execution_id TEXT NOT NULL,
        key TEXT NOT NULL,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL,
        value_json TEXT,
        PRIMARY KEY (execution_id, key))""",
    """CREATE TABLE operational_signals (
        execution_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        value_json TEXT NOT NULL,
        PRIMARY KEY (execution_id, seq))""",
    """CREATE TABLE operational_nodes (
        execution_id TEXT NOT NULL,
        name TEXT NOT NULL,
        position INTEGER NOT NULL,
        count_json TEXT NOT NULL,
        PRIMARY KEY (execution_id, name))""",
)

_OTHER_BACKENDS = (
    """CREATE TABLE workflow_registries (
        execution_id TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        registry_json TEXT NOT NULL)""",
    """CREATE TABLE workflow_names (
        execution_id TEXT PRIMARY KEY,
        name TEXT NOT NULL)""",
    """CREATE TABLE registry_revisions (
        execution_id TEXT NOT NULL,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        revision_json TEXT NOT NULL,
        PRIMARY KEY (execution_id, seq))""",
    """CREATE TABLE telemetry_events (
        execution_id TEXT NOT NULL,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        event_type TEXT NOT NULL,
        data_json TEXT NOT NULL,
        PRIMARY KEY (execution_id, seq))""",
    """CREATE TABLE conversation_entries (
        history_key TEXT NOT NULL,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        entry_json TEXT NOT NULL,
        PRIMARY KEY (history_key, seq))""",
    """CREATE TABLE context_schemas (
        execution_id TEXT PRIMARY KEY,
        value_json TEXT NOT NULL)""",
    """CREATE TABLE identities (
        execution_id TEXT PRIMARY KEY,
        value_json TEXT NOT NULL)""",
)

_RUNTIME = (
    """CREATE TABLE executions (
        execution_id TEXT PRIMARY KEY,
        rowid BIGINT GENERATED ALWAYS AS IDENTITY,
        main_execution_id TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX executions_main ON executions (main_execution_id)",
    "CREATE INDEX executions_status ON executions (status)",
    "CREATE INDEX executions_order ON executions (rowid)",
    """CREATE TABLE trees (
        main_execution_id TEXT PRIMARY KEY,
        state_json TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE journal (
        key TEXT COLLATE "C" PRIMARY KEY,
        execution_id TEXT,
        value_json TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX journal_execution ON journal (execution_id)",
    """CREATE TABLE leases (
        main_execution_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        acquired_at DOUBLE PRECISION NOT NULL,
        heartbeat_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL)""",
)

_TREE_ROWS = (
    """CREATE TABLE tree_queue (
        main_execution_id TEXT NOT NULL,
        frame BIGINT NOT NULL,
        position BIGINT NOT NULL,
        item_json TEXT NOT NULL,
        PRIMARY KEY (main_execution_id, frame, position))""",
    """CREATE TABLE tree_tasks (
        main_execution_id TEXT NOT NULL,
        task BIGINT NOT NULL,
        task_json TEXT NOT NULL,
        PRIMARY KEY (main_execution_id, task))""",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _CONTEXT + _OTHER_BACKENDS + _RUNTIME,  # 1: everything
    _TREE_ROWS,  # 2: a tree's queue as keyed rows, so a transition writes only what it changed
)

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL)"""


def schema_version(conn: Any) -> int | None:
    """The highest migration applied to the connection's schema; ``None`` when it holds no store."""
    if conn.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
        return None
    return cast("int | None", conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])


def migrate(conn: Any, lock_key: str, migrations: tuple[tuple[str, ...], ...] = MIGRATIONS,
            *, schema: str | None = None) -> None:
    """Create ``schema`` if needed and apply the pending migrations in one transaction.

    ``conn`` is an autocommit psycopg connection whose ``search_path`` names the
    store's schema; ``lock_key`` makes concurrent set-ups of that schema queue
    (``CREATE SCHEMA IF NOT EXISTS`` alone fails one of two racing processes).
    A schema written by a newer release is refused rather than misread.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key,))
        if schema is not None:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(_VERSION_TABLE)
        current = schema_version(conn) or 0
        if current > len(migrations):
            raise RuntimeError(f"database schema version {current} is newer than this SOE "
                               f"supports ({len(migrations)}); upgrade soe")
        for version in range(current + 1, len(migrations) + 1):
            for statement in migrations[version - 1]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (%s, %s)",
                         (version, datetime.now(timezone.utc).isoformat()))
