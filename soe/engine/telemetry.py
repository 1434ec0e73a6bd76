"""Registering an event: log it, then apply its counter change (SPEC §12.1, §3.2)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from soe.engine.store import update_operational
from soe.lib.operational import changes_operational

__all__ = ["register_event", "timestamp"]


def timestamp() -> str:
    """Naive UTC ``isoformat()`` plus ``Z`` (microseconds omitted when zero)."""
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def register_event(backends: Any, execution_id: str, event_type: str,
                   data: dict[str, Any] | None = None) -> None:
    """Log ``event_type`` on ``execution_id`` and update ``__operational__`` if it counts.

    Telemetry is logged before the counter update, as upstream did.
    """
    data = {} if data is None else data
    telemetry = backends.telemetry
    if telemetry is not None:
        telemetry.log_event(execution_id, event_type, timestamp=timestamp(), context=data)
    if changes_operational(event_type, data):
        update_operational(backends, execution_id, event_type, data)
