"""``run_worker``: serve a task queue with this process's store, tools and LLM until told to stop."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from soe.temporal.activities import TreeActivities
from soe.temporal.client import DEFAULT_TASK_QUEUE
from soe.temporal.workflow import TreeWorkflow

__all__ = ["run_worker"]


async def run_worker(client: Client, backends: Any, broadcast_signals_caller: Any, *,
                     task_queue: str = DEFAULT_TASK_QUEUE, identity: str | None = None,
                     stop: asyncio.Event | None = None, graceful_seconds: float = 30.0,
                     max_concurrent_activities: int = 64) -> None:
    """Run SOE's workflow and activities until ``stop`` is set (or SIGTERM/SIGINT, when ``stop`` is None).

    ``backends`` must be a shared durable store (``create_postgres_backends``)
    and ``broadcast_signals_caller`` comes from ``create_all_nodes`` with this
    worker's tools and LLM. On stop the worker takes no new tasks and gives its
    running activities ``graceful_seconds`` to finish; those still running are
    cancelled and Temporal hands them to another worker.

    The workflow runs without Temporal's sandbox: its module imports only
    temporalio and the standard library and only decides (every read and
    write is an activity), and the sandbox cost about 100 ms per step here
    (benchmarks/distributed.py).
    """
    activities = TreeActivities(backends, broadcast_signals_caller, identity)
    worker = Worker(client, task_queue=task_queue, workflows=[TreeWorkflow],
                    activities=[activities.advance, activities.call],
                    identity=activities.identity, workflow_runner=UnsandboxedWorkflowRunner(), max_concurrent_activities=max_concurrent_activities,
                    graceful_shutdown_timeout=timedelta(seconds=graceful_seconds))
    stop = stop or _stop_on_signals()
    async with worker:
        await stop.wait()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    return stop
