"""PostgreSQL backends: every SOE backend plus the runner's durable store, for many machines.

``create_postgres_backends(dsn)`` returns a :class:`PostgresBackends` container
with the six SPEC §11.1 backends and ``runtime`` (a
:class:`~soe.engine.durability.RuntimeStore`), built on psycopg 3 and
``psycopg_pool`` (``pip install '.[postgres]'``). Any number of threads,
processes and machines may use the same database: the same semantics and
guarantees as the SQLite store (a transition's writes commit together, the
journal commits the moment a call returns, one live runner per tree through a
lease), with writers of different executions running in parallel instead of
queueing for one file.

Importing :mod:`soe` never imports psycopg; only this package does.
"""

from __future__ import annotations

from soe.backends.container import LocalBackends
from soe.backends.postgres.connection import PostgresDatabase, split_schema
from soe.backends.postgres.runtime import PostgresRuntimeStore
from soe.backends.postgres.stores import (
    PostgresContextBackend,
    PostgresContextSchemaBackend,
    PostgresConversationHistoryBackend,
    PostgresIdentityBackend,
    PostgresTelemetryBackend,
    PostgresWorkflowBackend,
)

__all__ = [
    "PostgresBackends",
    "PostgresContextBackend",
    "PostgresContextSchemaBackend",
    "PostgresConversationHistoryBackend",
    "PostgresDatabase",
    "PostgresIdentityBackend",
    "PostgresRuntimeStore",
    "PostgresTelemetryBackend",
    "PostgresWorkflowBackend",
    "create_postgres_backends",
]


class PostgresBackends(LocalBackends):
    """The six backends and ``runtime``, all in one PostgreSQL schema."""

    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__(
            PostgresContextBackend(db),
            PostgresWorkflowBackend(db),
            PostgresTelemetryBackend(db),
            PostgresConversationHistoryBackend(db),
            PostgresContextSchemaBackend(db),
            PostgresIdentityBackend(db),
        )
        self.runtime = PostgresRuntimeStore(db)
        self.address = db.address
        self.schema = db.schema
        self._db = db

    def cleanup_all(self) -> None:
        """Delete every row of every table (the schema and its tables stay)."""
        super().cleanup_all()
        self.runtime.cleanup_all()

    def close(self) -> None:
        """Close the connection pool; the backends cannot be used afterwards."""
        self._db.close()

    def __enter__(self) -> PostgresBackends:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def create_postgres_backends(dsn: str, *, schema: str | None = None, pool_size: int = 16,
                             timeout: float = 30.0, create: bool = True) -> PostgresBackends:
    """PostgreSQL backends on the database ``dsn`` names; tables are created or upgraded first.

    Args:
        dsn: a libpq connection string or URL (``postgresql://user@host:5432/db``).
            A URL may carry ``?schema=NAME`` instead of the ``schema`` argument.
        schema: the PostgreSQL schema holding SOE's tables (created if missing);
            by default the connection's ``search_path`` decides (usually ``public``).
            Separate schemas are separate stores in one database.
        pool_size: the most connections this process opens.
        timeout: seconds to wait for a connection (from the server or the pool) and
            for a lock another transaction holds.
        create: create the schema and tables when missing; ``False`` refuses a
            schema without an SOE store (what reading an earlier run wants).

    Raises:
        ConnectionError: the server cannot be reached; the message names its address.
        ValueError: ``schema`` was given twice, differently, or (``create=False``)
            there is no store.
    """
    dsn, url_schema = split_schema(dsn)
    if url_schema is not None and schema is not None and url_schema != schema:
        raise ValueError(f"Two schemas given for one PostgreSQL store: {url_schema!r} in the "
                         f"DSN and {schema!r} as an argument")
    return PostgresBackends(PostgresDatabase(dsn, schema=schema or url_schema, pool_size=pool_size,
                                             timeout=timeout, create=create))
