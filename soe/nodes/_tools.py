"""Resolving a tool name to a callable, shared by tool and agent nodes (SPEC §5.4, §10.1).

A built-in is bound to the execution that asks for it, every time: nothing is
ever cached into the caller's registry (upstream did, binding the first
execution's id for everyone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from soe.lib.awaitables import resolve
from soe.lib.effects import Steps, Wait
from soe.lib.values import storable
from soe.types import Backends

__all__ = ["ToolEntry", "bind_builtin", "call_tool", "resolve_tool"]


@dataclass(frozen=True)
class ToolEntry:
    """A registry entry in normal form."""

    function: Callable[..., Any]
    max_retries: int = 0
    failure_signal: str | None = None
    process_accumulated: bool = False
    builtin: bool = False  # built-ins change SOE state: they run inside the transition, not as a wait

    @classmethod
    def from_registry(cls, entry: Any) -> ToolEntry:
        if isinstance(entry, Mapping):
            return cls(entry["function"], entry.get("max_retries", 0) or 0,
                       entry.get("failure_signal"), bool(entry.get("process_accumulated", False)))
        return cls(entry)


def bind_builtin(name: str, execution_id: str, backends: Backends,
                 tools_registry: Mapping[str, Any] | None) -> Callable[..., Any] | None:
    """The built-in tool ``name`` bound to ``execution_id``, or ``None`` if there is none."""
    from soe.builtin_tools import get_builtin_tool_factory

    factory = get_builtin_tool_factory(name)
    if factory is None:
        return None
    return factory(execution_id=execution_id, backends=backends, tools_registry=tools_registry)


def resolve_tool(name: str, tools_registry: Mapping[str, Any] | None, execution_id: str,
                 backends: Backends) -> ToolEntry | None:
    """The registry entry for ``name``, else the built-in bound to this execution."""
    if tools_registry and name in tools_registry:
        return ToolEntry.from_registry(tools_registry[name])
    function = bind_builtin(name, execution_id, backends, tools_registry)
    return None if function is None else ToolEntry(function, builtin=True)


def call_tool(function: Callable[..., Any], params: Any, *, positional: bool = False,
              builtin: bool = False) -> Steps[Any]:
    """Call a tool (``async def`` tools are awaited).

    A user tool is a wait: it runs outside every state transition, may overlap
    with other branches, and its result is journaled so a replayed activation
    does not run its side effect again. A built-in reads and writes SOE's own
    state, so it is part of the transition and runs in place.
    """
    def call() -> Any:
        return resolve(function(params) if positional else function(**params))

    def journal_record(result: Any) -> dict[str, Any]:
        """The result in the stored value model; a result that has none fails the run (``StoreError``)."""
        return {"value": storable(result, what=f"the result of tool '{getattr(function, '__name__', '?')}'")}

    if builtin:
        return call()
    name = str(getattr(function, "__name__", "tool"))
    return (yield Wait("tool", call, encode=journal_record,
                       attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}))
