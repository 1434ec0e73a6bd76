"""SQLite backends: every SOE backend plus the runner's durable store in one database.

``create_sqlite_backends(path)`` returns a :class:`SqliteBackends` container
with the six SPEC §11.1 backends and ``runtime`` (a
:class:`~soe.engine.durability.RuntimeStore`), built on the standard library's
``sqlite3``. Several threads and several processes may use the same file.

Everything lives in ``path`` (plus SQLite's own ``-wal`` and ``-shm``): the call
journal and the leases included, so a copy of the file is a consistent backup.

Unlike the in-memory backends, nothing is kept as a Python object: an append
to a history field, a conversation entry or a telemetry event is one row, and a
counter update rewrites one or two small rows, so the cost of a step does not
grow with the length of a run.
"""

from __future__ import annotations

import os

from soe.backends.container import LocalBackends
from soe.backends.sqlite.connection import SqliteDatabase
from soe.backends.sqlite.context import SqliteContextBackend
from soe.backends.sqlite.runtime import SqliteRuntimeStore
from soe.backends.sqlite.schema import MAIN_MIGRATIONS
from soe.backends.sqlite.stores import (
    SqliteContextSchemaBackend,
    SqliteConversationHistoryBackend,
    SqliteIdentityBackend,
    SqliteTelemetryBackend,
    SqliteWorkflowBackend,
)

__all__ = [
    "SqliteBackends",
    "SqliteContextBackend",
    "SqliteContextSchemaBackend",
    "SqliteConversationHistoryBackend",
    "SqliteDatabase",
    "SqliteIdentityBackend",
    "SqliteRuntimeStore",
    "SqliteTelemetryBackend",
    "SqliteWorkflowBackend",
    "create_sqlite_backends",
]


class SqliteBackends(LocalBackends):
    """The six backends and ``runtime``, all backed by one SQLite database file."""

    def __init__(self, db: SqliteDatabase) -> None:
        super().__init__(
            SqliteContextBackend(db),
            SqliteWorkflowBackend(db),
            SqliteTelemetryBackend(db),
            SqliteConversationHistoryBackend(db),
            SqliteContextSchemaBackend(db),
            SqliteIdentityBackend(db),
        )
        self.runtime = SqliteRuntimeStore(db)
        self.path = db.path
        self._db = db

    def cleanup_all(self) -> None:
        """Delete every row of every table (the files and their schema stay)."""
        super().cleanup_all()
        self.runtime.cleanup_all()

    def check(self) -> None:
        """Open the file now; unless opened read-only, also prove it can be written.

        Raises:
            sqlite3.Error: not a database, a directory, unreadable or read-only.
        """
        self._db.check()

    def close(self) -> None:
        """Close every thread's connections; using the backends again reopens them."""
        self._db.close()

    def __enter__(self) -> SqliteBackends:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def create_sqlite_backends(path: str | os.PathLike[str], *, timeout: float = 30.0,
                           read_only: bool = False) -> SqliteBackends:
    """SQLite backends on the database file ``path`` (created, with parents, on first use).

    ``timeout`` bounds, in seconds, how long a write waits for the file's single
    writer slot (held by another thread or process) before failing.
    ``read_only`` opens an existing file for reading only (``soe inspect``),
    which works in a read-only directory too; every write then fails.
    """
    return SqliteBackends(SqliteDatabase(path, MAIN_MIGRATIONS, timeout, read_only=read_only))
