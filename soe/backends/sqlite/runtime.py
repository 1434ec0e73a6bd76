"""The SQLite :class:`~soe.engine.durability.RuntimeStore`: the runner's durable state.

Everything lives in the one database file: statuses and tree state commit in
the same transaction as the context, telemetry and registry writes of a
transition; a journal entry commits on its own the moment an LLM or tool call
returns (no transaction is open then: the runner holds none across a wait),
and lease heartbeats commit between transitions.

Journal keys are the runner's. ``prune`` deletes the entries recorded with a
pruned ``execution_id`` and those whose key is a pruned execution id or starts
with ``"<execution id>/"`` (the runner's form) or ``"<execution id>:"``; an
execution id never contains ``/``, so the prefix cannot match another id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from soe.backends.sqlite.codec import decode, encode
from soe.backends.sqlite.connection import Database
from soe.backends.sqlite.context import delete_context
from soe.lib.ids import check_id
from soe.lib.missing import MISSING
from soe.lib.tree_rows import TreeRows

__all__ = ["STATUSES", "SqliteRuntimeStore"]

STATUSES = ("running", "completed", "waiting", "failed")

# Tables holding one execution's rows, by the column naming the execution.
_PER_EXECUTION = (
    ("workflow_registries", "execution_id"),
    ("workflow_names", "execution_id"),
    ("registry_revisions", "execution_id"),
    ("telemetry_events", "execution_id"),
    ("conversation_entries", "history_key"),
    ("context_schemas", "execution_id"),
    ("identities", "execution_id"),
    ("executions", "execution_id"),
)
# Rows of a tree's runner state beyond the ``trees`` row: its queue and in-flight items.
_TREE_ROWS = ("tree_queue", "tree_tasks")


def _timestamp(epoch: float) -> str:
    """SPEC §12.1's format: naive UTC ``isoformat()`` plus ``Z``."""
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def _cutoff(older_than: datetime | timedelta) -> float:
    """An epoch cutoff; a naive datetime is UTC, like every timestamp SOE writes."""
    if isinstance(older_than, timedelta):
        return time.time() - older_than.total_seconds()
    if older_than.tzinfo is None:
        older_than = older_than.replace(tzinfo=timezone.utc)
    return older_than.timestamp()


def _key_range(execution_id: str, separator: str) -> tuple[str, str]:
    """Bounds of the journal keys starting with ``<execution_id><separator>`` (an index range)."""
    return execution_id + separator, execution_id + chr(ord(separator) + 1)


def _apply_rows(conn: Any, main_execution_id: str, rows: TreeRows) -> None:
    """Apply one transition's changes to the tree's queue and in-flight rows (SQLite and PostgreSQL)."""
    if rows.reset:
        for table in _TREE_ROWS:
            conn.execute(f"DELETE FROM {table} WHERE main_execution_id = ?", (main_execution_id,))
    if rows.taken:
        conn.executemany("DELETE FROM tree_queue WHERE main_execution_id = ? AND frame = ? AND position = ?",
                         [(main_execution_id, frame, position) for frame, position in rows.taken])
    if rows.frames:
        conn.executemany("INSERT INTO tree_queue (main_execution_id, frame, position, item_json) "
                         "VALUES (?, ?, ?, ?)",
                         [(main_execution_id, frame, position, encode(item))
                          for frame, items in rows.frames for position, item in enumerate(items)])
    if rows.tasks_done:
        conn.executemany("DELETE FROM tree_tasks WHERE main_execution_id = ? AND task = ?",
                         [(main_execution_id, task) for task in rows.tasks_done])
    if rows.tasks:
        conn.executemany("INSERT INTO tree_tasks (main_execution_id, task, task_json) VALUES (?, ?, ?) "
                         "ON CONFLICT (main_execution_id, task) DO UPDATE SET task_json = excluded.task_json",
                         [(main_execution_id, task, encode(data)) for task, data in rows.tasks])


def _status_record(row: Sequence[Any]) -> dict[str, Any]:
    execution_id, main_execution_id, status, error, updated_at = row
    return {"execution_id": execution_id, "main_execution_id": main_execution_id,
            "status": status, "error": error, "updated_at": _timestamp(updated_at)}


class SqliteRuntimeStore:
    """Transactions, statuses, tree state, leases, the call journal and pruning."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every backend write of this thread inside the block commits together, or none does."""
        with self._db.transaction():
            yield

    # -- status ---------------------------------------------------------------------------
    def set_status(self, execution_id: str, main_execution_id: str, status: str,
                   error: str | None = None) -> None:
        check_id(execution_id)
        check_id(main_execution_id)
        if status not in STATUSES:
            raise ValueError(f"Unknown status '{status}': expected one of {', '.join(STATUSES)}")
        now = time.time()
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO executions (execution_id, main_execution_id, status, error, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (execution_id) DO UPDATE SET "
                "main_execution_id = excluded.main_execution_id, status = excluded.status, "
                "error = excluded.error, updated_at = excluded.updated_at",
                (execution_id, main_execution_id, status, error, now, now))

    def get_status(self, execution_id: str) -> dict[str, Any] | None:
        """``{"execution_id", "main_execution_id", "status", "error", "updated_at"}`` or ``None``."""
        check_id(execution_id)
        row = self._db.connection().execute(
            "SELECT execution_id, main_execution_id, status, error, updated_at FROM executions "
            "WHERE execution_id = ?", (execution_id,)).fetchone()
        return None if row is None else _status_record(row)

    def list_executions(self, status: str | None = None) -> list[dict[str, Any]]:
        """Status records in the order executions were first recorded."""
        query = ("SELECT execution_id, main_execution_id, status, error, updated_at "
                 "FROM executions")
        params: tuple[Any, ...] = ()
        if status is not None:
            query, params = query + " WHERE status = ?", (status,)
        rows = self._db.connection().execute(query + " ORDER BY rowid", params)
        return [_status_record(row) for row in rows]

    # -- tree state -----------------------------------------------------------------------
    def save_tree(self, main_execution_id: str, state: dict[str, Any], rows: TreeRows | None = None) -> None:
        """Write the tree's state and apply ``rows`` in one transaction: O(what changed)."""
        check_id(main_execution_id)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO trees (main_execution_id, state_json, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (main_execution_id) DO UPDATE SET "
                "state_json = excluded.state_json, updated_at = excluded.updated_at",
                (main_execution_id, encode(state), time.time()))
            if rows:
                _apply_rows(conn, main_execution_id, rows)

    def load_tree(self, main_execution_id: str) -> dict[str, Any] | None:
        check_id(main_execution_id)
        with self._db.snapshot() as conn:
            row = conn.execute("SELECT state_json FROM trees WHERE main_execution_id = ?",
                               (main_execution_id,)).fetchone()
            if row is None:
                return None
            frames: dict[int, list[Any]] = {}
            for frame, item in conn.execute("SELECT frame, item_json FROM tree_queue WHERE main_execution_id = ? "
                                            "ORDER BY frame, position", (main_execution_id,)):
                frames.setdefault(frame, []).append(decode(item))
            tasks = [decode(task) for (task,) in conn.execute(
                "SELECT task_json FROM tree_tasks WHERE main_execution_id = ? ORDER BY task",
                (main_execution_id,))]
        state: dict[str, Any] = decode(row[0])
        if frames:
            state["queue"] = [*frames.values(), *state.get("queue", [])]
        if tasks:
            state["in_flight"] = [*tasks, *state.get("in_flight", [])]
        return state

    # -- lease ----------------------------------------------------------------------------
    def acquire_lease(self, main_execution_id: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew the lease; ``False`` while another owner's lease is unexpired."""
        check_id(main_execution_id)
        now = time.time()
        with self._db.transaction() as conn:
            row = conn.execute("SELECT owner, acquired_at, expires_at FROM leases "
                               "WHERE main_execution_id = ?", (main_execution_id,)).fetchone()
            if row is not None and row[0] != owner and row[2] > now:
                return False
            acquired_at = row[1] if row is not None and row[0] == owner else now
            conn.execute(
                "INSERT OR REPLACE INTO leases (main_execution_id, owner, acquired_at, "
                "heartbeat_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                (main_execution_id, owner, acquired_at, now, now + ttl_seconds))
            return True

    def release_lease(self, main_execution_id: str, owner: str) -> None:
        check_id(main_execution_id)
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM leases WHERE main_execution_id = ? AND owner = ?",
                         (main_execution_id, owner))

    def lease_is_fresh(self, main_execution_id: str) -> bool:
        check_id(main_execution_id)
        row = self._db.connection().execute(
            "SELECT expires_at FROM leases WHERE main_execution_id = ?",
            (main_execution_id,)).fetchone()
        return row is not None and row[0] > time.time()

    def lease_owner(self, main_execution_id: str) -> str | None:
        """The owner of the tree's unexpired lease, or ``None``."""
        check_id(main_execution_id)
        row = self._db.connection().execute(
            "SELECT owner, expires_at FROM leases WHERE main_execution_id = ?",
            (main_execution_id,)).fetchone()
        return row[0] if row is not None and row[1] > time.time() else None

    def get_lease(self, main_execution_id: str) -> dict[str, Any] | None:
        """``{"owner", "acquired_at", "heartbeat_at", "expires_at"}`` (§12.1 timestamps) or ``None``."""
        check_id(main_execution_id)
        row = self._db.connection().execute(
            "SELECT owner, acquired_at, heartbeat_at, expires_at FROM leases "
            "WHERE main_execution_id = ?", (main_execution_id,)).fetchone()
        if row is None:
            return None
        return {"owner": row[0], "acquired_at": _timestamp(row[1]),
                "heartbeat_at": _timestamp(row[2]), "expires_at": _timestamp(row[3])}

    # -- journal --------------------------------------------------------------------------
    def journal_get(self, key: str) -> Any:
        """The recorded result for ``key``, or ``MISSING`` (a recorded ``None`` is ``None``)."""
        row = self._db.connection().execute(
            "SELECT value_json FROM journal WHERE key = ?", (key,)).fetchone()
        return MISSING if row is None else decode(row[0])

    def journal_put(self, key: str, value: Any, execution_id: str | None = None) -> None:
        """Record a result, committed at once (the runner calls it outside any transaction).

        ``execution_id`` (optional, beyond the protocol) ties the entry to an
        execution so ``prune`` removes it with that execution.
        """
        if execution_id is not None:
            check_id(execution_id)
        with self._db.transaction() as conn:
            conn.execute("INSERT INTO journal (key, execution_id, value_json, created_at) "
                         "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                         "execution_id = excluded.execution_id, value_json = excluded.value_json, "
                         "created_at = excluded.created_at",
                         (key, execution_id, encode(value), time.time()))

    # -- housekeeping ---------------------------------------------------------------------
    def prune(self, older_than: datetime | timedelta, keep_failed: bool = True) -> int:
        """Delete finished trees last updated before ``older_than``; return executions deleted.

        A tree (a main execution and its children) goes only as a whole, when none
        of its executions is ``running`` and — with ``keep_failed`` — none is
        ``failed``, so a failure stays inspectable and nothing resumable is lost.
        ``older_than`` is a moment (naive = UTC) or an age.
        """
        cutoff = _cutoff(older_than)
        deletable = ("completed",) if keep_failed else ("completed", "failed")
        marks = ", ".join("?" * len(deletable))
        with self._db.transaction() as conn:
            mains = [main for (main,) in conn.execute(
                "SELECT main_execution_id FROM executions GROUP BY main_execution_id "
                f"HAVING SUM(CASE WHEN status IN ({marks}) THEN 0 ELSE 1 END) = 0 "
                "AND MAX(updated_at) < ?",
                (*deletable, cutoff))]
            ids = [execution_id for main in mains for (execution_id,) in conn.execute(
                "SELECT execution_id FROM executions WHERE main_execution_id = ?", (main,))]
            for execution_id in ids:
                delete_context(conn, execution_id)
                for table, column in _PER_EXECUTION:
                    conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (execution_id,))
            for table in ("trees", *_TREE_ROWS):
                conn.executemany(f"DELETE FROM {table} WHERE main_execution_id = ?",
                                 [(tree,) for tree in {*ids, *mains}])
            for execution_id in ids:
                conn.execute("DELETE FROM journal WHERE execution_id = ? OR key = ? "
                             "OR (key >= ? AND key < ?) OR (key >= ? AND key < ?)",
                             (execution_id, execution_id, *_key_range(execution_id, "/"),
                              *_key_range(execution_id, ":")))
            conn.executemany("DELETE FROM leases WHERE main_execution_id = ?",
                             [(tree,) for tree in {*ids, *mains}])
        return len(ids)

    def cleanup_all(self) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM executions")
            for table in ("trees", *_TREE_ROWS):
                conn.execute(f"DELETE FROM {table}")
            conn.execute("DELETE FROM journal")
            conn.execute("DELETE FROM leases")
