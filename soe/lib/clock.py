"""Event and revision timestamps (SPEC §12.1): naive UTC ``isoformat()`` plus ``Z``.

Telemetry, execution statuses and registry revisions all stamp with this one
clock, so it sits with the helpers every layer may use.
"""

from __future__ import annotations

import time

__all__ = ["timestamp"]

_second: tuple[int, str] = (-1, "")  # the last whole second formatted, shared by every thread


def timestamp() -> str:
    """Naive UTC ``isoformat()`` plus ``Z`` (microseconds omitted when zero).

    Every event is stamped, so the date part is formatted once per second
    instead of building a ``datetime`` per event, and the clock is read in
    integer nanoseconds (no float arithmetic to split seconds from microseconds).
    """
    global _second
    whole, micro = divmod(time.time_ns() // 1000, 1_000_000)
    second, text = _second
    if second != whole:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, text)
    return "%s.%06dZ" % (text, micro) if micro else text + "Z"  # noqa: UP031 - cheaper than a format spec
