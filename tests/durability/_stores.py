"""The store a durability driver runs on: a PostgreSQL URL, or else a SQLite file path."""

from __future__ import annotations

from typing import Any

from soe.backends.sqlite import create_sqlite_backends


def open_backends(store: str) -> Any:
    if store.startswith(("postgresql://", "postgres://")):
        from soe.backends.postgres import create_postgres_backends

        return create_postgres_backends(store)
    return create_sqlite_backends(store)
