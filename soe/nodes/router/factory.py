"""Router node caller (SPEC §5.1)."""

from __future__ import annotations

from typing import Any

from soe.engine.telemetry import register_event
from soe.engine.trees import validated_in_this_run
from soe.nodes._caller import NodeCallerFn, node_caller
from soe.nodes._emissions import condition_reporter, emission_mode, evaluate_emissions
from soe.nodes.router.validation import validate_node_config
from soe.types import Backends, BroadcastSignalsCaller, EventTypes
from soe.validation.nodes.rules import validate_once
from soe.validation.operational import read_operational_snapshot

__all__ = ["create_router_node_caller"]


def create_router_node_caller(backends: Backends, broadcast_signals_caller: BroadcastSignalsCaller) -> NodeCallerFn:
    """Build the caller that evaluates a router's emissions and broadcasts the passing ones."""

    atomic_backend = hasattr(backends.context, "update_operational")

    def needs_context(execution_id: str, node_config: dict[str, Any]) -> bool:
        """Plain emissions read nothing: skip the context copy when the state is known sound."""
        if not atomic_backend or not validated_in_this_run(execution_id):
            return True
        return emission_mode(node_config.get("event_emissions")) == "jinja"

    @node_caller(backends)
    def router(execution_id: str, node_config: dict[str, Any]) -> None:
        ctx = read_operational_snapshot(execution_id, backends) if needs_context(execution_id, node_config) else {}
        validate_once(validate_node_config, node_config)
        register_event(backends, execution_id, EventTypes.NODE_EXECUTION, {"node_type": "router"})
        signals = evaluate_emissions(node_config["event_emissions"], ctx,
                                     node_name=node_config.get("name", "unknown"),
                                     report=condition_reporter(backends, execution_id))
        if signals:
            broadcast_signals_caller(execution_id, signals)

    return router
