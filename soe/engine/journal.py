"""The journal: results of waits (LLM and tool calls) recorded per activation, replayed on resume.

Every activation of a durable run gets a key prefix naming its execution, node
and tree-wide activation number; its waits are numbered per kind in the order
it yields them. A re-run of the same activation after a crash yields the same
waits in the same order, so it finds the same keys and gets the recorded
results back instead of calling again: a completed call is never paid twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from soe.engine.durability import RuntimeStore
from soe.lib.effects import Wait
from soe.lib.missing import MISSING

__all__ = ["JournalCursor", "idempotency_key"]

_KEY: ContextVar[str | None] = ContextVar("soe_idempotency_key", default=None)


def idempotency_key() -> str | None:
    """A key that is the same when a crashed activation runs again: tools may dedupe on it.

    It names the activation (execution, node, step) of the wait running in this
    context; ``None`` outside a durable run.
    """
    return _KEY.get()


@dataclass
class JournalCursor:
    """Numbers one activation's waits and looks their results up in the store."""

    store: RuntimeStore
    prefix: str
    counts: dict[str, int] = field(default_factory=dict)

    def next_key(self, kind: str) -> str:
        index = self.counts.get(kind, 0)
        self.counts[kind] = index + 1
        return f"{self.prefix}/{kind}/{index}"

    def recorded(self, key: str, wait: Wait) -> Any:
        """The recorded result for ``key`` (decoded), or ``MISSING``."""
        record = self.store.journal_get(key)
        return MISSING if record is MISSING else wait.decode(record)

    def record(self, key: str, wait: Wait, result: Any) -> None:
        """Journal ``result`` at once, before anything depends on it (when it can be encoded)."""
        entry = wait.encode(result)
        if entry is not None:
            self.store.journal_put(key, entry)

    def record_raised(self, key: str, error: Exception) -> None:
        """Journal that the call under ``key`` raised, for a runner in another process to rethrow."""
        kind = type(error)
        self.store.journal_put(f"{key}!raised", {"module": kind.__module__, "name": kind.__qualname__,
                                                 "message": str(error)})

    def raised(self, key: str) -> Exception | None:
        """The error journaled by ``record_raised``, rebuilt with its message (``RuntimeError`` if it cannot be)."""
        record = self.store.journal_get(f"{key}!raised")
        return None if record is MISSING else _rebuilt_error(record)

    @contextmanager
    def calling(self) -> Iterator[None]:
        """Expose this activation's key to the call being made (``idempotency_key``)."""
        token = _KEY.set(self.prefix)
        try:
            yield
        finally:
            _KEY.reset(token)


def _rebuilt_error(record: dict[str, Any]) -> Exception:
    """The exception class named in ``record`` with its message, else a ``RuntimeError`` saying what it was.

    Nodes handle a call's error by its message (a tool's ``max_retries``, an
    LLM node's retries), so the class matters only to ``except`` clauses that
    name one; a class that cannot be rebuilt from a message keeps its name in the text.
    """
    import importlib

    try:
        kind = getattr(importlib.import_module(record["module"]), record["name"])
        if isinstance(kind, type) and issubclass(kind, Exception):
            error = kind(record["message"])
            if str(error) == record["message"]:
                return error
    except Exception:  # noqa: BLE001 - any class that cannot be rebuilt falls back below
        pass
    return RuntimeError(record["message"] or record["name"])
