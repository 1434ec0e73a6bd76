"""The command line on Temporal: ``soe worker``, and ``--temporal`` on ``run``, ``signal`` and ``resume``.

A tree run by workers keeps its state in the PostgreSQL store the workers
share, so this process needs only that store (to read what the tree did) and
the Temporal address (to submit and signal). Neither being reachable is a
one-line error naming the address, exit 2.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import typer

from soe.cli.inputs import close_store, load_tools, open_store, shown_store

__all__ = ["open_temporal_store", "runner_for", "submit_and_print", "temporal_call", "worker_command"]

T = TypeVar("T")
_POSTGRES = ("postgresql://", "postgres://")


def open_temporal_store(store: str | None, *, must_exist: bool = False) -> Any:
    """The shared PostgreSQL store; ``ValueError`` for any other store, naming why."""
    if store is None or not store.strip().startswith(_POSTGRES):
        raise ValueError("--temporal needs the store the workers share: --store postgresql://USER@HOST:PORT/DB")
    return open_store(store, must_exist=must_exist)


def temporal_call(address: str, namespace: str, task_queue: str, backends: Any,
                  work: Callable[[Any], Awaitable[T]]) -> T:
    """Connect to Temporal, then run ``work(runner)`` to its end in a fresh event loop."""
    async def go() -> T:
        return await work(await runner_for(address, namespace, task_queue, backends))

    return asyncio.run(go())


async def runner_for(address: str, namespace: str, task_queue: str, backends: Any) -> Any:
    """A ``soe.temporal.Runner``; ``ValueError`` naming the address when Temporal cannot be reached."""
    from soe.temporal import Runner, connect

    try:
        client = await connect(address, namespace)
    except ConnectionError as exc:
        raise ValueError(str(exc)) from None
    return Runner(client, task_queue=task_queue, backends=backends)


def submit_and_print(runner_work: Callable[[Any], Awaitable[str]], address: str, namespace: str,
                     task_queue: str, backends: Any, *, json_output: bool) -> None:
    """``soe run --no-wait``: submit, print the id and status (``{"execution_id", "status"}`` with --json)."""
    execution_id = temporal_call(address, namespace, task_queue, backends, runner_work)
    if json_output:
        typer.echo(json.dumps({"execution_id": execution_id, "status": "running"}))
        return
    typer.echo(f"submitted execution {execution_id} to {address} (task queue {task_queue}); "
               f"follow it with: soe inspect {execution_id} --store STORE")


def worker_command(temporal: str, store: str | None, task_queue: str, namespace: str,
                   tools: Sequence[str], call_llm: Any, identity: str | None) -> None:
    """Serve ``task_queue`` until SIGTERM or SIGINT (graceful: running calls get 30 s to finish)."""
    from soe import create_all_nodes
    from soe.temporal import connect, run_worker

    registry = load_tools(tools)
    backends = open_temporal_store(store)
    try:
        _, broadcast = create_all_nodes(backends, call_llm=call_llm, tools_registry=registry)

        async def serve() -> None:
            try:
                client = await connect(temporal, namespace)
            except ConnectionError as exc:
                raise ValueError(str(exc)) from None
            typer.echo(f"soe worker: task queue {task_queue} on {temporal}, store {shown_store(store or '')}",
                       err=True)
            await run_worker(client, backends, broadcast, task_queue=task_queue, identity=identity)

        asyncio.run(serve())
    finally:
        close_store(backends)
