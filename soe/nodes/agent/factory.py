"""Agent node caller (SPEC §5.3): a router / parameter / response loop over the node's tools."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel

from soe._errors import PASSTHROUGH_ERRORS
from soe.engine.output import store_output
from soe.engine.telemetry import register_event
from soe.lib.effects import Steps
from soe.lib.jinja_render import context_json, get_context_for_prompt, prompt_text
from soe.llm.contract import (
    LlmRequest,
    RouterDecision,
    RouterResponse,
    accepts_request,
    build_response_model,
    call_structured,
    extract_output,
    extract_selected_signals,
    parameter_model_for,
    router_instructions,
    signal_options,
)
from soe.llm.models import tool_spec
from soe.llm.request import Stage
from soe.nodes._caller import NodeCallerFn, node_caller
from soe.nodes._emissions import emission_mode
from soe.nodes._llm_common import (
    complete,
    open_history,
    output_root_model,
    register_llm_call,
    usage_recorder,
)
from soe.nodes._requests import node_request
from soe.nodes._tools import call_tool
from soe.nodes.agent.loop import AgentLoop, AgentTools, load_tools
from soe.nodes.agent.validation import validate_node_config
from soe.nodes.agent.validation.operational import validate_agent_node_runtime
from soe.types import Backends, BroadcastSignalsCaller, CallLlm, EventTypes
from soe.validation.nodes.rules import validate_once

__all__ = ["AgentNode", "AgentRun", "create_agent_node_caller"]

_PREVIEW_LENGTH = 1000


@dataclass(frozen=True)
class AgentRun:
    """What one agent run computes once and never refreshes between iterations (step 5)."""

    execution_id: str
    node_config: dict[str, Any]
    node_name: str
    ctx: dict[str, Any]
    task: str
    context_string: str
    tools: AgentTools
    max_retries: int
    max_iterations: int
    main_id: str


def _setting(node_config: Mapping[str, Any], key: str, default: int) -> int:
    value = node_config.get(key)
    return default if value is None else value


def _preview(text: str) -> str:
    return text[:_PREVIEW_LENGTH] + "..." if len(text) > _PREVIEW_LENGTH else text


def _call_tool_function(function: Callable[..., Any], args: dict[str, Any], max_retries: int,
                        builtin: bool) -> Steps[Any]:
    """``function(**args)``, tried ``1 + max_retries`` times; the last failure propagates."""
    for _ in range(max_retries):
        try:
            return (yield from call_tool(function, args, builtin=builtin))
        except PASSTHROUGH_ERRORS:
            raise
        except Exception:
            continue
    return (yield from call_tool(function, args, builtin=builtin))


def create_agent_node_caller(backends: Backends, tools: list[dict[str, Any]], call_llm: CallLlm,
                             broadcast_signals_caller: BroadcastSignalsCaller) -> NodeCallerFn:
    """Build the agent caller; its tools are known by function name, fixed at factory time."""
    return node_caller(backends)(AgentNode(backends, tools, call_llm, broadcast_signals_caller).agent)


class AgentNode:
    """The agent node's stages as methods, so each stage can be driven and tested on its own.

    One instance serves every run of its factory; per-run state lives in the
    ``AgentRun`` and ``AgentLoop`` each method is handed.
    """

    def __init__(self, backends: Backends, tools: list[dict[str, Any]], call_llm: CallLlm,
                 broadcast: BroadcastSignalsCaller) -> None:
        self.backends = backends
        # Tools are known by function name; a callable without one (a partial) cannot be named by an agent.
        self.registry = {entry["function"].__name__: entry for entry in tools
                         if hasattr(entry["function"], "__name__")}
        self.call_llm = call_llm
        self.broadcast = broadcast

    def agent(self, execution_id: str, node_config: dict[str, Any]) -> Steps[None]:
        """Steps 1-9 of SPEC §5.3: validate, open the history, then drive the loop."""
        backends = self.backends
        ctx = validate_agent_node_runtime(execution_id, backends)
        validate_once(validate_node_config, node_config)
        history_key, history = open_history(backends, ctx, node_config.get("identity"))
        register_llm_call(backends, execution_id, {"stage": "router"})
        loop = AgentLoop(backends.conversation_history, history_key, history)
        run = self.prepare(execution_id, node_config, ctx)
        register_event(backends, execution_id, EventTypes.AGENT_TOOLS_LOADED, {
            "node_name": run.node_name,
            "agent_tools": list(run.tools.names),
            "registry_tools": run.tools.registry_tools,
        })
        yield from self.drive(run, loop)

    def prepare(self, execution_id: str, node_config: dict[str, Any], ctx: dict[str, Any]) -> AgentRun:
        """Steps 5-6: the rendered task, context string and tools, from a fresh context read."""
        node_name = node_config.get("name", "unknown")
        fresh = self.backends.context.get_context(execution_id)
        task = prompt_text(node_config["prompt"], fresh, node_name=node_name)
        fields, _ = get_context_for_prompt(fresh, node_config["prompt"])
        agent_tools = load_tools(node_config.get("tools") or [], self.registry, execution_id, self.backends)
        return AgentRun(execution_id, node_config, node_name, ctx, task, context_json(fields),
                        agent_tools, _setting(node_config, "retries", 3),
                        _setting(node_config, "max_iterations", 25),
                        ctx["__operational__"]["main_execution_id"])

    def drive(self, run: AgentRun, loop: AgentLoop) -> Steps[None]:
        """Step 8: route until finished; errors consume ``retries``, router requests ``max_iterations``."""
        while loop.retry_count < run.max_retries:
            if loop.router_requests >= run.max_iterations:
                limit = f"Agent execution exceeded max iterations ({run.max_iterations})."
                self.give_up(run, loop.failure_message(limit))
                return
            decision = yield from self.route(run, loop)
            if decision is None:
                return
            if decision.action == "finish":
                yield from self.finish(run, loop)
                return
            yield from self.use_tool(run, loop, decision.tool_name, getattr(decision, "arguments", None))
        limit = f"Agent execution exceeded max retries ({run.max_retries})."
        self.give_up(run, loop.failure_message(limit))

    def request(self, run: AgentRun, payload: dict[str, Any], model: type[BaseModel],
                request: LlmRequest | None) -> Steps[BaseModel]:
        """One structured request; its ``llm_call`` is the caller's, retries register nothing (Q5)."""
        return (yield from call_structured(self.call_llm, payload, model, run.max_retries, run.node_config,
                                           after_call=usage_recorder(self.backends, run.execution_id),
                                           request=request))

    def stage_request(self, run: AgentRun, loop: AgentLoop, model: type[BaseModel], stage: Stage,
                      **parts: Any) -> LlmRequest | None:
        """The structured request of one stage, for a callable that declared the protocol."""
        return node_request(self.call_llm, self.backends, run.main_id, run.node_config, stage=stage,
                            prompt=run.task, context=run.context_string, history=loop.history,
                            response_model=model, **parts)

    def guarded(self, run: AgentRun, payload: dict[str, Any], model: type[BaseModel],
                request: LlmRequest | None) -> Steps[BaseModel | None]:
        """A router or response request; ``None`` when its failure was handled (Q4')."""
        try:
            return (yield from self.request(run, payload, model, request))
        except PASSTHROUGH_ERRORS:
            raise
        except Exception as exc:
            signal = run.node_config.get("llm_failure_signal")
            if not signal:
                raise
            register_event(self.backends, run.execution_id, EventTypes.NODE_ERROR,
                           {"node_type": "agent", "error": str(exc)})
            self.broadcast(run.execution_id, [signal])
            return None

    def route(self, run: AgentRun, loop: AgentLoop) -> Steps[RouterResponse | None]:
        """Router stage; the first request's ``llm_call`` was registered in step 3."""
        if loop.router_requests:
            register_llm_call(self.backends, run.execution_id, {"stage": "router"})
        loop.router_requests += 1
        payload = {
            "instructions": router_instructions(loop.state()),
            "task_description": run.task,
            "context": run.context_string,
            "available_tools": run.tools.signature,
            "conversation_history": loop.history_text(),
        }
        model = RouterDecision if accepts_request(self.call_llm) else RouterResponse
        request = self.stage_request(run, loop, model, "router", instructions=payload["instructions"],
                                     tools=tuple(tool_spec(run.tools.functions[name])
                                                 for name in run.tools.names))
        decision = yield from self.guarded(run, payload, model, request)
        return cast("RouterResponse | None", decision)  # an instance of ``model``, a RouterResponse

    def finish(self, run: AgentRun, loop: AgentLoop) -> Steps[None]:
        """Response stage, then store the output and emit like an LLM node."""
        config, output_field = run.node_config, run.node_config.get("output_field")
        mode = emission_mode(config.get("event_emissions"))
        options = signal_options(config.get("event_emissions")) if mode == "select" else []
        root = output_root_model(self.backends, run.main_id, output_field)
        model = build_response_model(output_field, root, options)
        register_llm_call(self.backends, run.execution_id, {"stage": "response"})
        payload = {"task_description": run.task, "context": run.context_string,
                   "conversation_history": loop.history_text()}
        request = self.stage_request(run, loop, model, "response", signals=options)
        result = yield from self.guarded(run, payload, model, request)
        if result is None:
            return
        output = extract_output(result, output_field)
        ctx = store_output(self.backends, run.execution_id, run.ctx, output_field, output)
        complete(self.broadcast, run.execution_id, config, mode, ctx,
                 extract_selected_signals(result), self.backends)

    def use_tool(self, run: AgentRun, loop: AgentLoop, tool_name: str | None,
                 arguments: dict[str, Any] | None) -> Steps[None]:
        """A ``call_tool`` decision: only the node's own tools (Q8); failures become tool errors."""
        if not tool_name or tool_name not in run.tools.names:
            register_event(self.backends, run.execution_id, EventTypes.AGENT_TOOL_NOT_FOUND, {
                "node_name": run.node_name, "tool_name": tool_name,
                "available_tools": run.tools.registry_tools,
            })
            loop.system_error(f"Tool '{tool_name}' not found or not available.")
            return
        try:
            result = yield from self.run_tool(run, loop, tool_name, arguments)
        except PASSTHROUGH_ERRORS:
            raise
        except Exception as exc:
            loop.tool_error(tool_name, exc)
            return
        loop.tool_response(tool_name, result)

    def parameters(self, run: AgentRun, loop: AgentLoop, tool_name: str,
                   arguments: dict[str, Any] | None) -> Steps[dict[str, Any]]:
        """The tool's arguments: the router's own (native tool call) when they validate, else the parameter stage."""
        model = parameter_model_for(run.tools.functions[tool_name])
        if arguments is not None:
            try:
                return model.model_validate(arguments).model_dump()
            except ValueError:
                pass
        register_llm_call(self.backends, run.execution_id, {"stage": "parameter"})
        payload = {"task_description": run.task, "context": run.context_string, "tool_name": tool_name,
                   "conversation_history": loop.history_text()}
        request = self.stage_request(run, loop, model, "parameter", tool_name=tool_name)
        return (yield from self.request(run, payload, model, request)).model_dump()

    def run_tool(self, run: AgentRun, loop: AgentLoop, tool_name: str,
                 arguments: dict[str, Any] | None) -> Steps[Any]:
        """Arguments, the call itself, and its two telemetry events."""
        function = run.tools.functions[tool_name]
        args = yield from self.parameters(run, loop, tool_name, arguments)
        register_event(self.backends, run.execution_id, EventTypes.AGENT_TOOL_CALL,
                       {"node_name": run.node_name, "tool_name": tool_name, "tool_args": args})
        result = yield from _call_tool_function(function, args, run.tools.max_retries[tool_name],
                                                tool_name in run.tools.builtins)
        text = str(result)
        register_event(self.backends, run.execution_id, EventTypes.AGENT_TOOL_RESULT, {
            "node_name": run.node_name, "tool_name": tool_name,
            "result_preview": _preview(text), "result_length": len(text),
        })
        return result

    def give_up(self, run: AgentRun, message: str) -> None:
        """Step 9: the loop ended without an answer."""
        register_event(self.backends, run.execution_id, EventTypes.NODE_ERROR,
                       {"node_type": "agent", "error": message})
        signal = run.node_config.get("llm_failure_signal")
        if not signal:
            raise RuntimeError(message)
        self.broadcast(run.execution_id, [signal])
