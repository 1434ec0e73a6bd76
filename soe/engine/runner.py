"""The runner: the one place that starts work items and applies their transitions.

Emitting signals only queues work; a runner drains the queue of one execution
tree (a root execution and all its descendants). The queue is a stack of FIFO
frames: work queued by a transition goes into a new frame on top, so it all
runs before anything that was already waiting. That reproduces upstream's
recursive depth-first order with a loop, so chains, loops and nested children
of any length run in constant Python stack (SPEC §4.7, §15).

Items run as steps (``soe.lib.effects``): transitions separated by waits. The
core loop applies one transition at a time, each atomically — inside one
store transaction with the queue it leaves — and never holds a transaction
across a wait. With ``max_concurrency`` 1 a wait is performed at once, in this
thread. With more, waits run on up to ``max_concurrency`` worker threads while
the loop starts the next queued items; a finished wait's continuation is
applied only when no queued item is left to start, so everything a completion
causes without waiting runs before the next completion is applied. The run is
therefore the sequential run in which the calls completed in the order they
did: a join fires exactly once (SPEC §15 "Concurrency").

With a durable store, in-flight items are saved with the number of waits they
reached; ``resume`` re-runs such an item inside a transaction it rolls back,
feeding it its journaled results, until it reaches the wait that was in flight
— so nothing it wrote before the crash is written twice.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from soe._errors import BudgetExceeded, CallTimeout, StepBudgetExceeded, StoreError
from soe.engine import status as execution_status
from soe.engine import tracing
from soe.engine.durability import RuntimeStore, runtime_store
from soe.engine.items import Activation, WorkItem
from soe.engine.journal import JournalCursor
from soe.engine.leases import held_lease
from soe.engine.limits import Limits, limits_for_tree
from soe.engine.telemetry import register_event
from soe.engine.usage import remember_usage, usage_for_tree
from soe.lib.effects import Steps, Wait
from soe.lib.missing import MISSING
from soe.lib.template_limits import template_limits
from soe.lib.tree_rows import TreeRows
from soe.lib.tree_scope import confine_builtins
from soe.types import Backends, EventTypes

__all__ = [
    "Frame",
    "Task",
    "TreeRunner",
    "active_runner",
    "calls_made_elsewhere",
    "current_execution_id",
    "current_node_name",
    "deferred_start",
    "draining_runner",
    "new_runner",
    "run_tree",
    "runner_scope",
    "submit",
    "validated_in_this_run",
]

_ACTIVE: ContextVar[Mapping[str, TreeRunner] | None] = ContextVar("soe_active_runners", default=None)
_DRAINING: ContextVar[TreeRunner | None] = ContextVar("soe_draining_runner", default=None)
_CURRENT_NODE: ContextVar[str | None] = ContextVar("soe_current_node", default=None)
_CURRENT_EXECUTION: ContextVar[str | None] = ContextVar("soe_current_execution", default=None)
_ELSEWHERE: ContextVar[list[dict[str, Any]] | None] = ContextVar("soe_calls_elsewhere", default=None)
_NODE_TIMEOUT: ContextVar[float | None] = ContextVar("soe_node_timeout", default=None)


_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
_POOL_THREADS = 4096


def _wait_pool() -> ThreadPoolExecutor:
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
class _Result:
    value: Any


@dataclass(frozen=True)
class _Raised:
    error: Exception


_START = _Result(None)
Known = tuple[str, tuple[str, Any]]  # an execution id and its (main execution id, __parent__)
_NO_TRANSACTION = nullcontext()
Outcome = _Result | _Raised


# Queued and in-flight items the tree state holds itself; beyond these they move to the store's rows.
_INLINE_ITEMS = 16
_INLINE_TASKS = 16


class Frame(deque[WorkItem]):
    """One FIFO frame of the queue; ``key`` is set once it moved to the store's rows (durable runs)."""

    key: int | None = None
    head: int = 0  # the row position of its first item: items taken off since it moved


class _Rollback(Exception):
    """Raised inside a replay's transaction so that it commits nothing."""


@dataclass(eq=False)
class Task:
    """One item being run: its generator, its own context variables and how far it got."""

    item: WorkItem
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    sequence: int | None = None  # an activation's tree-wide number (journal keys)
    steps: Steps[None] | None = None
    journal: JournalCursor | None = None
    waits: int = 0  # waits yielded so far
    replay_until: int = 0  # restored from a crash: the wait that was in flight
    key: int | None = None  # its row key once it moved to the store's rows (durable runs)

    def to_json(self) -> dict[str, Any]:
        return {"item": self.item.to_json(), "sequence": self.sequence, "waits": self.waits}


def _advance(steps: Steps[None], outcome: Outcome) -> Wait | None:
    """Run ``steps`` up to its next wait (returned) or its end (``None``)."""
    try:
        if outcome is _START:
            return next(steps)
        if isinstance(outcome, _Raised):
            return steps.throw(outcome.error)
        return steps.send(outcome.value)
    except StopIteration:
        return None


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


@dataclass(eq=False)
class TreeRunner:
    """Drains the queue of one tree for one top-level call (or one ``resume``)."""

    main_execution_id: str
    limits: Limits
    backends: Backends
    steps: int = 0
    # activations of the tree over all calls: journal keys stay unique when a later call runs a node again
    sequence: int = 0
    frames: list[Frame] = field(default_factory=lambda: [Frame()])
    # execution id -> (main execution id, __parent__), learned from a validated read
    known_executions: dict[str, tuple[str, Any]] = field(default_factory=dict)
    outcome_recorded: bool = False
    llm_calls: int = 0
    tokens: int = 0
    children: int = 0  # child executions started by this call (max_children)
    usage_lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: list[Task] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sink: deque[WorkItem] | None = None
    _late: list[Frame] = field(default_factory=list)
    _completed: queue.SimpleQueue[tuple[Task, Future[Outcome]]] = field(default_factory=queue.SimpleQueue)
    _waiting: int = 0  # waits handed out and not yet consumed, held ones included
    _running: int = 0  # of those, the ones on a worker thread (at most max_concurrency)
    _held: deque[tuple[Task, Wait, str | None]] = field(default_factory=deque)
    _thread: int | None = None  # the core loop's thread: the only one that applies transitions
    deadline: float | None = None  # max_run_seconds after this call started draining (monotonic clock)
    _handed_out: bool = False  # a journaled call was left to another process (calls_made_elsewhere)
    _rows: TreeRows = field(default_factory=TreeRows)  # row changes since the state was last saved
    _next_key: int = 0  # the next row key of a frame or an in-flight item
    _inline_tasks: list[Task] = field(default_factory=list)  # in-flight items kept in the tree state

    store: RuntimeStore | None = field(init=False)  # the backends' durable runtime store, if any

    def __post_init__(self) -> None:
        self.store = runtime_store(self.backends)

    @property
    def concurrent(self) -> bool:
        return self.limits.max_concurrency > 1

    # -- queueing ---------------------------------------------------------------------------
    def enqueue(self, items: Iterable[WorkItem]) -> None:
        """Queue behind the transition now being applied, else as a new frame on top.

        Work queued from outside a transition (a tool calling ``broadcast_signals``
        while it runs) is merged by the core loop before it picks the next item.
        """
        sink = self._sink
        if sink is not None and threading.get_ident() == self._thread:
            sink.extend(items)
            return
        with self._lock:
            self._late.append(Frame(items))

    def _merge_late(self) -> None:
        if not self._late:  # written by other threads only while one of our waits is in flight
            return
        with self._lock:
            late, self._late = self._late, []
        self.frames.extend(frame for frame in late if frame)

    def _pop(self) -> WorkItem | None:
        frames = self.frames
        while frames:
            frame = frames[-1]
            if not frame:
                frames.pop()
                continue
            item = frame.popleft()
            if frame.key is not None:
                self._rows.taken.append((frame.key, frame.head))
                frame.head += 1
            if not frame:
                frames.pop()  # a tail position needs no frame of its own
            return item
        return None

    def count_step(self, activation: Activation) -> int:
        """Charge one step and return its number, or refuse once the budget is spent."""
        with self._lock:
            if self.steps < self.limits.max_steps:
                self.steps += 1
                self.sequence += 1
                return self.sequence
        budget = self.limits.max_steps
        register_event(activation.backends, activation.execution_id, EventTypes.STEP_BUDGET_EXCEEDED,
                       {"max_steps": budget, "steps": budget})
        raise StepBudgetExceeded(activation.execution_id, self.main_execution_id, budget, budget)

    def learn(self, execution_id: str, facts: tuple[str, Any]) -> None:
        """Remember a validated execution's (main id, ``__parent__``) for the rest of the drain.

        A child started inside the tree is recorded as running, so it is findable while it runs.
        """
        if execution_id in self.known_executions:
            return
        self.known_executions[execution_id] = facts
        if self.store is not None and execution_id != self.main_execution_id:
            execution_status.record(self.backends, execution_id, facts[0], "running")

    def reserve_children(self, count: int, execution_id: str) -> None:
        """Charge ``count`` child starts before any is created, or refuse them all (``max_children``)."""
        limit = self.limits.max_children
        with self._lock:
            if limit is not None and self.children + count > limit:
                raise BudgetExceeded("max_children", limit, self.children + count, execution_id)
            self.children += count

    def start_journal(self, task: Task, prefix: str) -> None:
        """Give an activation its journal keys (durable runs only)."""
        store = self.store
        if store is not None:
            task.journal = JournalCursor(store, prefix)

    @staticmethod
    def mark_running_node(execution_id: str, node_name: str, timeout: float | None = None) -> None:
        """Mark which node runs in this task (revision authors, own-broadcast shortcut, its call timeout).

        Each task has its own copy of the context variables, so nothing needs resetting.
        """
        _CURRENT_NODE.set(node_name)
        _CURRENT_EXECUTION.set(execution_id)
        _NODE_TIMEOUT.set(timeout)

    # -- the core loop ----------------------------------------------------------------------
    def drain(self, restored: Iterable[Task] = ()) -> None:
        """Run until the queue is empty; on failure drop the rest (SPEC §4.5) and re-raise."""
        self._thread = threading.get_ident()
        if self.limits.max_run_seconds is not None:
            self.deadline = time.monotonic() + self.limits.max_run_seconds
        pending = deque(restored)
        try:
            while pending and not self.concurrent:  # it was making its call inline: nothing ran after it
                self._replay(pending.popleft())
            while not (self._handed_out and not self.concurrent):
                self._merge_late()
                item = self._pop()
                if item is not None:
                    if self.deadline is not None and time.monotonic() > self.deadline:
                        raise self._out_of_time()
                    self._run(Task(item))
                    continue
                if pending:  # a completion is applied only once nothing queued is left to start
                    self._replay(pending.popleft())
                    continue
                if not self._waiting:
                    break
                task, future = self._completed.get()
                self._waiting -= 1
                self._running -= 1
                self._release_held()
                self._continue(task, future.result())
        finally:
            self._held.clear()  # a failed tree starts nothing more; calls already running end on their own
        if self._handed_out:  # calls made elsewhere: the saved state waits for their journaled results
            return
        self._finish(None)

    def _run(self, task: Task) -> None:
        task.steps = task.item.steps(self, task)
        self._continue(task, _START)

    def _continue(self, task: Task, outcome: Outcome | None) -> None:
        """Apply transitions of ``task`` until it finishes or waits on a worker."""
        while outcome is not None:
            wait = self._transition(task, outcome)
            if wait is None:
                return
            outcome = self._wait(task, wait, self._journal_key(task, wait))

    def _transition(self, task: Task, outcome: Outcome) -> Wait | None:
        """One atomic state transition: the task's code up to its next wait, plus the queue it leaves."""
        sink = Frame()
        error: Exception | None = None
        wait: Wait | None = None
        with self._transaction():
            self._sink = sink
            try:
                assert task.steps is not None
                wait = task.context.run(_advance, task.steps, outcome)
            except StoreError:
                raise  # rolled back like a crash, so that resume can run the transition again
            except Exception as exc:  # committed as the failure it is; a crash rolls back instead
                error = exc
                self._finish(exc)
            else:
                if sink:
                    self.frames.append(sink)
                self._track(task, wait)
                self.save_state()
            finally:
                self._sink = None
        if error is not None:
            raise error
        return wait

    def _track(self, task: Task, wait: Wait | None) -> None:
        if wait is None:
            if task in self.in_flight:
                self.in_flight.remove(task)
                if task.key is None:
                    self._inline_tasks.remove(task)
                else:
                    self._rows.tasks_done.append(task.key)
            return
        task.waits += 1
        if task not in self.in_flight:
            self.in_flight.append(task)
            self._inline_tasks.append(task)
        elif task.key is not None:
            self._rows.tasks.append((task.key, task.to_json()))

    def _journal_key(self, task: Task, wait: Wait) -> str | None:
        return task.journal.next_key(wait.kind) if task.journal is not None and wait.journaled else None

    def _wait(self, task: Task, wait: Wait, key: str | None) -> Outcome | None:
        """The wait's outcome now (journaled, or sequential), or ``None`` once handed to a worker."""
        if key is not None:
            assert task.journal is not None
            recorded = task.journal.recorded(key, wait)
            if recorded is not MISSING:
                return _Result(recorded)
            elsewhere = _ELSEWHERE.get()
            if elsewhere is not None:
                return self._hand_out(elsewhere, task, wait, key)
        if not self.concurrent:
            return task.context.copy().run(self._perform, task, wait, key)
        self._waiting += 1
        self._held.append((task, wait, key))
        self._release_held()
        return None

    def _hand_out(self, elsewhere: list[dict[str, Any]], task: Task, wait: Wait, key: str) -> Outcome | None:
        """Leave the call to another process (a Temporal activity): its raised error, or ``None``.

        The task stays in flight in the saved state; a later resume replays it
        and finds the call's journaled result (or the error it raised).
        """
        assert task.journal is not None
        raised = task.journal.raised(key)
        if raised is not None:
            return _Raised(raised)
        self._handed_out = True
        elsewhere.append({"key": key, "kind": wait.kind, "sequence": task.sequence,
                          "execution_id": getattr(task.item, "execution_id", None),
                          "node": getattr(task.item, "node_name", None)})
        return None

    def _release_held(self) -> None:
        """Hand held waits to worker threads while fewer than ``max_concurrency`` run."""
        while self._held and self._running < self.limits.max_concurrency:
            task, wait, key = self._held.popleft()
            self._running += 1
            future = _wait_pool().submit(task.context.copy().run, self._perform, task, wait, key)
            future.add_done_callback(self._when_done(task))

    def _when_done(self, task: Task) -> Callable[[Future[Outcome]], None]:
        """The done-callback of ``task``'s wait (run on the worker thread): hand it back to the loop."""
        return lambda done: self._completed.put((task, done))

    def _perform(self, task: Task, wait: Wait, key: str | None) -> Outcome:
        """Make the call, outside every transaction; journal its result before anything uses it.

        A failure to journal is not the call's failure: it propagates and fails the tree.
        """
        with task.journal.calling() if task.journal is not None else nullcontext():
            try:
                value = self._timed_call(wait)
            except BudgetExceeded:
                raise  # the tree's time is up: not the node's to handle
            except Exception as exc:  # the node's to handle, as if raised at its yield
                return _Raised(exc)
        if key is not None:
            assert task.journal is not None
            task.journal.record(key, wait, value)
        return _Result(value)

    def _timed_call(self, wait: Wait) -> Any:
        """``wait.call()``, abandoned after its time limit or when ``max_run_seconds`` runs out.

        The limit is the node's ``timeout``, else the tree's ``max_call_seconds``.
        A Python call cannot be stopped from outside, so a bounded call runs on
        a pool thread and is waited for; a call that overruns is left to finish
        on its own (its result is discarded) and the run moves on.
        """
        limit, name = self._call_limit(wait)
        if self.deadline is not None:
            remaining = max(self.deadline - time.monotonic(), 0.0)
            if limit is None or remaining < limit:
                limit, name = remaining, "max_run_seconds"
        if limit is None:
            return _traced_call(wait)
        future = _wait_pool().submit(contextvars.copy_context().run, _traced_call, wait)
        try:
            return future.result(timeout=limit)
        except FutureTimeout:
            if name == "max_run_seconds":
                raise self._out_of_time() from None
            node = current_node_name() or "unknown"
            raise CallTimeout(f"Node '{node}': the {wait.kind} call took longer than {limit:g} s "
                              f"({name}) and was abandoned") from None

    def _call_limit(self, wait: Wait) -> tuple[float | None, str]:
        """The seconds one call may take, and where that bound comes from (for the error)."""
        node_timeout = _NODE_TIMEOUT.get()
        if node_timeout is not None and wait.kind in ("llm", "tool"):
            return node_timeout, "the node's timeout"
        return self.limits.max_call_seconds, "limits.max_call_seconds"

    def _out_of_time(self) -> BudgetExceeded:
        limit = self.limits.max_run_seconds or 0
        return BudgetExceeded("max_run_seconds", limit, limit, self.main_execution_id)

    def _replay(self, task: Task) -> None:
        """Bring a task that was waiting at a crash back to that wait, then let it go on."""
        wait = self.replay_to_wait(task)
        if wait is not None:
            self._continue(task, self._wait(task, wait, self._journal_key(task, wait)))

    def replay_to_wait(self, task: Task) -> Wait | None:
        """Bring a task back to the wait that was in flight (returned), or to its end (``None``).

        Its code runs again from the start inside a transaction that is rolled
        back, fed the journaled results of its earlier waits, so the writes and
        the queueing it did before the crash (already committed) are not repeated.
        """
        task.context = contextvars.copy_context()  # this runner's, not the one that rebuilt the task
        task.steps = task.item.steps(self, task)
        counters = (self.steps, self.sequence, self.llm_calls, self.tokens)
        outcome: Outcome = _START
        wait: Wait | None = None
        sink = Frame()
        try:
            with self._transaction():
                self._sink = sink
                while True:
                    wait = task.context.run(_advance, task.steps, outcome)
                    if wait is None:  # diverged and ended early: keep what it did
                        break
                    task.waits += 1
                    if task.waits >= task.replay_until:
                        raise _Rollback
                    outcome = self._replayed_outcome(task, wait)
        except _Rollback:
            self.steps, self.sequence, self.llm_calls, self.tokens = counters
        finally:
            self._sink = None
        if wait is None:
            if sink:
                self.frames.append(sink)
            self._track(task, None)
        return wait

    def wait_key(self, task: Task, wait: Wait) -> str | None:
        """The journal key of the wait ``task`` just reached (``None``: not journaled)."""
        return self._journal_key(task, wait)

    def perform(self, task: Task, wait: Wait, key: str | None) -> Exception | None:
        """Make the call here and journal its result, or the error it raised (calls made elsewhere)."""
        outcome = task.context.copy().run(self._perform, task, wait, key)
        if isinstance(outcome, _Raised):
            if key is not None and task.journal is not None:
                task.journal.record_raised(key, outcome.error)
            return outcome.error
        return None

    def _replayed_outcome(self, task: Task, wait: Wait) -> Outcome:
        """An earlier wait's result during a replay: journaled, else made again (not journal-able)."""
        key = self._journal_key(task, wait)
        if key is not None:
            assert task.journal is not None
            recorded = task.journal.recorded(key, wait)
            if recorded is not MISSING:
                return _Result(recorded)
            raised = task.journal.raised(key)
            if raised is not None:
                return _Raised(raised)
        return task.context.copy().run(self._perform, task, wait, key)

    def _transaction(self) -> AbstractContextManager[Any]:
        store = self.store
        return store.transaction() if store is not None else _NO_TRANSACTION

    # -- persisted state and outcome -------------------------------------------------------
    def save_state(self) -> None:
        """Persist the steps taken, the pending queue and the in-flight items (durable stores only).

        The tree state holds the top of the queue and a few in-flight items;
        the rest is in keyed rows, written once and deleted once, so a save
        costs what the transition changed, not the length of the queue.
        """
        store = self.store
        if store is None:
            return
        with self._lock:
            pending = [[item.to_json() for item in frame] for frame in self._inline_frames() if frame]
            pending += [[item.to_json() for item in frame] for frame in self._late if frame]
            if len(self._inline_tasks) > _INLINE_TASKS:
                self._move_to_rows(self._inline_tasks)
            state = {"steps": self.steps, "sequence": self.sequence, "limits": self.limits.__dict__,
                     "queue": pending, "in_flight": [task.to_json() for task in self._inline_tasks],
                     "usage": {"llm_calls": self.llm_calls, "tokens": self.tokens}}
            rows, self._rows = self._rows, TreeRows()
        store.save_tree(self.main_execution_id, state, rows)

    def _inline_frames(self) -> list[Frame]:
        """The top frames, for the tree state, once the lowest of them moved to rows while they held too many.

        Frames are pushed and popped at the top only, so the frames in rows are
        always the bottom of the stack, their keys growing upwards.
        """
        frames = self.frames
        start, count = len(frames), 0
        while start > 0 and frames[start - 1].key is None:
            start -= 1
            count += len(frames[start])
        while count > _INLINE_ITEMS:
            frame = frames[start]
            start += 1
            if frame:
                frame.key, frame.head = self._next_key, 0
                self._next_key += 1
                self._rows.frames.append((frame.key, [item.to_json() for item in frame]))
                count -= len(frame)
        return frames[start:]

    def _move_to_rows(self, tasks: list[Task]) -> None:
        """Give every in-flight item kept in the tree state a row (in order: rows load by key)."""
        for task in tasks:
            task.key = self._next_key
            self._next_key += 1
            self._rows.tasks.append((task.key, task.to_json()))
        tasks.clear()

    def _reset_rows(self) -> None:
        """The next save replaces every row of the tree: the queue was cleared, or rebuilt by ``start``."""
        self._rows, self._next_key = TreeRows(reset=True), 0
        self._inline_tasks = list(self.in_flight)

    def _finish(self, error: Exception | None) -> None:
        """Record the outcome for every execution the tree ran; a failure drops the queue.

        A ``StoreError`` (disk full, an unwritable or unstorable value) keeps the
        stored queue of the last committed transition instead: the tree is
        failed but resumable, and ``resume`` runs the failed transition again,
        fed the journaled results of the calls it already paid for.
        """
        self.frames.clear()
        self.in_flight.clear()
        self._reset_rows()
        message = None if error is None else str(error)
        resumable = isinstance(error, StoreError)
        outcomes = {}
        try:
            with self._transaction():
                for execution_id in self.executions():
                    outcome = ("failed" if error is not None
                               else execution_status.drained(self.backends, execution_id))
                    execution_status.record(self.backends, execution_id, self.main_execution_id, outcome,
                                            message)
                    outcomes[execution_id] = outcome
                if not resumable:
                    self.save_state()
        except StoreError:
            if not resumable:
                raise
            # the store cannot even record the failure: its status stays "running", resumable as after a crash
        self.outcome_recorded = True
        tracer = tracing.current()
        if tracer is not None:
            for execution_id, outcome in outcomes.items():
                tracer.execution_finished(execution_id, status=outcome, error=message)

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
        self._reset_rows()
        self.save_state()
        tracer = tracing.current()
        if tracer is not None:  # signals from outside continue a drained tree: a new span
            tracer.execution_started(self.main_execution_id, workflow_name=None, parent_execution_id=None)


@contextmanager
def calls_made_elsewhere() -> Iterator[list[dict[str, Any]]]:
    """Runners in the block make no journaled call: they describe it in the yielded list and stop.

    A stopped tree stays ``running`` with the call's task in flight; once the
    call's result is journaled (by whatever made it, e.g. a Temporal activity),
    ``resume`` inside another such block goes on from there.
    """
    calls: list[dict[str, Any]] = []
    token = _ELSEWHERE.set(calls)
    try:
        yield calls
    finally:
        _ELSEWHERE.reset(token)


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


@dataclass(eq=False)
class _OpenTree:
    """A tree whose runner is started (lock, lease, first state saved) but not yet drained."""

    runner: TreeRunner
    stack: ExitStack
    restored: list[Task]

    def drain(self) -> None:
        with self.stack:
            runner = self.runner
            try:
                with runner_scope(runner):
                    runner.drain(self.restored)
            except Exception as exc:
                if not runner.outcome_recorded:
                    runner._finish(exc)
                raise
            finally:
                remember_usage(runner.main_execution_id, runner.limits, runner.llm_calls, runner.tokens)


@contextmanager
def runner_scope(runner: TreeRunner) -> Iterator[None]:
    """Where a runner's items run: it is the tree's active and draining runner, under its limits.

    Draining uses it, and so does a Temporal activity that replays one item to make its call.
    """
    active = _ACTIVE.set({**(_ACTIVE.get() or {}), runner.main_execution_id: runner})
    draining = _DRAINING.set(runner)
    deferred = _DEFERRED.set(None)
    try:
        with template_limits(runner.limits.templates), confine_builtins(runner.limits.confine_builtin_tools):
            yield
    finally:
        _DEFERRED.reset(deferred)
        _DRAINING.reset(draining)
        _ACTIVE.reset(active)


def _open_tree(main_execution_id: str, items: Iterable[WorkItem], backends: Backends, *,
               frames: list[deque[WorkItem]] | None, in_flight: list[Task],
               known: Known | None, admitted: Callable[[], None] | None = None) -> _OpenTree:
    stack = ExitStack()
    try:
        stack.enter_context(_TREE_LOCKS.hold(main_execution_id))
        stack.enter_context(held_lease(runtime_store(backends), main_execution_id))
        if admitted is not None:
            admitted()
        runner = new_runner(main_execution_id, backends, resuming=frames is not None)
        if frames is not None:
            runner.frames = [Frame(frame) for frame in frames] or [Frame()]
        if known is not None:
            runner.learn(*known)
        runner.enqueue(items)
        runner._merge_late()
        runner.in_flight = list(in_flight)
        runner.start()
    except BaseException:
        stack.close()
        raise
    return _OpenTree(runner, stack, list(in_flight))


class _Deferred:
    """Holds the tree ``orchestrate`` opened inside its preparation transaction."""

    opened: _OpenTree | None = None


_DEFERRED: ContextVar[_Deferred | None] = ContextVar("soe_deferred_start", default=None)


@contextmanager
def deferred_start(backends: Backends) -> Iterator[_Deferred]:
    """Make ``orchestrate``'s preparation and its tree's first saved state one transaction.

    A root started inside the block is opened but not drained; the caller
    drains ``holder.opened`` after the block committed. A crash inside the
    block therefore leaves no execution at all, never one that cannot resume.
    A Python exception still commits what was written before it (SPEC §4.1).
    """
    holder = _Deferred()
    token = _DEFERRED.set(holder)
    store = runtime_store(backends)
    error: Exception | None = None
    try:
        with store.transaction() if store is not None else nullcontext():
            try:
                yield holder
            except StoreError:
                raise  # the store rolled the transaction back: there is nothing to commit
            except Exception as exc:
                error = exc
    except StoreError as exc:  # from the block or from the commit
        error = exc
    finally:
        _DEFERRED.reset(token)
    if error is not None:
        if holder.opened is not None:
            holder.opened.stack.close()
        raise error


def run_tree(main_execution_id: str, items: Iterable[WorkItem], backends: Backends, *,
             frames: list[deque[WorkItem]] | None = None, in_flight: list[Task] | None = None,
             known: Known | None = None, admitted: Callable[[], None] | None = None) -> None:
    """Become the runner of a tree: drain its queue, starting with ``items``.

    ``frames`` and ``in_flight`` (a stored queue) make this a resume: the
    interrupted call's step count continues. ``known`` is an execution the
    caller just validated (see ``TreeRunner.learn``). A second runner of the
    same tree waits for the first (threads of this process) or is refused
    while another process holds the tree's lease. ``admitted`` runs once the
    tree is ours, before anything is queued: what it records is never left by
    a refused call.
    """
    opened = _open_tree(main_execution_id, items, backends, frames=frames, in_flight=in_flight or [],
                        known=known, admitted=admitted)
    holder = _DEFERRED.get()
    if holder is not None and holder.opened is None:
        holder.opened = opened
        return
    opened.drain()


def new_runner(main_execution_id: str, backends: Backends, *, resuming: bool) -> TreeRunner:
    """A runner carrying what earlier calls left: limits, LLM usage and the activation sequence.

    A durable store's committed tree state wins (it survives the process);
    otherwise this process's memory of the tree, otherwise defaults.
    """
    store = runtime_store(backends)
    state = (store.load_tree(main_execution_id) if store is not None else None) or {}
    limits = Limits(**state["limits"]) if state.get("limits") else limits_for_tree(main_execution_id)
    usage = state.get("usage")
    llm_calls, tokens = (usage["llm_calls"], usage["tokens"]) if usage else usage_for_tree(main_execution_id)
    return TreeRunner(main_execution_id, limits, backends, steps=state.get("steps", 0) if resuming else 0,
                      sequence=state.get("sequence", 0), llm_calls=llm_calls, tokens=tokens)


def submit(main_execution_id: str, items: Iterable[WorkItem], backends: Backends, known: Known | None = None, *,
           admitted: Callable[[], None] | None = None) -> None:
    """Queue ``items`` on the tree's active runner, or run the tree now if none is active.

    ``known``: an execution the caller just validated, which the runner then need not read again.
    ``admitted`` runs first, once the tree is known to accept the items
    (``ResumeError`` while another process runs it leaves no trace).
    """
    runner = active_runner(main_execution_id)
    if runner is None:
        run_tree(main_execution_id, items, backends, known=known, admitted=admitted)
        return
    if known is not None:
        runner.learn(*known)
    if admitted is not None:
        admitted()
    runner.enqueue(items)
