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

How a tree gets its runner is ``soe.engine.trees``; how one call is made
(span, time limit, threads) is ``soe.engine.calls``; how the queue is saved
(tree state and keyed rows) is ``soe.engine.queue_rows``.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from soe._errors import BudgetExceeded, StepBudgetExceeded, StoreError
from soe.engine import status as execution_status
from soe.engine import tracing
from soe.engine.calls import START, Outcome, Raised, Result, advance, bounded_call, call_limit
from soe.engine.durability import RuntimeStore, runtime_store
from soe.engine.elsewhere import calls_to_hand_out, hand_out
from soe.engine.items import Activation, WorkItem
from soe.engine.journal import JournalCursor
from soe.engine.limits import Limits
from soe.engine.queue_rows import Frame, QueueRows, Task
from soe.engine.replay import ReachedWait, replay_steps
from soe.engine.telemetry import register_event
from soe.engine.workers import Workers
from soe.lib.effects import Wait
from soe.lib.missing import MISSING
from soe.types import Backends, EventTypes

__all__ = ["TreeRunner"]

_NO_TRANSACTION = nullcontext()


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
    _thread: int | None = None  # the core loop's thread: the only one that applies transitions
    deadline: float | None = None  # max_run_seconds after this call started draining (monotonic clock)
    _handed_out: bool = False  # a journaled call was left to another process (calls_made_elsewhere)
    _rows: QueueRows = field(default_factory=QueueRows)  # which parts of the queue live in rows

    store: RuntimeStore | None = field(init=False)  # the backends' durable runtime store, if any
    _workers: Workers = field(init=False)  # its waits on worker threads (max_concurrency > 1)

    def __post_init__(self) -> None:
        self.store = runtime_store(self.backends)
        self._workers = Workers(self.limits.max_concurrency)

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

    def merge_late(self) -> None:
        """Take in the work other threads queued (``enqueue``) while a wait of ours was in flight."""
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
            self._rows.took(frame)
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

    def start_journal(self, task: Task, execution_id: str, node_name: str) -> None:
        """Give an activation its journal keys (durable runs only: no key text is built otherwise)."""
        store = self.store
        if store is not None:
            task.journal = JournalCursor(store, f"{execution_id}/{node_name}/{task.sequence}")

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
                self.merge_late()
                item = self._pop()
                if item is not None:
                    if self.deadline is not None and time.monotonic() > self.deadline:
                        raise self._out_of_time()
                    self._run(Task(item))
                    continue
                if pending:  # a completion is applied only once nothing queued is left to start
                    self._replay(pending.popleft())
                    continue
                if not self._workers.waiting:
                    break
                self._continue(*self._workers.next_completed())
        finally:
            self._workers.drop_held()
        if self._handed_out:  # calls made elsewhere: the saved state waits for their journaled results
            return
        self.finish(None)

    def _run(self, task: Task) -> None:
        task.steps = task.item.steps(self, task)
        self._continue(task, START)

    def _continue(self, task: Task, outcome: Outcome | None) -> None:
        """Apply transitions of ``task`` until it finishes or waits on a worker."""
        while outcome is not None:
            wait = self._transition(task, outcome)
            if wait is None:
                return
            outcome = self._wait(task, wait, task.journal_key(wait))

    def _transition(self, task: Task, outcome: Outcome) -> Wait | None:
        """One atomic state transition: the task's code up to its next wait, plus the queue it leaves."""
        sink = Frame()
        error: Exception | None = None
        wait: Wait | None = None
        with self._transaction():
            self._sink = sink
            try:
                assert task.steps is not None
                wait = task.context.run(advance, task.steps, outcome)
            except StoreError:
                raise  # rolled back like a crash, so that resume can run the transition again
            except Exception as exc:  # committed as the failure it is; a crash rolls back instead
                error = exc
                self.finish(exc)
            else:
                if sink:
                    self.frames.append(sink)
                self._rows.track(self.in_flight, task, wait)
                self.save_state()
            finally:
                self._sink = None
        if error is not None:
            raise error
        return wait

    def _wait(self, task: Task, wait: Wait, key: str | None) -> Outcome | None:
        """The wait's outcome now (journaled, or sequential), or ``None`` once handed to a worker."""
        if key is not None:
            assert task.journal is not None
            recorded = task.journal.recorded(key, wait)
            if recorded is not MISSING:
                return Result(recorded)
            elsewhere = calls_to_hand_out()
            if elsewhere is not None:
                raised = hand_out(elsewhere, task, wait, key)
                self._handed_out = self._handed_out or raised is None
                return raised
        if not self.concurrent:
            return task.context.copy().run(self._perform, task, wait, key)
        self._workers.hand_over(self._perform, task, wait, key)
        return None

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
                return Raised(exc)
        if key is not None:
            assert task.journal is not None
            task.journal.record(key, wait, value)
        return Result(value)

    def _timed_call(self, wait: Wait) -> Any:
        """``wait.call()`` within the node's ``timeout``, ``max_call_seconds`` and what ``max_run_seconds`` leaves."""
        limit, name = call_limit(wait, self.limits.max_call_seconds, self.deadline)
        return bounded_call(wait, limit, name, self._out_of_time)

    def _out_of_time(self) -> BudgetExceeded:
        limit = self.limits.max_run_seconds or 0
        return BudgetExceeded("max_run_seconds", limit, limit, self.main_execution_id)

    def _replay(self, task: Task) -> None:
        """Bring a task that was waiting at a crash back to that wait, then let it go on."""
        wait = self.replay_to_wait(task)
        if wait is not None:
            self._continue(task, self._wait(task, wait, task.journal_key(wait)))

    def replay_to_wait(self, task: Task) -> Wait | None:
        """Bring a task back to the wait that was in flight (returned), or to its end (``None``).

        Its code runs again from the start inside a transaction that is rolled
        back, fed the journaled results of its earlier waits, so the writes and
        the queueing it did before the crash (already committed) are not repeated.
        """
        task.context = contextvars.copy_context()  # this runner's, not the one that rebuilt the task
        task.steps = task.item.steps(self, task)
        counters = (self.steps, self.sequence, self.llm_calls, self.tokens)
        sink = Frame()
        try:
            with self._transaction():
                self._sink = sink
                replay_steps(task, self._perform)
        except ReachedWait as reached:
            self.steps, self.sequence, self.llm_calls, self.tokens = counters
            return reached.wait
        finally:
            self._sink = None
        if sink:
            self.frames.append(sink)
        self._rows.track(self.in_flight, task, None)
        return None

    def wait_key(self, task: Task, wait: Wait) -> str | None:
        """The journal key of the wait ``task`` just reached (``None``: not journaled)."""
        return task.journal_key(wait)

    def perform(self, task: Task, wait: Wait, key: str | None) -> Exception | None:
        """Make the call here and journal its result, or the error it raised (calls made elsewhere)."""
        outcome = task.context.copy().run(self._perform, task, wait, key)
        if isinstance(outcome, Raised):
            if key is not None and task.journal is not None:
                task.journal.record_raised(key, outcome.error)
            return outcome.error
        return None

    def _transaction(self) -> AbstractContextManager[Any]:
        store = self.store
        return store.transaction() if store is not None else _NO_TRANSACTION

    # -- persisted state and outcome -------------------------------------------------------
    def save_state(self) -> None:
        """Persist the steps taken, the pending queue and the in-flight items (durable stores only).

        A save writes what the transition changed, not the whole queue (``QueueRows``).
        """
        store = self.store
        if store is None:
            return
        with self._lock:
            queued = self._rows.state(self.frames, self._late)
            state = {"steps": self.steps, "sequence": self.sequence, "limits": self.limits.__dict__, **queued,
                     "usage": {"llm_calls": self.llm_calls, "tokens": self.tokens}}
            rows = self._rows.saved()
        store.save_tree(self.main_execution_id, state, rows)

    def finish(self, error: Exception | None) -> None:
        """Record the outcome for every execution the tree ran; a failure drops the queue.

        A ``StoreError`` (disk full, an unwritable or unstorable value) keeps the
        stored queue of the last committed transition instead: the tree is
        failed but resumable, and ``resume`` runs the failed transition again,
        fed the journaled results of the calls it already paid for.
        """
        self.frames.clear()
        self.in_flight.clear()
        self._rows.reset(self.in_flight)
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
        self._rows.reset(self.in_flight)
        self.save_state()
        tracer = tracing.current()
        if tracer is not None:  # signals from outside continue a drained tree: a new span
            tracer.execution_started(self.main_execution_id, workflow_name=None, parent_execution_id=None)
