"""What the ``soe`` command prints: a live view of a run, results, findings and inspections.

Two audiences read this output. A person at a terminal gets Rich tables and a
live panel that follows the run; a pipe, a CI log or a test gets plain lines
that are stable, greppable and never wrapped or boxed. :class:`Screen` makes
that choice once, so every command renders the same data both ways.

The live view learns what happens from telemetry: :class:`RunMonitor` puts a
tap in front of ``backends.telemetry`` for the length of the run, so it sees
the events of the whole tree (children log on their own execution ids) the
moment they are logged, without polling the store.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from soe._errors import ProviderError
from soe.inputs import plain, user_fields

__all__ = [
    "Inspection",
    "RunMonitor",
    "RunReport",
    "Screen",
    "TelemetryTap",
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
_RECENT_LINES = 12
_SHOWN_REPEATS = 5
_CHILD_NUMBER = re.compile(r"#\d+\]$")
EventListener = Callable[[str, str, Mapping[str, Any]], None]


def short(value: Any, width: int | None = _VALUE_WIDTH) -> str:
    """One line for a value: strings as they are, everything else as compact JSON, cut to ``width``.

    ``width=None`` keeps the value whole (``soe inspect`` is where a value is read in full).
    """
    text = value if isinstance(value, str) else json.dumps(plain(value), ensure_ascii=False, default=str)
    text = text.replace("\r", "").replace("\n", "\\n")
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


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


# --------------------------------------------------------------------------- live view


class TelemetryTap:
    """Stands in for a telemetry backend: logs to it, then tells a listener what was logged."""

    def __init__(self, inner: Any, listener: EventListener) -> None:
        self._inner = inner
        self._listener = listener

    def log_event(self, execution_id: str, event_type: str, **event_data: Any) -> None:
        self._inner.log_event(execution_id, event_type, **event_data)
        try:
            self._listener(execution_id, event_type, event_data.get("context") or {})
        except Exception:  # noqa: BLE001 - a display problem must never fail the run
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass
class _Tally:
    """What the run did so far, as the live view and the summary line show it."""

    nodes: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    recent: deque = field(default_factory=lambda: deque(maxlen=_RECENT_LINES))


class RunMonitor:
    """Follows one execution tree through its telemetry and shows it as it runs.

    ``mode`` is ``live`` (a Rich panel refreshed in place), ``plain`` (one line
    per event, for logs) or ``quiet`` (nothing, for ``--json``).
    """

    def __init__(self, console: Console, *, mode: str, title: str, execution_id: str, label: str) -> None:
        self.console = console
        self.mode = mode
        self.title = title
        self.main_id = execution_id
        self._labels = {execution_id: label}
        self._last_node: dict[str, str] = {}
        self._per_workflow: Counter = Counter()
        self._tally = _Tally()
        self._repeats: Counter = Counter()
        self.hidden = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    @contextmanager
    def watching(self, backends: Any) -> Iterator[None]:
        """Tap the backends' telemetry for the block (live panel on a terminal)."""
        original = getattr(backends, "telemetry", None)
        if original is not None:
            backends.telemetry = TelemetryTap(original, self.on_event)
        self._started = time.monotonic()
        try:
            if self.mode == "live":
                with Live(console=self.console, get_renderable=self.renderable, refresh_per_second=8,
                          transient=False):
                    yield
            else:
                yield
        finally:
            if original is not None:
                backends.telemetry = original

    def on_event(self, execution_id: str, event_type: str, data: Mapping[str, Any]) -> None:
        """Count the event and, in plain mode, print its line."""
        with self._lock:
            text = self._describe(execution_id, event_type, data)
            if text is None:
                return
            if execution_id != self.main_id:
                text += f"  [{self._label(execution_id)}]"
            line = f"{self.elapsed:8.3f}s  {text}"
            if self.mode == "plain":
                self._print_plain(text, line)
            self._tally.recent.append(line)

    def _print_plain(self, text: str, line: str) -> None:
        """A line for logs, unless it is the same as many before it.

        A loop (or a large fan-out) repeats the same few lines until the step
        budget stops it: 200,000 lines help nobody. Each distinct line (children
        counted together) is printed ``_SHOWN_REPEATS`` times, then only a count
        at 10, 100, 1,000... repeats; ``hidden`` says how many were left out.
        """
        key = _CHILD_NUMBER.sub("#…]", text)
        self._repeats[key] += 1
        seen = self._repeats[key]
        if seen <= _SHOWN_REPEATS:
            self.console.out(line, highlight=False)
            return
        self.hidden += 1
        if seen >= 10 and str(seen).strip("0") == "1":
            self.console.out(f"{self.elapsed:8.3f}s  repeat   {key} (seen {seen:,} times; repeats not shown)",
                             highlight=False)

    def _label(self, execution_id: str) -> str:
        return self._labels.get(execution_id) or execution_id[:8]

    def _describe(self, execution_id: str, event_type: str, data: Mapping[str, Any]) -> str | None:
        """The line for an event (``None``: counted or ignored, not shown); updates the tally."""
        handler = _DESCRIBERS.get(event_type)
        return handler(self, execution_id, data) if handler is not None else None

    # Each describer: (monitor, execution id, event data) -> line or None.

    def _started_execution(self, execution_id: str, data: Mapping[str, Any]) -> str | None:
        if execution_id in self._labels:
            return None
        workflow = str(data.get("workflow_name"))
        self._per_workflow[workflow] += 1
        self._labels[execution_id] = f"{workflow}#{self._per_workflow[workflow]}"
        self._tally.counts["children"] += 1
        return f"child    {workflow} started"

    def _signals(self, execution_id: str, data: Mapping[str, Any]) -> str:
        signals = [str(signal) for signal in data.get("signals") or []]
        self._tally.counts["signals"] += len(signals)
        return f"signals  {', '.join(signals)}"

    def _node(self, execution_id: str, data: Mapping[str, Any]) -> str | None:
        if "tool" in data:
            details = ", ".join(f"{k}={v}" for k, v in data.items() if k != "tool")
            return f"builtin  {data['tool']}" + (f" ({details})" if details else "")
        if "node_name" not in data:
            return None
        node, node_type = str(data["node_name"]), str(data.get("node_type"))
        self._last_node[execution_id] = node
        row = self._tally.nodes.setdefault((self._label(execution_id), node), [node_type, 0])
        row[1] += 1
        self._tally.counts["nodes"] += 1
        return f"node     {node} ({node_type})"

    def _llm(self, execution_id: str, data: Mapping[str, Any]) -> str:
        self._tally.counts["llm_calls"] += 1
        node = self._last_node.get(execution_id, "?")
        stage = data.get("stage")
        return f"llm      {node}" + (f" ({stage} stage)" if stage else "")

    def _usage(self, execution_id: str, data: Mapping[str, Any]) -> None:
        tokens = int(data.get("prompt_tokens") or 0) + int(data.get("completion_tokens") or 0)
        self._tally.counts["tokens"] += tokens
        return None

    def _tool(self, execution_id: str, data: Mapping[str, Any]) -> str:
        self._tally.counts["tool_calls"] += 1
        if "meta_tool" in data:
            return f"tool     {data.get('invoked_tool')} (via soe_call_tool)"
        return f"tool     {data.get('tool_name')}"

    def _agent_tool(self, execution_id: str, data: Mapping[str, Any]) -> str:
        self._tally.counts["tool_calls"] += 1
        return f"tool     {data.get('tool_name')} (agent {data.get('node_name')})"

    def _error(self, execution_id: str, data: Mapping[str, Any]) -> str:
        self._tally.counts["errors"] += 1
        return f"error    {short(data.get('error', data), 120)}"

    def _missing_tool(self, execution_id: str, data: Mapping[str, Any]) -> str:
        self._tally.counts["errors"] += 1
        return f"error    agent {data.get('node_name')}: no tool '{data.get('tool_name')}'"

    def _to_parent(self, execution_id: str, data: Mapping[str, Any]) -> str:
        return f"parent   {', '.join(str(s) for s in data.get('signals') or [])} sent to the parent"

    def _empty_fan_out(self, execution_id: str, data: Mapping[str, Any]) -> str:
        return f"note     {data.get('node_name')}: '{data.get('fan_out_field')}' is empty, no child started"

    def _condition_error(self, execution_id: str, data: Mapping[str, Any]) -> str:
        self._tally.counts["condition_errors"] += 1
        return (f"warning  {data.get('node_name')}: the condition of {data.get('signal_name')} raised "
                f"{short(data.get('error'), 100)}; not emitted")

    def _step_budget(self, execution_id: str, data: Mapping[str, Any]) -> str:
        return f"error    step budget of {data.get('max_steps')} node runs spent"

    # ---------------------------------------------------------------- summaries

    def summary(self) -> str:
        """``2 nodes, 1 LLM call, ...`` for the status line."""
        counts = self._tally.counts
        parts = [_plural(counts["nodes"], "node"), _plural(counts["llm_calls"], "LLM call"),
                 _plural(counts["tool_calls"], "tool call")]
        if counts["children"]:
            parts.append(_plural(counts["children"], "child execution"))
        if counts["tokens"]:
            parts.append(_plural(counts["tokens"], "token"))
        if counts["condition_errors"]:
            parts.append(_plural(counts["condition_errors"], "condition error"))
        return ", ".join(parts)

    def renderable(self) -> RenderableType:
        """The live panel: nodes run so far, the latest events, the counters."""
        with self._lock:
            nodes = Table(box=box.SIMPLE_HEAD, expand=False)
            for column in ("execution", "node", "type", "runs"):
                nodes.add_column(column)
            for (label, node), (node_type, runs) in self._tally.nodes.items():
                nodes.add_row(label, node, node_type, str(runs))
            recent = Text("\n".join(self._tally.recent), style="dim")
            footer = Text(f"{self.elapsed:.1f}s · {self.summary()} · {self._tally.counts['signals']} signals")
        return Panel(Group(nodes, recent, footer), title=self.title, title_align="left")


_DESCRIBERS: dict[str, Callable[[RunMonitor, str, Mapping[str, Any]], str | None]] = {
    "orchestration_start": RunMonitor._started_execution,
    "signals_broadcast": RunMonitor._signals,
    "node_execution": RunMonitor._node,
    "llm_call": RunMonitor._llm,
    "llm_usage": RunMonitor._usage,
    "tool_call": RunMonitor._tool,
    "agent_tool_call": RunMonitor._agent_tool,
    "agent_tool_not_found": RunMonitor._missing_tool,
    "node_error": RunMonitor._error,
    "template_security_error": RunMonitor._error,
    "signals_to_parent": RunMonitor._to_parent,
    "child_fan_out_empty": RunMonitor._empty_fan_out,
    "step_budget_exceeded": RunMonitor._step_budget,
    "condition_error": RunMonitor._condition_error,
}


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
    return finding.format(filename)


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
        return plain({
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
