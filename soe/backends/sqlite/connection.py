"""One SQLite file shared by threads and processes: connections, transactions, locking.

Each thread gets its own connection (SQLite connections must not be used by two
threads at once); ``check_same_thread=False`` is set only so that ``close()``
can close every thread's connection from the thread that calls it. The file is
in WAL mode, so readers never block the writer and vice versa, with
``synchronous=NORMAL`` (durable across process crashes; a power loss can drop
the last commits but never corrupts the file).

Writes go through :meth:`SqliteDatabase.transaction`. The outermost block of a
thread takes a per-file, process-wide write lock and issues ``BEGIN IMMEDIATE``;
nested blocks (a backend write inside the runner's transaction) join it. The
Python lock makes threads of one process queue for the single SQLite writer
slot instead of spinning on ``SQLITE_BUSY``; other processes wait through
``busy_timeout``. Both waits are bounded by ``timeout`` seconds.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from soe._errors import StoreError
from soe.backends.sqlite.schema import Migrations, migrate, needs_migration

__all__ = ["Database", "SqliteDatabase"]


class Database(Protocol):
    """What the stores need of a database: ``SqliteDatabase`` and ``PostgresDatabase`` both offer it.

    Connections are typed ``Any``: SQLite's are ``sqlite3.Connection``, PostgreSQL's
    a session with the same ``execute`` / ``executemany`` / ``fetchone`` surface.
    """

    def connection(self) -> Any: ...
    def transaction(self) -> AbstractContextManager[Any]: ...
    def snapshot(self) -> AbstractContextManager[Any]: ...
    def close(self) -> None: ...

_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: str) -> threading.RLock:
    """The process-wide write lock of one file (shared by every object that opens it)."""
    key = os.path.realpath(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


class _Handle:
    """Owns one thread's connection; closes it when the thread's locals are dropped."""

    __slots__ = ("conn", "depth", "__weakref__")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.depth = 0  # nesting of transaction() in the owning thread

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - also runs from __del__, possibly at shutdown
            pass

    def __del__(self) -> None:
        self.close()


class SqliteDatabase:
    """A SQLite file with per-thread connections, joined transactions and migrations."""

    def __init__(self, path: str | os.PathLike[str], migrations: Migrations,
                 timeout: float = 30.0, *, read_only: bool = False) -> None:
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ValueError("SQLite backends need a file path (each thread opens its own "
                             f"connection), got {str(path)!r}")
        self.path = Path(path)
        self.timeout = timeout
        self.read_only = read_only
        self._migrations = migrations
        self._local = threading.local()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._guard = threading.Lock()
        self._generation = 0
        self._migrated = False
        self._write_lock = _write_lock(str(self.path))

    # -- connections ----------------------------------------------------------------------
    def _handle(self) -> _Handle:
        local = self._local
        handle = getattr(local, "handle", None)
        if handle is None or local.generation != self._generation:
            handle = _Handle(self._open())
            local.handle, local.generation = handle, self._generation
            with self._guard:
                self._handles.add(handle)
        return handle

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened, configured and migrated on first use)."""
        return self._handle().conn

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            return self._open_read_only()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if not self._migrated:
                if needs_migration(conn, self._migrations):
                    with self._locked():
                        migrate(conn, self._migrations)
                self._migrated = True
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        """Open for reading only, so a store in a read-only directory can still be inspected.

        SQLite needs to create the ``-shm`` file of a WAL database even to read
        it; where it cannot (a read-only directory, so nobody can be writing),
        the file is opened as immutable instead.
        """
        if not self.path.is_file():
            raise sqlite3.OperationalError(f"no database file at {self.path}")
        uri = self.path.resolve().as_uri()
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            conn = sqlite3.connect(uri + query, uri=True, timeout=self.timeout, check_same_thread=False,
                                   isolation_level=None)
            try:
                if needs_migration(conn, self._migrations):
                    raise sqlite3.OperationalError(
                        f"{self.path} needs a schema upgrade, which a read-only open cannot make")
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()
                if "unable to open" not in str(exc):
                    raise
        raise sqlite3.OperationalError(f"unable to open database file {self.path} for reading")

    def check(self) -> None:
        """Open the file now and, unless read-only, prove it can be written.

        A store that is not a database, is a directory or is read-only then
        fails when it is opened, not halfway through a run.
        """
        conn = self.connection()
        if not self.read_only:
            with self.transaction():
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                conn.execute(f"PRAGMA user_version = {int(version)}")

    def close(self) -> None:
        """Close every thread's connection; the next use opens fresh ones."""
        with self._guard:
            self._generation += 1
            handles = list(self._handles)
            self._handles = weakref.WeakSet()
        for handle in handles:
            handle.close()

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        if not self._write_lock.acquire(timeout=self.timeout):
            raise sqlite3.OperationalError(
                f"database is locked: another thread kept {self.path} busy for "
                f"more than {self.timeout} s")
        try:
            yield
        finally:
            self._write_lock.release()

    def in_transaction(self) -> bool:
        """Whether this thread is inside :meth:`transaction`."""
        return self._handle().depth > 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction for the block; nested blocks in the same thread join it.

        On an exception everything written in the outermost block is rolled back.
        """
        handle = self._handle()
        if handle.depth:
            handle.depth += 1
            try:
                with self._store_errors():
                    yield handle.conn
            finally:
                handle.depth -= 1
            return
        with self._locked(), self._store_errors():
            conn = handle.conn
            conn.execute("BEGIN IMMEDIATE")
            handle.depth = 1
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                handle.depth = 0

    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        """A failed write (disk full, I/O error, read-only file) is a ``StoreError`` naming the file.

        No node handler catches a ``StoreError``, so a write that failed is never
        mistaken for a tool's or an LLM's failure.
        """
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot write to the SQLite store {self.path}: {exc}") from exc

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A consistent read of several statements (joins this thread's write transaction)."""
        handle = self._handle()
        conn = handle.conn
        if handle.depth or conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")
