"""A PostgreSQL database shared by threads, processes and machines: pool, transactions, locks.

Connections come from a ``psycopg_pool.ConnectionPool`` and run in autocommit
mode. :meth:`PostgresDatabase.transaction` checks one out for the outermost
block of a thread and runs the block as one transaction on it; nested blocks
(a backend write inside the runner's transaction) join it, as on SQLite. A read
outside any transaction borrows a connection for that one statement.

Unlike SQLite, PostgreSQL lets many writers run at once, so a write that reads
before it writes (an append numbered ``MAX(seq) + 1``, a counter update) first
takes a transaction-level advisory lock on its execution id
(:meth:`PostgresDatabase.lock`): writers of one execution queue, writers of
different executions never wait for each other. The runner never holds a
transaction across an LLM or tool call, so such a lock is held for milliseconds.

The store's SQL is the SQLite store's: :class:`Session` turns its ``?``
placeholders into psycopg's ``%s`` (once per statement text) and returns rows
the way ``sqlite3`` cursors do.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from soe._errors import StoreError
from soe.backends.postgres.schema import MIGRATIONS, migrate, schema_version

__all__ = ["PostgresDatabase", "Session", "describe_dsn", "split_schema"]

_URL_SCHEMES = ("postgresql://", "postgres://")


def split_schema(dsn: str) -> tuple[str, str | None]:
    """``dsn`` without a ``schema=`` URL query parameter, and that parameter's value.

    libpq rejects unknown parameters, so SOE's own one is taken out before the
    DSN reaches it: ``postgresql://host/db?schema=soe`` keeps a store in schema ``soe``.
    """
    if not dsn.startswith(_URL_SCHEMES):
        return dsn, None
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for name, value in query if name == "schema"]
    if not schemas:
        return dsn, None
    rest = urlencode([(name, value) for name, value in query if name != "schema"])
    return urlunsplit(parts._replace(query=rest)), schemas[-1]


def describe_dsn(dsn: str) -> str:
    """``host:port/database`` of a DSN, for messages (never the password)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparsable DSN)"
    host = info.get("host") or info.get("hostaddr") or "localhost"
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or info.get('user') or ''}"


def _one_line(error: Exception) -> str:
    """A server or libpq message (often several indented lines) as one line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__


class _Rows(list[Any]):
    """A statement's result as ``sqlite3`` cursors give it: iterable, ``fetchone``, ``rowcount``."""

    rowcount = -1

    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


# SQLite before 3.44 orders a group_concat by aggregating an ordered subquery.
_SUBQUERY_CONCAT = re.compile(
    r"group_concat\((\w+), ','\) FROM \(SELECT \1 FROM (\w+) WHERE (.*) ORDER BY seq\)$")


@functools.lru_cache(maxsize=512)
def _translate(statement: str) -> str:
    """The SQLite store's statement for PostgreSQL.

    Placeholders become psycopg's ``%s``; SQLite's ordered ``group_concat`` (one
    joined JSON body for a whole history) becomes ``string_agg ... ORDER BY``.
    """
    statement = _SUBQUERY_CONCAT.sub(r"string_agg(\1, ',' ORDER BY seq) FROM \2 WHERE \3",
                                     statement)
    return statement.replace("group_concat(", "string_agg(").replace("?", "%s")


def _run(conn: psycopg.Connection, statement: str, params: Sequence[Any]) -> _Rows:
    cursor = conn.execute(_translate(statement), tuple(params) if params else None)
    rows = _Rows(cursor.fetchall() if cursor.description is not None else ())
    rows.rowcount = cursor.rowcount
    return rows


class _ThreadState(threading.local):
    conn: psycopg.Connection | None = None
    depth = 0  # nesting of transaction() in this thread
    locked: set[str] | None = None  # advisory locks the open transaction holds


class Session:
    """What the shared SQL calls ``conn``: statements run on this thread's transaction, if any."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    def execute(self, statement: str, params: Sequence[Any] = ()) -> _Rows:
        conn = self._db._state.conn
        with self._db.store_errors():
            if conn is not None:
                return _run(conn, statement, params)
            with self._db._pool.connection() as conn:
                return _run(conn, statement, params)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        conn = self._db._state.conn
        assert conn is not None, "executemany runs inside a transaction"
        with self._db.store_errors(), conn.cursor() as cursor:
            cursor.executemany(_translate(statement), rows)


class PostgresDatabase:
    """One PostgreSQL schema with pooled connections, joined transactions and migrations.

    Connecting and migrating happen here, so an unreachable server is reported
    at once as a ``ConnectionError`` naming its address.
    """

    def __init__(self, dsn: str, *, schema: str | None = None, pool_size: int = 16,
                 timeout: float = 30.0, create: bool = True) -> None:
        self.dsn, self.schema, self.timeout = dsn, schema, timeout
        self.address = describe_dsn(dsn)
        self._lock_prefix = f"soe/{schema or 'public'}/"
        self._state = _ThreadState()
        self._session = Session(self)
        self._setup(create)
        self._pool = ConnectionPool(dsn, min_size=1, max_size=pool_size, timeout=timeout,
                                    kwargs={"autocommit": True}, configure=self._configure,
                                    name=f"soe-{self.address}", open=False)
        self._pool.open()

    def _configure(self, conn: psycopg.Connection) -> None:
        """Every connection: the store's schema, and waits for a lock bounded by ``timeout``."""
        if self.schema is not None:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        conn.execute(sql.SQL("SET lock_timeout = {}").format(
            sql.Literal(f"{max(1, int(self.timeout * 1000))}ms")))

    def _setup(self, create: bool) -> None:
        """Create the schema if needed and bring its tables up to date, on one short connection.

        An up-to-date store is only read, so a user without DDL privileges can
        use a store its owner set up. With ``create`` false a schema without
        SOE's tables is refused (``ValueError``): reading a mistyped store would
        otherwise find it empty.
        """
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=max(1, int(self.timeout)))
        except psycopg.OperationalError as exc:
            raise ConnectionError(f"Cannot connect to PostgreSQL at {self.address}: "
                                  f"{_one_line(exc)}") from None
        where = f"schema '{self.schema}'" if self.schema else "the default schema"
        with conn:
            self._configure(conn)
            version = schema_version(conn)
            if version is None and not create:
                raise ValueError(f"No SOE store in {where} of PostgreSQL at {self.address}")
            if version == len(MIGRATIONS):
                return  # up to date: a user without DDL privileges may use the store
            try:
                migrate(conn, self._lock_prefix + "migrate", schema=self.schema)
            except psycopg.Error as exc:  # e.g. no privilege to create the schema or tables
                raise ValueError(f"Cannot set up the SOE store in {where} of PostgreSQL at "
                                 f"{self.address}: {_one_line(exc)}") from exc

    # -- statements -----------------------------------------------------------------------
    def connection(self) -> Session:
        """Where reads go: this thread's transaction, else a pooled connection per statement."""
        return self._session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction for the block; nested blocks in the same thread join it.

        On an exception everything written in the outermost block is rolled back.
        """
        state = self._state
        if state.depth:
            state.depth += 1
            try:
                yield self._session
            finally:
                state.depth -= 1
            return
        with self.store_errors(), self._pool.connection() as conn, conn.transaction():
            outer = state.conn  # a snapshot's connection, if the write starts inside one
            state.conn, state.depth, state.locked = conn, 1, set()
            try:
                yield self._session
            finally:
                state.conn, state.depth, state.locked = outer, 0, None

    @contextmanager
    def store_errors(self) -> Iterator[None]:
        """A failed statement or commit is a ``StoreError`` naming the server, as on SQLite.

        No node handler catches a ``StoreError``, so a failed write is never
        mistaken for a tool's or an LLM's failure (which would go on writing
        into a transaction PostgreSQL has already aborted).
        """
        try:
            yield
        except psycopg.Error as exc:
            raise StoreError(f"Cannot write to the PostgreSQL store at {self.address}: "
                             f"{_one_line(exc)}") from exc

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A consistent read of several statements (joins this thread's transaction)."""
        state = self._state
        if state.conn is not None:
            yield self._session
            return
        with self._pool.connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            state.conn = conn
            try:
                yield self._session
            finally:
                state.conn = None
                conn.execute("COMMIT")

    @contextmanager
    def lock(self, key: str) -> Iterator[Session]:
        """A transaction holding an advisory lock on ``key`` (an execution id or history key).

        Writers of the same key queue until the outermost transaction ends; a
        transaction asks the server for each key once.
        """
        with self.transaction() as conn:
            locked = self._state.locked
            assert locked is not None
            if key not in locked:
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
                             (self._lock_prefix + key,))
                locked.add(key)
            yield conn

    def close(self) -> None:
        """Close the pool's connections; the database cannot be used afterwards."""
        self._pool.close()
