"""Opening a store for one ``soe`` command and driving a run under the monitor.

What every command that runs or continues an execution shares with the
others: reading ``--llm`` / ``--tools`` / ``--store`` into a :class:`Session`,
turning user mistakes into ``Error: ...`` with exit 2, and printing a run's
outcome with the exit code scripts rely on (see :mod:`soe.cli.app`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import typer
from rich.console import Console

from soe._errors import SoeError
from soe.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, render
from soe.cli.monitor import RunMonitor
from soe.inputs import (
    close_store,
    find_store,
    missing_tools,
    needs_llm,
    open_store,
    parse_context_pairs,
    resolve_execution_id,
    shown_store,
)
from soe.tool_specs import load_tools
from soe.types import Backends

__all__ = [
    "Llm",
    "STATUSES",
    "Session",
    "append_context",
    "bad_input",
    "drive",
    "enable_otel",
    "error_console",
    "fail",
    "inspection_of",
    "listing",
    "message",
    "open_session",
    "screen_for",
    "store_spec",
    "workflow_name",
]

_BAD_INPUT_ERRORS = (SoeError, ValueError, OSError)


def error_console() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    render.print_error(error_console(), message)
    raise typer.Exit(code)


def message(exc: BaseException) -> str:
    """What a user reads for an exception: its message, never a Python class name in front of it.

    The class name is only a fallback for an exception raised without a message.
    """
    return str(exc).strip() or type(exc).__name__


@contextmanager
def bad_input() -> Iterator[None]:
    """Turn a user mistake (SoeError, ValueError, OSError) into ``Error: <message>``, exit 2."""
    try:
        yield
    except _BAD_INPUT_ERRORS as exc:
        fail(message(exc))


@dataclass(frozen=True)
class Llm:
    """``--llm``, ``--llm-option`` and ``--llm-base-url``: which model, and how to reach it."""

    spec: str | None
    options: tuple[str, ...] = ()
    base_url: str | None = None

    def flags(self) -> list[str]:
        """The same choice as command-line flags, for the hints that continue an execution."""
        flags = [] if self.spec is None else ["--llm", self.spec]
        for option in self.options:
            flags += ["--llm-option", option]
        return flags + ([] if self.base_url is None else ["--llm-base-url", self.base_url])

    def build(self) -> Any:
        """The adapter, created now so a missing key or bad option stops the command before it runs."""
        from soe.llm.providers import llm_from_spec

        options = parse_context_pairs(self.options, flag="--llm-option")
        if self.base_url is not None:
            options["base_url"] = self.base_url
        return llm_from_spec(self.spec or "", **options)


def _call_llm(llm: Llm, workflows: Any) -> Any:
    """The ``call_llm`` for ``--llm``; refuses early when LLM nodes exist and none was given."""
    if llm.spec:
        return llm.build()
    if needs_llm(workflows):
        raise ValueError("This workflow has llm or agent nodes: pass --llm SPEC "
                        "(e.g. --llm echo offline, or --llm openai:gpt-4o-mini) or set SOE_LLM")
    return None


def _check_tools(workflows: Any, registry: dict[str, Any]) -> None:
    """Refuse to start when a tool node or agent names a tool nobody provides."""
    missing = missing_tools(workflows, registry)
    if missing:
        raise ValueError(f"Tools not found: {', '.join(missing)}; pass --tools MODULE:ATTR "
                         "(a dict of tools, a callable or a list of callables)")


@dataclass
class Session:
    """Opened backends and node callers for one command, and how to name them again in a hint.

    A PostgreSQL URL's password is shown as ``***``.
    """

    backends: Backends
    broadcast: Callable[[str, list[Any]], None]
    store: str
    store_flags: list[str]
    run_flags: list[str]
    execution_id: str = ""

    @property
    def durable(self) -> bool:
        return self.store.strip() != "memory"

    def hint(self, command: str, execution_id: str) -> str:
        """The command line that goes on with this execution: same store and, to run, same model and tools.

        A store found up the tree needs no ``--store``, so the hint works after a ``cd``.
        """
        flags = self.store_flags + (self.run_flags if command in ("resume", "signal") else [])
        return " ".join(["soe", command, execution_id, *flags])


def store_spec(spec: str | None) -> str:
    """``--store`` as given, else the nearest ``.soe/`` store up the directory tree."""
    return spec if spec is not None else find_store()


def _run_flags(llm: Llm, tools: Sequence[str]) -> list[str]:
    flags = llm.flags()
    for spec in tools:
        flags += ["--tools", spec]
    return flags


@contextmanager
def open_session(store: str | None, llm: Llm, tools: Sequence[str], workflows: Any = None, *,
             must_exist: bool = False, registry_of: str | None = None) -> Iterator[Session]:
    """Open the store and build the node callers; the store is closed when the command ends.

    ``registry_of`` names a stored execution (or a unique prefix of its id) whose
    registry decides whether ``--llm`` is needed.
    """
    from soe import create_all_nodes

    call_llm: Any = None
    spec = store_spec(store)
    with bad_input():
        registry = load_tools(tools)
        if registry_of is None:  # checked before the store is created, so bad input leaves no trace
            _check_tools(workflows, registry)
            call_llm = _call_llm(llm, workflows)
        backends = open_store(spec, must_exist=must_exist)
    try:
        with bad_input():
            if registry_of is not None:
                registry_of = resolve_execution_id(backends, registry_of)
                workflows = backends.workflow.get_workflows_registry(registry_of)
                _check_tools(workflows, registry)
                call_llm = _call_llm(llm, workflows)
            _, broadcast = create_all_nodes(backends, call_llm=call_llm, tools_registry=registry)
        yield Session(backends, broadcast, shown_store(spec),
                       [] if store is None else ["--store", shown_store(store)],
                       _run_flags(llm, tools), registry_of or "")
    finally:
        close_store(backends)


def screen_for(json_output: bool) -> tuple[render.Screen, str]:
    """The output screen and the monitor mode: quiet for ``--json``, live on a terminal, else plain."""
    screen = render.Screen(Console(highlight=False))
    if json_output:
        return screen, "quiet"
    return screen, ("plain" if screen.plain else "live")


def _report(session: Session, execution_id: str, error: BaseException | None) -> render.RunReport:
    from soe import get_execution_status

    record = get_execution_status(execution_id, session.backends)
    status = record["status"] if record else "completed"
    if error is not None and not isinstance(error, KeyboardInterrupt):
        status = "failed"
    context = session.backends.context.get_context(execution_id) or {}
    waiting_for = record.get("waiting_for") if record and status == "waiting" else None
    return render.RunReport(execution_id, status, dict(context), error, waiting_for)


def drive(session: Session, execution_id: str, label: str, title: str, action: Callable[[], Any], *,
           json_output: bool, history: bool) -> NoReturn:
    """Run ``action`` under the monitor, then print the outcome and exit with its code.

    An exception that left the execution's status untouched happened before
    anything ran (unknown id, bad signal list...): that is bad input, exit 2.
    One raised while the tree ran marks it failed: exit 1, context printed.
    """
    from soe import get_execution_status

    screen, mode = screen_for(json_output)
    before = get_execution_status(execution_id, session.backends)
    monitor = RunMonitor(screen.console, mode=mode, title=title, execution_id=execution_id, label=label)
    if mode == "plain":
        screen.line(title)
    error: BaseException | None = None
    try:
        with monitor.watching(session.backends):
            action()
    except KeyboardInterrupt as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - sorted into bad input or run failure just below
        if get_execution_status(execution_id, session.backends) == before:
            fail(message(exc))
        error = exc
    report = _report(session, execution_id, error)
    if monitor.hidden:
        where = f" (soe inspect {execution_id} lists every event)" if session.durable else ""
        screen.line(f"{monitor.hidden:,} repeated lines not shown{where}")
    _print_outcome(screen, report, monitor, session, json_output=json_output, history=history)
    if isinstance(error, KeyboardInterrupt):
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_OK if report.status in ("completed", "waiting") else EXIT_FAILED)


def _print_outcome(screen: render.Screen, report: render.RunReport, monitor: RunMonitor,
                   session: Session, *, json_output: bool, history: bool) -> None:
    if json_output:
        typer.echo(json.dumps(report.document(history=history), indent=2, ensure_ascii=False, default=str))
        return
    hint = session.hint("inspect", report.execution_id) if session.durable else None
    render.print_report(screen, report, history=history, summary=monitor.summary(),
                        elapsed=monitor.elapsed, inspect_hint=hint)
    if isinstance(report.error, KeyboardInterrupt) and session.durable:
        screen.line(f"interrupted: continue it with {session.hint('resume', report.execution_id)}",
                    style="bold yellow")


def append_context(backends: Backends, execution_id: str, updates: dict[str, Any]) -> None:
    """Append values the way a node would (the built-in ``soe_update_context`` does exactly that)."""
    from soe.builtin_tools.soe_update_context import create_soe_update_context_tool

    create_soe_update_context_tool(backends, execution_id)(updates)


def workflow_name(session: Session, execution_id: str) -> str:
    try:
        return str(session.backends.workflow.get_current_workflow_name(execution_id) or execution_id[:8])
    except Exception:  # noqa: BLE001 - only a label
        return execution_id[:8]


def inspection_of(backends: Backends, execution_id: str) -> render.Inspection:
    from soe import get_execution_status, get_registry_revisions, list_executions
    from soe.engine.telemetry import read_events

    status = get_execution_status(execution_id, backends)
    context = backends.context.get_context(execution_id) or {}
    events = read_events(backends, execution_id)
    main_id = (status or {}).get("main_execution_id") or execution_id
    tree = [entry for entry in list_executions(backends) if entry.get("main_execution_id") == main_id]
    return render.Inspection(execution_id, status, backends.workflow.get_current_workflow_name(execution_id),
                             dict(context), events, get_registry_revisions(execution_id, backends), tree)


STATUSES = ("running", "waiting", "completed", "failed")


def listing(backends: Backends, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most recent status records, each with its workflow name."""
    from soe import list_executions

    entries = list_executions(backends, status)[-limit:][::-1]
    return [{**entry, "workflow": backends.workflow.get_current_workflow_name(entry["execution_id"])}
            for entry in entries]


def enable_otel(exporter: str | None) -> None:
    """``--otel``: spans for this command, flushed when it exits."""
    if exporter is None:
        return
    import atexit

    try:
        from soe.otel import configure_exporter
        with bad_input():
            provider = configure_exporter(exporter)
    except ModuleNotFoundError as exc:
        from soe.otel import OTEL_EXTRA_MESSAGE

        fail(f"{OTEL_EXTRA_MESSAGE} (missing module: {exc.name})")
    atexit.register(provider.shutdown)
