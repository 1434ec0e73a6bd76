"""The ``soe`` command: a thin shell over SOE's public API (Typer for arguments, Rich for output).

Each command reads its inputs with :mod:`soe.inputs`, calls the same
functions a Python program would (``orchestrate``, ``resume``, the caller from
``create_all_nodes``, ``get_execution_status``, the validators) and prints with
:mod:`soe.cli.render`. Exit codes are the contract scripts rely on:
0 completed or waiting (or nothing wrong), 1 the run failed (its context is still
printed), 2 the input was bad and nothing ran, 130 interrupted.

Typer and Rich come from the ``cli`` extra; without them ``soe`` prints how
to install it instead of a traceback, and the engine never imports them.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

from soe._errors import SoeError, WorkflowValidationError
from soe.inputs import (
    apply_budgets,
    build_initial_context,
    close_store,
    find_store,
    first_workflow,
    load_tools,
    missing_tools,
    needs_llm,
    open_store,
    parse_context_pairs,
    read_config,
    resolve_execution_id,
    shown_store,
)

CLI_EXTRA_MESSAGE = ("The soe command needs the cli extra (Typer and Rich): pip install typer rich, "
                     "or reinstall SOE with it (pip install \".[cli]\" from a checkout)")

try:
    import typer
    from rich.console import Console

    from soe.cli import render
except ModuleNotFoundError as exc:  # the cli extra is not installed
    _MISSING: ModuleNotFoundError | None = exc
else:
    _MISSING = None

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "app", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

_BAD_INPUT_ERRORS = (SoeError, ValueError, OSError)


# --------------------------------------------------------------------------- shared plumbing


def _error_console() -> Console:
    return Console(stderr=True, highlight=False)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    render.print_error(_error_console(), message)
    raise typer.Exit(code)


def _message(exc: BaseException) -> str:
    """What a user reads for an exception: its message, never a Python class name in front of it.

    The class name is only a fallback for an exception raised without a message.
    """
    return str(exc).strip() or type(exc).__name__


@contextmanager
def _bad_input() -> Iterator[None]:
    """Turn a user mistake (SoeError, ValueError, OSError) into ``Error: <message>``, exit 2."""
    try:
        yield
    except _BAD_INPUT_ERRORS as exc:
        _fail(_message(exc))


def _check_valid(text: str, filename: str) -> None:
    """Refuse an invalid config before anything is stored, pointing at the line and column."""
    from soe.validation.locate import validate_text

    failure = validate_text(text, filename)
    if failure is not None:
        raise WorkflowValidationError(str(failure))


def _checked(text: str, filename: str, *, signals: Sequence[str], fields: Sequence[str],
             quiet: bool) -> None:
    """Lint before running: every error stops the run (exit 2), warnings are printed first.

    Validation alone misses what only the whole config shows (a condition that
    cannot compile, a child workflow that does not exist); both would make the
    run give a wrong result quietly. Warnings (misspelled keys, unguarded
    loops...) do not stop it; ``--quiet`` hides them.
    """
    from soe.validation.lint import lint_config

    findings = lint_config(text, initial_signals=signals, initial_context_fields=fields, filename=filename)
    errors = [finding for finding in findings if finding.severity == "error"]
    console = _error_console()
    for finding in errors:
        render.print_error(console, render.finding_line(finding, filename))
    if errors:
        raise typer.Exit(EXIT_BAD_INPUT)
    if not quiet:
        render.print_warnings(console, [f for f in findings if f.severity == "warning"], filename)


def _workflow_to_start(text: str, requested: str | None) -> str:
    """``--workflow`` if the config has it, else the first workflow."""
    from soe.validation.graph import extract_workflows

    if requested is None:
        return first_workflow(text)
    names = [str(name) for name in extract_workflows(text)]
    if requested not in names:
        raise WorkflowValidationError(f"Workflow '{requested}' not found in config. "
                                      f"Available workflows: {', '.join(names)}")
    return requested


@dataclass(frozen=True)
class _Llm:
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


def _call_llm(llm: _Llm, workflows: Any) -> Any:
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
class _Session:
    """Opened backends and node callers for one command, and how to name them again in a hint.

    A PostgreSQL URL's password is shown as ``***``.
    """

    backends: Any
    broadcast: Callable[[str, list], None]
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


def _store(spec: str | None) -> str:
    """``--store`` as given, else the nearest ``.soe/`` store up the directory tree."""
    return spec if spec is not None else find_store()


def _run_flags(llm: _Llm, tools: Sequence[str]) -> list[str]:
    flags = llm.flags()
    for spec in tools:
        flags += ["--tools", spec]
    return flags


@contextmanager
def _session(store: str | None, llm: _Llm, tools: Sequence[str], workflows: Any = None, *,
             must_exist: bool = False, registry_of: str | None = None) -> Iterator[_Session]:
    """Open the store and build the node callers; the store is closed when the command ends.

    ``registry_of`` names a stored execution (or a unique prefix of its id) whose
    registry decides whether ``--llm`` is needed.
    """
    from soe import create_all_nodes

    call_llm: Any = None
    spec = _store(store)
    with _bad_input():
        registry = load_tools(tools)
        if registry_of is None:  # checked before the store is created, so bad input leaves no trace
            _check_tools(workflows, registry)
            call_llm = _call_llm(llm, workflows)
        backends = open_store(spec, must_exist=must_exist)
    try:
        with _bad_input():
            if registry_of is not None:
                registry_of = resolve_execution_id(backends, registry_of)
                workflows = backends.workflow.get_workflows_registry(registry_of)
                _check_tools(workflows, registry)
                call_llm = _call_llm(llm, workflows)
            _, broadcast = create_all_nodes(backends, call_llm=call_llm, tools_registry=registry)
        yield _Session(backends, broadcast, shown_store(spec),
                       [] if store is None else ["--store", shown_store(store)],
                       _run_flags(llm, tools), registry_of or "")
    finally:
        close_store(backends)


def _screen(json_output: bool) -> tuple[render.Screen, str]:
    """The output screen and the monitor mode: quiet for ``--json``, live on a terminal, else plain."""
    screen = render.Screen(Console(highlight=False))
    if json_output:
        return screen, "quiet"
    return screen, ("plain" if screen.plain else "live")


def _report(session: _Session, execution_id: str, error: BaseException | None) -> render.RunReport:
    from soe import get_execution_status

    record = get_execution_status(execution_id, session.backends)
    status = record["status"] if record else "completed"
    if error is not None and not isinstance(error, KeyboardInterrupt):
        status = "failed"
    context = session.backends.context.get_context(execution_id) or {}
    waiting_for = record.get("waiting_for") if record and status == "waiting" else None
    return render.RunReport(execution_id, status, dict(context), error, waiting_for)


def _drive(session: _Session, execution_id: str, label: str, title: str, action: Callable[[], Any], *,
           json_output: bool, history: bool) -> NoReturn:
    """Run ``action`` under the monitor, then print the outcome and exit with its code.

    An exception that left the execution's status untouched happened before
    anything ran (unknown id, bad signal list...): that is bad input, exit 2.
    One raised while the tree ran marks it failed: exit 1, context printed.
    """
    from soe import get_execution_status

    screen, mode = _screen(json_output)
    before = get_execution_status(execution_id, session.backends)
    monitor = render.RunMonitor(screen.console, mode=mode, title=title, execution_id=execution_id, label=label)
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
            _fail(_message(exc))
        error = exc
    report = _report(session, execution_id, error)
    if monitor.hidden:
        where = f" (soe inspect {execution_id} lists every event)" if session.durable else ""
        screen.line(f"{monitor.hidden:,} repeated lines not shown{where}")
    _print_outcome(screen, report, monitor, session, json_output=json_output, history=history)
    if isinstance(error, KeyboardInterrupt):
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_OK if report.status in ("completed", "waiting") else EXIT_FAILED)


def _print_outcome(screen: render.Screen, report: render.RunReport, monitor: render.RunMonitor,
                   session: _Session, *, json_output: bool, history: bool) -> None:
    if json_output:
        typer.echo(json.dumps(report.document(history=history), indent=2, ensure_ascii=False, default=str))
        return
    hint = session.hint("inspect", report.execution_id) if session.durable else None
    render.print_report(screen, report, history=history, summary=monitor.summary(),
                        elapsed=monitor.elapsed, inspect_hint=hint)
    if isinstance(report.error, KeyboardInterrupt) and session.durable:
        screen.line(f"interrupted: continue it with {session.hint('resume', report.execution_id)}",
                    style="bold yellow")


# --------------------------------------------------------------------------- options

if _MISSING is None:
    StoreOption = Annotated[str | None, typer.Option(
        "--store", envvar="SOE_STORE", metavar="STORE",
        help="Where executions are kept: sqlite:PATH, postgresql://USER@HOST:PORT/DB[?schema=S], "
             "a directory (local files) or memory "
             "(default: .soe/soe.db in the nearest folder up the tree that has .soe/).")]
    LlmOption = Annotated[str | None, typer.Option(
        "--llm", envvar="SOE_LLM", metavar="SPEC", help="The model: echo (offline), openai:MODEL, anthropic:MODEL, litellm:MODEL.")]
    LlmOptionOption = Annotated[list[str] | None, typer.Option(
        "--llm-option", metavar="KEY=VALUE",
        help="A model option for the adapter (temperature=0, max_tokens=200, tool_calling=json, ...), "
             "typed like --context; nodes' own options win; repeatable.")]
    LlmBaseUrlOption = Annotated[str | None, typer.Option(
        "--llm-base-url", metavar="URL",
        help="The provider's base URL, e.g. a local OpenAI-compatible server (default: the provider's "
             "environment variable, e.g. OPENAI_BASE_URL).")]
    ToolsOption = Annotated[list[str] | None, typer.Option(
        "--tools", metavar="MODULE:ATTR", help="module:attribute (or path/file.py:attribute) naming a dict of tools or one callable; "
                        "repeatable.")]
    JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]
    HistoryOption = Annotated[bool, typer.Option("--history", help="Show every value of each field, not the last.")]
    SignalOption = Annotated[list[str] | None, typer.Option("--signal", "-s", metavar="SIGNAL", help="Initial signal; repeatable (default START).")]
    ContextOption = Annotated[list[str] | None, typer.Option(
        "--context", "-c", metavar="KEY=VALUE",
        help="A context value: 500, true, null, [a, b] and {k: v} are typed (YAML), "
             "anything else is text; repeatable; wins over --context-file.")]
    ContextStringOption = Annotated[list[str] | None, typer.Option(
        "--context-string", metavar="KEY=VALUE", help="A value kept as text (500 stays '500'); repeatable; "
                                                      "wins over --context.")]
    FilesArgument = Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, metavar="FILE", help="Workflow YAML files.")]
    FileArgument = Annotated[Path, typer.Argument(exists=True, dir_okay=False, metavar="FILE", help="A workflow YAML file.")]
    OtelOption = Annotated[str | None, typer.Option(
        "--otel", metavar="EXPORTER", help="OpenTelemetry spans to console (stderr) or otlp (OTEL_* variables); "
                                           "needs the otel extra.")]


# --------------------------------------------------------------------------- commands


def run(
    file: FileArgument,
    workflow: Annotated[str | None, typer.Option("--workflow", "-w", metavar="NAME", help="Workflow to start (default: the first).")] = None,
    signal: SignalOption = None,
    context: ContextOption = None,
    context_string: ContextStringOption = None,
    context_file: Annotated[Path | None, typer.Option(
        "--context-file", exists=True, dir_okay=False, metavar="FILE", help="JSON or YAML mapping of typed initial values.")] = None,
    tools: ToolsOption = None,
    llm: LlmOption = None,
    llm_option: LlmOptionOption = None,
    llm_base_url: LlmBaseUrlOption = None,
    store: StoreOption = None,
    max_concurrency: Annotated[int | None, typer.Option(min=1, metavar="N", help="Activations run at once (default 1).")] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, metavar="N", help="Node runs allowed (default 100000).")] = None,
    max_llm_calls: Annotated[int | None, typer.Option(min=1, metavar="N", help="LLM requests allowed in the tree.")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, metavar="N", help="Reported tokens allowed in the tree.")] = None,
    json_output: JsonOption = False,
    history: HistoryOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not print lint warnings before running.")] = False,
    otel: OtelOption = None,
) -> None:
    """Run a workflow file until it finishes, then print its context and execution id."""
    from soe import orchestrate
    from soe.validation.graph import extract_workflows

    _enable_otel(otel)
    with _bad_input():
        text = read_config(file)
        initial = build_initial_context(context_file, context or [], context_string or [])
    _checked(text, str(file), signals=signal or ["START"], fields=list(initial), quiet=quiet)
    with _bad_input():
        name = _workflow_to_start(text, workflow)
        config = apply_budgets(text, max_llm_calls=max_llm_calls, max_tokens=max_tokens)
    execution_id = str(uuid.uuid4())
    with _session(store, _Llm(llm, tuple(llm_option or ()), llm_base_url), tools or [], extract_workflows(text)) as session:
        def start() -> None:
            orchestrate(config, name, list(signal or ["START"]), initial, session.backends, session.broadcast,
                        max_steps=max_steps, max_concurrency=max_concurrency, execution_id=execution_id)

        title = f"soe run {file}: workflow {name}, execution {execution_id}, store {session.store}"
        _drive(session, execution_id, name, title, start, json_output=json_output, history=history)


def resume_command(
    execution_id: Annotated[str, typer.Argument(metavar="EXECUTION_ID", help="The interrupted execution.")],
    store: StoreOption = None,
    llm: LlmOption = None,
    llm_option: LlmOptionOption = None,
    llm_base_url: LlmBaseUrlOption = None,
    tools: ToolsOption = None,
    json_output: JsonOption = False,
    history: HistoryOption = False,
) -> None:
    """Continue an interrupted execution from its stored queue (completed nodes do not run again)."""
    from soe import resume

    with _session(store, _Llm(llm, tuple(llm_option or ()), llm_base_url), tools or [], must_exist=True, registry_of=execution_id) as session:
        execution_id = session.execution_id
        label = _workflow_name(session, execution_id)
        title = f"soe resume {execution_id} (workflow {label}), store {session.store}"
        _drive(session, execution_id, label, title,
               lambda: resume(execution_id, session.backends, session.broadcast),
               json_output=json_output, history=history)


def signal_command(
    execution_id: Annotated[str, typer.Argument(metavar="EXECUTION_ID", help="The stored execution to signal.")],
    signals: Annotated[list[str], typer.Argument(metavar="SIGNAL", help="Signals to broadcast, in order.")],
    store: StoreOption = None,
    llm: LlmOption = None,
    llm_option: LlmOptionOption = None,
    llm_base_url: LlmBaseUrlOption = None,
    tools: ToolsOption = None,
    context: ContextOption = None,
    context_string: ContextStringOption = None,
    json_output: JsonOption = False,
    history: HistoryOption = False,
) -> None:
    """Send signals to a stored execution: how a person answers a workflow that waits for them."""
    with _bad_input():
        updates = build_initial_context(None, context or [], context_string or [])
    with _session(store, _Llm(llm, tuple(llm_option or ()), llm_base_url), tools or [], must_exist=True, registry_of=execution_id) as session:
        execution_id = session.execution_id
        with _bad_input():
            _check_listened(session.backends, execution_id, signals)
        label = _workflow_name(session, execution_id)
        title = f"soe signal {execution_id} {' '.join(signals)} (workflow {label}), store {session.store}"

        def send() -> None:
            if updates:
                _append_context(session.backends, execution_id, updates)
            session.broadcast(execution_id, list(signals))

        _drive(session, execution_id, label, title, send, json_output=json_output, history=history)


def _check_listened(backends: Any, execution_id: str, signals: Sequence[str]) -> None:
    """Refuse signals no node of the execution's workflow listens for.

    Broadcasting one runs nothing and reports ``completed``, which looks like
    an approval went through; a typo in the signal is far likelier.
    """
    from soe.validation.graph import listened_signals

    workflow = backends.workflow.get_current_workflow_name(execution_id)
    registry = backends.workflow.get_workflows_registry(execution_id) or {}
    listened = listened_signals(registry.get(workflow))
    unheard = [signal for signal in signals if signal not in listened]
    if unheard:
        raise ValueError(f"No node of execution '{execution_id}' (workflow '{workflow}') listens for "
                         f"{', '.join(unheard)}; it listens for: {', '.join(listened) or 'nothing'}")


def _append_context(backends: Any, execution_id: str, updates: dict[str, Any]) -> None:
    """Append values the way a node would (the built-in ``soe_update_context`` does exactly that)."""
    from soe.builtin_tools.soe_update_context import create_soe_update_context_tool

    create_soe_update_context_tool(backends, execution_id)(updates)


def _workflow_name(session: _Session, execution_id: str) -> str:
    try:
        return str(session.backends.workflow.get_current_workflow_name(execution_id) or execution_id[:8])
    except Exception:  # noqa: BLE001 - only a label
        return execution_id[:8]


def validate(files: FilesArgument) -> None:
    """Check workflow files: every validation error and every lint error, as file:line:col."""
    from soe.validation.lint import lint_file

    failed = False
    for path in files:
        with _bad_input():
            errors = [f for f in lint_file(path) if f.severity == "error"]
        for finding in errors:
            typer.echo(render.finding_line(finding, str(path)))
        if not errors:
            typer.echo(f"{path}: OK")
        failed = failed or bool(errors)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def lint(
    files: FilesArgument,
    signal: SignalOption = None,
    context_field: Annotated[list[str] | None, typer.Option(
        "--context-field", metavar="FIELD", help="A field the initial context provides; repeatable.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")] = False,
) -> None:
    """Find problems between nodes (unheard signals, unreachable triggers, loops...), each with a fix."""
    from soe.validation.lint import has_errors, lint_file

    screen, _ = _screen(False)
    failed = False
    for path in files:
        with _bad_input():
            findings = lint_file(path, initial_signals=signal or ["START"],
                                 initial_context_fields=context_field or [])
        render.print_findings(screen, findings, str(path))
        failed = failed or has_errors(findings) or (strict and bool(findings))
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def graph(
    file: FileArgument,
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help="mermaid or dot.")] = "mermaid",
    signal: SignalOption = None,
) -> None:
    """Draw how signals flow between nodes, as Mermaid or Graphviz DOT text."""
    from soe.validation.graph import to_dot, to_mermaid

    renderers = {"mermaid": to_mermaid, "dot": to_dot}
    with _bad_input():
        if format not in renderers:
            raise ValueError(f"Unknown --format '{format}': use mermaid or dot")
        text = read_config(file)
        _check_valid(text, str(file))
        typer.echo(renderers[format](text, initial_signals=signal or ["START"]).rstrip("\n"))


def inspect(
    execution_id: Annotated[str, typer.Argument(metavar="EXECUTION_ID", help="The execution to show (or a unique prefix of its id).")],
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show a stored execution: status, context history, __operational__, timeline and registry revisions."""
    with _bad_input():
        backends = open_store(_store(store), must_exist=True, read_only=True)
    try:
        with _bad_input():
            inspection = _inspection(backends, resolve_execution_id(backends, execution_id))
    finally:
        close_store(backends)
    if json_output:
        typer.echo(json.dumps(inspection.document(), indent=2, ensure_ascii=False, default=str))
        return
    screen, _ = _screen(False)
    render.print_inspection(screen, inspection)


def _inspection(backends: Any, execution_id: str) -> render.Inspection:
    from soe import get_execution_status, get_registry_revisions, list_executions

    status = get_execution_status(execution_id, backends)
    context = backends.context.get_context(execution_id) or {}
    telemetry = backends.telemetry
    events = list(telemetry.get_events(execution_id)) if telemetry is not None else []
    main_id = (status or {}).get("main_execution_id") or execution_id
    tree = [entry for entry in list_executions(backends) if entry.get("main_execution_id") == main_id]
    return render.Inspection(execution_id, status, backends.workflow.get_current_workflow_name(execution_id),
                             dict(context), events, get_registry_revisions(execution_id, backends), tree)


def list_command(
    store: StoreOption = None,
    status: Annotated[str | None, typer.Option(
        "--status", metavar="STATUS", help="Only executions with this status: running, waiting, completed "
                                           "or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="Show the N most recent (default 20).")] = 20,
    json_output: JsonOption = False,
) -> None:
    """List the executions in the store, most recent first: id, status, workflow, when, error."""
    with _bad_input():
        if status is not None and status not in _STATUSES:
            raise ValueError(f"Unknown --status '{status}': use {', '.join(_STATUSES)}")
        backends = open_store(_store(store), must_exist=True)
    try:
        with _bad_input():
            entries = _listing(backends, status, limit)
    finally:
        close_store(backends)
    if json_output:
        typer.echo(json.dumps(entries, indent=2, ensure_ascii=False, default=str))
        return
    screen, _ = _screen(False)
    render.print_listing(screen, entries, keeps_statuses=getattr(backends, "runtime", None) is not None)


_STATUSES = ("running", "waiting", "completed", "failed")


def _listing(backends: Any, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most recent status records, each with its workflow name."""
    from soe import list_executions

    entries = list_executions(backends, status)[-limit:][::-1]
    return [{**entry, "workflow": backends.workflow.get_current_workflow_name(entry["execution_id"])}
            for entry in entries]


def serve(
    store: StoreOption = None,
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to bind; anything but loopback needs "
                                                          "--api-key-file.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT")] = 8080,
    api_key_file: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, metavar="FILE", help="API keys, one per line: every /v1 request then "
                                                          "needs Authorization: Bearer KEY.")] = None,
    llm: LlmOption = None,
    tools: ToolsOption = None,
    workers: Annotated[int, typer.Option(min=1, metavar="N", help="Executions run at once.")] = 8,
    otel: OtelOption = None,
) -> None:
    """Serve the HTTP API (/v1, OpenAPI at /docs) and the web UI (/) on one store."""
    try:
        from soe.server.main import ServeOptions
        from soe.server.main import serve as serve_forever
    except ModuleNotFoundError as exc:
        from soe.server import SERVER_EXTRA_MESSAGE

        _fail(f"{SERVER_EXTRA_MESSAGE} (missing module: {exc.name})")
    _enable_otel(otel)
    with _bad_input():
        options = ServeOptions(_store(store), host, port, api_key_file, llm, tools or [], workers)
    with _bad_input():
        serve_forever(options)


def _enable_otel(exporter: str | None) -> None:
    """``--otel``: spans for this command, flushed when it exits."""
    if exporter is None:
        return
    import atexit

    try:
        from soe.otel import configure_exporter
        with _bad_input():
            provider = configure_exporter(exporter)
    except ModuleNotFoundError as exc:
        from soe.otel import OTEL_EXTRA_MESSAGE

        _fail(f"{OTEL_EXTRA_MESSAGE} (missing module: {exc.name})")
    atexit.register(provider.shutdown)


# --------------------------------------------------------------------------- app


def _version(value: bool) -> None:
    if value:
        from soe import __version__

        typer.echo(f"soe {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """SOE, the Signal-driven Orchestration Engine: run, check and inspect YAML workflows."""


def build_app() -> typer.Typer:
    """The Typer application with every command registered."""
    application = typer.Typer(name="soe", add_completion=False, no_args_is_help=True,
                              pretty_exceptions_show_locals=False, rich_markup_mode=None)
    application.callback()(_root)
    application.command("run")(run)
    application.command("validate")(validate)
    application.command("lint")(lint)
    application.command("graph")(graph)
    application.command("inspect")(inspect)
    application.command("list")(list_command)
    application.command("resume")(resume_command)
    application.command("signal")(signal_command)
    application.command("serve")(serve)
    return application


app: Any = build_app() if _MISSING is None else None


def main() -> None:
    """Console-script entry point (``soe`` and ``python -m soe``)."""
    if _MISSING is not None:
        sys.stderr.write(f"{CLI_EXTRA_MESSAGE} (missing module: {_MISSING.name})\n")
        raise SystemExit(EXIT_FAILED)
    app(prog_name="soe")
