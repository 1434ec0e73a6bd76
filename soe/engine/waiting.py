"""Waiting executions: a drained queue that only someone outside can move on.

An execution whose queue drained is ``waiting`` rather than ``completed``
while one of its **waits** is open. A wait is the set of *external* signals
one node of its current workflow listens for. A signal is external when
nothing in the execution's workflows emits it (no emission, LLM failure signal
or child start), or when the config's ``external_signals`` declares it; a nested
list there declares alternatives (``[[APPROVED, REJECTED]]``). A wait is open
while none of its signals, and none of the alternatives declared with them,
has arrived. So an approval node listening for ``[APPROVED, REJECTED]``
waits until one of them arrives, and steps listening for ``NAME`` then
``AGE`` wait for each in turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from soe.validation.graph import emissions_of, is_signal

__all__ = ["EXTERNAL_SIGNALS_FIELD", "open_waits", "waiting_for"]

# Where ``orchestrate`` keeps the config's declared ``external_signals`` (only when it has some).
EXTERNAL_SIGNALS_FIELD = "__external_signals__"


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


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


def open_waits(registry: Mapping[Any, Any], workflow_name: Any, declared: Iterable[Iterable[str]],
               arrived: Iterable[Any]) -> list[str]:
    """The external signals the execution waits for, in workflow order; ``[]`` when none.

    Args:
        registry: the execution's workflows.
        workflow_name: its current workflow.
        declared: the config's ``external_signals``, one list of alternatives per wait.
        arrived: every signal broadcast to the execution so far.
    """
    groups = [list(group) for group in declared]
    declared_names = {name for group in groups for name in group}
    emitted = emitted_signals(registry)
    workflow = registry.get(workflow_name)
    workflow = workflow if isinstance(workflow, Mapping) else {}
    waits = [[s for s in _list(node.get("event_triggers"))
              if is_signal(s) and (s not in emitted or s in declared_names)]
             for node in workflow.values() if isinstance(node, Mapping)]
    answered = set(arrived)
    answered |= {name for group in groups if answered.intersection(group) for name in group}
    pending = [s for wait in waits if wait and not answered.intersection(wait) for s in wait]
    return list(dict.fromkeys(pending))


def waiting_for(backends: Any, execution_id: str) -> list[str]:
    """What a drained execution waits for (see the module docstring); ``[]`` means completed."""
    context = backends.context.get_context(execution_id) or {}
    operational = context.get("__operational__")
    if not isinstance(operational, Mapping):
        return []
    registry = backends.workflow.get_workflows_registry(execution_id) or {}
    workflow_name = backends.workflow.get_current_workflow_name(execution_id)
    return open_waits(registry, workflow_name, _list(context.get(EXTERNAL_SIGNALS_FIELD)),
                      _list(operational.get("signals")))
