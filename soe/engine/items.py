"""The work a runner executes. Every item can be written down as JSON and rebuilt.

Three kinds exist: a node activation, the start of one child (SPEC §4.7 (g))
and the hand-over of signals to a parent execution (SPEC §4.2 step 5), which
lives beside the function it runs in ``soe.engine.orchestrate``; ``resume``
rebuilds all three (``soe.engine.resume.item_from_json``). An
item runs as *steps* (``soe.lib.effects``): transitions separated by waits.
A durable runner stores the pending and the in-flight ones after every
transition, so ``resume`` can rebuild its queue; in-process references (node
callers, backends) are supplied again when an item is rebuilt.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from soe.engine import tracing
from soe.engine.calls import mark_running_node
from soe.engine.telemetry import register_event
from soe.lib.effects import Steps, Wait
from soe.lib.recent import RecentMap
from soe.lib.snapshot import FrozenDict, fast_copy
from soe.types import Backends, EventTypes

if TYPE_CHECKING:
    from soe.engine.queue_rows import Task
    from soe.engine.runner import TreeRunner

__all__ = ["Activation", "OrchestrateCaller", "SpawnChild", "WorkItem"]

OrchestrateCaller = Callable[..., str]

# (config id, node name) -> (the snapshot's config, its frozen named copy)
# the node types whose validation checks a ``timeout`` key: it bounds each of their LLM and tool calls
_TIMED_NODE_TYPES = frozenset({"llm", "agent", "tool"})
_NAMED: RecentMap[tuple[int, str], tuple[Mapping[str, Any], FrozenDict]] = RecentMap(10_000)


class WorkItem:
    """Something the runner executes; only activations count as steps."""

    def run(self, runner: TreeRunner) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def steps(self, runner: TreeRunner, task: Task) -> Steps[None]:
        """The item as transitions and waits; by default a single transition."""
        self.run(runner)
        return
        yield  # a generator that never waits

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError


def node_steps(caller: Callable[[str, dict[str, Any]], Any], execution_id: str,
               node_config: Mapping[str, Any]) -> Steps[None]:
    """Run any node caller as steps: its generator when it has one, else one plain call.

    A user's own node caller (or a wrapper around ours) has no ``steps``: it
    runs as a single transition, and whatever it waits for does not overlap.
    """
    steps = getattr(caller, "steps", None)
    if steps is not None:
        yield from steps(execution_id, node_config)
        return
    caller(execution_id, dict(node_config))  # theirs may change its config: give it a copy


def _traced(span: Any, steps: Steps[None]) -> Steps[None]:
    """``steps``, ending the activation's span when they end (an error is recorded on it)."""
    tracer = tracing.current()
    error: Exception | None = None
    try:
        yield from steps
    except Exception as exc:
        error = exc
        raise
    finally:  # also when a failed tree drops the activation (GeneratorExit)
        if tracer is not None:
            tracer.end(span, error=error)


def named_config(node_config: Mapping[str, Any], node_name: str) -> Mapping[str, Any]:
    """``node_config + name`` (SPEC §4.7 (e)), built once per registry snapshot and node.

    A snapshot's config cannot change, so its named copy is frozen and shared by
    every activation: node validation then runs once per snapshot, not per step.
    """
    if type(node_config) is not FrozenDict:
        return {**node_config, "name": node_name}
    key = (id(node_config), node_name)
    cached = _NAMED.get(key)
    if cached is not None and cached[0] is node_config:
        return cached[1]
    named = FrozenDict({**node_config, "name": node_name})
    _NAMED.put(key, (node_config, named))
    return named


@dataclass(frozen=True, eq=False)
class Activation(WorkItem):
    """One node run: ``nodes[node_type](execution_id, node_config + name)`` (SPEC §4.7 (e))."""

    execution_id: str
    node_name: str
    node_config: Mapping[str, Any]
    nodes: Mapping[str, Callable[[str, dict[str, Any]], None]]
    backends: Backends

    def steps(self, runner: TreeRunner, task: Task) -> Steps[None]:
        if task.sequence is None:  # a replayed activation keeps its number and its step
            task.sequence = runner.count_step(self)
        node_type = self.node_config["node_type"]
        executor = self.nodes[node_type]
        register_event(self.backends, self.execution_id, EventTypes.NODE_EXECUTION,
                       {"node_name": self.node_name, "node_type": node_type})
        config = named_config(self.node_config, self.node_name)
        runner.start_journal(task, self.execution_id, self.node_name)
        timeout = config.get("timeout") if node_type in _TIMED_NODE_TYPES else None
        mark_running_node(self.execution_id, self.node_name, timeout)
        span = tracing.node_span(self.execution_id, self.node_name, str(node_type))
        if span is None:
            yield from node_steps(executor, self.execution_id, config)
            return
        yield from _traced(span, node_steps(executor, self.execution_id, config))

    def to_json(self) -> dict[str, Any]:
        return {"kind": "activation", "execution_id": self.execution_id, "node_name": self.node_name,
                "node_config": fast_copy(self.node_config)}


@dataclass(frozen=True, eq=False)
class SpawnChild(WorkItem):
    """Start one child execution, after ``delay`` seconds (spacing fan-out starts)."""

    config: Any
    workflow_name: str
    signals: tuple[Any, ...]
    initial_context: dict[str, Any]
    delay: float
    index: int
    orchestrate_caller: OrchestrateCaller
    backends: Backends

    def steps(self, runner: TreeRunner, task: Task) -> Steps[None]:
        # Sequential children start one after another, so each waits one interval;
        # concurrent ones start together, so the i-th waits i intervals.
        pause = self.delay * (self.index if runner.concurrent else min(self.index, 1))
        if pause > 0:
            yield Wait("delay", functools.partial(time.sleep, pause), journaled=False)
        self.orchestrate_caller(config=self.config, initial_workflow_name=self.workflow_name,
                                initial_signals=list(self.signals), initial_context=self.initial_context,
                                backends=self.backends)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "spawn", "config": fast_copy(self.config), "workflow_name": self.workflow_name,
                "signals": list(self.signals), "initial_context": fast_copy(self.initial_context),
                "delay": self.delay, "index": self.index}
