"""The SQLite context backend: a context stored field by field, never as one document.

Layout (see ``schema.py``): ``context_keys`` has one row per top-level key with
its position (dicts keep insertion order, so the position is the order keys
were first written) and how it is stored:

* ``history`` — a plain field whose value is a list: one ``context_history``
  row per entry, so ``append_to_field`` is one ``INSERT``;
* ``raw`` — a ``__`` key, or a plain field holding a non-list: the JSON value;
* ``operational`` — a dict ``__operational__``: one ``operational_items`` row
  per key (in order), with ``signals`` as ``operational_signals`` rows and
  ``nodes`` as ``operational_nodes`` rows, so each counter event reads and
  writes one or two small rows.

``update_operational`` applies :func:`soe.lib.operational.apply_operational_event`
to a *partial* block holding only the keys the event touches, then writes those
keys back; the result is what the read-modify-write of SPEC §3.2 would give,
including its errors. An unusual block (``signals`` not a list, ``nodes`` not a
string-keyed dict) is updated by that read-modify-write itself.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from soe.backends.sqlite.codec import decode, encode
from soe.backends.sqlite.connection import Database
from soe.lib.context_fields import is_internal
from soe.lib.ids import check_id
from soe.lib.operational import apply_operational_event, changes_operational

__all__ = ["SqliteContextBackend"]

OPERATIONAL = "__operational__"

# context_keys.kind
_HISTORY, _RAW, _OPERATIONAL = "history", "raw", "operational"
# operational_items.kind
_SIGNALS, _NODES, _VALUE = "signals", "nodes", "value"

# The operational_items keys each counter event reads and writes.
_COUNTER_KEYS = {
    "llm_call": ("llm_calls",),
    "tool_call": ("tool_calls",),
    "agent_tool_call": ("tool_calls",),
    "node_error": ("errors",),
    "llm_usage": ("prompt_tokens", "completion_tokens"),
}

_CONTEXT_TABLES = ("context_keys", "context_history", "operational_items",
                   "operational_signals", "operational_nodes")


class SqliteContextBackend:
    """Contexts per execution id; appends and counter updates touch only their own rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- protocol -------------------------------------------------------------------------
    def save_context(self, id: str, context: dict[str, Any]) -> None:
        """Replace the whole context (delete and insert, one transaction)."""
        check_id(id)
        with self._db.transaction() as conn:
            delete_context(conn, id)
            for position, (key, value) in enumerate(context.items()):
                _insert_key(conn, id, key, position, value)

    def get_context(self, id: str) -> dict[str, Any]:
        """The stored context, rebuilt as fresh objects; a new ``{}`` when unknown."""
        check_id(id)
        with self._db.snapshot() as conn:
            return _read_context(conn, id)

    # -- optional methods (SPEC §3.2) -----------------------------------------------------
    def append_to_field(self, execution_id: str, field: str, value: Any) -> None:
        """``set_field`` on the stored context: one ``INSERT`` for a history field."""
        check_id(execution_id)
        encoded = encode(value)  # before taking the writer slot
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT position, kind FROM context_keys WHERE execution_id = ? AND key = ?",
                (execution_id, field)).fetchone()
            if row is not None and row[1] == _HISTORY and not is_internal(field):
                _append_history(conn, execution_id, field, [encoded])
                return
            if row is None:
                position = _next_position(conn, execution_id)
            else:
                position = row[0]
                _delete_key(conn, execution_id, field, row[1])
            stored = value if is_internal(field) else [value]
            _insert_key(conn, execution_id, field, position, stored)

    def update_operational(self, execution_id: str, event_type: str, data: dict[str, Any]) -> None:
        """Apply one event's counter change atomically; no-op without a dict ``__operational__``."""
        check_id(execution_id)
        if not changes_operational(event_type, data):
            return
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT kind FROM context_keys WHERE execution_id = ? AND key = ?",
                (execution_id, OPERATIONAL)).fetchone()
            if row is None or row[0] != _OPERATIONAL:
                return
            if not _update_in_place(conn, execution_id, event_type, data):
                _update_whole(conn, execution_id, event_type, data)

    def cleanup_all(self) -> None:
        with self._db.transaction() as conn:
            for table in _CONTEXT_TABLES:
                conn.execute(f"DELETE FROM {table}")


# -- writing --------------------------------------------------------------------------------

def delete_context(conn: sqlite3.Connection, execution_id: str) -> None:
    """Remove every row of one execution's context."""
    for table in _CONTEXT_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE execution_id = ?", (execution_id,))


def _next_position(conn: sqlite3.Connection, execution_id: str) -> int:
    row = conn.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM context_keys "
                       "WHERE execution_id = ?", (execution_id,)).fetchone()
    return int(row[0])


def _insert_key(conn: sqlite3.Connection, execution_id: str, key: str, position: int,
                value: Any) -> None:
    """Store one top-level key in the form its name and value call for."""
    if key == OPERATIONAL and isinstance(value, dict):
        kind, value_json = _OPERATIONAL, None
        _insert_operational(conn, execution_id, value)
    elif is_internal(key) or not isinstance(value, list):
        kind, value_json = _RAW, encode(value)
    else:
        kind, value_json = _HISTORY, None
        _append_history(conn, execution_id, key, [encode(entry) for entry in value])
    conn.execute("INSERT INTO context_keys (execution_id, key, position, kind, value_json) "
                 "VALUES (?, ?, ?, ?, ?)", (execution_id, key, position, kind, value_json))


def _delete_key(conn: sqlite3.Connection, execution_id: str, key: str, kind: str) -> None:
    conn.execute("DELETE FROM context_keys WHERE execution_id = ? AND key = ?",
                 (execution_id, key))
    if kind == _HISTORY:
        conn.execute("DELETE FROM context_history WHERE execution_id = ? AND key = ?",
                     (execution_id, key))
    elif kind == _OPERATIONAL:
        _delete_operational(conn, execution_id)


def _append_history(conn: sqlite3.Connection, execution_id: str, key: str,
                    encoded: list[str]) -> None:
    if not encoded:
        return
    row = conn.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM context_history "
                       "WHERE execution_id = ? AND key = ?", (execution_id, key)).fetchone()
    start = int(row[0])
    conn.executemany(
        "INSERT INTO context_history (execution_id, key, seq, value_json) VALUES (?, ?, ?, ?)",
        [(execution_id, key, start + offset, text) for offset, text in enumerate(encoded)])


def _plain_nodes(value: Any) -> bool:
    return isinstance(value, dict) and all(type(name) is str for name in value)


def _insert_operational(conn: sqlite3.Connection, execution_id: str,
                        operational: dict[str, Any]) -> None:
    for position, (key, value) in enumerate(operational.items()):
        value_json = None
        if key == "signals" and isinstance(value, list):
            kind = _SIGNALS
            _append_signals(conn, execution_id, value)
        elif key == "nodes" and _plain_nodes(value):
            kind = _NODES
            conn.executemany(
                "INSERT INTO operational_nodes (execution_id, name, position, count_json) "
                "VALUES (?, ?, ?, ?)",
                [(execution_id, name, index, encode(count))
                 for index, (name, count) in enumerate(value.items())])
        else:
            kind, value_json = _VALUE, encode(value)
        conn.execute("INSERT INTO operational_items (execution_id, key, position, kind, "
                     "value_json) VALUES (?, ?, ?, ?, ?)",
                     (execution_id, key, position, kind, value_json))


def _delete_operational(conn: sqlite3.Connection, execution_id: str) -> None:
    for table in ("operational_items", "operational_signals", "operational_nodes"):
        conn.execute(f"DELETE FROM {table} WHERE execution_id = ?", (execution_id,))


def _append_signals(conn: sqlite3.Connection, execution_id: str, signals: list[Any]) -> None:
    if not signals:
        return
    row = conn.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM operational_signals "
                       "WHERE execution_id = ?", (execution_id,)).fetchone()
    start = int(row[0])
    conn.executemany(
        "INSERT INTO operational_signals (execution_id, seq, value_json) VALUES (?, ?, ?)",
        [(execution_id, start + offset, encode(signal)) for offset, signal in enumerate(signals)])


# -- counter events -------------------------------------------------------------------------

def _item_kind(conn: sqlite3.Connection, execution_id: str, key: str) -> str | None:
    row = conn.execute("SELECT kind FROM operational_items WHERE execution_id = ? AND key = ?",
                       (execution_id, key)).fetchone()
    return None if row is None else row[0]


def _update_in_place(conn: sqlite3.Connection, execution_id: str, event_type: str,
                     data: dict[str, Any]) -> bool:
    """Apply the event to the rows it touches; ``False`` if the block's shape needs the slow path."""
    if event_type == "signals_broadcast":
        if _item_kind(conn, execution_id, "signals") != _SIGNALS:
            return False
        partial: dict[str, Any] = {"signals": []}
        apply_operational_event(partial, event_type, data)
        _append_signals(conn, execution_id, partial["signals"])
        return True
    if event_type == "node_execution":
        name = data.get("node_name")
        if type(name) is not str or _item_kind(conn, execution_id, "nodes") != _NODES:
            return False
        _count_node(conn, execution_id, name, event_type, data)
        return True
    _update_counters(conn, execution_id, _COUNTER_KEYS[event_type], event_type, data)
    return True


def _count_node(conn: sqlite3.Connection, execution_id: str, name: str, event_type: str,
                data: dict[str, Any]) -> None:
    row = conn.execute("SELECT count_json FROM operational_nodes "
                       "WHERE execution_id = ? AND name = ?", (execution_id, name)).fetchone()
    partial: dict[str, Any] = {"nodes": {} if row is None else {name: decode(row[0])}}
    apply_operational_event(partial, event_type, data)
    count_json = encode(partial["nodes"][name])
    if row is not None:
        conn.execute("UPDATE operational_nodes SET count_json = ? "
                     "WHERE execution_id = ? AND name = ?", (count_json, execution_id, name))
        return
    conn.execute(
        "INSERT INTO operational_nodes (execution_id, name, position, count_json) "
        "SELECT ?, ?, COALESCE(MAX(position), -1) + 1, ? FROM operational_nodes "
        "WHERE execution_id = ?", (execution_id, name, count_json, execution_id))


def _update_counters(conn: sqlite3.Connection, execution_id: str, keys: tuple[str, ...],
                     event_type: str, data: dict[str, Any]) -> None:
    """Read the counters ``keys`` (those present), apply the event, write them back."""
    marks = ", ".join("?" * len(keys))
    rows = conn.execute(
        f"SELECT key, kind, value_json FROM operational_items WHERE execution_id = ? "
        f"AND key IN ({marks}) ORDER BY position", (execution_id, *keys)).fetchall()
    if any(kind != _VALUE for _, kind, _ in rows):
        _update_whole(conn, execution_id, event_type, data)
        return
    partial = {key: decode(value_json) for key, _, value_json in rows}
    existing = set(partial)
    apply_operational_event(partial, event_type, data)
    for key, value in partial.items():
        if key in existing:
            conn.execute("UPDATE operational_items SET value_json = ? "
                         "WHERE execution_id = ? AND key = ?", (encode(value), execution_id, key))
        else:
            conn.execute(
                "INSERT INTO operational_items (execution_id, key, position, kind, value_json) "
                "SELECT ?, ?, COALESCE(MAX(position), -1) + 1, ?, ? FROM operational_items "
                "WHERE execution_id = ?", (execution_id, key, _VALUE, encode(value), execution_id))


def _update_whole(conn: sqlite3.Connection, execution_id: str, event_type: str,
                  data: dict[str, Any]) -> None:
    """SPEC §3.2's read-modify-write of the whole block, for unusual shapes."""
    operational = _read_operational(conn, execution_id)
    apply_operational_event(operational, event_type, data)
    _delete_operational(conn, execution_id)
    _insert_operational(conn, execution_id, operational)


# -- reading --------------------------------------------------------------------------------

def _read_context(conn: sqlite3.Connection, execution_id: str) -> dict[str, Any]:
    keys = conn.execute("SELECT key, kind, value_json FROM context_keys WHERE execution_id = ? "
                        "ORDER BY position", (execution_id,)).fetchall()
    context: dict[str, Any] = {}
    for key, kind, value_json in keys:
        if kind == _HISTORY:
            context[key] = _read_list(conn, _HISTORY_SQL, (execution_id, key))
        elif kind == _RAW:
            context[key] = decode(value_json)
        else:
            context[key] = _read_operational(conn, execution_id)
    return context


def _ordered_concat(table: str, where: str) -> str:
    """SQL joining ``value_json`` of matching rows in ``seq`` order into one JSON array body.

    SQLite 3.44+ orders the aggregate explicitly; older versions aggregate an
    ordered subquery, which SQLite does not flatten (its rule 16), so rows arrive
    in ``seq`` order. Either way a 10,000-entry history is one C-level join and
    one ``json.loads``, not 10,000 Python steps.
    """
    if sqlite3.sqlite_version_info >= (3, 44, 0):
        return (f"SELECT group_concat(value_json, ',' ORDER BY seq) FROM {table} "
                f"WHERE {where}")
    return (f"SELECT group_concat(value_json, ',') FROM "
            f"(SELECT value_json FROM {table} WHERE {where} ORDER BY seq)")


_HISTORY_SQL = _ordered_concat("context_history", "execution_id = ? AND key = ?")
_SIGNALS_SQL = _ordered_concat("operational_signals", "execution_id = ?")


def _read_list(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    joined = conn.execute(sql, params).fetchone()[0]
    return [] if joined is None else decode("[" + joined + "]")


def _read_operational(conn: sqlite3.Connection, execution_id: str) -> dict[str, Any]:
    operational: dict[str, Any] = {}
    items = conn.execute("SELECT key, kind, value_json FROM operational_items "
                         "WHERE execution_id = ? ORDER BY position", (execution_id,)).fetchall()
    for key, kind, value_json in items:
        if kind == _SIGNALS:
            operational[key] = _read_list(conn, _SIGNALS_SQL, (execution_id,))
        elif kind == _NODES:
            rows = conn.execute("SELECT name, count_json FROM operational_nodes "
                                "WHERE execution_id = ? ORDER BY position", (execution_id,))
            operational[key] = {name: decode(count_json) for name, count_json in rows}
        else:
            operational[key] = decode(value_json)
    return operational
