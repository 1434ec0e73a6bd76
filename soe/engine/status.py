"""Execution statuses: ``running``, ``completed`` (queue drained), ``waiting`` or ``failed``.

``waiting`` is a drained execution that only a signal from outside can move
on (:mod:`soe.engine.waiting`); its record carries ``waiting_for``.

A durable store keeps them across processes; without one they are kept in
this process (bounded), which is enough for in-process applications.
"""

from __future__ import annotations

import logging
from typing import Any

from soe.engine.durability import runtime_store
from soe.engine.waiting import waiting_for
from soe.lib.clock import timestamp
from soe.lib.recent import RecentMap
from soe.types import Backends

__all__ = ["drained", "get", "list_all", "record"]

_IN_PROCESS: RecentMap[str, dict[str, Any]] = RecentMap(100_000)
_LOG = logging.getLogger("soe.status")


def record(backends: Backends, execution_id: str, main_execution_id: str, status: str,
           error: str | None = None) -> None:
    """Set an execution's status (logged on ``soe.status``: ERROR for a failure, else INFO)."""
    level = logging.ERROR if status == "failed" else logging.INFO
    if _LOG.isEnabledFor(level):
        _LOG.log(level, "execution %s %s%s", execution_id, status, f": {error}" if error else "",
                 extra={"execution_id": execution_id, "status": status})
    store = runtime_store(backends)
    if store is not None:
        store.set_status(execution_id, main_execution_id, status, error)
        return
    entry = {"execution_id": execution_id, "main_execution_id": main_execution_id, "status": status,
             "error": error, "updated_at": timestamp()}
    _IN_PROCESS.put(execution_id, entry)


def drained(backends: Backends, execution_id: str) -> str:
    """The status of an execution whose queue drained without error: ``waiting`` or ``completed``."""
    return "waiting" if waiting_for(backends, execution_id) else "completed"


def _with_waits(backends: Backends, entry: dict[str, Any]) -> dict[str, Any]:
    """A waiting record gains ``waiting_for``, computed when read so that it is always current."""
    if entry["status"] == "waiting":
        entry["waiting_for"] = waiting_for(backends, entry["execution_id"])
    return entry


def get(backends: Backends, execution_id: str) -> dict[str, Any] | None:
    """The status record of an execution, or ``None`` when it is unknown."""
    store = runtime_store(backends)
    if store is not None:
        found = store.get_status(execution_id)
    else:
        kept = _IN_PROCESS.get(execution_id)
        found = dict(kept) if kept is not None else None
    return _with_waits(backends, found) if found is not None else None


def list_all(backends: Backends, status: str | None = None) -> list[dict[str, Any]]:
    """Status records (optionally only one status), oldest first."""
    store = runtime_store(backends)
    if store is not None:
        found = store.list_executions(status)
    else:
        found = [dict(e) for e in _IN_PROCESS.values() if status is None or e["status"] == status]
    return [_with_waits(backends, entry) for entry in found]
