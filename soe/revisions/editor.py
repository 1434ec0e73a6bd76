"""Changing an execution's workflows registry, with validation and revisions (SPEC §15, Q23).

This module is the one place that changes a saved registry: the five
registry built-ins and the Python API below go through :func:`change_registry`,
so every change is validated the same way and recorded as a numbered revision
(:mod:`soe.revisions.history`).

A change reads the registry, applies an edit to a plain deep copy, validates
only what the edit adds or modifies (nodes already present and unchanged are
never re-validated, Q23), saves, and records the diff
(:mod:`soe.revisions.diff`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from soe._errors import WorkflowValidationError
from soe.lib.snapshot import registry_snapshot, thaw
from soe.revisions.diff import Diff, Registry, pointer_names, registry_at, registry_diff
from soe.revisions.history import API_AUTHOR, get_registry_revisions, lock, record_revision
from soe.types import Backends
from soe.validation.config import check_reserved_name, validate_workflow

__all__ = [
    "NODE_CONFIG_ERROR",
    "RegistryChange",
    "RegistryEditor",
    "add_signal",
    "change_registry",
    "check_workflow_name",
    "inject_node",
    "inject_workflow",
    "remove_node",
    "remove_workflow",
    "rollback_registry",
]

NODE_CONFIG_ERROR = "Node configuration must be a dictionary/object"


@dataclass(frozen=True)
class RegistryChange:
    """What one change did: the edit's own result, the diff, and the revision recorded."""

    result: Any
    diff: Diff
    revision: int | None  # None when the workflow backend keeps no revisions


# --- validation --------------------------------------------------------------------------

def _validate(diff: Diff, whole_workflows: bool) -> None:
    """Validate each added or replaced entry as it will be saved (Q23)."""
    for entry in diff:
        if entry["op"] == "remove":
            continue
        names = pointer_names(entry["path"])
        value = entry["value"]
        if len(names) == 2:
            validate_workflow(names[0], {names[1]: value})
        elif whole_workflows or not isinstance(value, Mapping):
            validate_workflow(names[0], value)
        else:
            for node_name, node in value.items():
                validate_workflow(names[0], {node_name: node})


# --- the one change function ---------------------------------------------------------------

def _read(execution_id: str, backends: Backends) -> Registry:
    """A plain, mutable deep copy of the stored registry, made once from the shared snapshot."""
    stored = registry_snapshot(backends.workflow, execution_id)
    return thaw(stored) if isinstance(stored, Mapping) else {}


def change_registry(execution_id: str, backends: Backends, *, operation: str, author: str,
                    change: Callable[[Registry], Any], whole_workflows: bool = False) -> RegistryChange:
    """Apply ``change`` to a copy of the registry, validate, save, and record a revision.

    ``change`` edits the plain registry dict in place and may raise to abort; its
    return value is passed back as ``RegistryChange.result``. ``whole_workflows``
    describes a changed workflow as one ``replace`` and validates it whole (used by
    workflow injection); otherwise each added or modified node is validated alone.
    On any error nothing is saved and no revision is recorded.
    """
    with lock(execution_id):
        before = _read(execution_id, backends)
        after = copy.deepcopy(before)
        result = change(after)
        diff = registry_diff(before, after, whole_workflows)
        _validate(diff, whole_workflows)
        backends.workflow.save_workflows_registry(execution_id, after)
        revision = record_revision(execution_id, backends, before, author, operation, diff)
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
    backends: Backends
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
        target = registry_at(revisions, numbers.index(revision))

        def change(registry: Registry) -> None:
            registry.clear()
            registry.update(target)

        return self._change(change)


# --- Python API (author "api") ---------------------------------------------------------------

def inject_workflow(execution_id: str, workflow_name: str, definition: Mapping[str, Any],
                    backends: Backends) -> int | None:
    """Add or replace a workflow; returns the new revision number (``None`` if none are kept)."""
    return RegistryEditor(execution_id, backends, "inject_workflow").inject_workflow(
        workflow_name, definition).revision


def inject_node(execution_id: str, workflow_name: str, node_name: str, node_config: Mapping[str, Any],
                backends: Backends) -> int | None:
    """Add or replace a node of an existing workflow; returns the new revision number."""
    return RegistryEditor(execution_id, backends, "inject_node").inject_node(
        workflow_name, node_name, node_config).revision


def remove_workflow(execution_id: str, workflow_name: str, backends: Backends) -> int | None:
    """Remove a workflow; returns the new revision number."""
    return RegistryEditor(execution_id, backends, "remove_workflow").remove_workflow(workflow_name).revision


def remove_node(execution_id: str, workflow_name: str, node_name: str, backends: Backends) -> int | None:
    """Remove a node; returns the new revision number."""
    return RegistryEditor(execution_id, backends, "remove_node").remove_node(workflow_name, node_name).revision


def add_signal(execution_id: str, workflow_name: str, node_name: str, signal_name: str,
               condition: str | None, backends: Backends) -> int | None:
    """Add an emission to a node (or update its condition); returns the new revision number."""
    return RegistryEditor(execution_id, backends, "add_signal").add_signal(
        workflow_name, node_name, signal_name, condition).revision


def rollback_registry(execution_id: str, revision: int, backends: Backends) -> int:
    """Restore the registry as it was at ``revision``; returns the new revision's number.

    Raises:
        ValueError: ``Revision <n> not found for execution '<id>'`` (also when the
            backend keeps no revisions).
    """
    change = RegistryEditor(execution_id, backends, "rollback_registry").rollback(revision)
    return cast(int, change.revision)  # revisions exist, or rollback would have raised
