"""Submitting to Temporal: ``Runner``, what ``orchestrate(..., runner=...)`` hands a tree to.

The submitting process validates the config and its parameters itself, so a
workflow that would fail validation is refused before anything reaches
Temporal; the tree then runs on whatever workers serve the task queue, and
its context, telemetry and status are read from the shared PostgreSQL store.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from soe._errors import SoeError, WorkflowValidationError
from soe.lib.ids import check_id
from soe.temporal.workflow import QUERY_STATUS, SIGNAL, TreeWorkflow

__all__ = ["DEFAULT_TASK_QUEUE", "Runner", "connect"]

DEFAULT_TASK_QUEUE = "soe"
_POLL_SECONDS = 0.5  # how often a wait for a tree's end asks whether it rests, waiting for signals


async def connect(address: str, namespace: str = "default") -> Client:
    """A Temporal client, or ``ConnectionError`` naming the address (one line, no traceback)."""
    try:
        return await Client.connect(address, namespace=namespace)
    except Exception as exc:  # noqa: BLE001 - every way of not reaching the server reads the same
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConnectionError(f"Cannot reach Temporal at {address} (namespace {namespace}): {reason}") from None


def _validated(config: Any, workflow_name: str, signals: list[str], context: dict[str, Any] | None) -> Any:
    """The config as JSON-able data, once it would pass ``orchestrate``'s own validation."""
    from soe.engine.config import load_config
    from soe.lib.values import storable
    from soe.validation.config import validate_initial_workflow, validate_orchestrate_params

    validate_orchestrate_params(workflow_name, signals)
    if config is None:
        raise WorkflowValidationError("The Temporal runner needs 'config' (inherit_config_from_id runs in process)")
    validate_initial_workflow(workflow_name, load_config(config).workflows)
    storable(context or {}, what="initial_context")
    return config


@dataclass
class Runner:
    """Runs execution trees as Temporal workflows on the workers of ``task_queue``.

    Pass it to ``orchestrate``/``aorchestrate`` as ``runner=``; each tree is
    one workflow whose id is the tree's main execution id.
    """

    client: Client
    task_queue: str = DEFAULT_TASK_QUEUE
    max_rounds: int = 500  # advances before the workflow continues as new (Temporal's history limit)
    backends: Any = None  # the workers' store: a submitted tree is findable as running before a worker starts it

    async def submit(self, config: Any, workflow_name: str, signals: list[str],
                     context: dict[str, Any] | None = None, *, execution_id: str | None = None,
                     max_steps: int | None = None, max_concurrency: int | None = None) -> str:
        """Validate, then start the tree's workflow; returns the execution id without waiting."""
        config = _validated(config, workflow_name, signals, context)
        if execution_id is not None:
            check_id(execution_id)  # refused here as in process: a worker could not even record its failure
        execution_id = execution_id or str(uuid.uuid4())
        if self.backends is not None:
            from soe.engine import status

            status.record(self.backends, execution_id, execution_id, "running")
        start = {"action": "orchestrate", "config": config, "workflow_name": workflow_name,
                 "signals": list(signals), "context": context or {}, "max_steps": max_steps,
                 "max_concurrency": max_concurrency}
        await self.client.start_workflow(
            TreeWorkflow.run, self._request(execution_id, start), id=execution_id, task_queue=self.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        return execution_id

    async def result(self, execution_id: str) -> dict[str, Any]:
        """Wait for the tree's workflow to end: ``{"execution_id", "status", "error", "waiting_for"}``.

        A tree that waits for signals keeps its workflow open: this returns once it waits.
        """
        handle = self.client.get_workflow_handle(execution_id)
        ended = asyncio.ensure_future(_final(handle))
        try:
            while True:
                done, _ = await asyncio.wait({ended}, timeout=_POLL_SECONDS)
                if done:
                    return ended.result()
                state = await _resting_state(handle)
                if state is not None:
                    return state
        finally:
            ended.cancel()

    async def aorchestrate(self, config: Any, workflow_name: str, signals: list[str],
                           context: dict[str, Any] | None = None, **options: Any) -> str:
        """``submit`` and wait: ``orchestrate``'s contract (returns once the tree drained or waits).

        Raises:
            SoeError: the tree failed on the workers; the message is the error its status recorded.
        """
        execution_id = await self.submit(config, workflow_name, signals, context, **options)
        outcome = await self.result(execution_id)
        if outcome.get("status") == "failed":
            raise SoeError(f"Execution '{execution_id}' failed: {outcome.get('error')}")
        return execution_id

    def orchestrate(self, config: Any, workflow_name: str, signals: list[str],
                    context: dict[str, Any] | None = None, **options: Any) -> str:
        """``aorchestrate`` for synchronous callers (not from inside a running event loop)."""
        return asyncio.run(self.aorchestrate(config, workflow_name, signals, context, **options))

    async def signal(self, main_execution_id: str, execution_id: str, signals: list[str]) -> None:
        """``broadcast_signals`` to an execution of the tree: a Temporal signal (starting the
        tree's workflow again if it had completed)."""
        await self._signal_with_start(main_execution_id, {"execution_id": execution_id, "signals": list(signals)})

    async def resume(self, main_execution_id: str) -> None:
        """Make sure a workflow runs the tree (after its workflow was terminated, for instance)."""
        await self._signal_with_start(main_execution_id, None)

    async def _signal_with_start(self, main_execution_id: str, signal: dict[str, Any] | None) -> None:
        request = self._request(main_execution_id, {"action": "resume"})
        if signal is None:
            await self.client.start_workflow(
                TreeWorkflow.run, request, id=main_execution_id, task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
            return
        await self.client.start_workflow(
            TreeWorkflow.run, request, id=main_execution_id, task_queue=self.task_queue,
            start_signal=SIGNAL, start_signal_args=[signal])

    def _request(self, main_execution_id: str, start: dict[str, Any]) -> dict[str, Any]:
        return {"main_execution_id": main_execution_id, "start": start, "signals": [],
                "max_rounds": self.max_rounds}


async def _resting_state(handle: WorkflowHandle[Any, Any]) -> dict[str, Any] | None:
    """The tree's state if it waits for signals with no call in flight, else ``None``.

    A query needs a worker: with none running yet, the tree is simply not resting.
    """
    try:
        state = await handle.query(QUERY_STATUS, rpc_timeout=timedelta(seconds=2))
    except RPCError:
        return None
    return state if state.get("status") == "waiting" and not state.get("calls_in_flight") else None


async def _final(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """The ended workflow's result, or a failed status saying why it ended otherwise."""
    try:
        result: dict[str, Any] = await handle.result()
        return result
    except Exception as exc:  # noqa: BLE001 - terminated, timed out or failed: the status says it
        cause = getattr(exc, "cause", None)
        return {"execution_id": handle.id, "status": "failed", "error": str(cause or exc)}
