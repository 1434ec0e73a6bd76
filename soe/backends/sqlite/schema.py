"""Table layout and forward migrations of the SQLite store.

Each database keeps a ``schema_version`` table with one row per applied
migration. Migrations are only ever appended: migration ``n`` is the ``n``-th
entry of its list and is applied, in order, to every database whose highest
recorded version is below ``n``. Migration 1 creates everything, so a new file
and an old one upgraded later end up identical.

One file holds everything: contexts, registries, telemetry, histories,
schemas, identities, statuses, tree state, the LLM/tool journal and the tree
leases. The runner never holds a write transaction across an LLM or tool call,
so a journal entry or a lease heartbeat commits within milliseconds, and a
copy of the file (with its -wal) is a consistent backup. (Migration 2 moved the
journal and leases in from the ``<path>.side`` file of earlier versions.)
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

__all__ = [
    "MAIN_MIGRATIONS",
    "Migrations",
    "migrate",
    "needs_migration",
    "schema_version",
]

Migrations = tuple[tuple[str, ...], ...]

# Context storage: one row per top-level key (its place in the dict and how it is
# stored), one row per history entry, and __operational__ split so that every
# counter event touches one or two small rows.
_CONTEXT = (
    """CREATE TABLE context_keys (
        execution_id TEXT NOT NULL,
        key TEXT NOT NULL,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL,          -- 'history' | 'raw' | 'operational'
        value_json TEXT,             -- the value itself for kind 'raw'
        PRIMARY KEY (execution_id, key))""",
    "CREATE INDEX context_keys_position ON context_keys (execution_id, position)",
    """CREATE TABLE context_history (
        execution_id TEXT NOT NULL,
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        value_json TEXT NOT NULL,
        PRIMARY KEY (execution_id, key, seq))""",
    """CREATE TABLE operational_items (
        execution_id TEXT NOT NULL,
        key TEXT NOT NULL,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL,          -- 'signals' | 'nodes' | 'value'
        value_json TEXT,             -- the value itself for kind 'value'
        PRIMARY KEY (execution_id, key)) WITHOUT ROWID""",
    """CREATE TABLE operational_signals (
        execution_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        value_json TEXT NOT NULL,
        PRIMARY KEY (execution_id, seq)) WITHOUT ROWID""",
    """CREATE TABLE operational_nodes (
        execution_id TEXT NOT NULL,
        name TEXT NOT NULL,
        position INTEGER NOT NULL,
        count_json TEXT NOT NULL,
        PRIMARY KEY (execution_id, name)) WITHOUT ROWID""",
)

_OTHER_BACKENDS = (
    """CREATE TABLE workflow_registries (
        execution_id TEXT PRIMARY KEY,
        token TEXT NOT NULL,         -- changes on every save: readers' cache key
        registry_json TEXT NOT NULL)""",
    """CREATE TABLE workflow_names (
        execution_id TEXT PRIMARY KEY,
        name TEXT NOT NULL)""",
    """CREATE TABLE registry_revisions (
        execution_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        revision_json TEXT NOT NULL,
        PRIMARY KEY (execution_id, seq))""",
    """CREATE TABLE telemetry_events (
        execution_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        data_json TEXT NOT NULL,
        PRIMARY KEY (execution_id, seq)) WITHOUT ROWID""",
    """CREATE TABLE conversation_entries (
        history_key TEXT NOT NULL,
        seq INTEGER NOT NULL,
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
        main_execution_id TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL)""",
    "CREATE INDEX executions_main ON executions (main_execution_id)",
    "CREATE INDEX executions_status ON executions (status)",
    """CREATE TABLE trees (
        main_execution_id TEXT PRIMARY KEY,
        state_json TEXT NOT NULL,
        updated_at REAL NOT NULL)""",
)

_JOURNAL_AND_LEASES = (
    """CREATE TABLE journal (
        key TEXT PRIMARY KEY,
        execution_id TEXT,
        value_json TEXT NOT NULL,
        created_at REAL NOT NULL)""",
    "CREATE INDEX journal_execution ON journal (execution_id)",
    """CREATE TABLE leases (
        main_execution_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        acquired_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL,
        expires_at REAL NOT NULL)""",
)

_TREE_ROWS = (
    """CREATE TABLE tree_queue (
        main_execution_id TEXT NOT NULL,
        frame INTEGER NOT NULL,
        position INTEGER NOT NULL,
        item_json TEXT NOT NULL,
        PRIMARY KEY (main_execution_id, frame, position)) WITHOUT ROWID""",
    """CREATE TABLE tree_tasks (
        main_execution_id TEXT NOT NULL,
        task INTEGER NOT NULL,
        task_json TEXT NOT NULL,
        PRIMARY KEY (main_execution_id, task)) WITHOUT ROWID""",
)

MAIN_MIGRATIONS: Migrations = (
    _CONTEXT + _OTHER_BACKENDS + _RUNTIME,  # 1: everything but the journal and leases
    _JOURNAL_AND_LEASES,  # 2: they join the main file (0.1 kept them in <path>.side)
    _TREE_ROWS,  # 3: a tree's queue as keyed rows, so a transition writes only what it changed
)

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL)"""


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest migration applied to the database (0 for a new file)."""
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def needs_migration(conn: sqlite3.Connection, migrations: Migrations) -> bool:
    """Whether ``migrate`` has work to do (or a refusal to make), found by reading only.

    Opening an up-to-date file thus never waits for the writer slot.
    """
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                          "AND name = 'schema_version'").fetchone()
    return exists is None or schema_version(conn) != len(migrations)


def migrate(conn: sqlite3.Connection, migrations: Migrations) -> None:
    """Apply the pending migrations in one write transaction (a no-op when up to date).

    ``conn`` must be in autocommit mode and outside any transaction. A file written
    by a newer release is refused rather than silently misread.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_VERSION_TABLE)
        current = schema_version(conn)
        if current > len(migrations):
            raise RuntimeError(f"database schema version {current} is newer than this SOE "
                               f"supports ({len(migrations)}); upgrade soe")
        for version in range(current + 1, len(migrations) + 1):
            for statement in migrations[version - 1]:
                conn.execute(statement)
            applied = datetime.now(timezone.utc).isoformat()
            conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                         (version, applied))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
