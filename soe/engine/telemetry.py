"""Registering an event: log it, then apply its counter change (SPEC §12.1, §3.2)."""

from __future__ import annotations

import time
from typing import Any

from soe.engine.store import update_operational
from soe.lib.operational import changes_operational

__all__ = ["register_event", "timestamp"]


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, shared by every thread


def timestamp() -> str:
    """Naive UTC ``isoformat()`` plus ``Z`` (microseconds omitted when zero).

    Every event is stamped, so the date part is formatted once per second
    instead of building a ``datetime`` per event.
    """
    global _second
    now = time.time()
    whole = int(now)
    second, text = _second
    if second != whole:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, text)
    micro = int((now - whole) * 1_000_000)
    return f"{text}.{micro:06d}Z" if micro else f"{text}Z"


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
