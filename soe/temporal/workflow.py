"""The Temporal workflow of one SOE execution tree: the deterministic loop around the runner.

This module imports nothing from SOE but names: Temporal replays workflow
code, so it must only decide. Everything that touches the store runs in two
activities (``soe.temporal.activities``):

- ``soe-advance`` applies transitions against PostgreSQL (start, resume or a
  signal) until every runnable item waits on a call, and returns those calls;
- ``soe-call`` makes one LLM or tool call on whichever worker picks it up and
  journals its result under the call's key.

The loop starts each reported call once (keyed by its journal key), waits for
the first to finish, and advances again, so the store's runner applies the
results in the order they arrived (SPEC §15 "Concurrency").
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

__all__ = ["ADVANCE", "CALL", "QUERY_STATUS", "SIGNAL", "TreeWorkflow", "WORKFLOW"]

WORKFLOW = "soe-tree"
ADVANCE = "soe-advance"
CALL = "soe-call"
SIGNAL = "soe-signal"
QUERY_STATUS = "soe-status"

# A lost worker is noticed when its heartbeats stop; then the activity runs again elsewhere.
_HEARTBEAT = timedelta(seconds=5)
_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                     maximum_interval=timedelta(seconds=5))


@workflow.defn(name=WORKFLOW)
class TreeWorkflow:
    """One execution tree: runs until it completes or fails; while it waits for signals it stays open."""

    def __init__(self) -> None:
        self._signals: list[dict[str, Any]] = []
        self._received = 0
        self._state: dict[str, Any] = {"status": "running", "calls_in_flight": 0}

    @workflow.signal(name=SIGNAL)
    def signal(self, request: dict[str, Any]) -> None:
        """``{"execution_id", "signals"}``: delivered once no call of the tree is in flight.

        Each delivery gets an id that replays give it again (run id and arrival
        number), so an advance retried after its worker was lost can tell that
        the signal was already applied (``soe-advance``).
        """
        self._received += 1
        self._signals.append({**request, "delivery": f"{workflow.info().run_id}:{self._received}"})

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> dict[str, Any]:
        """The tree's status as of its last advance, and how many calls run now."""
        return dict(self._state)

    @workflow.run
    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request``: ``{"main_execution_id", "start": {"action": ...}, "signals", "max_rounds"}``."""
        self._signals.extend(request.get("signals") or [])
        main = request["main_execution_id"]
        max_rounds = int(request.get("max_rounds") or 500)
        result = await self._advance(main, request["start"])
        running: dict[str, Any] = {}
        rounds = 0
        while True:
            if not running and (rounds >= max_rounds or workflow.info().is_continue_as_new_suggested()):
                # nothing in flight: the next run resumes from the store and reports the same calls
                workflow.continue_as_new({**request, "start": {"action": "resume"}, "signals": self._signals})
            for call in result["calls"]:
                if call["key"] not in running:
                    running[call["key"]] = self._call(main, call)
            self._state = {**_public(result), "calls_in_flight": len(running)}
            if running:
                await workflow.wait(list(running.values()), return_when=asyncio.FIRST_COMPLETED)
                for key in [key for key, handle in running.items() if handle.done()]:
                    running.pop(key).result()  # a call that could not be made at all fails the tree's workflow
                result = await self._advance(main, {"action": "resume"})
                rounds += 1
                continue
            if self._signals:
                result = await self._advance(main, {"action": "signal", **self._signals.pop(0)})
                rounds += 1
                continue
            if result["status"] != "waiting":
                return _public(result)
            await workflow.wait_condition(lambda: bool(self._signals))

    async def _advance(self, main: str, action: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = await workflow.execute_local_activity(
            ADVANCE, {"main_execution_id": main, **action}, start_to_close_timeout=timedelta(minutes=10),
            retry_policy=_RETRY)
        return state

    def _call(self, main: str, call: dict[str, Any]) -> Any:
        return workflow.start_activity(
            CALL, {"main_execution_id": main, **call}, start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=_HEARTBEAT, retry_policy=_RETRY, summary=f"{call['kind']} {call.get('node')}")


def _public(result: dict[str, Any]) -> dict[str, Any]:
    return {key: result.get(key) for key in ("execution_id", "status", "error", "waiting_for")}
