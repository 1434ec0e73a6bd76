"""The waits of one runner on worker threads, at most ``max_concurrency`` at a time.

The core loop hands a wait over and goes on starting queued items; a wait
beyond the bound is held until a running one finishes. Finished waits queue
up here until the loop has nothing left to start and takes the next one
(``soe.engine.runner`` explains why that order keeps runs deterministic).
"""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from soe.engine.calls import Outcome, wait_pool
from soe.engine.queue_rows import Perform, Task
from soe.lib.effects import Wait

__all__ = ["Workers"]

@dataclass(eq=False)
class Workers:
    """Runs handed-over waits on the shared wait pool, within ``max_concurrency``.

    Each wait comes with the runner's ``perform``, rather than this object
    keeping it: a runner holds its workers, so keeping the runner's bound
    method would make every runner a reference cycle, left to the garbage
    collector instead of freed when its call returns.
    """

    max_concurrency: int
    waiting: int = 0  # waits handed out and not yet taken back, held ones included
    _running: int = 0  # of those, the ones on a worker thread (at most max_concurrency)
    _held: deque[tuple[Perform, Task, Wait, str | None]] = field(default_factory=deque)
    _completed: queue.SimpleQueue[tuple[Task, Future[Outcome]]] = field(default_factory=queue.SimpleQueue)

    def hand_over(self, perform: Perform, task: Task, wait: Wait, key: str | None) -> None:
        """Run ``perform(task, wait, key)`` on a worker thread as soon as fewer than ``max_concurrency`` run."""
        self.waiting += 1
        self._held.append((perform, task, wait, key))
        self._release_held()

    def next_completed(self) -> tuple[Task, Outcome]:
        """Block until a wait finished; its task and outcome (a held wait starts in its place)."""
        task, future = self._completed.get()
        self.waiting -= 1
        self._running -= 1
        self._release_held()
        return task, future.result()

    def drop_held(self) -> None:
        """Start nothing more: a failed tree's calls already running end on their own."""
        self._held.clear()

    def _release_held(self) -> None:
        while self._held and self._running < self.max_concurrency:
            perform, task, wait, key = self._held.popleft()
            self._running += 1
            future = wait_pool().submit(task.context.copy().run, perform, task, wait, key)
            future.add_done_callback(self._when_done(task))

    def _when_done(self, task: Task) -> Callable[[Future[Outcome]], None]:
        """The done-callback of ``task``'s wait (run on the worker thread): hand it back to the loop."""
        return lambda done: self._completed.put((task, done))
