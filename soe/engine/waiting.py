"""Waiting executions: a drained queue that only someone outside can move on.

An execution whose queue drained is ``waiting`` rather than ``completed``
while one of its **waits** is open. A wait is the set of *external* signals
one node of its current workflow listens for. A signal is external when
nothing in the execution's workflows emits it (no emission, LLM failure signal
or child start). The config's ``external_signals`` declares such signals (for
lint) and groups alternatives: a nested list (``[[APPROVED, REJECTED]]``) is
answered by any of its signals. A wait is open while none of its signals, and
none of the alternatives declared with them, has arrived. So an approval node
listening for ``[APPROVED, REJECTED]`` waits until one of them arrives, and
steps listening for ``NAME`` then ``AGE`` wait for each in turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from soe.lib.history import HistoryPrefix
from soe.lib.recent import RecentMap
from soe.lib.snapshot import FrozenDict, registry_snapshot
from soe.types import Backends
from soe.validation.graph import emissions_of, is_signal

__all__ = ["EXTERNAL_SIGNALS_FIELD", "emitted_signals", "external_triggers", "open_waits", "waiting_for"]

# Where ``orchestrate`` keeps the config's declared ``external_signals`` (only when it has some).
EXTERNAL_SIGNALS_FIELD = "__external_signals__"

# (registry snapshot id, workflow name) -> (the snapshot, its waits): a snapshot cannot change
_WAITS: RecentMap[tuple[int, Any], tuple[Mapping[Any, Any], list[list[Any]]]] = RecentMap(4096)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, HistoryPrefix)) else []


def _nodes(registry: Mapping[Any, Any]) -> Iterable[Mapping[str, Any]]:
    for workflow in registry.values():
        if isinstance(workflow, Mapping):
            yield from (node for node in workflow.values() if isinstance(node, Mapping))


def emitted_signals(registry: Mapping[Any, Any]) -> set[Any]:
    """Every signal some node of the registry can emit, child starts included."""
    found: set[Any] = set()
    for node in _nodes(registry):
        found.update(e.signal for e in emissions_of(node) if is_signal(e.signal))
        found.update(s for s in _list(node.get("child_initial_signals")) if is_signal(s))
    return found


def external_triggers(registry: Mapping[Any, Any], workflow_name: Any) -> list[list[Any]]:
    """Per node of the current workflow, the triggers nothing in the registry emits (its wait)."""
    emitted = emitted_signals(registry)
    workflow = registry.get(workflow_name)
    nodes = workflow.values() if isinstance(workflow, Mapping) else ()
    waits = [[s for s in _list(node.get("event_triggers")) if is_signal(s) and s not in emitted]
             for node in nodes if isinstance(node, Mapping)]
    return [wait for wait in waits if wait]


def open_waits(waits: Iterable[Iterable[Any]], declared: Iterable[Iterable[str]],
               arrived: Iterable[Any]) -> list[str]:
    """The signals of the waits not answered yet, in workflow order; ``[]`` when none.

    Args:
        waits: each node's external triggers (:func:`external_triggers`).
        declared: the config's ``external_signals``, one list of alternatives per item.
        arrived: every signal broadcast to the execution so far.
    """
    answered = set(arrived)
    answered |= {name for group in declared if answered.intersection(group) for name in group}
    pending = [s for wait in waits if not answered.intersection(wait) for s in wait]
    return list(dict.fromkeys(pending))


def waiting_for(backends: Backends, execution_id: str) -> list[str]:
    """What a drained execution waits for (see the module docstring); ``[]`` means completed.

    The context is read only when some node listens for an external signal.
    """
    registry = registry_snapshot(backends.workflow, execution_id) or {}
    waits = _waits_of(registry, backends.workflow.get_current_workflow_name(execution_id))
    if not waits:
        return []
    reader = getattr(backends.context, "get_context_snapshot", None)  # no history copies
    context = (reader or backends.context.get_context)(execution_id) or {}
    operational = context.get("__operational__")
    if not isinstance(operational, Mapping):
        return []
    return open_waits(waits, _list(context.get(EXTERNAL_SIGNALS_FIELD)), _list(operational.get("signals")))


def _waits_of(registry: Mapping[Any, Any], workflow_name: Any) -> list[list[Any]]:
    """:func:`external_triggers`, computed once per registry snapshot and workflow."""
    if type(registry) is not FrozenDict:
        return external_triggers(registry, workflow_name)
    key = (id(registry), workflow_name)
    cached = _WAITS.get(key)
    if cached is not None and cached[0] is registry:
        return cached[1]
    waits = external_triggers(registry, workflow_name)
    _WAITS.put(key, (registry, waits))
    return waits
