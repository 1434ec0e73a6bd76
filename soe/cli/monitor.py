"""The live view of a run: a telemetry tap in front of the store, and the panel or lines it feeds.

:class:`RunMonitor` puts a :class:`TelemetryTap` in front of
``backends.telemetry`` for the length of the run, so it sees the events of the
whole tree (children log on their own execution ids) the moment they are
logged, without polling the store. It renders through :mod:`soe.cli.render`.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from soe.cli.render import short
from soe.types import Backends

__all__ = ["RunMonitor", "TelemetryTap"]

_RECENT_LINES = 12
_SHOWN_REPEATS = 5
_CHILD_NUMBER = re.compile(r"#\d+\]$")
EventListener = Callable[[str, str, Mapping[str, Any]], None]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


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
    counts: Counter[str] = field(default_factory=Counter)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=_RECENT_LINES))


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
        self._per_workflow: Counter[str] = Counter()
        self._tally = _Tally()
        self._repeats: Counter[str] = Counter()
        self.hidden = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    @contextmanager
    def watching(self, backends: Backends) -> Iterator[None]:
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
