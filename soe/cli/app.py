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
from pathlib import Path
from typing import Annotated, Any

from soe.cli import CLI_EXTRA_MESSAGE, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from soe.inputs import (
    apply_budgets,
    build_initial_context,
    close_store,
    open_store,
    read_config,
    resolve_execution_id,
)

try:
    import typer

    from soe.cli import render
    from soe.cli.checks import check_listened, check_valid, lint_before_run, workflow_to_start
    from soe.cli.options import (
        ContextOption,
        ContextStringOption,
        FileArgument,
        FilesArgument,
        HistoryOption,
        JsonOption,
        LlmBaseUrlOption,
        LlmOption,
        LlmOptionOption,
        NamespaceOption,
        OtelOption,
        SignalOption,
        StoreOption,
        TaskQueueOption,
        TemporalOption,
        ToolsOption,
    )
    from soe.cli.session import (
        STATUSES,
        Llm,
        append_context,
        bad_input,
        drive,
        enable_otel,
        fail,
        inspection_of,
        listing,
        open_session,
        screen_for,
        store_spec,
        workflow_name,
    )
    from soe.cli.temporal_commands import worker as temporal_worker
except ModuleNotFoundError as exc:  # the cli extra is not installed
    _MISSING: ModuleNotFoundError | None = exc
else:
    _MISSING = None

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "app", "main"]


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
    temporal: TemporalOption = None,
    task_queue: TaskQueueOption = "soe",
    namespace: NamespaceOption = "default",
    no_wait: Annotated[bool, typer.Option("--no-wait", help="With --temporal: submit and return at once.")] = False,
) -> None:
    """Run a workflow file until it finishes, then print its context and execution id."""
    from soe import orchestrate
    from soe.validation.graph import extract_workflows

    enable_otel(otel)
    with bad_input():
        text = read_config(file)
        initial = build_initial_context(context_file, context or [], context_string or [])
    lint_before_run(text, str(file), signals=signal or ["START"], fields=list(initial), quiet=quiet)
    with bad_input():
        name = workflow_to_start(text, workflow)
        config = apply_budgets(text, max_llm_calls=max_llm_calls, max_tokens=max_tokens)
    execution_id = str(uuid.uuid4())
    if no_wait and temporal is None:
        fail("--no-wait needs --temporal: a local run always runs to its end")
    if temporal is not None:
        from soe.cli.temporal_commands import Temporal, run_on_temporal

        run_on_temporal(Temporal(temporal, namespace, task_queue), store, execution_id, name, file,
                        lambda runner: runner.submit(config, name, list(signal or ["START"]), initial,
                                                     execution_id=execution_id, max_steps=max_steps,
                                                     max_concurrency=max_concurrency),
                        no_wait=no_wait, json_output=json_output, history=history)
    with open_session(store, Llm(llm, tuple(llm_option or ()), llm_base_url), tools or [], extract_workflows(text)) as session:
        def start() -> None:
            orchestrate(config, name, list(signal or ["START"]), initial, session.backends, session.broadcast,
                        max_steps=max_steps, max_concurrency=max_concurrency, execution_id=execution_id)

        title = f"soe run {file}: workflow {name}, execution {execution_id}, store {session.store}"
        drive(session, execution_id, name, title, start, json_output=json_output, history=history)


def resume_command(
    execution_id: Annotated[str, typer.Argument(metavar="EXECUTION_ID", help="The interrupted execution.")],
    store: StoreOption = None,
    llm: LlmOption = None,
    llm_option: LlmOptionOption = None,
    llm_base_url: LlmBaseUrlOption = None,
    tools: ToolsOption = None,
    json_output: JsonOption = False,
    history: HistoryOption = False,
    temporal: TemporalOption = None,
    task_queue: TaskQueueOption = "soe",
    namespace: NamespaceOption = "default",
) -> None:
    """Continue an interrupted execution from its stored queue (completed nodes do not run again)."""
    from soe import resume

    if temporal is not None:
        from soe.cli.temporal_commands import Temporal, on_temporal

        on_temporal(Temporal(temporal, namespace, task_queue), store, execution_id, "resume",
                    lambda runner, main_id, _: runner.resume(main_id), json_output=json_output, history=history)
    with open_session(store, Llm(llm, tuple(llm_option or ()), llm_base_url), tools or [], must_exist=True, registry_of=execution_id) as session:
        execution_id = session.execution_id
        label = workflow_name(session, execution_id)
        title = f"soe resume {execution_id} (workflow {label}), store {session.store}"
        drive(session, execution_id, label, title,
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
    temporal: TemporalOption = None,
    task_queue: TaskQueueOption = "soe",
    namespace: NamespaceOption = "default",
) -> None:
    """Send signals to a stored execution: how a person answers a workflow that waits for them."""
    with bad_input():
        updates = build_initial_context(None, context or [], context_string or [])
    if temporal is not None:
        from soe.cli.temporal_commands import Temporal, on_temporal

        def prepare(backends: Any, target: str) -> None:
            check_listened(backends, target, signals)
            if updates:
                append_context(backends, target, updates)

        on_temporal(Temporal(temporal, namespace, task_queue), store, execution_id, "signal",
                    lambda runner, main_id, target: runner.signal(main_id, target, list(signals)),
                    json_output=json_output, history=history, prepare=prepare)
    with open_session(store, Llm(llm, tuple(llm_option or ()), llm_base_url), tools or [], must_exist=True, registry_of=execution_id) as session:
        execution_id = session.execution_id
        with bad_input():
            check_listened(session.backends, execution_id, signals)
        label = workflow_name(session, execution_id)
        title = f"soe signal {execution_id} {' '.join(signals)} (workflow {label}), store {session.store}"

        def send() -> None:
            if updates:
                append_context(session.backends, execution_id, updates)
            session.broadcast(execution_id, list(signals))

        drive(session, execution_id, label, title, send, json_output=json_output, history=history)


def validate(files: FilesArgument) -> None:
    """Check workflow files: every validation error and every lint error, as file:line:col."""
    from soe.validation.lint import lint_file

    failed = False
    for path in files:
        with bad_input():
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

    screen, _ = screen_for(False)
    failed = False
    for path in files:
        with bad_input():
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
    with bad_input():
        if format not in renderers:
            raise ValueError(f"Unknown --format '{format}': use mermaid or dot")
        text = read_config(file)
        check_valid(text, str(file))
        typer.echo(renderers[format](text, initial_signals=signal or ["START"]).rstrip("\n"))


def inspect(
    execution_id: Annotated[str, typer.Argument(metavar="EXECUTION_ID", help="The execution to show (or a unique prefix of its id).")],
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show a stored execution: status, context history, __operational__, timeline and registry revisions."""
    with bad_input():
        backends = open_store(store_spec(store), must_exist=True, read_only=True)
    try:
        with bad_input():
            inspection = inspection_of(backends, resolve_execution_id(backends, execution_id))
    finally:
        close_store(backends)
    if json_output:
        typer.echo(json.dumps(inspection.document(), indent=2, ensure_ascii=False, default=str))
        return
    screen, _ = screen_for(False)
    render.print_inspection(screen, inspection)


def list_command(
    store: StoreOption = None,
    status: Annotated[str | None, typer.Option(
        "--status", metavar="STATUS", help="Only executions with this status: running, waiting, completed "
                                           "or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="Show the N most recent (default 20).")] = 20,
    json_output: JsonOption = False,
) -> None:
    """List the executions in the store, most recent first: id, status, workflow, when, error."""
    with bad_input():
        if status is not None and status not in STATUSES:
            raise ValueError(f"Unknown --status '{status}': use {', '.join(STATUSES)}")
        backends = open_store(store_spec(store), must_exist=True)
    try:
        with bad_input():
            entries = listing(backends, status, limit)
    finally:
        close_store(backends)
    if json_output:
        typer.echo(json.dumps(entries, indent=2, ensure_ascii=False, default=str))
        return
    screen, _ = screen_for(False)
    render.print_listing(screen, entries, keeps_statuses=getattr(backends, "runtime", None) is not None)


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

        fail(f"{SERVER_EXTRA_MESSAGE} (missing module: {exc.name})")
    enable_otel(otel)
    with bad_input():
        options = ServeOptions(store_spec(store), host, port, api_key_file, llm, tools or [], workers)
    with bad_input():
        serve_forever(options)


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
    application.command("worker")(temporal_worker)
    return application


app: Any = build_app() if _MISSING is None else None


def main() -> None:
    """Console-script entry point (``soe`` and ``python -m soe``)."""
    if _MISSING is not None:
        sys.stderr.write(f"{CLI_EXTRA_MESSAGE} (missing module: {_MISSING.name})\n")
        raise SystemExit(EXIT_FAILED)
    app(prog_name="soe")
