"""What the ``soe`` command prints: results, findings, listings and inspections, on a terminal or a pipe.

Two audiences read this output. A person at a terminal gets Rich tables and a
live panel that follows the run; a pipe, a CI log or a test gets plain lines
that are stable, greppable and never wrapped or boxed. :class:`Screen` makes
that choice once, so every command renders the same data both ways.

The live view of a run is :mod:`soe.cli.monitor`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from soe._errors import ProviderError
from soe.inputs import plain, user_fields

__all__ = [
    "Inspection",
    "RunReport",
    "Screen",
    "error_document",
    "failure_text",
    "finding_line",
    "print_error",
    "print_findings",
    "print_inspection",
    "print_listing",
    "print_report",
    "print_warnings",
    "short",
]

_VALUE_WIDTH = 100


def short(value: Any, width: int | None = _VALUE_WIDTH) -> str:
    """One line for a value: strings as they are, everything else as compact JSON, cut to ``width``.

    ``width=None`` keeps the value whole (``soe inspect`` is where a value is read in full).
    """
    text = value if isinstance(value, str) else json.dumps(plain(value), ensure_ascii=False, default=str)
    text = text.replace("\r", "").replace("\n", "\\n")
    return text if width is None or len(text) <= width else text[: width - 1] + "…"




# --------------------------------------------------------------------------- screen


class Screen:
    """A console plus the choice between Rich rendering (terminal) and plain lines (anything else)."""

    def __init__(self, console: Console, *, plain_text: bool | None = None) -> None:
        self.console = console
        terminal = console.is_terminal and not console.is_dumb_terminal
        self.plain = (not terminal) if plain_text is None else plain_text

    @property
    def value_width(self) -> int:
        """How much of a value fits on one line: the terminal's width, or 100 characters in logs."""
        return _VALUE_WIDTH if self.plain else max(40, self.console.width - 30)

    def line(self, text: str = "", style: str | None = None) -> None:
        """One line, never wrapped or interpreted as markup."""
        if self.plain:
            self.console.out(text, highlight=False)
        else:
            self.console.print(Text(text, style=style or ""), soft_wrap=True)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
              header: bool = True) -> None:
        """A titled table; in plain mode, space-aligned columns under the title."""
        cells = [[str(cell) for cell in row] for row in rows]
        if self.plain:
            self._plain_table(title, list(columns) if header else None, cells)
            return
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_header=header)
        for index, column in enumerate(columns):
            table.add_column(column, overflow="fold", no_wrap=index < len(columns) - 1)
        for row in cells:
            table.add_row(*(Text(cell) for cell in row))
        self.console.print(table)

    def _plain_table(self, title: str, header: list[str] | None, rows: list[list[str]]) -> None:
        self.console.out(title, highlight=False)
        body = ([header] if header else []) + rows
        if not body:
            self.console.out("  (none)", highlight=False)
            return
        widths = [max(len(row[i]) for row in body if i < len(row)) for i in range(len(body[0]))]
        for row in body:
            padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + row[-1:]
            self.console.out(("  " + "  ".join(padded)).rstrip(), highlight=False)


def print_error(console: Console, message: str) -> None:
    """``Error: <message>`` on the error console, unwrapped so the message stays one line."""
    console.print(Text.assemble(("Error: ", "bold red"), message), soft_wrap=True, highlight=False)


# --------------------------------------------------------------------------- results


@dataclass
class RunReport:
    """How a run, resume or signal ended: what ``--json`` prints and the human view shows."""

    execution_id: str
    status: str
    context: dict[str, Any]
    error: BaseException | None = None
    waiting_for: list[str] | None = None  # set when the status is ``waiting``

    def document(self, *, history: bool) -> dict[str, Any]:
        """The ``--json`` document (``waiting_for`` only when the execution waits)."""
        document = {
            "execution_id": self.execution_id,
            "status": self.status,
            "context": user_fields(self.context, history=history),
            "operational": plain(self.context.get("__operational__")),
            "error": None if self.error is None else error_document(self.error),
        }
        if self.waiting_for:
            document["waiting_for"] = list(self.waiting_for)
        return document


def error_document(error: BaseException) -> dict[str, Any]:
    """An error in ``--json``: its type and message, and a provider error's status, provider and request id."""
    document: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, ProviderError):
        document.update(provider=error.provider, status=error.status, request_id=error.request_id)
    return document


def _context_rows(context: Mapping[str, Any], history: bool,
                  width: int | None = _VALUE_WIDTH) -> list[list[str]]:
    rows: list[list[str]] = []
    for key, value in user_fields(context, history=history).items():
        if history and isinstance(value, list):
            rows.extend([key if i == 0 else "", f"[{i}]", short(item, width)] for i, item in enumerate(value))
        else:
            rows.append([key, short(value, width)])
    return rows


def failure_text(error: BaseException) -> str:
    """Why a run failed, in words: the message (never led by a class name), naming the workflow.

    A template error knows its node and field; the workflow is added here.
    """
    message = str(error).strip() or type(error).__name__
    workflow = getattr(error, "workflow_name", None)
    return f"Workflow '{workflow}': {message}" if workflow else message


def print_report(screen: Screen, report: RunReport, *, history: bool, summary: str, elapsed: float,
                 inspect_hint: str | None) -> None:
    """Status line, the context (last values, or every value with ``history``) and the execution id."""
    ok = report.status in ("completed", "waiting")
    status = f"{report.status} in {elapsed:.3f}s: {summary}"
    screen.line(status, style="bold green" if ok else "bold yellow")
    if report.waiting_for:
        screen.line(f"waiting for {', '.join(report.waiting_for)}: answer with soe signal "
                    f"{report.execution_id} SIGNAL", style="bold cyan")
    if report.error is not None:
        screen.line(failure_text(report.error), style="bold red")
    screen.line()
    columns = ("field", "#", "value") if history else ("field", "value")
    screen.table("Context", columns, _context_rows(report.context, history, screen.value_width), header=False)
    screen.line()
    screen.line(f"execution {report.execution_id}", style="bold")
    if inspect_hint is not None:
        screen.line(f"inspect it: {inspect_hint}", style="dim")


# --------------------------------------------------------------------------- lint


def finding_line(finding: Any, filename: str) -> str:
    """One line for a finding: an invalid config as ``validate`` always printed it, others in full."""
    if finding.code == "SOE001" and finding.line is not None:
        return f"{filename}:{finding.line}:{finding.column}: {finding.message}"
    return cast("str", finding.format(filename))


def print_warnings(console: Console, findings: Sequence[Any], filename: str) -> None:
    """Lint warnings shown before a run, one line each (never wrapped, so they stay greppable)."""
    for finding in findings:
        console.print(Text(finding.format(filename), style="yellow"), soft_wrap=True, highlight=False)


def print_findings(screen: Screen, findings: Sequence[Any], filename: str) -> None:
    """Lint findings: one ``Finding.format`` line each in plain mode, a table on a terminal."""
    if not findings:
        screen.line(f"{filename}: no findings", style="green")
        return
    if screen.plain:
        for finding in findings:
            screen.line(finding.format(filename))
        return
    rows = [[f"{filename}:{f.line}:{f.column}" if f.line is not None else filename, f.severity, f.code,
             "/".join(str(p) for p in (f.workflow, f.node) if p is not None), f.message, f.hint]
            for f in findings]
    screen.table(filename, ("location", "severity", "code", "where", "message", "fix"), rows)


# --------------------------------------------------------------------------- list


def _listed_status(entry: Mapping[str, Any]) -> str:
    """The status, with what a waiting execution waits for: ``waiting (APPROVED, REJECTED)``."""
    waits = entry.get("waiting_for")
    return f"{entry.get('status')} ({', '.join(map(str, waits))})" if waits else str(entry.get("status"))


def print_listing(screen: Screen, entries: Sequence[Mapping[str, Any]], *, keeps_statuses: bool) -> None:
    """``soe list``: one row per execution, most recent first."""
    if not keeps_statuses:
        screen.line("This store keeps no execution statuses; use a SQLite store (--store sqlite:PATH) "
                    "to list executions.", style="yellow")
        return
    if not entries:
        screen.line("No executions in this store match.")
        return
    rows = [[str(e.get("execution_id")), _listed_status(e), str(e.get("workflow") or ""),
             str(e.get("updated_at") or "")[:19].replace("T", " "),
             "main" if e.get("main_execution_id") in (None, e.get("execution_id")) else "child",
             short(e.get("error") or "", 60)] for e in entries]
    screen.table("Executions (most recently started first)",
                 ("execution", "status", "workflow", "updated (UTC)", "tree", "error"),
                 rows)


# --------------------------------------------------------------------------- inspect


@dataclass
class Inspection:
    """Everything ``soe inspect`` shows about one stored execution."""

    execution_id: str
    status: dict[str, Any] | None
    workflow: str | None
    context: dict[str, Any]
    events: list[dict[str, Any]]
    revisions: list[dict[str, Any]]
    tree: list[dict[str, Any]]

    def document(self) -> dict[str, Any]:
        """The ``--json`` document of ``soe inspect``."""
        document: dict[str, Any] = plain({
            "execution_id": self.execution_id,
            "status": self.status,
            "workflow": self.workflow,
            "context": user_fields(self.context, history=True),
            "operational": self.context.get("__operational__"),
            "parent": self.context.get("__parent__"),
            "events": self.events,
            "revisions": self.revisions,
            "tree": self.tree,
        })
        return document


def _time_of(stamp: Any) -> str:
    """``HH:MM:SS.mmm`` from a §12.1 timestamp."""
    text = str(stamp or "")
    clock = text.partition("T")[2].rstrip("Z")
    return clock[:12] if clock else text


def _event_rows(events: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for index, event in enumerate(events):
        data = event.get("context")
        if data is None:
            data = {k: v for k, v in event.items() if k not in ("event_type", "timestamp")}
        rows.append([str(index), _time_of(event.get("timestamp")), str(event.get("event_type")),
                     short(data, None)])
    return rows


def _revision_rows(revisions: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for revision in revisions:
        changes = ", ".join(f"{d.get('op')} {d.get('path')}" for d in revision.get("diff") or [])
        rows.append([str(revision.get("revision")), str(revision.get("author")),
                     str(revision.get("operation")), _time_of(revision.get("timestamp")), changes])
    return rows


def _operational_rows(operational: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for key, value in operational.items():
        if key == "nodes" and isinstance(value, Mapping):
            value = ", ".join(f"{name}×{count}" for name, count in value.items())
        elif key == "signals" and isinstance(value, list):
            value = ", ".join(str(signal) for signal in value)
        rows.append([str(key), short(value, None)])
    return rows


def _header_rows(inspection: Inspection) -> list[list[str]]:
    status = inspection.status or {}
    rows = [["execution", inspection.execution_id],
            ["status", str(status.get("status", "unknown (this store keeps no statuses)"))],
            ["workflow", str(inspection.workflow)]]
    main_id = status.get("main_execution_id")
    if main_id and main_id != inspection.execution_id:
        rows.append(["main execution", str(main_id)])
    parent = inspection.context.get("__parent__")
    if isinstance(parent, Mapping) and parent.get("parent_execution_id"):
        rows.append(["parent", str(parent["parent_execution_id"])])
    if status.get("updated_at"):
        rows.append(["updated", str(status["updated_at"])])
    if status.get("error"):
        rows.append(["error", str(status["error"])])
    if status.get("waiting_for"):
        rows.append(["waiting for", ", ".join(str(s) for s in status["waiting_for"])])
    raised = sum(1 for event in inspection.events if event.get("event_type") == "condition_error")
    if raised:
        rows.append(["condition errors", f"{raised} (conditions that raised; their emissions did not fire; "
                                         "see condition_error in the timeline)"])
    return rows


def print_inspection(screen: Screen, inspection: Inspection) -> None:
    """Status, context with history, ``__operational__``, timeline, revisions and the tree."""
    screen.table("Execution", ("", ""), _header_rows(inspection), header=False)
    screen.line()
    screen.table("Context (every value, oldest first)", ("field", "#", "value"),
                 _context_rows(inspection.context, True, None), header=False)
    screen.line()
    screen.table("__operational__", ("", ""),
                 _operational_rows(inspection.context.get("__operational__") or {}), header=False)
    screen.line()
    screen.table("Timeline", ("#", "time", "event", "data"), _event_rows(inspection.events))
    screen.line()
    screen.table("Registry revisions", ("rev", "author", "operation", "time", "changes"),
                 _revision_rows(inspection.revisions))
    others = [entry for entry in inspection.tree if entry.get("execution_id") != inspection.execution_id]
    if others:
        screen.line()
        screen.table("Other executions in this tree", ("execution", "status"),
                     [[str(e.get("execution_id")), str(e.get("status"))] for e in others])
