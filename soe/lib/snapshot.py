"""Read-only registry snapshots and a fast deep copy for JSON-like data.

The in-memory workflow backend hands out one frozen snapshot per save (SPEC
§3.2), so the engine can cache per-snapshot indexes by identity and never copy
the registry per step. Snapshots are ``dict``/``list`` subclasses, so reading
code, ``==`` and ``json.dumps`` treat them as plain data; only mutation fails,
loudly, instead of silently corrupting a registry another execution shares.
"""

from __future__ import annotations

import copy
from typing import Any, NoReturn, TypeVar, cast

T = TypeVar("T")

__all__ = ["FrozenDict", "FrozenList", "fast_copy", "freeze", "registry_snapshot", "thaw"]

_READ_ONLY = "registry snapshots are read-only; copy.deepcopy() one before changing it"

_SCALARS = frozenset({str, int, float, bool, type(None)})


def _refuse(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(_READ_ONLY)


class FrozenDict(dict[str, Any]):
    """A ``dict`` that refuses every in-place change; copies of it are plain dicts."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    update = pop = popitem = clear = setdefault = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[str, Any]) -> dict[str, Any]:
        return fast_copy(self)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # Pickle as a plain dict: dict's default reduction would call __setitem__.
        return (dict, (dict(self),))


class FrozenList(list[Any]):
    """A ``list`` that refuses every in-place change; copies of it are plain lists."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = remove = pop = clear = sort = reverse = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[str, Any]) -> list[Any]:
        return fast_copy(self)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (list, (list(self),))


def freeze(obj: Any) -> Any:
    """A read-only version of ``obj``: dicts and lists frozen recursively, tuples rebuilt.

    Already-frozen containers are returned as they are (O(1)), so saving a
    snapshot that came from the backend costs nothing. Other objects are kept
    as they are: registries are YAML/JSON data.
    """
    cls = type(obj)
    if cls is FrozenDict or cls is FrozenList or cls in _SCALARS:
        return obj
    if isinstance(obj, dict):
        return FrozenDict((key, freeze(value)) for key, value in obj.items())
    if isinstance(obj, list):
        return FrozenList(freeze(value) for value in obj)
    if cls is tuple:
        return tuple(freeze(value) for value in obj)
    return obj


def thaw(obj: Any) -> Any:
    """A plain, fully mutable deep copy of ``obj`` (frozen containers become dict/list)."""
    return fast_copy(obj)


def registry_snapshot(workflow_backend: Any, execution_id: str) -> Any:
    """The registry for the engine's own reading: the backend's frozen snapshot when it has one.

    Callers of ``get_workflows_registry`` get a plain copy they may change
    (SPEC Q25); the engine only reads, so it asks built-in backends for the
    shared snapshot (``get_workflows_registry_snapshot``) and pays no copy per
    broadcast. Any other backend is read through ``get_workflows_registry``.
    """
    read = getattr(workflow_backend, "get_workflows_registry_snapshot", None)
    if read is None:
        return workflow_backend.get_workflows_registry(execution_id)
    return read(execution_id)


def fast_copy(obj: T) -> T:
    """Deep-copy JSON-like data without ``copy.deepcopy``'s per-object bookkeeping.

    Plain and frozen dicts/lists, tuples and scalars are copied directly (frozen
    ones become plain); any other object goes through ``copy.deepcopy``. Shared
    references inside ``obj`` are not preserved, which JSON-like data never needs.
    Nesting deeper than the recursion limit allows is copied with an explicit stack.
    """
    try:
        return cast(T, _copy_recursive(obj))
    except RecursionError:
        return cast(T, _copy_iterative(obj))


def _copy_recursive(obj: Any) -> Any:
    cls = type(obj)
    if cls in _SCALARS:
        return obj
    if cls is dict or cls is FrozenDict:
        return {key: value if type(value) in _SCALARS else _copy_recursive(value)
                for key, value in obj.items()}
    if cls is list or cls is FrozenList:
        return [value if type(value) in _SCALARS else _copy_recursive(value) for value in obj]
    if cls is tuple:
        return tuple(_copy_recursive(value) for value in obj)
    return copy.deepcopy(obj)


_MAPPINGS = (dict, FrozenDict)
_SEQUENCES = (list, FrozenList)


def _copy_iterative(obj: Any) -> Any:
    """The same copy as ``_copy_recursive`` for arbitrarily deep dicts and lists."""
    if type(obj) not in _MAPPINGS + _SEQUENCES:
        return _copy_recursive(obj)
    root: Any = {} if type(obj) in _MAPPINGS else []
    stack = [(obj, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if type(source) in _MAPPINGS else enumerate(source)
        for key, value in items:
            kind = type(value)
            if kind in _MAPPINGS or kind in _SEQUENCES:
                copied: Any = {} if kind in _MAPPINGS else []
                stack.append((value, copied))
            else:
                copied = _copy_recursive(value)
            if type(target) is dict:
                target[key] = copied
            else:
                target.append(copied)
    return root
