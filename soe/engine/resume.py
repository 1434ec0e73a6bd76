"""Finding and continuing stored executions (SPEC §15 "Durability").

``resume`` rebuilds an interrupted tree's queue from the durable store and
drains it: finished activations are not run again, and the items that were
in flight are brought back to the wait they were in (``TreeRunner._replay``)
with their journaled LLM and tool results.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from soe._errors import ResumeError
from soe.engine import status as execution_status
from soe.engine.durability import runtime_store
from soe.engine.items import Activation, OrchestrateCaller, SpawnChild, WorkItem
from soe.engine.orchestrate import ParentSignals, orchestrate
from soe.engine.queue_rows import Task
from soe.engine.trees import run_tree
from soe.lib.ids import check_id
from soe.types import Backends, ExternalRunner

__all__ = ["aorchestrate", "aresume", "get_execution_status", "list_executions", "prune", "resume"]


def get_execution_status(execution_id: str, backends: Backends) -> dict[str, Any] | None:
    """``{"execution_id", "main_execution_id", "status", "error", "updated_at"}`` or ``None``."""
    return execution_status.get(backends, execution_id)


def list_executions(backends: Backends, status: str | None = None) -> list[dict[str, Any]]:
    """Known executions, optionally only those with ``status`` (``running`` finds interrupted work)."""
    return execution_status.list_all(backends, status)


def _orchestrate_caller(broadcast_signals_caller: Callable[[str, list[Any]], None]) -> Callable[..., str]:
    caller = getattr(broadcast_signals_caller, "orchestrate_caller", None)
    if caller is not None:
        return cast("Callable[..., str]", caller)

    def start_child(config: Any, initial_workflow_name: str, initial_signals: list[Any], initial_context: dict[str, Any],
                    backends: Backends) -> str:
        return orchestrate(config, initial_workflow_name, initial_signals, initial_context, backends,
                           broadcast_signals_caller)

    return start_child


def resume(execution_id: str, backends: Backends, broadcast_signals_caller: Callable[[str, list[Any]], None]) -> str:
    """Continue an interrupted execution tree until its queue is empty.

    Returns:
        ``execution_id``, once the tree has drained (at once if it had completed or waits).

    Raises:
        ResumeError: the execution is unknown, failed, or live in another process.
        TypeError, ValueError: ``execution_id`` is not a usable id (not a string, empty, ...).
    """
    check_id(execution_id)
    record = execution_status.get(backends, execution_id)
    if record is None:
        raise ResumeError(f"Execution '{execution_id}' not found")
    if record["status"] in ("completed", "waiting"):  # drained: only new signals move it on
        return execution_id
    main_id = record["main_execution_id"]
    store = runtime_store(backends)
    state = store.load_tree(main_id) if store is not None else None
    if record["status"] == "failed" and not _left_work(state):
        raise ResumeError(f"Execution '{execution_id}' failed: {record['error']}; nothing to resume")
    if state is None:
        raise ResumeError(f"Execution '{execution_id}' is running in another process")
    rebuild = item_rebuilder(backends, broadcast_signals_caller)
    frames = [deque(rebuild(item) for item in frame) for frame in state["queue"]]
    in_flight = [stored_task(entry, rebuild) for entry in state.get("in_flight", [])]
    run_tree(main_id, [], backends, frames=frames, in_flight=in_flight)
    return execution_id


def item_rebuilder(backends: Any, broadcast_signals_caller: Any) -> Callable[[dict[str, Any]], WorkItem]:
    """Turns a stored work item back into one bound to these backends and node callers."""
    nodes = getattr(broadcast_signals_caller, "nodes", None)
    if nodes is None:
        raise ResumeError("resume needs the broadcast_signals_caller returned by create_all_nodes")
    start_child = _orchestrate_caller(broadcast_signals_caller)

    def rebuild(item: dict[str, Any]) -> WorkItem:
        return item_from_json(item, nodes=nodes, backends=backends, orchestrate_caller=start_child)

    return rebuild


def stored_task(entry: dict[str, Any], rebuild: Callable[[dict[str, Any]], WorkItem]) -> Task:
    """An in-flight task from the stored tree state, to be replayed up to the wait it was in."""
    return Task(rebuild(entry["item"]), sequence=entry["sequence"], replay_until=entry["waits"])


def _left_work(state: dict[str, Any] | None) -> bool:
    """Whether a failed tree kept its queue: a store failure (``StoreError``) does, any other failure clears it."""
    return bool(state and (any(state.get("queue") or []) or state.get("in_flight")))


async def aorchestrate(
    config: Any,
    initial_workflow_name: str,
    initial_signals: list[str],
    initial_context: dict[str, Any] | None,
    backends: Backends,
    broadcast_signals_caller: Callable[[str, list[str]], None],
    inherit_config_from_id: str | None = None,
    inherit_context_from_id: str | None = None,
    *,
    max_steps: int | None = None,
    max_concurrency: int | None = None,
    execution_id: str | None = None,
    runner: ExternalRunner | None = None,
) -> str:
    """``orchestrate`` for asyncio applications: runs on a worker thread, awaits completion.

    The parameters are ``orchestrate``'s, spelled out so editors and type
    checkers can see them. A ``runner`` (``soe.temporal.Runner``) is awaited in this event loop.
    """
    if runner is not None:
        return await runner.aorchestrate(config, initial_workflow_name, initial_signals, initial_context,
                                         max_steps=max_steps, max_concurrency=max_concurrency,
                                         execution_id=execution_id)
    return await asyncio.to_thread(
        orchestrate, config, initial_workflow_name, initial_signals, initial_context, backends,
        broadcast_signals_caller, inherit_config_from_id, inherit_context_from_id,
        max_steps=max_steps, max_concurrency=max_concurrency, execution_id=execution_id)


async def aresume(execution_id: str, backends: Backends,
                  broadcast_signals_caller: Callable[[str, list[str]], None]) -> str:
    """``resume`` for asyncio applications: runs on a worker thread, awaits completion."""
    return await asyncio.to_thread(resume, execution_id, backends, broadcast_signals_caller)


def prune(backends: Backends, older_than: datetime | timedelta, keep_failed: bool = True) -> int:
    """Delete finished executions last updated before ``older_than``; returns how many.

    Raises:
        ValueError: the backends have no durable store to prune.
    """
    store = runtime_store(backends)
    if store is None:
        raise ValueError("prune needs a durable store (soe.backends.sqlite.create_sqlite_backends)")
    return store.prune(older_than, keep_failed)


def item_from_json(data: Mapping[str, Any], *, nodes: Mapping[str, Any], backends: Backends,
                   orchestrate_caller: OrchestrateCaller) -> WorkItem:
    """Rebuild a stored item, binding it to this process's node callers and backends."""
    kind = data["kind"]
    if kind == "activation":
        return Activation(data["execution_id"], data["node_name"], data["node_config"], nodes, backends)
    if kind == "parent_signals":
        return ParentSignals(data["execution_id"], tuple(data["signals"]), nodes, backends)
    if kind == "spawn":
        return SpawnChild(data["config"], data["workflow_name"], tuple(data["signals"]), data["initial_context"],
                          data["delay"], data["index"], orchestrate_caller, backends)
    raise ValueError(f"Unknown queued item kind {kind!r}")
