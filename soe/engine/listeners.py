"""Which nodes of a workflow listen for a set of signals, without scanning every node.

The index of a workflow (signal -> nodes in workflow order) is cached per
registry snapshot. Built-in workflow backends hand out the same read-only
snapshot until the next save, so a broadcast costs a dictionary lookup however
large the workflow is; a backend returning fresh objects gets a fresh index.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

from soe.lib.snapshot import FrozenDict

__all__ = ["listeners_for"]

_Listener = tuple[int, str, Mapping[str, Any]]
_Index = dict[Hashable, list[_Listener]]

_CACHE: OrderedDict[int, tuple[Mapping[str, Any], _Index]] = OrderedDict()
_CACHE_SIZE = 256
_LOCK = threading.Lock()


def _build_index(workflow: Mapping[str, Any]) -> _Index:
    index: _Index = {}
    for position, (node_name, node_config) in enumerate(workflow.items()):
        triggers = node_config.get("event_triggers") or [] if isinstance(node_config, Mapping) else []
        for signal in dict.fromkeys(s for s in triggers if isinstance(s, Hashable)):
            index.setdefault(signal, []).append((position, node_name, node_config))
    return index


def _index_for(workflow: Mapping[str, Any]) -> _Index:
    if not isinstance(workflow, FrozenDict):
        return _build_index(workflow)
    key = id(workflow)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached[0] is workflow:
            _CACHE.move_to_end(key)
            return cached[1]
    index = _build_index(workflow)
    with _LOCK:
        _CACHE[key] = (workflow, index)
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return index


def listeners_for(workflow: Mapping[str, Any] | None, signals: list[Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Nodes of ``workflow`` triggered by any of ``signals``, once each, in workflow order."""
    if not workflow or not signals:
        return []
    index = _index_for(workflow)
    if len(signals) == 1:
        found = index.get(signals[0], []) if isinstance(signals[0], Hashable) else []
        return [(name, config) for _, name, config in found]
    matched: dict[int, tuple[str, Mapping[str, Any]]] = {}
    for signal in signals:
        if isinstance(signal, Hashable):
            for position, name, config in index.get(signal, ()):
                matched[position] = (name, config)
    return [matched[position] for position in sorted(matched)]
