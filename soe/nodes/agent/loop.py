"""The agent's per-run state: its tools and its loop history (SPEC §5.3 steps 4-6, loop records).

Kept apart from the node caller so the texts the LLM sees (tools signature,
history text, router state) are built in one place, from one state object.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from soe.nodes._tools import bind_builtin
from soe.types import Backends

__all__ = ["AgentLoop", "AgentTools", "load_tools", "tools_signature"]

_STATE_BY_ROLE = {"tool": "tool_response", "tool_error": "tool_error", "system_error": "retry"}


@dataclass(frozen=True)
class AgentTools:
    """The tools one agent run may call, resolved for its execution only (Q7, Q8)."""

    names: tuple[str, ...]
    functions: Mapping[str, Callable[..., Any]]
    max_retries: Mapping[str, int]
    registry_tools: list[str]
    signature: str
    builtins: frozenset[str] = frozenset()  # run in place, inside the transition


def load_tools(names: Sequence[str], registry: Mapping[str, Mapping[str, Any]], execution_id: str,
               backends: Backends) -> AgentTools:
    """Resolve the node's ``tools``: agent registry first, then built-ins bound to this execution.

    Raises:
        ValueError: a name is neither in the agent registry nor a built-in.
    """
    functions: dict[str, Callable[..., Any]] = {}
    max_retries: dict[str, int] = {}
    builtins: list[str] = []
    for name in names:
        if name in registry:
            functions[name] = registry[name]["function"]
            max_retries[name] = registry[name].get("max_retries", 0) or 0
            continue
        function = bind_builtin(name, execution_id, backends, registry)
        if function is None:
            raise ValueError(f"Tool '{name}' not found in registry or builtins")
        if name not in functions:
            builtins.append(name)
        functions[name], max_retries[name] = function, 0
    return AgentTools(tuple(names), functions, max_retries, [*registry, *builtins],
                      tools_signature([functions[name] for name in names]), frozenset(builtins))


def _annotation(parameter: inspect.Parameter) -> str:
    annotation = parameter.annotation
    return "Any" if annotation is inspect.Parameter.empty else str(annotation)


def _describe(function: Callable[..., Any]) -> str:
    params = ", ".join(f"{name}: {_annotation(p)}" for name, p in inspect.signature(function).parameters.items())
    return f"{function.__name__}({params})\n  {inspect.getdoc(function) or 'No description'}"


def tools_signature(functions: Sequence[Callable[..., Any]]) -> str:
    """The ``available_tools`` text: one described signature per tool, defaults not shown."""
    return "\n\n".join(_describe(function) for function in functions)


def _entry_text(entry: Mapping[str, Any]) -> str:
    role, content = entry.get("role"), entry.get("content")
    if role == "tool":
        return f"[Tool: {entry.get('tool_name')}]\n{content}"
    if role == "tool_error":
        return f"[Tool Error: {entry.get('tool_name')}]\n{content}"
    if role == "system_error":
        return f"[System Error]\n{content}"
    return f"{content}"


@dataclass
class AgentLoop:
    """Loop state of one agent run (step 4).

    ``history`` starts as the persisted conversation (which may hold earlier
    nodes' entries) and gains this run's records; each record is also appended
    to the persisted history once (Q11) when the run has a history key.
    """

    conversation_history: Any
    history_key: str | None
    history: list[dict[str, Any]]
    tool_responses: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    retry_count: int = 0
    router_requests: int = 0

    def _record(self, entry: dict[str, Any]) -> None:
        self.history.append(entry)
        if self.history_key is not None:
            self.conversation_history.append_to_conversation_history(self.history_key, dict(entry))

    def tool_response(self, tool_name: str, result: Any) -> None:
        """A successful call: it does not consume the retries budget."""
        self.tool_responses[tool_name] = result
        self._record({"role": "tool", "tool_name": tool_name, "content": str(result)})

    def tool_error(self, tool_name: str, error: BaseException) -> None:
        content = f"Error executing {tool_name}: {error}"
        self.errors.append(content)
        self.retry_count += 1
        self._record({"role": "tool_error", "tool_name": tool_name, "content": content})

    def system_error(self, message: str) -> None:
        self.errors.append(message)
        self.retry_count += 1
        self._record({"role": "system_error", "content": message})

    def state(self) -> str:
        """The router-instructions state, from the last history entry."""
        if not self.history:
            return "initial"
        return _STATE_BY_ROLE.get(str(self.history[-1].get("role")), "initial")

    def history_text(self) -> str:
        return "\n\n".join(_entry_text(entry) for entry in self.history)

    def failure_message(self, message: str) -> str:
        """``message`` plus the last recorded error, if any."""
        return f"{message} Last error: {self.errors[-1]}" if self.errors else message
