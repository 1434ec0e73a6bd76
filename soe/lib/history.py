"""A read-only prefix of a stored history list: reading a long history without copying it.

A backend that only ever appends to a stored history (never changes or removes
an entry in place) can hand the engine ``HistoryPrefix(stored, len(stored))``:
later appends do not show through, so it is a true snapshot, taken in O(1).
The engine's hot paths (a tool or router reading one value in a long loop) then
cost the same at step 100,000 as at step 100.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain, islice
from typing import Any, overload

__all__ = ["HistoryPrefix"]


class HistoryPrefix(Sequence[Any]):
    """The first ``length`` entries of ``base``, plus values appended to this view only."""

    __slots__ = ("_base", "_length", "_tail")

    def __init__(self, base: Sequence[Any], length: int, tail: tuple[Any, ...] = ()) -> None:
        self._base = base
        self._length = length
        self._tail = tail

    def __len__(self) -> int:
        return self._length + len(self._tail)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return self.to_list()[index]
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("history index out of range")
        return self._base[index] if index < self._length else self._tail[index - self._length]

    def __iter__(self) -> Iterator[Any]:
        # C iterators, not a generator: every history read and JSON dump iterates views
        return chain(islice(self._base, self._length), self._tail)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (HistoryPrefix, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, like a list

    def __repr__(self) -> str:
        return repr(self.to_list())

    def to_list(self) -> list[Any]:
        """A plain list (a shallow copy)."""
        return [*self._base[: self._length], *self._tail]

    def plus(self, value: Any) -> HistoryPrefix:
        """This view with ``value`` appended (the store is not touched)."""
        return HistoryPrefix(self._base, self._length, (*self._tail, value))
