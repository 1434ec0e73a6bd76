"""The engine's tracing hook: where executions, node activations and calls begin and end.

The engine announces those moments to one process-wide :class:`Tracer`, when
one is installed (``soe.otel`` installs an OpenTelemetry one). With none
installed each announcement is one check of a module global, so tracing costs
nothing unless it is asked for, and the engine never imports OpenTelemetry.

An activation's steps may run on several threads (its waits run on workers),
so spans are handed around explicitly: the running activation's span lives in
a context variable of its task, which its waits inherit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

__all__ = ["Tracer", "call_span", "current", "install", "node_span"]


class Tracer(Protocol):
    """What the engine tells a tracer. Spans are opaque objects the tracer made."""

    def execution_started(self, execution_id: str, *, workflow_name: str | None,
                          parent_execution_id: str | None) -> None: ...

    def execution_finished(self, execution_id: str, *, status: str, error: str | None) -> None: ...

    def start_node(self, execution_id: str, *, node_name: str, node_type: str) -> Any: ...

    def start_call(self, parent: Any, *, kind: str, attributes: Mapping[str, Any]) -> Any: ...

    def end(self, span: Any, *, error: BaseException | None = None,
            attributes: Mapping[str, Any] | None = None) -> None: ...


_TRACER: Tracer | None = None
_NODE_SPAN: ContextVar[Any] = ContextVar("soe_node_span", default=None)


def install(tracer: Tracer | None) -> None:
    """Make ``tracer`` receive every announcement from now on (``None`` turns tracing off)."""
    global _TRACER
    _TRACER = tracer


def current() -> Tracer | None:
    """The installed tracer, or ``None``."""
    return _TRACER


def node_span(execution_id: str, node_name: str, node_type: str) -> Any:
    """Open an activation's span and make it the parent of the calls its task makes."""
    tracer = _TRACER
    if tracer is None:
        return None
    span = tracer.start_node(execution_id, node_name=node_name, node_type=node_type)
    _NODE_SPAN.set(span)
    return span


@contextmanager
def call_span(kind: str, attributes: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """A span around one LLM or tool call; the caller adds result attributes to the dict yielded."""
    tracer = _TRACER
    result: dict[str, Any] = {}
    if tracer is None:
        yield result
        return
    span = tracer.start_call(_NODE_SPAN.get(), kind=kind, attributes=attributes)
    try:
        yield result
    except BaseException as exc:
        tracer.end(span, error=exc, attributes=result)
        raise
    tracer.end(span, error=result.pop("error", None), attributes=result)
