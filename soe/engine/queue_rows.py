"""A tree's queue as it is saved: frames, in-flight items, and which of them live in keyed rows.

The tree state holds the top of the queue and a few in-flight items; the
rest is in keyed rows, written once and deleted once, so a save costs what
the transition changed, not the length of the queue. ``QueueRows`` keeps
that bookkeeping for one runner: which rows exist, which changed since the
last save, and which in-flight items are still kept in the tree state.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from soe.engine.calls import Outcome
from soe.engine.items import WorkItem
from soe.engine.journal import JournalCursor
from soe.lib.effects import Steps, Wait
from soe.lib.tree_rows import TreeRows

__all__ = ["Frame", "Perform", "QueueRows", "Task"]

# Queued and in-flight items the tree state holds itself; beyond these they move to the store's rows.
_INLINE_ITEMS = 16
_INLINE_TASKS = 16


class Frame(deque[WorkItem]):
    """One FIFO frame of the queue; ``key`` is set once it moved to the store's rows (durable runs)."""

    key: int | None = None
    head: int = 0  # the row position of its first item: items taken off since it moved


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

    def journal_key(self, wait: Wait) -> str | None:
        """The journal key of the wait this task just reached (``None``: not journaled)."""
        return self.journal.next_key(wait.kind) if self.journal is not None and wait.journaled else None


# How a runner makes a task's call and journals it (``TreeRunner._perform``): workers and replays call it.
Perform = Callable[[Task, Wait, str | None], Outcome]


@dataclass(eq=False)
class QueueRows:
    """Which frames and in-flight items of one runner live in rows, and the row changes since the last save."""

    changes: TreeRows = field(default_factory=TreeRows)
    next_key: int = 0  # the next row key of a frame or an in-flight item
    inline_tasks: list[Task] = field(default_factory=list)  # in-flight items kept in the tree state

    def took(self, frame: Frame) -> None:
        """The first item of ``frame`` was just taken off: its row goes too (if the frame has rows)."""
        if frame.key is not None:
            self.changes.taken.append((frame.key, frame.head))
            frame.head += 1

    def track(self, in_flight: list[Task], task: Task, wait: Wait | None) -> None:
        """After a transition of ``task``: it waits at ``wait`` (counted), or it ended (``None``)."""
        if wait is None:
            if task in in_flight:
                in_flight.remove(task)
                if task.key is None:
                    self.inline_tasks.remove(task)
                else:
                    self.changes.tasks_done.append(task.key)
            return
        task.waits += 1
        if task not in in_flight:
            in_flight.append(task)
            self.inline_tasks.append(task)
        elif task.key is not None:
            self.changes.tasks.append((task.key, task.to_json()))

    def state(self, frames: list[Frame], late: Iterable[Frame]) -> dict[str, Any]:
        """The queue and in-flight part of the tree state, moving what no longer fits into rows."""
        pending = [[item.to_json() for item in frame] for frame in self._inline_frames(frames) if frame]
        pending += [[item.to_json() for item in frame] for frame in late if frame]
        if len(self.inline_tasks) > _INLINE_TASKS:
            self._move_to_rows(self.inline_tasks)
        return {"queue": pending, "in_flight": [task.to_json() for task in self.inline_tasks]}

    def saved(self) -> TreeRows:
        """The row changes to write with this save; later changes start afresh."""
        rows, self.changes = self.changes, TreeRows()
        return rows

    def reset(self, in_flight: list[Task]) -> None:
        """The next save replaces every row of the tree: the queue was cleared, or rebuilt by ``start``."""
        self.changes, self.next_key = TreeRows(reset=True), 0
        self.inline_tasks = list(in_flight)

    def _inline_frames(self, frames: list[Frame]) -> list[Frame]:
        """The top frames, for the tree state, once the lowest of them moved to rows while they held too many.

        Frames are pushed and popped at the top only, so the frames in rows are
        always the bottom of the stack, their keys growing upwards.
        """
        start, count = len(frames), 0
        while start > 0 and frames[start - 1].key is None:
            start -= 1
            count += len(frames[start])
        while count > _INLINE_ITEMS:
            frame = frames[start]
            start += 1
            if frame:
                frame.key, frame.head = self.next_key, 0
                self.next_key += 1
                self.changes.frames.append((frame.key, [item.to_json() for item in frame]))
                count -= len(frame)
        return frames[start:]

    def _move_to_rows(self, tasks: list[Task]) -> None:
        """Give every in-flight item kept in the tree state a row (in order: rows load by key)."""
        for task in tasks:
            task.key = self.next_key
            self.next_key += 1
            self.changes.tasks.append((task.key, task.to_json()))
        tasks.clear()
