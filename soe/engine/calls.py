"""Making a wait's call: its outcome, the threads it runs on, its span and its time limit.

The runner (``soe.engine.runner``) decides *when* a wait is performed; this
module is *how*: the call runs inside a tracing span when a tracer is
installed, on the shared pool of wait threads when it must be bounded, and
ends as an ``Outcome`` (its value, or the error the node gets at its yield).
It also holds what a running node's task knows about itself (its node name,
execution and call timeout), which the call's time limit and error name.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from soe._errors import BudgetExceeded, CallTimeout
from soe.engine import tracing
from soe.lib.effects import Steps, Wait

__all__ = [
    "START",
    "Outcome",
    "Raised",
    "Result",
    "advance",
    "bounded_call",
    "call_limit",
    "current_execution_id",
    "current_node_name",
    "mark_running_node",
    "wait_pool",
]

_CURRENT_NODE: ContextVar[str | None] = ContextVar("soe_current_node", default=None)
_CURRENT_EXECUTION: ContextVar[str | None] = ContextVar("soe_current_execution", default=None)
_NODE_TIMEOUT: ContextVar[float | None] = ContextVar("soe_node_timeout", default=None)

_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
_POOL_THREADS = 4096


def wait_pool() -> ThreadPoolExecutor:
    """The worker threads that run waits, shared by every runner of the process.

    Starting a thread costs a millisecond or more on a busy machine, so a
    64-branch fan-out on fresh threads starts its last call tens of
    milliseconds after its first. Threads are kept and reused instead; each
    runner bounds its own running waits by ``max_concurrency``, and the pool's
    own bound is high enough that a call which starts another tree (whose
    waits need threads too) never waits for a thread.
    """
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(_POOL_THREADS, thread_name_prefix="soe-wait")
        return _POOL


@dataclass(frozen=True)
class Result:
    """A wait's value, sent into the node's code at its yield."""

    value: Any


@dataclass(frozen=True)
class Raised:
    """A wait's error, thrown into the node's code at its yield."""

    error: Exception


START = Result(None)  # the outcome that starts an item's steps
Outcome = Result | Raised


def advance(steps: Steps[None], outcome: Outcome) -> Wait | None:
    """Run ``steps`` up to its next wait (returned) or its end (``None``)."""
    try:
        if outcome is START:
            return next(steps)
        if isinstance(outcome, Raised):
            return steps.throw(outcome.error)
        return steps.send(outcome.value)
    except StopIteration:
        return None


def mark_running_node(execution_id: str, node_name: str, timeout: float | None = None) -> None:
    """Mark which node runs in this task (revision authors, own-broadcast shortcut, its call timeout).

    Each task has its own copy of the context variables, so nothing needs resetting.
    """
    _CURRENT_NODE.set(node_name)
    _CURRENT_EXECUTION.set(execution_id)
    _NODE_TIMEOUT.set(timeout)


def current_node_name() -> str | None:
    """The node whose activation is running in this context, if any."""
    return _CURRENT_NODE.get()


def current_execution_id() -> str | None:
    """The execution whose node is running in this context, if any."""
    return _CURRENT_EXECUTION.get()


def _traced_call(wait: Wait) -> Any:
    """Make the wait's call, inside a span when a tracer is installed and it is a call (not a delay)."""
    if tracing.current() is None or not wait.attributes:
        return wait.call()
    with tracing.call_span(wait.kind, wait.attributes) as result:
        value = wait.call()
        usage = getattr(value, "usage", None)
        if usage is not None:
            result["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            result["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if getattr(value, "error", None) is not None and wait.kind == "llm":
            result["error"] = value.error
    return value


def call_limit(wait: Wait, max_call_seconds: float | None, deadline: float | None) -> tuple[float | None, str]:
    """The seconds one call may take, and where that bound comes from (for the error).

    The limit is the node's ``timeout``, else the tree's ``max_call_seconds``,
    and never beyond the time ``max_run_seconds`` leaves (``deadline``, monotonic clock).
    """
    node_timeout = _NODE_TIMEOUT.get()
    limit: float | None
    if node_timeout is not None and wait.kind in ("llm", "tool"):
        limit, name = node_timeout, "the node's timeout"
    else:
        limit, name = max_call_seconds, "limits.max_call_seconds"
    if deadline is not None:
        remaining = max(deadline - time.monotonic(), 0.0)
        if limit is None or remaining < limit:
            limit, name = remaining, "max_run_seconds"
    return limit, name


def bounded_call(wait: Wait, limit: float | None, name: str, out_of_time: Callable[[], BudgetExceeded]) -> Any:
    """``wait.call()``, abandoned after ``limit`` seconds (``name`` says whose limit, see ``call_limit``).

    A Python call cannot be stopped from outside, so a bounded call runs on
    a pool thread and is waited for; a call that overruns is left to finish
    on its own (its result is discarded) and the run moves on. Running out of
    ``max_run_seconds`` raises ``out_of_time()``, any other limit ``CallTimeout``.
    """
    if limit is None:
        return _traced_call(wait)
    future = wait_pool().submit(contextvars.copy_context().run, _traced_call, wait)
    try:
        return future.result(timeout=limit)
    except FutureTimeout:
        if name == "max_run_seconds":
            raise out_of_time() from None
        node = current_node_name() or "unknown"
        raise CallTimeout(f"Node '{node}': the {wait.kind} call took longer than {limit:g} s "
                          f"({name}) and was abandoned") from None
