"""Event timestamps: naive UTC ``isoformat()`` plus ``Z``, the wall clock's time (SPEC §12.1)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from soe.lib import clock


def _parsed(stamp: str) -> datetime:
    assert stamp.endswith("Z") and "+" not in stamp
    return datetime.fromisoformat(stamp[:-1]).replace(tzinfo=timezone.utc)


def test_timestamp_is_now_in_utc():
    before = datetime.now(timezone.utc)
    stamp = _parsed(clock.timestamp())
    after = datetime.now(timezone.utc)
    assert before.replace(microsecond=0) <= stamp <= after


def test_timestamp_follows_the_clock_across_seconds(monkeypatch):
    ticks = iter([1_700_000_000_250_000_000, 1_700_000_001_500_000_999, 1_700_000_001_000_000_000])
    monkeypatch.setattr(time, "time_ns", lambda: next(ticks))
    assert clock.timestamp() == "2023-11-14T22:13:20.250000Z"
    assert clock.timestamp() == "2023-11-14T22:13:21.500000Z"
    assert clock.timestamp() == "2023-11-14T22:13:21Z"  # microseconds omitted when zero
