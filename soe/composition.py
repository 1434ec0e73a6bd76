"""Wiring: the node callers of every type, and a one-call setup (SPEC §1.4, §1.5).

The composition root: it binds the node types and the default backends to the
engine, which itself sees node callers and backends only through the
protocols in ``soe.types``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from soe.engine.orchestrate import broadcast_signals, orchestrate
from soe.lib.snapshot import FrozenDict, fast_copy
from soe.lib.tree_scope import confine_builtins
from soe.lib.yaml_parser import parse_yaml
from soe.nodes.agent.factory import create_agent_node_caller
from soe.nodes.child.factory import create_child_node_caller
from soe.nodes.llm.factory import create_llm_node_caller
from soe.nodes.router.factory import create_router_node_caller
from soe.nodes.tool.factory import create_tool_node_caller
from soe.types import Backends

__all__ = ["create_all_nodes", "setup_orchestration"]


def _agent_tools(tools_registry: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The agent's tool list: callables wrapped, dicts with a function kept, the rest skipped."""
    tools: list[dict[str, Any]] = []
    for entry in (tools_registry or {}).values():
        if isinstance(entry, dict) and "function" in entry:
            tools.append(entry)
        elif callable(entry):
            tools.append({"function": entry, "max_retries": 0})
    return tools


def create_all_nodes(backends: Backends, call_llm: Any = None, tools_registry: dict[str, Any] | None = None, *,
                     confine_builtin_tools: bool = False) -> tuple[dict[str, Any], Callable[[str, list[Any]], None]]:
    """Build every node caller and the broadcast caller bound to them.

    ``confine_builtin_tools`` keeps ``soe_copy_context`` and ``soe_list_contexts``
    of these nodes within the calling execution's own tree (SPEC's default is
    store-wide); the ``limits`` key of the same name does it per tree.

    Returns:
        ``(nodes, broadcast_signals_caller)``; ``nodes`` is looked up at call
        time, so a caller registered later under a ``_``-prefixed type works.
    """
    nodes: dict[str, Any] = {}

    def broadcast_signals_caller(execution_id: str, signals: list[Any]) -> None:
        broadcast_signals(execution_id, signals, nodes, backends)

    def orchestrate_caller(config: Any, initial_workflow_name: str, initial_signals: list[Any],
                           initial_context: dict[str, Any], backends: Backends) -> str:
        if isinstance(config, str):
            config = parse_yaml(config)
        elif not isinstance(config, FrozenDict):
            config = fast_copy(config)
        return orchestrate(config, initial_workflow_name, initial_signals, initial_context,
                           backends, broadcast_signals_caller)

    nodes["router"] = create_router_node_caller(backends, broadcast_signals_caller)
    if call_llm is not None:
        nodes["llm"] = create_llm_node_caller(backends, call_llm, broadcast_signals_caller)
        nodes["agent"] = create_agent_node_caller(backends, _agent_tools(tools_registry), call_llm,
                                                  broadcast_signals_caller)
    if tools_registry is not None:
        nodes["tool"] = create_tool_node_caller(backends, tools_registry, broadcast_signals_caller)
    nodes["child"] = create_child_node_caller(backends, orchestrate_caller)
    if confine_builtin_tools:
        for node_type in ("tool", "agent"):
            if node_type in nodes:
                nodes[node_type] = _confined(nodes[node_type])
    broadcast_signals_caller.nodes = nodes  # type: ignore[attr-defined]  # resume rebuilds its queue with them
    broadcast_signals_caller.orchestrate_caller = orchestrate_caller  # type: ignore[attr-defined]
    return nodes, broadcast_signals_caller


def _confined(caller: Any) -> Any:
    """``caller`` with built-in tools confined to the tree, run inline or as a runner's steps."""
    def steps(execution_id: str, node_config: dict[str, Any]) -> Any:
        with confine_builtins():
            return (yield from caller.steps(execution_id, node_config))

    @functools.wraps(caller)
    def run(execution_id: str, node_config: dict[str, Any]) -> None:
        with confine_builtins():
            caller(execution_id, node_config)

    run.steps = steps  # type: ignore[attr-defined]
    return run


def setup_orchestration(call_llm: Any = None, tools_registry: dict[str, Any] | None = None,
                        use_local_storage: bool = False,
                        storage_dir: str = "./orchestration_data") -> tuple[Any, Callable[[str, list[Any]], None]]:
    """Backends (in memory, or files under ``storage_dir``) plus a ready broadcast caller."""
    from soe.local_backends import create_in_memory_backends, create_local_backends

    backends = create_local_backends(storage_dir) if use_local_storage else create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, call_llm=call_llm, tools_registry=tools_registry)
    return backends, broadcast
