"""Child node caller (SPEC §5.5).

The node does not start children itself: it queues one spawn item per child
on the tree's runner, so a chain of nested children never deepens the stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soe.engine.items import SpawnChild
from soe.engine.telemetry import register_event
from soe.engine.trees import draining_runner, submit
from soe.lib.context_fields import get_accumulated, get_field
from soe.lib.snapshot import FrozenDict, fast_copy, registry_snapshot
from soe.nodes._caller import NodeCallerFn, node_caller
from soe.nodes.child.validation import validate_node_config
from soe.nodes.child.validation.operational import validate_child_node_runtime
from soe.types import Backends, EventTypes
from soe.validation.nodes.rules import validate_once

__all__ = ["create_child_node_caller"]


def _child_base_context(execution_id: str, node_config: Mapping[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    base = {name: fast_copy(get_field(ctx, name))
            for name in node_config.get("input_fields") or [] if name in ctx}
    base["__parent__"] = {
        "parent_execution_id": execution_id,
        "signals_to_parent": list(node_config.get("signals_to_parent") or []),
        "context_updates_to_parent": list(node_config.get("context_updates_to_parent") or []),
        "main_execution_id": ctx["__operational__"]["main_execution_id"],
    }
    return base


def create_child_node_caller(backends: Backends, orchestrate_caller: Any) -> NodeCallerFn:
    """Build the caller that queues child executions (one, or one per fan-out item)."""

    @node_caller(backends)
    def child(execution_id: str, node_config: dict[str, Any]) -> None:
        ctx = validate_child_node_runtime(execution_id, backends)
        validate_once(validate_node_config, node_config)
        base = _child_base_context(execution_id, node_config, ctx)
        registry = registry_snapshot(backends.workflow, execution_id)
        if not isinstance(registry, FrozenDict):
            registry = fast_copy(registry)  # a read-only snapshot is as good as a copy
        fan_out_field = node_config.get("fan_out_field")
        register_event(backends, execution_id, EventTypes.NODE_EXECUTION, {
            "node_type": "child", "child_workflow": node_config["child_workflow_name"], "parent_id": execution_id,
        })
        if fan_out_field:
            items = get_accumulated(ctx, fan_out_field)
            if not items:
                register_event(backends, execution_id, EventTypes.CHILD_FAN_OUT_EMPTY,
                               {"node_name": node_config.get("name", "unknown"), "fan_out_field": fan_out_field})
                return
            input_field = node_config["child_input_field"]
            contexts = [{**base, input_field: item} for item in items]  # orchestrate copies them
        else:
            contexts = [base]
        runner = draining_runner()
        if runner is not None:  # refused as a whole, before a single child exists
            runner.reserve_children(len(contexts), execution_id)
        interval = float(node_config.get("spawn_interval") or 0)
        workflow_name = node_config["child_workflow_name"]
        signals = tuple(node_config["child_initial_signals"])
        submit(ctx["__operational__"]["main_execution_id"], [
            SpawnChild(registry, workflow_name, signals, initial_context, interval, index, orchestrate_caller, backends)
            for index, initial_context in enumerate(contexts)
        ], backends)

    return child
