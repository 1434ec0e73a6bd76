"""``orchestrate`` and ``broadcast_signals``: starting executions and delivering signals.

Both only prepare state and queue work; the runner (``soe.engine.runner``) is
what runs nodes. SPEC §4.1 and §4.2 give the steps this module follows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from soe._errors import WorkflowValidationError
from soe.engine import tracing
from soe.engine.calls import current_execution_id
from soe.engine.config import load_config
from soe.engine.items import Activation, WorkItem
from soe.engine.limits import remember_tree_limits, resolve_limits
from soe.engine.listeners import listeners_for
from soe.engine.runner import TreeRunner
from soe.engine.telemetry import register_event
from soe.engine.trees import deferred_start, draining_runner, submit
from soe.engine.waiting import EXTERNAL_SIGNALS_FIELD
from soe.lib.context_fields import set_field, wrap_context
from soe.lib.ids import check_id
from soe.lib.operational import new_operational
from soe.lib.snapshot import fast_copy, registry_snapshot
from soe.lib.values import storable
from soe.revisions.history import record_initial_revision
from soe.types import Backends, EventTypes, ExternalRunner
from soe.validation.config import validate_initial_workflow, validate_orchestrate_params
from soe.validation.operational import validate_operational

__all__ = ["ParentSignals", "broadcast_signals", "orchestrate", "signals_to_parent"]

_EXCLUDED_ON_INHERIT = ("__operational__", "__parent__")


def orchestrate(
    config: Any,
    initial_workflow_name: str,
    initial_signals: list[str],
    initial_context: dict[str, Any] | None,
    backends: Backends,
    broadcast_signals_caller: Callable[[str, list[str]], None],
    inherit_config_from_id: str | None = None,
    inherit_context_from_id: str | None = None,
    *,
    max_steps: int | None = None,
    max_concurrency: int | None = None,
    execution_id: str | None = None,
    runner: ExternalRunner | None = None,
) -> str:
    """Start an execution of ``initial_workflow_name`` and run it until its tree is drained.

    A child started from inside a running tree returns at once with its work queued.
    ``runner`` (e.g. ``soe.temporal.Runner``) runs the tree elsewhere: this
    process validates and submits, and the runner's workers use their own store.

    Returns:
        The new execution id.

    Raises:
        WorkflowValidationError: invalid parameters or config (SPEC §13.1, §13.2).
        ValueError: YAML that does not parse, or a missing inheritance source.
    """
    if runner is not None:
        return runner.orchestrate(config, initial_workflow_name, initial_signals, initial_context,
                                  max_steps=max_steps, max_concurrency=max_concurrency, execution_id=execution_id)
    validate_orchestrate_params(initial_workflow_name, initial_signals)
    if config is None and inherit_config_from_id is None:
        raise WorkflowValidationError("Either 'config' or 'inherit_config_from_id' must be provided")
    with deferred_start(backends) as start:
        new_id = _new_execution_id(execution_id, backends)
        registry: Mapping[str, Any] = {}
        config_limits: dict[str, int] = {}
        external: list[list[str]] = []
        if inherit_config_from_id:
            registry = _inherit_config(new_id, inherit_config_from_id, backends)
        if config:
            registry, config_limits, external = _load_config(new_id, config, backends)
        register_event(backends, new_id, EventTypes.ORCHESTRATION_START, {"workflow_name": initial_workflow_name})
        backends.workflow.save_workflows_registry(new_id, cast("dict[str, Any]", registry))  # a dict or its frozen snapshot
        record_initial_revision(new_id, registry, backends)
        validate_initial_workflow(initial_workflow_name, registry)
        backends.workflow.save_current_workflow_name(new_id, initial_workflow_name)
        context = _prepare_context(new_id, initial_context or {}, inherit_context_from_id, backends, external)
        if "__parent__" not in context:
            limits = resolve_limits(config_limits, max_steps=max_steps, max_concurrency=max_concurrency)
            remember_tree_limits(context["__operational__"]["main_execution_id"], limits)
        backends.context.save_context(new_id, context)
        _trace_start(new_id, initial_workflow_name, context)
        broadcast_signals_caller(new_id, list(initial_signals))
    if start.opened is not None:  # a new tree: its preparation committed, now run it
        start.opened.drain()
    return new_id


def _trace_start(execution_id: str, workflow_name: str, context: Mapping[str, Any]) -> None:
    tracer = tracing.current()
    if tracer is None:
        return
    parent = context.get("__parent__")
    parent_id = parent.get("parent_execution_id") if isinstance(parent, Mapping) else None
    tracer.execution_started(execution_id, workflow_name=workflow_name, parent_execution_id=parent_id)


def _new_execution_id(execution_id: str | None, backends: Backends) -> str:
    if execution_id is None:
        return str(uuid.uuid4())
    check_id(execution_id)
    if backends.context.get_context(execution_id) or registry_snapshot(backends.workflow, execution_id):
        raise WorkflowValidationError(f"Execution '{execution_id}' already exists")
    return execution_id


def _save_if_present(backend: Any, method: str, execution_id: str, value: Any) -> None:
    if backend is not None and value:
        getattr(backend, method)(execution_id, value)


def _load_config(new_id: str, config: Any, backends: Backends) -> tuple[Mapping[str, Any], dict[str, int],
                                                                    list[list[str]]]:
    """The config's workflows, limits and external signals; its schema and identities saved under ``new_id``."""
    loaded = load_config(config)
    _save_if_present(backends.context_schema, "save_context_schema", new_id, loaded.fresh_schema())
    _save_if_present(backends.identity, "save_identities", new_id, loaded.fresh_identities())
    return loaded.workflows, loaded.limits, loaded.external_signals


def _inherit_config(new_id: str, source_id: str, backends: Backends) -> Mapping[str, Any]:
    register_event(backends, new_id, EventTypes.CONFIG_INHERITANCE_START, {"source_execution_id": source_id})
    registry = registry_snapshot(backends.workflow, source_id)
    if not registry:
        raise ValueError(f"Cannot inherit config from execution '{source_id}': no workflows registry found")
    backends.workflow.save_workflows_registry(new_id, registry)
    if backends.identity is not None:
        _save_if_present(backends.identity, "save_identities", new_id,
                         fast_copy(backends.identity.get_identities(source_id)))
    if backends.context_schema is not None:
        _save_if_present(backends.context_schema, "save_context_schema", new_id,
                         fast_copy(backends.context_schema.get_context_schema(source_id)))
    return cast("Mapping[str, Any]", registry)


def _prepare_context(new_id: str, initial_context: dict[str, Any], inherit_from: str | None,
                     backends: Backends, external: list[list[str]]) -> dict[str, Any]:
    if inherit_from:
        context = _inherit_context(new_id, inherit_from, initial_context, backends)
    else:
        context = wrap_context(storable(initial_context, what="initial_context"))
    if external:  # declared waits travel with the execution (soe.engine.waiting)
        context[EXTERNAL_SIGNALS_FIELD] = external
    if "__operational__" not in context:
        parent = context.get("__parent__")
        main_id = parent["main_execution_id"] if isinstance(parent, Mapping) else new_id
        context["__operational__"] = new_operational(main_id)
    return context


def _inherit_context(new_id: str, source_id: str, initial_context: dict[str, Any],
                     backends: Backends) -> dict[str, Any]:
    register_event(backends, new_id, EventTypes.CONTEXT_INHERITANCE_START, {})
    source = backends.context.get_context(source_id)
    if not source:
        raise ValueError(f"Cannot inherit context from execution '{source_id}': no context found")
    context = {key: fast_copy(value) for key, value in source.items() if key not in _EXCLUDED_ON_INHERIT}
    if initial_context:
        register_event(backends, new_id, EventTypes.CONTEXT_MERGE, {"fields": list(initial_context.keys())})
        for key, value in initial_context.items():
            set_field(context, key, storable(value, what=f"initial_context['{key}']"))
    return context


def broadcast_signals(id: str, signals: list[str], nodes: Mapping[str, Any], backends: Backends) -> None:
    """Deliver ``signals`` to execution ``id``: queue one activation per listening node.

    Inside a running tree this only queues; otherwise it runs the tree until drained.
    """
    check_id(id)
    facts = _execution_facts(id, backends)
    main_id, parent = facts
    signals = list(signals)
    registry = registry_snapshot(backends.workflow, id) or {}
    workflow = registry.get(backends.workflow.get_current_workflow_name(id))
    items: list[WorkItem] = [
        Activation(id, name, config, nodes, backends) for name, config in listeners_for(workflow, signals)
    ]
    if _parent_signals(parent, signals):
        items.append(ParentSignals(id, tuple(signals), nodes, backends))
    submit(main_id, items, backends, known=(id, facts),
           admitted=lambda: register_event(backends, id, EventTypes.SIGNALS_BROADCAST, {"signals": signals}))


def _execution_facts(execution_id: str, backends: Backends) -> tuple[str, Any]:
    """Validate the execution (SPEC §4.2 step 1) and return its main id and ``__parent__``.

    A node broadcasting for its own execution had that execution validated
    when the runner learned it, and only the engine's own writes happened
    since, so the runner answers from what it learned instead of copying the
    whole context again (a copy grows with the run).
    """
    runner = draining_runner()
    if runner is not None and current_execution_id() == execution_id:
        known = runner.known_executions.get(execution_id)
        if known is not None:
            return known
    ctx = validate_operational(execution_id, backends)
    return ctx["__operational__"]["main_execution_id"], ctx.get("__parent__")


def _parent_signals(parent: Any, signals: list[str]) -> list[str]:
    if not isinstance(parent, Mapping):
        return []
    wanted = parent.get("signals_to_parent") or []
    return [signal for signal in signals if signal in wanted]


def signals_to_parent(child_id: str, signals: list[str], nodes: Mapping[str, Any], backends: Backends) -> None:
    """SPEC §4.2 step 5: after the child's listeners, pass listed signals up one level."""
    parent = backends.context.get_context(child_id).get("__parent__")
    upward = _parent_signals(parent, signals)
    parent_id = parent.get("parent_execution_id") if isinstance(parent, Mapping) else None
    if not parent_id or not upward:
        return
    register_event(backends, child_id, EventTypes.SIGNALS_TO_PARENT, {"signals": upward, "parent_id": parent_id})
    broadcast_signals(parent_id, upward, nodes, backends)


@dataclass(frozen=True, eq=False)
class ParentSignals(WorkItem):
    """After a child's broadcast: pass the signals its parent asked for one level up."""

    execution_id: str
    signals: tuple[Any, ...]
    nodes: Mapping[str, Callable[[str, dict[str, Any]], None]]
    backends: Backends

    def run(self, runner: TreeRunner) -> None:
        signals_to_parent(self.execution_id, list(self.signals), self.nodes, self.backends)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "parent_signals", "execution_id": self.execution_id, "signals": list(self.signals)}
