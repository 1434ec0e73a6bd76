"""What the HTTP API does, without HTTP: start, signal and read executions on one store.

Executions run on a pool of worker threads, so no request waits for a
workflow: a start is validated here (a bad workflow is refused before anything
is stored), then handed to the pool, and its id is returned at once. Between
the hand-over and the moment the engine records the execution, it is reported
as ``queued``. Every read goes to the store, so what the API shows is what
``soe inspect`` would show.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

from soe._errors import WorkflowValidationError
from soe.engine.telemetry import read_events
from soe.inputs import plain, user_fields
from soe.types import Backends
from soe.validation.graph import extract_workflows

__all__ = ["ExecutionService", "NotFound", "Rejected"]

class NotFound(LookupError):
    """The execution (or revision) is not in this store."""


@dataclass
class Rejected(Exception):
    """A request the engine refuses: the message, and where in the workflow text when known."""

    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        return self.message


def _failure_of(text: str) -> Rejected | None:
    """The validator's first error for workflow text, with its position."""
    from soe.validation.locate import validate_text

    failure = validate_text(text, "workflow")
    if failure is None:
        return None
    return Rejected(failure.message, failure.line, failure.column)


def _check_config(workflow: Any) -> None:
    """Refuse a workflow the engine would refuse, before anything is stored."""
    from soe.validation.config import validate_config

    if isinstance(workflow, str):
        failure = _failure_of(workflow)
        if failure is not None:
            raise failure
        return
    try:
        validate_config(workflow)
    except (WorkflowValidationError, ValueError) as exc:
        raise Rejected(str(exc)) from exc


def _starting_workflow(workflow: Any, requested: str | None) -> str:
    names = [str(name) for name in extract_workflows(workflow)]
    if requested is None:
        if not names:
            raise Rejected("The config has no workflow")
        return names[0]
    if requested not in names:
        raise Rejected(f"Workflow '{requested}' not found in config. Available workflows: {', '.join(names)}")
    return requested


def _check_runnable(workflow: Any, tools: Mapping[str, Any], has_llm: bool) -> None:
    """Refuse what this server cannot run: LLM nodes without ``--llm``, tools it was not given."""
    from soe.inputs import missing_tools, needs_llm

    workflows = extract_workflows(workflow)
    if needs_llm(workflows) and not has_llm:
        raise Rejected("This workflow has llm or agent nodes and this server has no LLM "
                       "(start it with soe serve --llm SPEC)")
    missing = missing_tools(workflows, tools)
    if missing:
        raise Rejected(f"Tools not found on this server: {', '.join(missing)} "
                       "(start it with soe serve --tools MODULE:ATTR)")


class ExecutionService:
    """One store, its node callers and the worker threads that run executions on it."""

    def __init__(self, backends: Backends, broadcast: Callable[[str, list[Any]], None], *,
                 tools: Mapping[str, Any] | None = None, has_llm: bool = False, workers: int = 8) -> None:
        self.backends = backends
        self.broadcast = broadcast
        self.tools = dict(tools or {})
        self.has_llm = has_llm
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="soe-serve")
        self._lock = threading.Lock()
        self._queued: dict[str, Future[Any]] = {}
        self._early_errors: dict[str, str] = {}

    def resume_interrupted(self) -> list[str]:
        """Continue, in the background, the trees a stopped server left ``running``; their ids.

        A tree still leased by a live process (another server on the same store)
        is refused by ``resume`` and left to it.
        """
        from soe import list_executions, resume

        roots = [record["execution_id"] for record in list_executions(self.backends, "running")
                 if record["execution_id"] == record["main_execution_id"]]
        for execution_id in roots:
            self._submit(execution_id, functools.partial(resume, execution_id, self.backends, self.broadcast))
        return roots

    def close(self) -> None:
        """Let running executions finish, then release the threads."""
        self._pool.shutdown(wait=True)

    # -- commands -------------------------------------------------------------------------
    def start(self, workflow: Any, workflow_name: str | None, signals: list[str],
              context: Mapping[str, Any]) -> str:
        """Validate, then run in the background; returns the new execution id at once."""
        from soe import orchestrate

        _check_config(workflow)
        name = _starting_workflow(workflow, workflow_name)
        _check_runnable(workflow, self.tools, self.has_llm)
        execution_id = str(uuid.uuid4())
        self._submit(execution_id, lambda: orchestrate(
            workflow, name, list(signals), dict(context), self.backends, self.broadcast,
            execution_id=execution_id))
        return execution_id

    def signal(self, execution_id: str, signals: list[str], context: Mapping[str, Any]) -> None:
        """Deliver signals (after appending ``context`` values) in the background.

        Raises:
            NotFound: unknown execution.
            Rejected: a signal that no node of the execution listens for.
        """
        self._require(execution_id)
        heard = self._listened(execution_id)
        unheard = [signal for signal in signals if signal not in heard]
        if unheard:
            raise Rejected(f"No node of execution '{execution_id}' listens for "
                           f"{', '.join(map(str, unheard))}; it listens for {', '.join(map(str, heard)) or 'nothing'}")
        self._submit(execution_id, lambda: self._deliver(execution_id, list(signals), dict(context)))

    def rollback(self, execution_id: str, revision: int) -> int:
        """Restore the registry as it was at ``revision``; the new revision's number."""
        from soe import rollback_registry

        self._require(execution_id)
        try:
            return rollback_registry(execution_id, revision, self.backends)
        except ValueError as exc:
            raise NotFound(str(exc)) from exc

    def _deliver(self, execution_id: str, signals: list[str], context: dict[str, Any]) -> None:
        from soe.builtin_tools.soe_update_context import create_soe_update_context_tool

        if context:  # appended the way a node would (the built-in soe_update_context)
            create_soe_update_context_tool(self.backends, execution_id)(context)
        self.broadcast(execution_id, signals)

    def _submit(self, execution_id: str, work: Callable[[], Any]) -> None:
        with self._lock:
            future = self._pool.submit(work)
            self._queued[execution_id] = future
        future.add_done_callback(lambda done: self._settle(execution_id, done))

    def _settle(self, execution_id: str, done: Future[Any]) -> None:
        """Forget a finished hand-over; an error raised before the engine recorded anything is kept."""
        error = done.exception()
        with self._lock:
            if self._queued.get(execution_id) is done:
                del self._queued[execution_id]
            if error is not None and self._record(execution_id) is None:
                self._early_errors[execution_id] = f"{type(error).__name__}: {error}"

    # -- reads ----------------------------------------------------------------------------
    def _record(self, execution_id: str) -> dict[str, Any] | None:
        from soe import get_execution_status

        return get_execution_status(execution_id, self.backends)

    def _require(self, execution_id: str) -> dict[str, Any]:
        """The status record, ``queued``/``failed`` for one the engine has not recorded, or NotFound."""
        record = self._record(execution_id)
        if record is not None:
            return record
        with self._lock:
            if execution_id in self._queued:
                return {"execution_id": execution_id, "status": "queued", "error": None}
            if execution_id in self._early_errors:
                return {"execution_id": execution_id, "status": "failed",
                        "error": self._early_errors[execution_id]}
        if self.backends.context.get_context(execution_id):
            return {"execution_id": execution_id, "status": "unknown", "error": None}
        raise NotFound(f"Execution '{execution_id}' not found")

    def _listened(self, execution_id: str) -> list[Any]:
        registry = self.backends.workflow.get_workflows_registry(execution_id) or {}
        workflow = registry.get(self.backends.workflow.get_current_workflow_name(execution_id)) or {}
        triggers = [s for node in workflow.values() if isinstance(node, Mapping)
                    for s in node.get("event_triggers") or []]
        return list(dict.fromkeys(triggers))

    def status(self, execution_id: str) -> str:
        """Just the status (what the event stream polls)."""
        return str(self._require(execution_id)["status"])

    def describe(self, execution_id: str) -> dict[str, Any]:
        """Status, last value of each field, ``__operational__``, what it waits for, its error."""
        record = self._require(execution_id)
        context = self.backends.context.get_context(execution_id) or {}
        workflow = None
        if context:
            workflow = self.backends.workflow.get_current_workflow_name(execution_id)
        return {
            "execution_id": execution_id,
            "main_execution_id": record.get("main_execution_id"),
            "workflow": workflow,
            "status": record["status"],
            "context": user_fields(context),
            "operational": plain(context.get("__operational__")),
            "parent": plain(context.get("__parent__")),
            "waiting_for": plain(record.get("waiting_for", [])),
            "listens_for": plain(self._listened(execution_id)) if context else [],
            "error": record.get("error"),
            "updated_at": record.get("updated_at"),
        }

    def history(self, execution_id: str) -> dict[str, Any]:
        """Every value of every field, oldest first."""
        self._require(execution_id)
        context = self.backends.context.get_context(execution_id) or {}
        return {"execution_id": execution_id, "context": user_fields(context, history=True)}

    def events(self, execution_id: str, start: int = 0) -> list[dict[str, Any]]:
        """The execution's telemetry records from position ``start`` on, in logging order.

        A backend with ``get_events_since`` (SQLite) reads only those; any other is sliced.
        """
        return [plain(event) for event in read_events(self.backends, execution_id, start)]

    def list_executions(self, status: str | None, offset: int, limit: int) -> dict[str, Any]:
        """A page of status records, newest first, with the total that matched."""
        from soe import list_executions as stored

        records = stored(self.backends, status)[::-1]
        with self._lock:
            queued = [{"execution_id": eid, "status": "queued"} for eid in self._queued
                      if status in (None, "queued") and self._record(eid) is None]
        records = queued + [plain(record) for record in records]
        return {"total": len(records), "offset": offset, "limit": limit,
                "executions": records[offset:offset + limit]}

    def revisions(self, execution_id: str) -> list[dict[str, Any]]:
        from soe import get_registry_revisions

        self._require(execution_id)
        return [plain(revision) for revision in get_registry_revisions(execution_id, self.backends)]

    def diff(self, execution_id: str, base: int, target: int) -> list[dict[str, Any]]:
        from soe.revisions.history import diff_revisions

        self._require(execution_id)
        try:
            return cast("list[dict[str, Any]]", plain(diff_revisions(execution_id, base, target, self.backends)))
        except ValueError as exc:
            raise NotFound(str(exc)) from exc

    def graph(self, execution_id: str) -> str:
        """The execution's current registry as Mermaid text.

        Every signal that only comes from outside (START, the answers a waiting
        execution needs) is drawn as an arrow from the start point.
        """
        from soe.engine.waiting import emitted_signals
        from soe.validation.graph import is_signal, to_mermaid

        self._require(execution_id)
        registry = plain(self.backends.workflow.get_workflows_registry(execution_id) or {})
        emitted = emitted_signals(registry)
        outside = [signal for workflow in registry.values() if isinstance(workflow, Mapping)
                   for node in workflow.values() if isinstance(node, Mapping)
                   for signal in node.get("event_triggers") or [] if is_signal(signal) and signal not in emitted]
        return to_mermaid(registry, initial_signals=list(dict.fromkeys(outside))) if registry else ""
