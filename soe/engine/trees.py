"""Opening and draining whole trees: who runs a tree, and what a drain runs under.

A tree (a root execution and all its descendants) has at most one runner at a
time: threads of this process take its lock in turn, other processes are
refused by its lease. ``submit`` queues work on the tree's active runner or
becomes its runner (``run_tree``); ``deferred_start`` lets ``orchestrate``
commit its preparation with the tree's first saved state. The drain itself is
``soe.engine.runner.TreeRunner``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from soe._errors import StoreError
from soe.engine.durability import runtime_store
from soe.engine.items import WorkItem
from soe.engine.leases import held_lease
from soe.engine.limits import Limits, limits_for_tree
from soe.engine.queue_rows import Frame, Task
from soe.engine.runner import TreeRunner
from soe.engine.usage import remember_usage, usage_for_tree
from soe.lib.template_limits import template_limits
from soe.lib.tree_scope import confine_builtins
from soe.types import Backends

__all__ = [
    "active_runner",
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

Known = tuple[str, tuple[str, Any]]  # an execution id and its (main execution id, __parent__)


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
                    runner.finish(exc)
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
        runner.merge_late()
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
