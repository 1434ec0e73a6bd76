"""The runner: the one place that starts node activations.

Emitting signals only queues work; a runner drains the queue of one execution
tree (a root execution and all its descendants). The queue is a stack of FIFO
frames: work queued while an item runs goes into a new frame on top, so it all
runs before anything that was already waiting. That reproduces upstream's
recursive depth-first order with a loop, so chains, loops and nested children
of any length run in constant Python stack (SPEC §4.7, §15).

With ``max_concurrency > 1`` the items of one frame (the listeners of one
broadcast, the children of one fan-out) run at once on worker threads, each
as its own depth-first branch (``soe.engine.concurrency``). With a durable
store (``backends.runtime``) every item commits together with the state it
produced and the queue that remains (``soe.engine.durability``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from soe._errors import StepBudgetExceeded
from soe.engine import status as execution_status
from soe.engine.durability import RuntimeStore, runtime_store
from soe.engine.items import Activation, WorkItem
from soe.engine.leases import held_lease
from soe.engine.limits import Limits, limits_for_tree
from soe.engine.telemetry import register_event

__all__ = [
    "TreeRunner",
    "active_runner",
    "current_execution_id",
    "current_node_name",
    "draining_runner",
    "run_tree",
    "submit",
    "validated_in_this_run",
]

_ACTIVE: ContextVar[Mapping[str, TreeRunner] | None] = ContextVar("soe_active_runners", default=None)
_DRAINING: ContextVar[TreeRunner | None] = ContextVar("soe_draining_runner", default=None)
_SINKS: ContextVar[Mapping[int, deque[WorkItem]] | None] = ContextVar("soe_runner_sinks", default=None)
_CURRENT_NODE: ContextVar[str | None] = ContextVar("soe_current_node", default=None)
_CURRENT_EXECUTION: ContextVar[str | None] = ContextVar("soe_current_execution", default=None)


@dataclass(eq=False)
class TreeRunner:
    """Drains the queue of one tree for one top-level call (or one ``resume``)."""

    main_execution_id: str
    limits: Limits
    backends: Any
    steps: int = 0
    # activations of the tree over all calls: journal keys stay unique when a later call runs a node again
    sequence: int = 0
    frames: list[deque[WorkItem]] = field(default_factory=lambda: [deque()])
    # execution id -> (main execution id, __parent__), learned from a validated read
    known_executions: dict[str, tuple[str, Any]] = field(default_factory=dict)
    outcome_recorded: bool = False
    llm_calls: int = 0
    tokens: int = 0
    usage_lock: threading.Lock = field(default_factory=threading.Lock)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def store(self) -> RuntimeStore | None:
        return runtime_store(self.backends)

    @property
    def concurrent(self) -> bool:
        return self.limits.max_concurrency > 1

    def enqueue(self, items: Iterable[WorkItem]) -> None:
        """Queue behind the item now running (in this context), or on top when none runs."""
        sink = (_SINKS.get() or {}).get(id(self))
        (sink if sink is not None else self.frames[-1]).extend(items)

    def count_step(self, activation: Activation) -> int:
        """Charge one step and return its number, or refuse once the budget is spent."""
        with self._lock:
            if self.steps < self.limits.max_steps:
                self.steps += 1
                self.sequence += 1
                return self.sequence
        budget = self.limits.max_steps
        register_event(activation.backends, activation.execution_id, "step_budget_exceeded",
                       {"max_steps": budget, "steps": budget})
        raise StepBudgetExceeded(activation.execution_id, self.main_execution_id, budget, budget)

    @contextmanager
    def running_node(self, execution_id: str, node_name: str) -> Iterator[None]:
        """Mark which node runs in this context (revision authors, own-broadcast shortcut)."""
        node_token = _CURRENT_NODE.set(node_name)
        execution_token = _CURRENT_EXECUTION.set(execution_id)
        try:
            yield
        finally:
            _CURRENT_EXECUTION.reset(execution_token)
            _CURRENT_NODE.reset(node_token)

    def execute(self, item: WorkItem) -> deque[WorkItem]:
        """Run one item; returns the work it queued (its new frame)."""
        new: deque[WorkItem] = deque()
        token = _SINKS.set({**(_SINKS.get() or {}), id(self): new})
        try:
            item.run(self)
        finally:
            _SINKS.reset(token)
        return new

    def drain(self) -> None:
        """Run until the queue is empty; on failure drop the rest (SPEC §4.5) and re-raise."""
        if self.concurrent:
            from soe.engine.concurrency import drain_concurrently

            drain_concurrently(self)
        else:
            self._drain_in_order()
        self._finish(None)

    def _drain_in_order(self) -> None:
        frames = self.frames
        while frames:
            frame = frames[-1]
            if not frame:
                frames.pop()
                continue
            item = frame.popleft()
            if not frame:
                frames.pop()  # a tail position needs no frame of its own
            self._step(item)

    def _step(self, item: WorkItem) -> None:
        store = self.store
        if store is None:
            self._push(self.execute(item))
            return
        error: Exception | None = None
        with store.transaction():  # the item's writes and the queue it leaves commit together
            try:
                self._push(self.execute(item))
            except Exception as exc:  # committed as the failure it is; a crash rolls back instead
                error = exc
                self._finish(exc)
            else:
                self.save_state()
        if error is not None:
            raise error

    def _push(self, new: deque[WorkItem]) -> None:
        if new:
            self.frames.append(new)

    def save_state(self) -> None:
        """Persist the steps taken and the pending queue (durable stores only)."""
        store = self.store
        if store is None:
            return
        with self._lock:
            queue = [[item.to_json() for item in frame] for frame in self.frames if frame]
            state = {"steps": self.steps, "sequence": self.sequence, "limits": self.limits.__dict__, "queue": queue,
                     "usage": {"llm_calls": self.llm_calls, "tokens": self.tokens}}
        store.save_tree(self.main_execution_id, state)

    def _finish(self, error: Exception | None) -> None:
        """Record the outcome for every execution the tree ran; a failure drops the queue."""
        self.frames.clear()
        outcome = "completed" if error is None else "failed"
        message = None if error is None else str(error)
        with ExitStack() as stack:
            if self.store is not None:
                stack.enter_context(self.store.transaction())
            for execution_id in self.executions():
                execution_status.record(self.backends, execution_id, self.main_execution_id, outcome, message)
            self.save_state()
        self.outcome_recorded = True

    def executions(self) -> list[str]:
        """The root, every execution broadcast to in this run, and (durable) any still marked running."""
        found = [self.main_execution_id, *self.known_executions]
        if self.store is not None:  # children that finished before a crash, when this run is a resume
            found += [r["execution_id"] for r in self.store.list_executions("running")
                      if r["main_execution_id"] == self.main_execution_id]
        return list(dict.fromkeys(found))

    def start(self) -> None:
        """Record that the tree runs and what it will run first."""
        execution_status.record(self.backends, self.main_execution_id, self.main_execution_id, "running")
        self.save_state()


def current_node_name() -> str | None:
    """The node whose activation is running in this context, if any."""
    return _CURRENT_NODE.get()


def current_execution_id() -> str | None:
    """The execution whose node is running in this context, if any."""
    return _CURRENT_EXECUTION.get()


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
    return (_ACTIVE.get() or {}).get(main_execution_id)


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


def run_tree(main_execution_id: str, items: Iterable[WorkItem], backends: Any, *,
             frames: list[deque[WorkItem]] | None = None) -> None:
    """Become the runner of a tree: drain its queue, starting with ``items``.

    ``frames`` (a stored queue) makes this a resume: the interrupted call's step
    count continues. A second runner of the same tree waits for the first
    (threads of this process) or is refused while another process holds the
    tree's lease.
    """
    with ExitStack() as stack:
        stack.enter_context(_TREE_LOCKS.hold(main_execution_id))
        stack.enter_context(held_lease(runtime_store(backends), main_execution_id))
        runner = _new_runner(main_execution_id, backends, resuming=frames is not None)
        if frames is not None:
            runner.frames = frames or [deque()]
        runner.enqueue(items)
        runner.start()
        active = _ACTIVE.set({**(_ACTIVE.get() or {}), main_execution_id: runner})
        draining = _DRAINING.set(runner)
        try:
            runner.drain()
        except Exception as exc:
            if not runner.outcome_recorded:
                runner._finish(exc)
            raise
        finally:
            _DRAINING.reset(draining)
            _ACTIVE.reset(active)
            _remember_usage(runner)


def _new_runner(main_execution_id: str, backends: Any, *, resuming: bool) -> TreeRunner:
    """A runner carrying what earlier calls left: limits, LLM usage and the activation sequence.

    A durable store's committed tree state wins (it survives the process);
    otherwise this process's memory of the tree, otherwise defaults.
    """
    from soe.engine.budgets import usage_for_tree

    store = runtime_store(backends)
    state = (store.load_tree(main_execution_id) if store is not None else None) or {}
    limits = Limits(**state["limits"]) if state.get("limits") else limits_for_tree(main_execution_id)
    usage = state.get("usage")
    llm_calls, tokens = (usage["llm_calls"], usage["tokens"]) if usage else usage_for_tree(main_execution_id)
    return TreeRunner(main_execution_id, limits, backends, steps=state.get("steps", 0) if resuming else 0,
                      sequence=state.get("sequence", 0), llm_calls=llm_calls, tokens=tokens)


def _remember_usage(runner: TreeRunner) -> None:
    from soe.engine.budgets import remember_usage

    remember_usage(runner)


def submit(main_execution_id: str, items: Iterable[WorkItem], backends: Any) -> None:
    """Queue ``items`` on the tree's active runner, or run the tree now if none is active."""
    runner = active_runner(main_execution_id)
    if runner is not None:
        runner.enqueue(items)
    else:
        run_tree(main_execution_id, items, backends)
