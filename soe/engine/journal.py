"""The journal: LLM and tool results recorded per activation, replayed on resume.

Inside an activation run by a durable runner, each call gets a key built from
the execution, node, activation (its step number) and the call's index, so a
re-run of the same activation after a crash finds the same keys. A journaled
result is returned instead of calling again: a completed LLM call is never
paid for twice. Results that are not JSON-able are not journaled (they run
again on resume).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from soe.engine.durability import MISSING, RuntimeStore

__all__ = ["activation_journal", "idempotency_key", "journaled"]


@dataclass
class _Cursor:
    store: RuntimeStore
    prefix: str
    counts: dict[str, int] = field(default_factory=dict)

    def next_key(self, kind: str) -> str:
        index = self.counts.get(kind, 0)
        self.counts[kind] = index + 1
        return f"{self.prefix}/{kind}/{index}"


_CURSOR: ContextVar[_Cursor | None] = ContextVar("soe_journal_cursor", default=None)


@contextmanager
def activation_journal(store: RuntimeStore | None, execution_id: str, node_name: str,
                       step: int) -> Iterator[None]:
    """Journal the calls made while this activation runs (no-op without a store)."""
    if store is None:
        yield
        return
    token = _CURSOR.set(_Cursor(store, f"{execution_id}/{node_name}/{step}"))
    try:
        yield
    finally:
        _CURSOR.reset(token)


def idempotency_key() -> str | None:
    """A key that is the same when a crashed activation runs again: tools may dedupe on it.

    It names the activation (execution, node, step); ``None`` outside a durable run.
    """
    cursor = _CURSOR.get()
    return cursor.prefix if cursor is not None else None


def _encode(value: Any) -> Any:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    json.dumps(value)  # raises TypeError/ValueError for values that cannot be journaled
    return value


def journaled(kind: str, call: Callable[[], Any], *,
              replayed: Callable[[dict[str, Any]], None] | None = None,
              extra: Callable[[], dict[str, Any]] | None = None) -> Any:
    """Run ``call`` once per journal key; a recorded result is returned instead.

    ``extra`` adds JSON-able facts to the record (e.g. reported token usage) and
    ``replayed`` receives the record when a result is replayed.
    """
    cursor = _CURSOR.get()
    if cursor is None:
        return call()
    key = cursor.next_key(kind)
    record = cursor.store.journal_get(key)
    if record is not MISSING:
        if replayed is not None:
            replayed(record)
        return record["value"]
    value = call()
    try:
        entry = {"value": _encode(value), **(extra() if extra else {})}
    except (TypeError, ValueError):
        return value
    cursor.store.journal_put(key, entry)
    return value
