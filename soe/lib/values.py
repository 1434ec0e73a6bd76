"""The one value model of every backend: JSON data, with documented conversions.

A value written to a context, returned by a tool or passed as initial context
is converted here, before anything is written, so that the in-memory, file and
SQLite stores all hold the same thing and a value that cannot be stored fails
at once with a clear message instead of after a tool ran (or never, in memory).

Stored as is: ``None``, ``bool``, ``int`` (up to 4,300 digits), ``float``,
``str``, lists and string-keyed dicts. Converted: tuples, sets and frozensets
become lists (a set sorted when its items compare), ``datetime``/``date``/``time``
become ISO 8601 text, ``timedelta`` its seconds, ``Decimal``/``UUID``/paths
their text, an ``Enum`` its value, a Pydantic model its JSON dump, a dataclass
its fields; ``int``, ``float``, ``bool`` and ``None`` dict keys become their
JSON text. Refused: any other type, a value that contains itself, nesting
deeper than ``MAX_VALUE_DEPTH`` and more than ``MAX_VALUE_ITEMS`` values in all
(a workflow that stores its whole context into itself doubles it every step).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from soe._errors import StoreError

__all__ = ["MAX_INT_DIGITS", "MAX_VALUE_DEPTH", "MAX_VALUE_ITEMS", "storable"]

MAX_VALUE_DEPTH = 1000
MAX_VALUE_ITEMS = 2_000_000
MAX_INT_DIGITS = 4300  # Python's own limit for int <-> text, which every store needs
_MAX_INT_BITS = int(MAX_INT_DIGITS * 3.3219280948873626)

_SCALARS = (str, bool, float, type(None))
_AS_IS = frozenset(_SCALARS)  # exactly these types (no subclass) are stored as they are
_AS_TEXT = (Decimal, uuid.UUID, PurePath)
_KEY_TEXT = {True: "true", False: "false", None: "null"}
_SEQUENCES = (list, tuple, set, frozenset)

Path = tuple[Any, ...] | None  # (parent path, key): built into text only for an error


def storable(value: Any, *, what: str = "value") -> Any:
    """A converted copy of ``value`` in the stored model, or ``StoreError`` naming where it fails.

    Walks with an explicit stack, so values nested as deep as ``MAX_VALUE_DEPTH``
    convert without touching Python's recursion limit.

    Args:
        value: anything a node, tool or caller wants stored.
        what: names the value in the error (``"the result of tool 'search'"``).

    Raises:
        StoreError: the value (or a part of it, named by its path) cannot be stored.
    """
    cls = type(value)
    if cls in _AS_IS:  # most outputs: nothing to walk
        return value
    if cls is dict and all(type(k) is str and type(v) in _AS_IS for k, v in value.items()):
        return dict(value)  # a flat dict of text and flags (most initial contexts): a shallow copy is a copy
    root: list[Any] = [None]
    active: set[int] = set()
    stack: list[tuple[Any, ...]] = [(value, root, 0, None, 0)]
    count = 0
    while stack:
        entry = stack.pop()
        if entry[0] is _LEAVE:
            _, key, out = entry
            active.discard(key)
            if out is not None:
                try:
                    out.sort()
                except TypeError:
                    pass  # mixed types keep the set's own order
            continue
        item, target, slot, path, depth = entry
        count += 1
        if count > MAX_VALUE_ITEMS:
            raise _fail(what, None, f"more than {MAX_VALUE_ITEMS} values in all")
        target[slot] = _place(item, what, path, depth, active, stack)
    return root[0]


_LEAVE = object()


def _place(item: Any, what: str, path: Path, depth: int, active: set[int], stack: list[tuple[Any, ...]]) -> Any:
    """The stored form of ``item``; a container is returned empty-shaped and its items queued."""
    while True:
        if isinstance(item, _SCALARS):
            return item
        if isinstance(item, int):
            if item.bit_length() > _MAX_INT_BITS:
                raise _fail(what, path, f"an integer with more than {MAX_INT_DIGITS} digits")
            return int(item)
        if isinstance(item, (Mapping, *_SEQUENCES)):
            return _open_container(item, what, path, depth, active, stack)
        item = _convert_object(item, what, path)


def _open_container(item: Any, what: str, path: Path, depth: int, active: set[int],
                    stack: list[tuple[Any, ...]]) -> Any:
    key = id(item)
    if key in active:
        raise _fail(what, path, "the value contains itself (a reference cycle)")
    if depth >= MAX_VALUE_DEPTH:
        raise _fail(what, path, f"nested more than {MAX_VALUE_DEPTH} levels deep")
    active.add(key)
    out: Any
    if isinstance(item, Mapping):
        out = {}
        pairs = [(_key(k, what, path), k, v) for k, v in item.items()]
        stack.append((_LEAVE, key, None))
        for text, k, v in pairs:
            out[text] = None
            stack.append((v, out, text, (path, k), depth + 1))
        return out
    values = list(item)
    out = [None] * len(values)
    stack.append((_LEAVE, key, out if isinstance(item, (set, frozenset)) else None))
    stack.extend((v, out, i, (path, i), depth + 1) for i, v in enumerate(values))
    return out


def _path_text(path: Path) -> str:
    keys: list[Any] = []
    while path is not None:
        path, key = path
        keys.append(key)
    return "".join(f"[{key!r}]" for key in reversed(keys))


def _fail(what: str, path: Path, reason: str) -> StoreError:
    where = f" at {_path_text(path)}" if path is not None else ""
    return StoreError(f"Cannot store {what}{where}: {reason}")


def _key(key: Any, what: str, path: Path) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return _KEY_TEXT[key]
    if isinstance(key, (int, float)) and not isinstance(key, enum.Enum):
        return str(key)
    raise _fail(what, path, f"a dict key of type '{type(key).__name__}' ({key!r}); keys must be text")


def _convert_object(value: Any, what: str, path: Path) -> Any:
    """One conversion step for a non-JSON object (the result is converted again)."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, _AS_TEXT):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    raise _fail(what, path, f"a value of type '{type(value).__name__}' has no stored form (use JSON data: "
                            "dicts, lists, text, numbers, booleans, None)")
