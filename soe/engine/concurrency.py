"""Draining a tree with ``max_concurrency > 1`` (SPEC §15 "Concurrency").

The queue becomes a set of *branches*, each a depth-first stack of frames
like the sequential runner's. When a branch's next frame holds several items
(the listeners of one broadcast, the children of one fan-out), each item
becomes a branch of its own and they run at once; the parent branch goes on
once all of them are done. A scheduler thread hands single items to at most
``max_concurrency`` workers, so waiting never holds a worker and nesting
cannot deadlock.

With a durable store, each item's writes commit as they happen (a long LLM
call must not hold the store's write lock) and the remaining queue is saved
after every item; after a crash, only items in flight may run again.
"""

from __future__ import annotations

import contextvars
import queue
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from soe.engine.items import WorkItem

if TYPE_CHECKING:
    from soe.engine.runner import TreeRunner

__all__ = ["drain_concurrently"]


@dataclass(eq=False)
class _Branch:
    frames: list[deque[WorkItem]]
    parent: _Branch | None = None
    waiting_for: int = 0


def _pending(branch: _Branch) -> list[deque[WorkItem]]:
    return [frame for frame in branch.frames if frame]


class _Scheduler:
    def __init__(self, runner: TreeRunner) -> None:
        self.runner = runner
        self.limit = runner.limits.max_concurrency
        self.ready: deque[_Branch] = deque([_Branch(runner.frames)])
        self.done: queue.Queue[tuple[_Branch, Future[deque[WorkItem]]]] = queue.Queue()
        self.running = 0
        self.error: BaseException | None = None
        self.live: list[_Branch] = [self.ready[0]]

    def _next_item(self, branch: _Branch) -> WorkItem | None:
        """Pop the branch's next item, splitting a many-item frame into child branches."""
        while branch.frames and not branch.frames[-1]:
            branch.frames.pop()
        if not branch.frames:
            return None
        frame = branch.frames[-1]
        if len(frame) > 1:
            branch.frames.pop()
            children = [_Branch([deque([item])], parent=branch) for item in frame]
            branch.waiting_for = len(children)
            self.live.extend(children)
            self.ready.extend(children)
            return None
        return frame.popleft()

    def _branch_finished(self, branch: _Branch) -> None:
        self.live.remove(branch)
        parent = branch.parent
        if parent is None:
            return
        parent.waiting_for -= 1
        if parent.waiting_for == 0:
            self.ready.append(parent)

    def _dispatch(self, pool: ThreadPoolExecutor) -> None:
        while self.error is None and self.ready and self.running < self.limit:
            branch = self.ready.popleft()
            item = self._next_item(branch)
            if item is None:
                if branch.waiting_for == 0:
                    self._branch_finished(branch)
                continue
            self.running += 1
            context = contextvars.copy_context()
            future = pool.submit(context.run, self.runner.execute, item)
            future.add_done_callback(lambda f, b=branch: self.done.put((b, f)))

    def _collect(self) -> None:
        branch, future = self.done.get()
        self.running -= 1
        error = future.exception()
        if error is not None:
            self.error = self.error or error
            return
        new = future.result()
        if new:
            branch.frames.append(new)
        self.ready.append(branch)
        self._save()

    def _save(self) -> None:
        if self.runner.store is None:
            return
        self.runner.frames = [frame for branch in self.live for frame in _pending(branch)]
        self.runner.save_state()

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=self.limit, thread_name_prefix="soe-worker") as pool:
            while True:
                self._dispatch(pool)
                if self.running == 0:
                    break
                self._collect()
        if self.error is not None:
            raise self.error


def drain_concurrently(runner: TreeRunner) -> None:
    """Drain ``runner``'s queue running independent items at once."""
    _Scheduler(runner).run()
