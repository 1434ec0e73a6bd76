"""Calls made elsewhere: a runner that leaves its journaled calls to another process.

Inside ``calls_made_elsewhere`` a runner makes no journaled call itself: it
describes the call and stops, leaving the tree ``running`` with the call's
task in flight. Whatever makes the call (a Temporal activity) journals its
result, or the error it raised, and a later ``resume`` goes on from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from soe.engine.calls import Raised
from soe.engine.queue_rows import Task
from soe.lib.effects import Wait

__all__ = ["calls_made_elsewhere", "calls_to_hand_out", "hand_out"]

_ELSEWHERE: ContextVar[list[dict[str, Any]] | None] = ContextVar("soe_calls_elsewhere", default=None)


@contextmanager
def calls_made_elsewhere() -> Iterator[list[dict[str, Any]]]:
    """Runners in the block make no journaled call: they describe it in the yielded list and stop.

    A stopped tree stays ``running`` with the call's task in flight; once the
    call's result is journaled (by whatever made it, e.g. a Temporal activity),
    ``resume`` inside another such block goes on from there.
    """
    calls: list[dict[str, Any]] = []
    token = _ELSEWHERE.set(calls)
    try:
        yield calls
    finally:
        _ELSEWHERE.reset(token)


def calls_to_hand_out() -> list[dict[str, Any]] | None:
    """The list of ``calls_made_elsewhere`` in the calling context, or ``None``: calls are made here."""
    return _ELSEWHERE.get()


def hand_out(elsewhere: list[dict[str, Any]], task: Task, wait: Wait, key: str) -> Raised | None:
    """Leave the call to another process: the error it raised there, or ``None`` once described.

    The task stays in flight in the saved state; a later resume replays it
    and finds the call's journaled result (or the error it raised).
    """
    assert task.journal is not None
    raised = task.journal.raised(key)
    if raised is not None:
        return Raised(raised)
    elsewhere.append({"key": key, "kind": wait.kind, "sequence": task.sequence,
                      "execution_id": getattr(task.item, "execution_id", None),
                      "node": getattr(task.item, "node_name", None)})
    return None
