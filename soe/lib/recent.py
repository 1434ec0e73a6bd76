"""A thread-safe mapping that keeps only its most recently written entries.

What the engine remembers about trees in this process when no durable store
keeps it (limits, LLM usage, statuses) must not grow with every execution a
long-lived process ever ran. A durable store keeps the same facts forever.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["RecentMap"]

K = TypeVar("K")
V = TypeVar("V")


class RecentMap(Generic[K, V]):
    """At most ``capacity`` entries; writing an entry makes it the newest, the oldest go first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            if len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def values(self) -> list[V]:
        """A copy of the values, oldest first."""
        with self._lock:
            return list(self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
