"""Changing an execution's workflows registry, with validation and revisions (SPEC §15, Q23).

This module is the one place that changes a saved registry: the five
registry built-ins and the Python API below go through :func:`change_registry`,
so every change is validated the same way and recorded as a numbered revision.

A change reads the registry, applies an edit to a plain deep copy, validates
only what the edit adds or modifies (nodes already present and unchanged are
never re-validated, Q23), saves, and records ``{"revision", "author",
"operation", "timestamp", "diff"}`` when the workflow backend keeps revisions
(optional methods ``save_registry_revision``/``get_registry_revisions``).
Revision 0 is the registry ``orchestrate`` saved; if an execution has none
when it is first changed, the registry found is recorded as revision 0 first.

Diff paths are JSON Pointers (``/<workflow>`` or ``/<workflow>/<node>``; a
``/`` or ``~`` inside a name is escaped as ``~1``/``~0``). Replaying the diffs
of revisions ``0..n`` in order rebuilds revision ``n`` exactly, node order
included, which is how :func:`rollback_registry` finds the registry to restore.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from soe._errors import WorkflowValidationError
from soe.backends._snapshot import freeze, registry_snapshot, thaw
from soe.engine.telemetry import timestamp
from soe.validation.config import check_reserved_name, validate_workflow

__all__ = [
    "API_AUTHOR",
    "NODE_CONFIG_ERROR",
    "RegistryChange",
    "RegistryEditor",
    "add_signal",
    "change_registry",
    "check_workflow_name",
    "diff_revisions",
    "get_registry_revisions",
    "inject_node",
    "inject_workflow",
    "record_initial_revision",
    "remove_node",
    "remove_workflow",
    "rollback_registry",
]

API_AUTHOR = "api"  # the author of changes not made by a node's tool call
NODE_CONFIG_ERROR = "Node configuration must be a dictionary/object"

Registry = dict[str, Any]
Diff = list[dict[str, Any]]

# One in-process lock per execution stripe: two changes to the same registry
# never interleave their read-modify-write.
_STRIPES = [threading.RLock() for _ in range(64)]


@dataclass(frozen=True)
class RegistryChange:
    """What one change did: the edit's own result, the diff, and the revision recorded."""

    result: Any
    diff: Diff
    revision: int | None  # None when the workflow backend keeps no revisions


# --- revisions ---------------------------------------------------------------------------

def _revision_methods(backends: Any) -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """``(save, get)`` when the workflow backend keeps revisions, else ``None``."""
    save = getattr(backends.workflow, "save_registry_revision", None)
    get = getattr(backends.workflow, "get_registry_revisions", None)
    return (save, get) if callable(save) and callable(get) else None


def get_registry_revisions(execution_id: str, backends: Any) -> list[dict[str, Any]]:
    """The execution's revisions in order from 0; ``[]`` when the backend keeps none."""
    methods = _revision_methods(backends)
    return list(methods[1](execution_id) or []) if methods else []


def _initial_diff(registry: Mapping[str, Any] | None) -> Diff:
    """Revision 0: one ``add`` per workflow, in registry order."""
    if not isinstance(registry, Mapping):
        return []
    return [{"op": "add", "path": _path(name), "value": freeze(workflow)}
            for name, workflow in registry.items()]


def _revision(number: int, author: str, operation: str, diff: Diff) -> dict[str, Any]:
    return {"revision": number, "author": author, "operation": operation,
            "timestamp": timestamp(), "diff": diff}


def record_initial_revision(execution_id: str, registry: Mapping[str, Any] | None, backends: Any) -> None:
    """Record ``registry`` as revision 0 (``orchestrate``, author ``api``) unless one exists.

    ``orchestrate`` calls this right after saving the registry; it is a no-op for a
    backend without the revision methods.
    """
    methods = _revision_methods(backends)
    if methods is None:
        return
    save, get = methods
    with _lock(execution_id):
        if not get(execution_id):
            save(execution_id, _revision(0, API_AUTHOR, "orchestrate", _initial_diff(registry)))


def _record(execution_id: str, backends: Any, before: Registry, author: str, operation: str,
            diff: Diff) -> int | None:
    """Append the change's revision (after revision 0 if the execution had none)."""
    methods = _revision_methods(backends)
    if methods is None:
        return None
    save, get = methods
    count = len(get(execution_id) or [])
    if count == 0:
        save(execution_id, _revision(0, API_AUTHOR, "orchestrate", _initial_diff(before)))
        count = 1
    save(execution_id, _revision(count, author, operation, diff))
    return count


# --- diffs -------------------------------------------------------------------------------

def _escape(name: Any) -> str:
    return str(name).replace("~", "~0").replace("/", "~1")


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def _path(*names: Any) -> str:
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
    return cast("bool", old != new)


def _diff(old: Registry, new: Registry, whole_workflows: bool) -> Diff:
    """The diff from ``old`` to ``new``; a changed workflow is one ``replace`` or node entries."""
    diff: Diff = []
    for op, name in _key_ops(old, new):
        if op != "changed":
            diff.append(_entry(op, _path(name), new.get(name)))
        elif whole_workflows or not (isinstance(old[name], Mapping) and isinstance(new[name], Mapping)):
            diff.append(_entry("replace", _path(name), new[name]))
        else:
            for node_op, node in _key_ops(old[name], new[name]):
                op_name = "replace" if node_op == "changed" else node_op
                diff.append(_entry(op_name, _path(name, node), new[name].get(node)))
    return diff


def _apply(registry: Registry, diff: Diff) -> None:
    """Replay ``diff`` on ``registry`` in place (the inverse of :func:`_diff`)."""
    for entry in diff:
        names = [_unescape(part) for part in entry["path"].split("/")[1:]]
        parent = registry if len(names) == 1 else registry[names[0]]
        key = names[-1]
        if entry["op"] == "remove":
            parent.pop(key, None)
            continue
        if entry["op"] == "add":
            parent.pop(key, None)  # an add always lands last, as it did when recorded
        parent[key] = copy.deepcopy(entry["value"])


def _registry_at(revisions: list[dict[str, Any]], index: int) -> Registry:
    registry: Registry = {}
    for revision in revisions[: index + 1]:
        _apply(registry, revision.get("diff") or [])
    return registry


# --- validation --------------------------------------------------------------------------

def _validate(diff: Diff, whole_workflows: bool) -> None:
    """Validate each added or replaced entry as it will be saved (Q23)."""
    for entry in diff:
        if entry["op"] == "remove":
            continue
        names = [_unescape(part) for part in entry["path"].split("/")[1:]]
        value = entry["value"]
        if len(names) == 2:
            validate_workflow(names[0], {names[1]: value})
        elif whole_workflows or not isinstance(value, Mapping):
            validate_workflow(names[0], value)
        else:
            for node_name, node in value.items():
                validate_workflow(names[0], {node_name: node})


# --- the one change function ---------------------------------------------------------------

def _lock(execution_id: str) -> threading.RLock:
    return _STRIPES[hash(execution_id) % len(_STRIPES)]


def _read(execution_id: str, backends: Any) -> Registry:
    """A plain, mutable deep copy of the stored registry, made once from the shared snapshot."""
    stored = registry_snapshot(backends.workflow, execution_id)
    return thaw(stored) if isinstance(stored, Mapping) else {}


def change_registry(execution_id: str, backends: Any, *, operation: str, author: str,
                    change: Callable[[Registry], Any], whole_workflows: bool = False) -> RegistryChange:
    """Apply ``change`` to a copy of the registry, validate, save, and record a revision.

    ``change`` edits the plain registry dict in place and may raise to abort; its
    return value is passed back as ``RegistryChange.result``. ``whole_workflows``
    describes a changed workflow as one ``replace`` and validates it whole (used by
    workflow injection); otherwise each added or modified node is validated alone.
    On any error nothing is saved and no revision is recorded.
    """
    with _lock(execution_id):
        before = _read(execution_id, backends)
        after = copy.deepcopy(before)
        result = change(after)
        diff = _diff(before, after, whole_workflows)
        _validate(diff, whole_workflows)
        backends.workflow.save_workflows_registry(execution_id, after)
        revision = _record(execution_id, backends, before, author, operation, diff)
    return RegistryChange(result, diff, revision)


# --- operations ------------------------------------------------------------------------

def _check_name(kind: str, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise WorkflowValidationError(f"'{kind}' must be a non-empty string, got {type(name).__name__}")


def check_workflow_name(workflow_name: Any) -> None:
    """Names are strings, and reserved keys (``limits``...) are never workflows (SPEC §2.2)."""
    _check_name("workflow_name", workflow_name)
    check_reserved_name(workflow_name)


def _as_node_config(value: Any) -> dict[str, Any]:
    """A node config given as data: a mapping, copied so later edits by the caller do not leak in."""
    if not isinstance(value, Mapping):
        raise ValueError(NODE_CONFIG_ERROR)
    return copy.deepcopy(dict(value))


def _workflow(registry: Registry, workflow_name: str, missing: str) -> dict[str, Any]:
    if workflow_name not in registry:
        raise ValueError(missing)
    workflow = registry[workflow_name]
    if not isinstance(workflow, dict):
        raise WorkflowValidationError(f"Workflow '{workflow_name}' must be an object containing node definitions")
    return workflow


def _registry_missing(workflow_name: str) -> str:
    return f"Workflow '{workflow_name}' not found in workflows registry"


def _node_missing(workflow_name: str, node_name: str) -> str:
    return f"Node '{node_name}' not found in workflow '{workflow_name}'"


def _emissions(workflow_name: str, node_name: str, node: Any) -> list[Any]:
    """The node's ``event_emissions`` list, created when absent."""
    if not isinstance(node, dict):
        raise WorkflowValidationError(
            f"Workflow '{workflow_name}', node '{node_name}': node config must be a mapping, "
            f"got {type(node).__name__}")
    emissions = node.get("event_emissions")
    if emissions is None:
        emissions = node["event_emissions"] = []
    if not isinstance(emissions, list):
        raise WorkflowValidationError(
            f"Workflow '{workflow_name}', node '{node_name}': 'event_emissions' must be a list of signal definitions")
    return emissions


@dataclass(frozen=True)
class RegistryEditor:
    """The registry operations, made on one execution by one author under one operation name.

    The Python API uses author ``"api"`` and its own function names; the built-in
    tools use their registered names and the node that called them.
    """

    execution_id: str
    backends: Any
    operation: str
    author: str = API_AUTHOR

    def _change(self, change: Callable[[Registry], Any], whole_workflows: bool = False) -> RegistryChange:
        return change_registry(self.execution_id, self.backends, operation=self.operation,
                               author=self.author, change=change, whole_workflows=whole_workflows)

    def inject_workflow(self, workflow_name: str, definition: Any) -> RegistryChange:
        """Add or replace a whole workflow; the workflow is validated whole."""
        check_workflow_name(workflow_name)

        def change(registry: Registry) -> None:
            registry[workflow_name] = copy.deepcopy(definition)

        return self._change(change, whole_workflows=True)

    def inject_node(self, workflow_name: str, node_name: str, node_config: Any,
                    load: Callable[[Any], dict[str, Any]] = _as_node_config) -> RegistryChange:
        """Add or replace one node; ``load`` turns ``node_config`` into a mapping (after the workflow check)."""
        check_workflow_name(workflow_name)
        _check_name("node_name", node_name)

        def change(registry: Registry) -> None:
            workflow = _workflow(registry, workflow_name, _registry_missing(workflow_name))
            workflow[node_name] = load(node_config)

        return self._change(change)

    def remove_workflow(self, workflow_name: str) -> RegistryChange:
        """Delete a workflow."""
        check_workflow_name(workflow_name)

        def change(registry: Registry) -> None:
            if workflow_name not in registry:
                raise ValueError(_registry_missing(workflow_name))
            del registry[workflow_name]

        return self._change(change)

    def remove_node(self, workflow_name: str, node_name: str) -> RegistryChange:
        """Delete one node of a workflow."""
        check_workflow_name(workflow_name)
        _check_name("node_name", node_name)

        def change(registry: Registry) -> None:
            workflow = _workflow(registry, workflow_name, _registry_missing(workflow_name))
            if node_name not in workflow:
                raise ValueError(_node_missing(workflow_name, node_name))
            del workflow[node_name]

        return self._change(change)

    def add_signal(self, workflow_name: str, node_name: str, signal_name: Any,
                   condition: Any) -> RegistryChange:
        """Add an emission, or replace the condition of the one with that name.

        ``RegistryChange.result`` is ``"added"`` or ``"updated"``.
        """
        check_workflow_name(workflow_name)
        _check_name("node_name", node_name)

        def change(registry: Registry) -> str:
            workflow = _workflow(registry, workflow_name, f"Workflow '{workflow_name}' not found")
            if node_name not in workflow:
                raise ValueError(_node_missing(workflow_name, node_name))
            emissions = _emissions(workflow_name, node_name, workflow[node_name])
            for emission in emissions:
                if isinstance(emission, dict) and emission.get("signal_name") == signal_name:
                    emission["condition"] = condition
                    return "updated"
            emissions.append({"signal_name": signal_name, "condition": condition})
            return "added"

        return self._change(change)

    def rollback(self, revision: int) -> RegistryChange:
        """Restore the registry as it was at ``revision``, recorded as a new revision."""
        revisions = get_registry_revisions(self.execution_id, self.backends)
        numbers = [entry.get("revision") for entry in revisions]
        valid = isinstance(revision, int) and not isinstance(revision, bool)
        if not valid or revision not in numbers:
            raise ValueError(f"Revision {revision} not found for execution '{self.execution_id}'")
        target = _registry_at(revisions, numbers.index(revision))

        def change(registry: Registry) -> None:
            registry.clear()
            registry.update(target)

        return self._change(change)


# --- Python API (author "api") ---------------------------------------------------------------

def inject_workflow(execution_id: str, workflow_name: str, definition: Mapping[str, Any],
                    backends: Any) -> int | None:
    """Add or replace a workflow; returns the new revision number (``None`` if none are kept)."""
    return RegistryEditor(execution_id, backends, "inject_workflow").inject_workflow(
        workflow_name, definition).revision


def inject_node(execution_id: str, workflow_name: str, node_name: str, node_config: Mapping[str, Any],
                backends: Any) -> int | None:
    """Add or replace a node of an existing workflow; returns the new revision number."""
    return RegistryEditor(execution_id, backends, "inject_node").inject_node(
        workflow_name, node_name, node_config).revision


def remove_workflow(execution_id: str, workflow_name: str, backends: Any) -> int | None:
    """Remove a workflow; returns the new revision number."""
    return RegistryEditor(execution_id, backends, "remove_workflow").remove_workflow(workflow_name).revision


def remove_node(execution_id: str, workflow_name: str, node_name: str, backends: Any) -> int | None:
    """Remove a node; returns the new revision number."""
    return RegistryEditor(execution_id, backends, "remove_node").remove_node(workflow_name, node_name).revision


def add_signal(execution_id: str, workflow_name: str, node_name: str, signal_name: str,
               condition: str | None, backends: Any) -> int | None:
    """Add an emission to a node (or update its condition); returns the new revision number."""
    return RegistryEditor(execution_id, backends, "add_signal").add_signal(
        workflow_name, node_name, signal_name, condition).revision


def diff_revisions(execution_id: str, base: int, target: int, backends: Any) -> Diff:
    """The diff that turns the registry at revision ``base`` into the one at ``target``.

    Raises:
        ValueError: ``Revision <n> not found for execution '<id>'`` for either number.
    """
    revisions = get_registry_revisions(execution_id, backends)
    numbers = [revision["revision"] for revision in revisions]
    for number in (base, target):
        if number not in numbers:
            raise ValueError(f"Revision {number} not found for execution '{execution_id}'")
    old = _registry_at(revisions, numbers.index(base))
    return _diff(old, _registry_at(revisions, numbers.index(target)), whole_workflows=False)


def rollback_registry(execution_id: str, revision: int, backends: Any) -> int:
    """Restore the registry as it was at ``revision``; returns the new revision's number.

    Raises:
        ValueError: ``Revision <n> not found for execution '<id>'`` (also when the
            backend keeps no revisions).
    """
    change = RegistryEditor(execution_id, backends, "rollback_registry").rollback(revision)
    return cast(int, change.revision)  # revisions exist, or rollback would have raised
