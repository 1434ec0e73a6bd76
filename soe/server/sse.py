"""An execution's telemetry as Server-Sent Events, resumable with ``Last-Event-ID``.

Each telemetry record is one event whose ``id`` is its position in the
execution's log, so a client that reconnects with the last id it saw gets
exactly the records after it: no gap, no repeat. The stream ends, with an
``end`` event, once the execution is completed or failed and every record has
been sent (or at once when the store keeps no status for it); a waiting
execution keeps its stream open for what comes next.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

__all__ = ["event_stream", "first_event_index"]

POLL_SECONDS = 0.2
HEARTBEAT_POLLS = 75  # a comment every ~15 s keeps proxies from closing an idle stream
# ``unknown``: a store that keeps no statuses, holding an execution from before this process
FINISHED = ("completed", "failed", "unknown")


def first_event_index(last_event_id: str | None) -> int:
    """The index of the first record to send: one past ``Last-Event-ID`` (0 without one).

    Raises:
        ValueError: the header is not a non-negative integer.
    """
    if last_event_id is None or not last_event_id.strip():
        return 0
    value = int(last_event_id)
    if value < 0:
        raise ValueError("Last-Event-ID must be a non-negative integer")
    return value + 1


def _message(event_id: int | None, kind: str, data: Any) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


async def event_stream(read_events: Callable[[int], list[dict[str, Any]]], read_status: Callable[[], str],
                       start: int, disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
    """Yield SSE messages from record ``start`` on, until the execution has finished.

    ``read_events(n)`` returns the records from position ``n`` on, so each poll
    reads only what is new.

    A client that went away ends the stream at the next poll (a waiting
    execution's stream would otherwise poll forever).
    """
    sent = start
    idle = 0
    while not await disconnected():
        status = await run_in_threadpool(read_status)  # read first: records logged before it are all in
        events = await run_in_threadpool(read_events, sent)  # the records from position ``sent`` on
        for index, event in enumerate(events, sent):
            yield _message(index, "telemetry", event)
        idle = 0 if events else idle + 1
        sent += len(events)
        if status in FINISHED:
            yield _message(None, "end", {"status": status})
            return
        if idle >= HEARTBEAT_POLLS:
            idle = 0
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_SECONDS)
