"""The command line on Temporal: ``soe worker``, and ``--temporal`` on ``run``, ``signal`` and ``resume``.

A tree run by workers keeps its state in the PostgreSQL store the workers
share, so this process needs only that store (to read what the tree did) and
the Temporal address (to submit and signal). Neither being reachable is a
one-line error naming the address, exit 2.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from soe.cli import EXIT_OK
from soe.cli.options import (
    LlmBaseUrlOption,
    LlmOption,
    LlmOptionOption,
    NamespaceOption,
    StoreOption,
    TaskQueueOption,
    ToolsOption,
)
from soe.cli.session import Llm, Session, bad_input, drive, workflow_name
from soe.engine.durability import runtime_store
from soe.inputs import close_store, open_store, resolve_execution_id, shown_store
from soe.tool_specs import load_tools

__all__ = ["Temporal", "on_temporal", "run_on_temporal", "worker", "worker_command"]

T = TypeVar("T")
_POSTGRES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class Temporal:
    """``--temporal``, ``--namespace`` and ``--task-queue``: where the workers take work from."""

    address: str
    namespace: str = "default"
    task_queue: str = "soe"

    def call(self, backends: Any, work: Callable[[Any], Awaitable[T]]) -> T:
        """Connect, then run ``work(runner)`` to its end in a fresh event loop."""
        async def go() -> T:
            return await work(await self.runner(backends))

        return asyncio.run(go())

    async def runner(self, backends: Any) -> Any:
        """A ``soe.temporal.Runner``; ``ValueError`` naming the address when Temporal cannot be reached."""
        from soe.temporal import Runner, connect

        try:
            client = await connect(self.address, self.namespace)
        except ConnectionError as exc:
            raise ValueError(str(exc)) from None
        return Runner(client, task_queue=self.task_queue, backends=backends)


def _open_shared_store(store: str | None, *, must_exist: bool) -> Any:
    """The shared PostgreSQL store; ``ValueError`` for any other store, naming why."""
    if store is None or not store.strip().startswith(_POSTGRES):
        raise ValueError("--temporal needs the store the workers share: --store postgresql://USER@HOST:PORT/DB")
    return open_store(store, must_exist=must_exist)


@contextmanager
def _shared_session(store: str | None, *, must_exist: bool = True) -> Iterator[Session]:
    """The shared store of a tree that workers run (no tools or LLM needed here)."""
    with bad_input():
        backends = _open_shared_store(store, must_exist=must_exist)
    try:
        shown = shown_store(store or "")
        yield Session(backends, lambda *_: None, shown, ["--store", shown], [])
    finally:
        close_store(backends)


def run_on_temporal(temporal: Temporal, store: str | None, execution_id: str, name: str, file: Path,
                    submit: Callable[[Any], Awaitable[str]], *, no_wait: bool, json_output: bool,
                    history: bool) -> NoReturn:
    """``soe run --temporal``: submit to the workers, and unless ``--no-wait`` print the outcome as a local run."""
    with _shared_session(store, must_exist=False) as session:
        if no_wait:
            with bad_input():
                temporal.call(session.backends, submit)
            if json_output:
                typer.echo(json.dumps({"execution_id": execution_id, "status": "running"}))
            else:
                typer.echo(f"submitted execution {execution_id} to {temporal.address} "
                           f"(task queue {temporal.task_queue}); follow it with: soe inspect {execution_id}")
            raise typer.Exit(EXIT_OK)

        async def submit_and_wait(runner: Any) -> None:
            await runner.result(await submit(runner))
            _show_worker_events(session.backends, execution_id, {})

        title = (f"soe run {file} on Temporal {temporal.address}: workflow {name}, execution {execution_id}, "
                 f"store {session.store}")
        drive(session, execution_id, name, title, lambda: temporal.call(session.backends, submit_and_wait),
              json_output=json_output, history=history)


def on_temporal(temporal: Temporal, store: str | None, execution_id: str, command: str,
                work: Callable[[Any, str, str], Awaitable[None]], *, json_output: bool, history: bool,
                prepare: Callable[[Any, str], None] | None = None) -> NoReturn:
    """``soe signal|resume --temporal``: hand the tree's workflow the work, wait until it rests, print.

    ``prepare(backends, execution_id)`` checks and writes what must be in the store first.
    """
    with _shared_session(store) as session:
        with bad_input():
            execution_id = resolve_execution_id(session.backends, execution_id)
            runtime = runtime_store(session.backends)
            record = (runtime.get_status(execution_id) if runtime is not None else None) or {}
            main_id = record.get("main_execution_id") or execution_id
            if prepare is not None:
                prepare(session.backends, execution_id)
        before = _tree_event_counts(session.backends, main_id)

        async def go(runner: Any) -> None:
            await work(runner, main_id, execution_id)
            await runner.result(main_id)
            _show_worker_events(session.backends, main_id, before)

        title = f"soe {command} {execution_id} on Temporal {temporal.address}, store {session.store}"
        drive(session, execution_id, workflow_name(session, execution_id), title,
              lambda: temporal.call(session.backends, go), json_output=json_output, history=history)


def _tree_event_counts(backends: Any, main_id: str) -> dict[str, int]:
    """How many telemetry events each execution of the tree has so far."""
    from soe import list_executions

    return {entry["execution_id"]: len(backends.telemetry.get_events(entry["execution_id"]))
            for entry in list_executions(backends) if entry.get("main_execution_id") == main_id}


def _show_worker_events(backends: Any, main_id: str, before: dict[str, int]) -> None:
    """Hand the run monitor the events the workers logged since ``before``, for its lines and summary."""
    replay = getattr(backends.telemetry, "replay", None)
    if replay is None:
        return
    for execution_id in _tree_event_counts(backends, main_id):
        replay(execution_id, backends.telemetry.get_events(execution_id)[before.get(execution_id, 0):])


def worker_command(temporal: Temporal, store: str | None, tools: Sequence[str], call_llm: Any,
                   identity: str | None) -> None:
    """Serve the task queue until SIGTERM or SIGINT (graceful: running calls get 30 s to finish)."""
    from soe import create_all_nodes
    from soe.temporal import connect, run_worker

    registry = load_tools(tools)
    backends = _open_shared_store(store, must_exist=False)
    try:
        _, broadcast = create_all_nodes(backends, call_llm=call_llm, tools_registry=registry)

        async def serve() -> None:
            try:
                client = await connect(temporal.address, temporal.namespace)
            except ConnectionError as exc:
                raise ValueError(str(exc)) from None
            typer.echo(f"soe worker: task queue {temporal.task_queue} on {temporal.address}, "
                       f"store {shown_store(store or '')}", err=True)
            await run_worker(client, backends, broadcast, task_queue=temporal.task_queue, identity=identity)

        asyncio.run(serve())
    finally:
        close_store(backends)


def worker(
    temporal: Annotated[str, typer.Option("--temporal", envvar="SOE_TEMPORAL", metavar="HOST:PORT",
                                          help="The Temporal server.")],
    store: StoreOption = None,
    task_queue: TaskQueueOption = "soe",
    namespace: NamespaceOption = "default",
    tools: ToolsOption = None,
    llm: LlmOption = None,
    llm_option: LlmOptionOption = None,
    llm_base_url: LlmBaseUrlOption = None,
    identity: Annotated[str | None, typer.Option("--identity", metavar="NAME", help="Worker name in telemetry (default host:pid).")] = None,
) -> None:
    """Run SOE trees from a Temporal task queue until SIGTERM (graceful) or SIGINT."""
    choice = Llm(llm, tuple(llm_option or ()), llm_base_url)
    with bad_input():
        call_llm = choice.build() if choice.spec else None
        worker_command(Temporal(temporal, namespace, task_queue), store, tools or [], call_llm, identity)
