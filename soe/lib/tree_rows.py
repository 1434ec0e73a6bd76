"""What one transition changed in the keyed rows of a tree's runner state (SPEC §15 "Durability").

Rewriting the whole queue with every transition made a fan-out of N children
cost O(N²). The runner keeps the top of its queue (a few items) and a few
in-flight items in the tree state and moves the rest to rows, each row
written once and deleted once, so a transition writes only what it changed;
a durable store's ``load_tree`` puts the two back together. It lives below
both the engine and the backends, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["TreeRows"]


@dataclass
class TreeRows:
    """Changes to the keyed rows that hold the bulk of a tree's queue and in-flight items."""

    reset: bool = False  # delete every row of the tree before applying the rest
    frames: list[tuple[int, list[Any]]] = field(default_factory=list)  # (frame key, item JSONs) moved to rows
    taken: list[tuple[int, int]] = field(default_factory=list)  # (frame key, position) taken off the queue
    tasks: list[tuple[int, Any]] = field(default_factory=list)  # in-flight items written or updated: (key, JSON)
    tasks_done: list[int] = field(default_factory=list)  # keys of in-flight rows whose item finished

    def __bool__(self) -> bool:
        return bool(self.reset or self.frames or self.taken or self.tasks or self.tasks_done)
