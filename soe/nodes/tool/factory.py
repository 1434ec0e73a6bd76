"""Tool node caller (SPEC §5.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soe._errors import PASSTHROUGH_ERRORS
from soe.engine.output import save_output_to_context, store_output
from soe.engine.telemetry import register_event
from soe.lib.context_fields import get_field, unwrapped_view
from soe.lib.effects import Steps
from soe.lib.snapshot import fast_copy
from soe.lib.templating import has_template_syntax, render_template
from soe.lib.yaml_parser import parse_yaml
from soe.nodes._caller import NodeCallerFn, node_caller
from soe.nodes._emissions import condition_reporter, evaluate_emissions
from soe.nodes._tools import ToolEntry, call_tool, resolve_tool
from soe.nodes.tool.validation.config import validate_tool_node_config
from soe.types import Backends, BroadcastSignalsCaller, EventTypes
from soe.validation.operational import read_operational_snapshot

__all__ = ["ToolNode", "create_tool_node_caller"]


def create_tool_node_caller(backends: Backends, tools_registry: dict[str, Any],
                            broadcast_signals_caller: BroadcastSignalsCaller) -> NodeCallerFn:
    """Build the caller that runs a registered (or built-in) tool with retries."""
    return node_caller(backends)(ToolNode(backends, tools_registry, broadcast_signals_caller).tool)


class ToolNode:
    """The tool node's steps as methods, so resolving, retrying and emitting are testable apart."""

    def __init__(self, backends: Backends, tools_registry: dict[str, Any],
                 broadcast: BroadcastSignalsCaller) -> None:
        self.backends = backends
        self.tools_registry = tools_registry
        self.broadcast = broadcast

    def tool(self, execution_id: str, node_config: dict[str, Any]) -> Steps[None]:
        """SPEC §5.4: validate, resolve the tool, build its parameters, then run it."""
        validate_tool_node_config(node_config, self.tools_registry)
        ctx = read_operational_snapshot(execution_id, self.backends)
        entry = self.resolve(execution_id, node_config["tool_name"])
        params = _parameters(node_config, ctx, entry, node_config.get("name", "unknown"))
        register_event(self.backends, execution_id, EventTypes.TOOL_CALL,
                       {"tool_name": node_config["tool_name"], "max_retries": entry.max_retries})
        yield from self.run(execution_id, node_config, ctx, entry, params)

    def resolve(self, execution_id: str, tool_name: str) -> ToolEntry:
        """The registry entry, else the built-in bound to this execution; neither is a config error."""
        entry = resolve_tool(tool_name, self.tools_registry, execution_id, self.backends)
        if entry is None:
            raise ValueError(f"Tool '{tool_name}' not found in tools_registry or builtin tools")
        return entry

    def run(self, execution_id: str, node_config: dict[str, Any], ctx: dict[str, Any], entry: ToolEntry,
            params: Any) -> Steps[None]:
        """``1 + max_retries`` attempts; the last failure is stored and signalled, never raised."""
        tool_name = node_config["tool_name"]
        output_field = node_config.get("output_field")
        last_error: Exception | None = None
        for attempt in range(entry.max_retries + 1):
            try:
                result = yield from _invoke(entry, params)
            except PASSTHROUGH_ERRORS:
                raise
            except Exception as exc:
                last_error = exc
                if attempt < entry.max_retries:
                    register_event(self.backends, execution_id, EventTypes.NODE_ERROR,
                                   {"tool_name": tool_name, "retry_attempt": attempt + 1, "error": str(exc)})
                continue
            pre_tool = store_output(self.backends, execution_id, ctx, output_field, result, appended=False)
            self.emit(execution_id, node_config, pre_tool, result)
            return
        self.fail(execution_id, ctx, output_field, tool_name, entry, str(last_error))

    def fail(self, execution_id: str, ctx: dict[str, Any], output_field: str | None, tool_name: str,
             entry: ToolEntry, error: str) -> None:
        """Every attempt failed: the error text is the output, then the failure signal if any."""
        save_output_to_context(self.backends, execution_id, ctx, output_field, error)
        register_event(self.backends, execution_id, EventTypes.NODE_ERROR, {"tool_name": tool_name, "error": error})
        if entry.failure_signal:
            self.broadcast(execution_id, [entry.failure_signal])

    def emit(self, execution_id: str, node_config: dict[str, Any], ctx: dict[str, Any], result: Any) -> None:
        """Evaluate ``event_emissions`` with ``result`` in scope; a broken context is a node error, not a crash."""
        emissions = node_config.get("event_emissions")
        if not emissions:
            return
        try:
            view = unwrapped_view(ctx)
        except Exception as exc:
            register_event(self.backends, execution_id, EventTypes.NODE_ERROR,
                           {"error": f"Condition evaluation failed: {exc}"})
            return
        signals = evaluate_emissions(emissions, ctx, node_name=node_config.get("name", "unknown"),
                                     extra={"result": result}, view=view,
                                     report=condition_reporter(self.backends, execution_id))
        if signals:
            self.broadcast(execution_id, signals)


def _invoke(entry: ToolEntry, params: Any) -> Steps[Any]:
    positional = entry.process_accumulated and isinstance(params, list)
    return (yield from call_tool(entry.function, params, positional=positional, builtin=entry.builtin))


def _parameters(node_config: Mapping[str, Any], ctx: dict[str, Any], entry: ToolEntry, node_name: str) -> Any:
    """SPEC §5.4 step 3: rendered inline parameters, else a context field, else ``{}``."""
    if node_config.get("parameters") is not None:
        view = unwrapped_view(ctx)
        return _render_parameters(node_config["parameters"], ctx, view, node_name, "parameters")
    field = node_config.get("context_parameter_field")
    if field and field in ctx:
        # the context is a snapshot sharing stored values: the tool gets its own copy
        value = fast_copy(list(ctx[field]) if entry.process_accumulated else get_field(ctx, field))
        return parse_yaml(value) if isinstance(value, str) else value
    return {}


def _render_parameters(value: Any, ctx: dict[str, Any], view: dict[str, Any], node_name: str, path: str) -> Any:
    """Render every templated string inside ``value``; containers come back as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: _render_parameters(item, ctx, view, node_name, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_render_parameters(item, ctx, view, node_name, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, str) and has_template_syntax(value):
        return render_template(value, {"context": view}, full_context=ctx, node_name=node_name, field=path)
    return value
