"""Registry diffs as JSON Pointer entries, and their replay (SPEC §15 "Registry revisions").

Diff paths are JSON Pointers (``/<workflow>`` or ``/<workflow>/<node>``; a
``/`` or ``~`` inside a name is escaped as ``~1``/``~0``). Replaying the diffs
of revisions ``0..n`` in order rebuilds revision ``n`` exactly, node order
included, which is how a rollback finds the registry to restore.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["Diff", "Registry", "apply_diff", "pointer", "pointer_names", "registry_at", "registry_diff"]

Registry = dict[str, Any]
Diff = list[dict[str, Any]]


def _escape(name: Any) -> str:
    return str(name).replace("~", "~0").replace("/", "~1")


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def pointer_names(path: str) -> list[str]:
    """The workflow (and node) names a diff path points at."""
    return [_unescape(part) for part in path.split("/")[1:]]


def pointer(*names: Any) -> str:
    """The JSON Pointer of a workflow or of one of its nodes."""
    return "".join("/" + _escape(name) for name in names)


def _entry(op: str, path: str, value: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"op": op, "path": path}
    if op != "remove":
        entry["value"] = copy.deepcopy(value)
    return entry


def _key_ops(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(op, key)`` steps turning ``old`` into ``new`` with ``new``'s key order.

    Replay semantics: ``remove`` deletes, ``add`` appends, ``changed`` keeps the
    position. When the kept keys are not already a prefix of ``new`` in the right
    order, the keys from the first misplaced one on are removed and re-added.
    """
    target = list(new)
    simple = [key for key in old if key in new] + [key for key in target if key not in old]
    split = next((i for i, (a, b) in enumerate(zip(simple, target, strict=True)) if a != b), len(target))
    moved = set(target[split:])
    ops = [("remove", key) for key in old if key not in new or key in moved]
    ops += [("changed", key) for key in target[:split] if key in old and _differs(old[key], new[key])]
    ops += [("add", key) for key in target if key not in old or key in moved]
    return ops


def _differs(old: Any, new: Any) -> bool:
    """Inequality that also sees a change of node order inside a workflow."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return list(old) != list(new) or any(_differs(old[k], new[k]) for k in old)
    return bool(old != new)


def registry_diff(old: Registry, new: Registry, whole_workflows: bool) -> Diff:
    """The diff from ``old`` to ``new``; a changed workflow is one ``replace`` or node entries."""
    diff: Diff = []
    for op, name in _key_ops(old, new):
        if op != "changed":
            diff.append(_entry(op, pointer(name), new.get(name)))
        elif whole_workflows or not (isinstance(old[name], Mapping) and isinstance(new[name], Mapping)):
            diff.append(_entry("replace", pointer(name), new[name]))
        else:
            for node_op, node in _key_ops(old[name], new[name]):
                op_name = "replace" if node_op == "changed" else node_op
                diff.append(_entry(op_name, pointer(name, node), new[name].get(node)))
    return diff


def apply_diff(registry: Registry, diff: Diff) -> None:
    """Replay ``diff`` on ``registry`` in place (the inverse of :func:`registry_diff`)."""
    for entry in diff:
        names = pointer_names(entry["path"])
        parent = registry if len(names) == 1 else registry[names[0]]
        key = names[-1]
        if entry["op"] == "remove":
            parent.pop(key, None)
            continue
        if entry["op"] == "add":
            parent.pop(key, None)  # an add always lands last, as it did when recorded
        parent[key] = copy.deepcopy(entry["value"])


def registry_at(revisions: list[dict[str, Any]], index: int) -> Registry:
    """The registry as revision ``revisions[index]`` left it: the diffs up to it, replayed."""
    registry: Registry = {}
    for revision in revisions[: index + 1]:
        apply_diff(registry, revision.get("diff") or [])
    return registry
