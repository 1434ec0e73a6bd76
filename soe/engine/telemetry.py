"""Registering an event: log it, then apply its counter change (SPEC §12.1, §3.2).

Every event also goes to the standard ``logging`` module under the logger
``soe.events``, for operators who collect logs rather than telemetry: starts
at INFO; node errors, conditions that raised, unsafe templates and spent step
budgets at WARNING; everything else at DEBUG. The ``soe`` logger has only a
``NullHandler``, so nothing is printed unless the application configures logging.
"""

from __future__ import annotations

import logging
from typing import Any

from soe.engine.store import update_operational
from soe.lib.clock import timestamp
from soe.lib.operational import changes_operational
from soe.types import Backends

__all__ = ["EVENT_LOG_LEVELS", "read_events", "register_event"]

_LOG = logging.getLogger("soe.events")

EVENT_LOG_LEVELS: dict[str, int] = {
    "orchestration_start": logging.INFO,
    "node_error": logging.WARNING,
    "condition_error": logging.WARNING,
    "template_security_error": logging.WARNING,
    "step_budget_exceeded": logging.WARNING,
}
"""The ``logging`` level of each event type; any other event is logged at DEBUG."""


def register_event(backends: Backends, execution_id: str, event_type: str,
                   data: dict[str, Any] | None = None) -> None:
    """Log ``event_type`` on ``execution_id`` and update ``__operational__`` if it counts.

    Telemetry is logged before the counter update, as upstream did.
    """
    data = {} if data is None else data
    level = EVENT_LOG_LEVELS.get(event_type, logging.DEBUG)
    if _LOG.isEnabledFor(level):
        _LOG.log(level, "%s %s %s", execution_id, event_type, data,
                 extra={"execution_id": execution_id, "event_type": event_type, "event_data": data})
    telemetry = backends.telemetry
    if telemetry is not None:
        telemetry.log_event(execution_id, event_type, timestamp=timestamp(), context=data)
    if changes_operational(event_type, data):
        update_operational(backends, execution_id, event_type, data)


def read_events(backends: Backends, execution_id: str, start: int = 0) -> list[dict[str, Any]]:
    """The execution's telemetry records from position ``start`` on, in logging order.

    SPEC §11 only requires ``log_event``; every built-in backend can also be read
    back (``get_events``, and ``get_events_since`` on SQLite, which reads only the
    tail). A write-only backend reads as no events.
    """
    telemetry = backends.telemetry
    since = getattr(telemetry, "get_events_since", None)
    if since is not None:
        return list(since(execution_id, start))
    get_events = getattr(telemetry, "get_events", None)
    return [] if get_events is None else list(get_events(execution_id))[start:]
