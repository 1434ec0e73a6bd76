"""The two activities a worker runs for ``TreeWorkflow``: advancing a tree, and making one call.

Both run SOE's own runner against the worker's PostgreSQL store inside
``calls_made_elsewhere``, so no journaled call is made while a transition is
applied: the runner saves the calling item in flight and reports the call.
``soe-call`` replays that item up to its call (in a transaction it rolls
back, like ``resume``), makes the call and journals the result, or the error
it raised, before it returns; a retried ``soe-call`` finds the journal entry
and pays nothing twice.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from soe._errors import ResumeError
from soe.engine import status as execution_status
from soe.engine.durability import runtime_store
from soe.engine.elsewhere import calls_made_elsewhere
from soe.engine.orchestrate import orchestrate
from soe.engine.resume import item_rebuilder, resume, stored_task
from soe.engine.telemetry import register_event
from soe.engine.trees import deferred_start, new_runner, runner_scope
from soe.lib.missing import MISSING
from soe.temporal.workflow import ADVANCE, CALL

__all__ = ["TreeActivities"]

_BEAT_SECONDS = 1.0


async def _heartbeating(work: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
    """Run ``work`` on a thread and heartbeat while it runs, so a dead worker is noticed in seconds."""
    task = asyncio.ensure_future(asyncio.to_thread(work, request))
    if activity.info().is_local:  # runs inside the workflow task: a lost worker shows as its timeout
        return await task
    while True:
        done, _ = await asyncio.wait({task}, timeout=_BEAT_SECONDS)
        if done:
            return task.result()
        activity.heartbeat()


class TreeActivities:
    """The activities of one worker, bound to its store and its node callers (tools, LLM)."""

    def __init__(self, backends: Any, broadcast_signals_caller: Any, identity: str | None = None) -> None:
        self.backends = backends
        self.broadcast = broadcast_signals_caller
        self.identity = identity or f"{socket.gethostname()}:{os.getpid()}"
        self.rebuild = item_rebuilder(backends, broadcast_signals_caller)
        store = runtime_store(backends)
        if store is None:
            raise ValueError("A Temporal worker needs the shared durable store (create_postgres_backends)")
        self.store = store

    @activity.defn(name=ADVANCE)
    async def advance(self, request: dict[str, Any]) -> dict[str, Any]:
        """Start, resume or signal the tree; return its status and the calls it now waits for."""
        return await _heartbeating(self._advance, request)

    @activity.defn(name=CALL)
    async def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Make one journaled call of the tree (``{"key", "sequence", ...}``) unless it is journaled."""
        return await _heartbeating(self._call, request)

    # -- advancing ------------------------------------------------------------------------
    def _advance(self, request: dict[str, Any]) -> dict[str, Any]:
        main = request["main_execution_id"]
        error: str | None = None
        with calls_made_elsewhere() as calls:
            try:
                self._apply(request)
            except ResumeError as exc:
                if self.store.lease_is_fresh(main):
                    raise  # a lost worker's lease: retried until it is broken or expires
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - the tree's failure, recorded in its status
                error = str(exc)
                if request["action"] == "orchestrate":
                    _record_failed_start(self.backends, main, error)
                elif _status(self.backends, main) is None:
                    raise ApplicationError(error, type(exc).__name__, non_retryable=True) from None
        record = _status(self.backends, main) or {}
        return {"execution_id": main, "calls": calls, "status": record.get("status", "failed"),
                "error": record.get("error") or error, "waiting_for": record.get("waiting_for")}

    def _apply(self, request: dict[str, Any]) -> None:
        main, action = request["main_execution_id"], request["action"]
        if action == "orchestrate" and not self.backends.context.get_context(main):
            orchestrate(request["config"], request["workflow_name"], request["signals"],
                        request.get("context") or {}, self.backends, self.broadcast,
                        max_steps=request.get("max_steps"), max_concurrency=request.get("max_concurrency"),
                        execution_id=main)
        elif action == "signal":
            self._signal_once(request)
        else:  # resume, and a start this worker's predecessor committed before it was lost
            resume(main, self.backends, self.broadcast)

    def _signal_once(self, request: dict[str, Any]) -> None:
        """Apply a signal delivery once, however often its advance is retried.

        The delivery's journal entry commits in the same transaction as the
        queue the signal leaves; a retry that finds it (its worker was lost
        after that commit) resumes the tree instead of queueing the signal's
        listeners a second time.
        """
        main = request["main_execution_id"]
        marker = f"{main}/signal/{request['delivery']}"
        if self.store.journal_get(marker) is not MISSING:
            resume(main, self.backends, self.broadcast)
            return
        with deferred_start(self.backends) as start:
            self.broadcast(request["execution_id"], list(request["signals"]))
            if start.opened is not None:  # the tree accepted the signal: its queue and the marker commit together
                self.store.journal_put(marker, request["execution_id"])
        if start.opened is not None:
            start.opened.drain()

    # -- calling --------------------------------------------------------------------------
    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        main, key = request["main_execution_id"], request["key"]
        store = self.store
        if store.journal_get(key) is not MISSING:
            return {"key": key, "made": False}
        entry = next((e for e in (store.load_tree(main) or {}).get("in_flight", [])
                      if e["sequence"] == request["sequence"]), None)
        if entry is None:  # the item is no longer waiting: nothing to call
            return {"key": key, "made": False}
        task = stored_task(entry, self.rebuild)
        runner = new_runner(main, self.backends, resuming=True)
        with runner_scope(runner):
            wait = runner.replay_to_wait(task)
            if wait is None or runner.wait_key(task, wait) != key:
                return {"key": key, "made": False}
            raised = runner.perform(task, wait, key)
        if request.get("execution_id"):
            register_event(self.backends, request["execution_id"], "temporal_call",
                           {"key": key, "kind": request["kind"], "node": request.get("node"),
                            "worker": self.identity, "raised": None if raised is None else str(raised)})
        return {"key": key, "made": True}


def _record_failed_start(backends: Any, main: str, error: str) -> None:
    """A start refused on the worker (its validation, say) ends ``failed`` with the reason, for ``soe inspect``.

    A tree that started and failed recorded that itself; one refused before
    it opened has no status, or only the ``running`` its submitter recorded.
    """
    record = _status(backends, main)
    if record is None or record["status"] == "running" and not backends.context.get_context(main):
        execution_status.record(backends, main, main, "failed", error)


def _status(backends: Any, execution_id: str) -> dict[str, Any] | None:
    return execution_status.get(backends, execution_id)
