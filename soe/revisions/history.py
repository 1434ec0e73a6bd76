"""Numbered registry revisions: recording them and reading them back (SPEC §15 "Registry revisions").

Every change records ``{"revision", "author", "operation", "timestamp", "diff"}``
when the workflow backend keeps revisions (optional methods
``save_registry_revision``/``get_registry_revisions``). Revision 0 is the
registry ``orchestrate`` saved; if an execution has none when it is first
changed, the registry found is recorded as revision 0 first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from soe.lib.clock import timestamp
from soe.lib.snapshot import FrozenDict, FrozenList, freeze
from soe.revisions.diff import Diff, Registry, pointer, registry_at, registry_diff
from soe.types import Backends

__all__ = [
    "API_AUTHOR",
    "diff_revisions",
    "get_registry_revisions",
    "lock",
    "record_initial_revision",
    "record_revision",
    "revision_methods",
]

API_AUTHOR = "api"  # the author of changes not made by a node's tool call

# One in-process lock per execution stripe: two changes to the same registry
# never interleave their read-modify-write.
_STRIPES = [threading.RLock() for _ in range(64)]


def lock(execution_id: str) -> threading.RLock:
    """The lock that serialises changes (and revision 0) of one execution's registry."""
    return _STRIPES[hash(execution_id) % len(_STRIPES)]


def revision_methods(backends: Backends) -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """``(save, get)`` when the workflow backend keeps revisions, else ``None``."""
    save = getattr(backends.workflow, "save_registry_revision", None)
    get = getattr(backends.workflow, "get_registry_revisions", None)
    return (save, get) if callable(save) and callable(get) else None


def get_registry_revisions(execution_id: str, backends: Backends) -> list[dict[str, Any]]:
    """The execution's revisions in order from 0; ``[]`` when the backend keeps none."""
    methods = revision_methods(backends)
    return list(methods[1](execution_id) or []) if methods else []


def _initial_diff(registry: Mapping[str, Any] | None) -> Diff:
    """Revision 0: one ``add`` per workflow, in registry order.

    Built frozen: every execution records one, and a store that keeps
    revisions frozen (in memory) then shares it instead of freezing a copy.
    """
    if not isinstance(registry, Mapping):
        return []
    return FrozenList(FrozenDict(op="add", path=pointer(name), value=freeze(workflow))
                      for name, workflow in registry.items())


def _revision(number: int, author: str, operation: str, diff: Diff) -> dict[str, Any]:
    return {"revision": number, "author": author, "operation": operation,
            "timestamp": timestamp(), "diff": diff}


def record_initial_revision(execution_id: str, registry: Mapping[str, Any] | None, backends: Backends) -> None:
    """Record ``registry`` as revision 0 (``orchestrate``, author ``api``) unless one exists.

    ``orchestrate`` calls this right after saving the registry; it is a no-op for a
    backend without the revision methods.
    """
    methods = revision_methods(backends)
    if methods is None:
        return
    save, get = methods
    with lock(execution_id):
        if not get(execution_id):
            save(execution_id, _revision(0, API_AUTHOR, "orchestrate", _initial_diff(registry)))


def record_revision(execution_id: str, backends: Backends, before: Registry, author: str, operation: str,
                    diff: Diff) -> int | None:
    """Append the change's revision (after revision 0 if the execution had none)."""
    methods = revision_methods(backends)
    if methods is None:
        return None
    save, get = methods
    count = len(get(execution_id) or [])
    if count == 0:
        save(execution_id, _revision(0, API_AUTHOR, "orchestrate", _initial_diff(before)))
        count = 1
    save(execution_id, _revision(count, author, operation, diff))
    return count


def diff_revisions(execution_id: str, base: int, target: int, backends: Backends) -> Diff:
    """The diff that turns the registry at revision ``base`` into the one at ``target``.

    Raises:
        ValueError: ``Revision <n> not found for execution '<id>'`` for either number.
    """
    revisions = get_registry_revisions(execution_id, backends)
    numbers = [revision["revision"] for revision in revisions]
    for number in (base, target):
        if number not in numbers:
            raise ValueError(f"Revision {number} not found for execution '{execution_id}'")
    old = registry_at(revisions, numbers.index(base))
    return registry_diff(old, registry_at(revisions, numbers.index(target)), whole_workflows=False)
