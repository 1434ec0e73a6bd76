"""The runner: the one place that starts node activations.

Emitting signals only queues work; a runner drains the queue of one execution
tree (a root execution and all its descendants). The queue is a stack of FIFO
frames: work queued while an item runs goes into a new frame on top, so it all
runs before anything that was already waiting. That reproduces upstream's
recursive depth-first order with a loop, so chains, loops and nested children
of any length run in constant Python stack (SPEC §4.7, §15).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from soe._errors import StepBudgetExceeded
from soe.engine.limits import Limits, limits_for_tree
from soe.engine.telemetry import register_event

__all__ = [
    "Activation",
    "CallbackItem",
    "TreeRunner",
    "active_runner",
    "current_node_name",
    "draining_runner",
    "run_tree",
    "submit",
    "validated_in_this_run",
]


class WorkItem:
    """Something the runner executes; activations are the only items that count as steps."""

    def run(self, runner: TreeRunner) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Activation(WorkItem):
    """One node run: ``nodes[node_type](execution_id, node_config + name)``."""

    execution_id: str
    node_name: str
    node_config: Mapping[str, Any]
    nodes: Mapping[str, Callable[[str, dict], None]]
    backends: Any

    def run(self, runner: TreeRunner) -> None:
        runner.count_step(self)
        executor = self.nodes[self.node_config["node_type"]]
        register_event(self.backends, self.execution_id, "node_execution",
                       {"node_name": self.node_name, "node_type": self.node_config["node_type"]})
        config = dict(self.node_config)
        config["name"] = self.node_name
        token = _CURRENT_NODE.set(self.node_name)
        runner.current_execution = self.execution_id
        try:
            executor(self.execution_id, config)
        finally:
            runner.current_execution = None
            _CURRENT_NODE.reset(token)


@dataclass(frozen=True, eq=False)
class CallbackItem(WorkItem):
    """Engine bookkeeping queued behind a broadcast (signals to parent, child spawns)."""

    callback: Callable[[], None]
    delay: float = 0.0

    def run(self, runner: TreeRunner) -> None:
        if self.delay > 0:
            time.sleep(self.delay)
        self.callback()


@dataclass
class TreeRunner:
    """Drains the queue of one tree for one top-level call."""

    main_execution_id: str
    limits: Limits
    steps: int = 0
    frames: list[deque[WorkItem]] = field(default_factory=lambda: [deque()])
    current_execution: str | None = None
    # execution id -> (main execution id, __parent__) learned from a validated read
    known_executions: dict[str, tuple[str, Any]] = field(default_factory=dict)

    def enqueue(self, items: Iterable[WorkItem]) -> None:
        self.frames[-1].extend(items)

    def count_step(self, activation: Activation) -> None:
        """Charge one step, or refuse the activation once the budget is spent."""
        if self.steps >= self.limits.max_steps:
            budget = self.limits.max_steps
            register_event(activation.backends, activation.execution_id, "step_budget_exceeded",
                           {"max_steps": budget, "steps": self.steps})
            raise StepBudgetExceeded(activation.execution_id, self.main_execution_id, budget, self.steps)
        self.steps += 1

    def drain(self) -> None:
        frames = self.frames
        try:
            while frames:
                frame = frames[-1]
                if not frame:
                    frames.pop()
                    continue
                item = frame.popleft()
                if not frame:
                    frames.pop()  # a tail position needs no frame of its own
                frames.append(deque())
                item.run(self)
        finally:
            frames.clear()  # on failure the rest of the tree's queue is dropped (SPEC §4.5)


_ACTIVE: ContextVar[Mapping[str, TreeRunner]] = ContextVar("soe_active_runners", default={})
_DRAINING: ContextVar[TreeRunner | None] = ContextVar("soe_draining_runner", default=None)
_CURRENT_NODE: ContextVar[str | None] = ContextVar("soe_current_node", default=None)


def current_node_name() -> str | None:
    """The node whose activation is running in this context, if any."""
    return _CURRENT_NODE.get()


def draining_runner() -> TreeRunner | None:
    """The runner whose item is executing in the calling context, if any."""
    return _DRAINING.get()


def validated_in_this_run(execution_id: str) -> bool:
    """Whether the draining runner already validated this execution's state.

    Only the engine's atomic writes touch a validated execution while its tree
    drains, so a node that needs nothing from the context may skip reading it.
    """
    runner = _DRAINING.get()
    return runner is not None and execution_id in runner.known_executions


def active_runner(main_execution_id: str) -> TreeRunner | None:
    """The runner draining this tree in the calling context, if there is one."""
    return _ACTIVE.get().get(main_execution_id)


class _TreeLocks:
    """One re-entrant lock per live tree, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.RLock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (None, 0))
            lock = lock or threading.RLock()
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


_TREE_LOCKS = _TreeLocks()


def run_tree(main_execution_id: str, items: Iterable[WorkItem]) -> None:
    """Become the runner of a tree: drain its queue, starting with ``items``.

    A second runner of the same tree (another thread) waits for the first.
    """
    with _TREE_LOCKS.hold(main_execution_id):
        runner = TreeRunner(main_execution_id, limits_for_tree(main_execution_id))
        runner.enqueue(items)
        token = _ACTIVE.set({**_ACTIVE.get(), main_execution_id: runner})
        draining = _DRAINING.set(runner)
        try:
            runner.drain()
        finally:
            _DRAINING.reset(draining)
            _ACTIVE.reset(token)


def submit(main_execution_id: str, items: Iterable[WorkItem]) -> None:
    """Queue ``items`` on the tree's active runner, or run the tree now if none is active."""
    runner = active_runner(main_execution_id)
    if runner is not None:
        runner.enqueue(items)
    else:
        run_tree(main_execution_id, items)
