"""Pydantic models the LLM is asked to fill (SPEC §6.3, §7.3, §7.4).

Model and field names, descriptions and docstrings all surface in the JSON
schema shown to the LLM, so they are part of the contract. Models are cached
because the nodes build them on every call and ``create_model`` is slow.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field, RootModel, create_model

from soe.llm.request import ToolSpec

__all__ = [
    "RouterDecision",
    "RouterResponse",
    "build_response_model",
    "parameter_model_for",
    "signal_options",
    "tool_spec",
]

_SIGNALS_HEADER = "Select ALL signals that apply (can be none, one, or multiple):\n"


class RouterResponse(BaseModel):
    """Output model for the Router stage."""

    action: Literal["call_tool", "finish"]
    tool_name: str | None = Field(
        default=None,
        description="Name of the tool to call. Required if action is 'call_tool'.",
    )


class RouterDecision(RouterResponse):
    """Output model for the Router stage, with the tool's arguments when the provider chose both at once."""

    arguments: dict[str, Any] | None = None


def signal_options(event_emissions: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The choices offered to the LLM in LLM-selection mode: named emissions only."""
    return [
        {"name": emission["signal_name"], "description": emission.get("condition") or ""}
        for emission in event_emissions or []
        if emission.get("signal_name")
    ]


def _signals_description(options: tuple[tuple[Any, Any], ...]) -> str:
    """One ``- NAME: description`` line per option (``- NAME`` when undescribed)."""
    lines = [f"- {name}: {desc}" if desc else f"- {name}" for name, desc in options]
    return _SIGNALS_HEADER + "\n".join(lines)


def _build_response_model(
    output_field: str | None,
    root_model: type[RootModel[Any]] | None,
    options: tuple[tuple[Any, Any], ...],
) -> type[BaseModel]:
    if root_model is not None and not options:
        return root_model
    fields: dict[str, Any] = {}
    if output_field:
        if root_model is not None:
            value_type = root_model.model_fields["root"].annotation
            description = f"The {output_field} value matching the expected schema"
        else:
            value_type, description = Any, f"The {output_field} value"
        fields[output_field] = (value_type, Field(description=description))
    else:
        fields["output"] = (str, Field(description="The final output/result"))
    if options:
        names = tuple(name for name, _ in options)
        fields["selected_signals"] = (
            list[Literal[names]],  # type: ignore[valid-type]  # the node's own signal names
            Field(default=[], description=_signals_description(options)),
        )
    name = output_field.title() + "Response" if output_field else "DynamicResponse"
    return create_model(name, **fields)


_cached_response_model = lru_cache(maxsize=1024)(_build_response_model)


def build_response_model(
    output_field: str | None,
    root_model: type[RootModel[Any]] | None,
    signal_options: Iterable[Mapping[str, Any]] | None,
) -> type[BaseModel]:
    """The LLM node / agent response-stage model of §7.4.

    Pass ``signal_options`` only in LLM-selection mode (§6.3); with a root model
    and no options the root model itself is returned, so the LLM answers with
    the bare value.
    """
    options = tuple((opt["name"], opt["description"]) for opt in signal_options or [])
    try:
        return _cached_response_model(output_field, root_model, options)
    except TypeError:  # an unhashable option (odd YAML): build without caching
        return _build_response_model(output_field, root_model, options)


def _parameters(func: Callable[..., Any]) -> Iterable[inspect.Parameter]:
    """The named parameters of ``func``, string annotations evaluated where possible."""
    try:
        signature = inspect.signature(func, eval_str=True)
    except Exception:  # unresolvable forward references: fall back to the raw text
        signature = inspect.signature(func)
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p for p in signature.parameters.values() if p.kind not in variadic]


@lru_cache(maxsize=1024)
def parameter_model_for(func: Callable[..., Any]) -> type[BaseModel]:
    """``<func.__name__>Schema``: the agent parameter-stage model of a tool.

    One field per named parameter (``*args``/``**kwargs`` cannot be filled by
    keyword, so they are left out); an unannotated or unresolved annotation is ``Any``.
    """
    fields: dict[str, Any] = {}
    for param in _parameters(func):
        annotation = param.annotation
        if annotation is inspect.Parameter.empty or isinstance(annotation, str):
            annotation = Any
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    return create_model(f"{func.__name__}Schema", **fields)


@lru_cache(maxsize=1024)
def tool_spec(func: Callable[..., Any]) -> ToolSpec:
    """A tool as providers' function calling describes it: the parameter model's schema and the docstring.

    ``Annotated[..., Field(description=...)]`` descriptions and defaults come
    through Pydantic, so the model sees typed, described arguments rather than a repr.
    """
    schema = parameter_model_for(func).model_json_schema()
    schema.pop("title", None)
    return ToolSpec(func.__name__, inspect.getdoc(func) or "", schema)
