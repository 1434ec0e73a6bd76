"""OpenTelemetry spans for SOE (the ``otel`` extra).

``enable_tracing()`` installs a tracer into the engine's hook
(:mod:`soe.engine.tracing`); from then on every execution is a span
``soe.execution <workflow>``, each node activation a child span
``soe.node <name>``, and each LLM or tool call a span under its activation,
named and attributed after the GenAI semantic conventions (``chat <model>``
with ``gen_ai.request.model``, ``gen_ai.usage.input_tokens`` and
``gen_ai.usage.output_tokens``; ``execute_tool <name>`` with
``gen_ai.tool.name``). A child execution's span is a child of its parent
execution's span, so one tree is one trace. Nothing here is imported unless
tracing is asked for, and without it the engine pays one check per hook.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from soe.engine import tracing

__all__ = ["OTEL_EXTRA_MESSAGE", "OpenTelemetryTracer", "configure_exporter", "disable_tracing",
           "enable_tracing"]

OTEL_EXTRA_MESSAGE = ("OpenTelemetry tracing needs the otel extra: pip install opentelemetry-sdk "
                      "opentelemetry-exporter-otlp-proto-http, or reinstall SOE with it (pip install \".[otel]\" "
                      "from a checkout)")


class OpenTelemetryTracer:
    """The engine's :class:`~soe.engine.tracing.Tracer`, made of OpenTelemetry spans."""

    def __init__(self, tracer: Any) -> None:
        from opentelemetry import trace

        self._trace = trace
        self._tracer = tracer
        self._lock = threading.Lock()
        self._executions: dict[str, Any] = {}

    def _context_of(self, span: Any) -> Any:
        return self._trace.set_span_in_context(span) if span is not None else None

    def execution_started(self, execution_id: str, *, workflow_name: str | None,
                          parent_execution_id: str | None) -> None:
        with self._lock:
            if execution_id in self._executions:
                return
            parent = self._executions.get(parent_execution_id) if parent_execution_id else None
            name = f"soe.execution {workflow_name}" if workflow_name else "soe.execution"
            attributes = {"soe.execution_id": execution_id}
            if workflow_name:
                attributes["soe.workflow"] = workflow_name
            if parent_execution_id:
                attributes["soe.parent_execution_id"] = parent_execution_id
            self._executions[execution_id] = self._tracer.start_span(
                name, context=self._context_of(parent), attributes=attributes)

    def execution_finished(self, execution_id: str, *, status: str, error: str | None) -> None:
        with self._lock:
            span = self._executions.pop(execution_id, None)
        if span is None:
            return
        span.set_attribute("soe.status", status)
        if error is not None:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error))
        span.end()

    def start_node(self, execution_id: str, *, node_name: str, node_type: str) -> Any:
        with self._lock:
            parent = self._executions.get(execution_id)
        if parent is None:  # signals sent to a drained child: a span of its own
            self.execution_started(execution_id, workflow_name=None, parent_execution_id=None)
            with self._lock:
                parent = self._executions.get(execution_id)
        return self._tracer.start_span(f"soe.node {node_name}", context=self._context_of(parent), attributes={
            "soe.execution_id": execution_id, "soe.node_name": node_name, "soe.node_type": node_type})

    def start_call(self, parent: Any, *, kind: str, attributes: Mapping[str, Any]) -> Any:
        operation = str(attributes.get("gen_ai.operation.name", kind))
        target = attributes.get("gen_ai.request.model") or attributes.get("gen_ai.tool.name")
        name = f"{operation} {target}" if target else operation
        kind_of = self._trace.SpanKind.CLIENT if kind == "llm" else self._trace.SpanKind.INTERNAL
        return self._tracer.start_span(name, context=self._context_of(parent), kind=kind_of,
                                       attributes=dict(attributes))

    def end(self, span: Any, *, error: BaseException | None = None,
            attributes: Mapping[str, Any] | None = None) -> None:
        for key, value in (attributes or {}).items():
            span.set_attribute(key, value)
        if error is not None:
            span.record_exception(error)
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(error)))
        span.end()


def enable_tracing(tracer_provider: Any = None) -> OpenTelemetryTracer:
    """Send SOE's spans to ``tracer_provider`` (default: the global one) from now on.

    Raises:
        ModuleNotFoundError: the ``otel`` extra is not installed.
    """
    from opentelemetry import trace

    provider = tracer_provider or trace.get_tracer_provider()
    tracer = OpenTelemetryTracer(provider.get_tracer("soe"))
    tracing.install(tracer)
    return tracer


def disable_tracing() -> None:
    """Stop tracing (the engine's hook goes back to doing nothing)."""
    tracing.install(None)


def configure_exporter(kind: str) -> Any:
    """A tracer provider exporting to ``console`` (stderr) or ``otlp`` (standard OTEL_* variables), enabled.

    Raises:
        ValueError: an unknown ``kind``.
        ModuleNotFoundError: the ``otel`` extra is not installed.
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    if kind == "console":  # printed as each span ends, for a person watching
        import sys

        processor: Any = SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr))
    elif kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())
    else:
        raise ValueError(f"Unknown --otel '{kind}': use console or otlp")
    provider = TracerProvider(resource=Resource.create({"service.name": "soe"}))
    provider.add_span_processor(processor)
    enable_tracing(provider)
    return provider
