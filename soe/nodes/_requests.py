"""The structured request (``soe.llm.request``) of an LLM or agent node, for callables that declare it.

Built only when the callable takes it, so a user's §7 ``call_llm`` costs nothing extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from pydantic import BaseModel

from soe.llm.request import LlmRequest, SignalOption, Stage, accepts_request, node_options
from soe.types import Backends

__all__ = ["node_request"]


def _chat(history: Sequence[Mapping[str, Any]]) -> tuple[str | None, tuple[Mapping[str, Any], ...]]:
    """The identity's system prompt (the history's first entry, §9.2) apart from the turns."""
    if history and history[0].get("role") == "system":
        return str(history[0].get("content", "")), tuple(history[1:])
    return None, tuple(history)


def _field_description(backends: Backends, main_id: str, output_field: str | None) -> str:
    """The ``description`` the context schema gives ``output_field``, if any."""
    if not output_field or backends.context_schema is None:
        return ""
    definition = (backends.context_schema.get_context_schema(main_id) or {}).get(output_field)
    if isinstance(definition, Mapping) and isinstance(definition.get("description"), str):
        return cast("str", definition["description"])
    return ""


def node_request(call_llm: Any, backends: Backends, main_id: str, node_config: Mapping[str, Any], *,
                 stage: Stage, prompt: str, context: str, history: Sequence[Mapping[str, Any]],
                 response_model: type[BaseModel], signals: Sequence[Mapping[str, Any]] = (),
                 **parts: Any) -> LlmRequest | None:
    """The request for one stage, or ``None`` when ``call_llm`` keeps §7's arguments."""
    if not accepts_request(call_llm):
        return None
    system, turns = _chat(history)
    output_field = node_config.get("output_field") if stage in ("llm", "response") else None
    return LlmRequest(
        stage=stage, prompt=prompt, response_model=response_model, text="", context=context,
        system=system, history=turns, output_field=output_field,
        field_description=_field_description(backends, main_id, output_field),
        signals=tuple(SignalOption(str(o["name"]), str(o["description"])) for o in signals),
        exclusive_signals=node_config.get("exclusive_signals") is True,
        options=node_options(node_config), **parts,
    )
