"""A deterministic offline ``call_llm`` for demos, tests and dry runs (no network, no key).

It answers every structured request with an instance of the response model
built from the field types alone: text-like fields answer ``[echo] <prompt>``
with the node's rendered prompt (or agent task), not the JSON request around
it, so a demo's output reads as what the model was asked and a workflow's
data flow can be followed end to end; everything else takes the most neutral
valid value. Agents finish at once because the router stage gets
``action="finish"``.
"""

from __future__ import annotations

import enum
import json
import types
from collections import abc
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from pydantic import BaseModel, RootModel, ValidationError

from soe.llm.models import RouterResponse

__all__ = ["ECHO_PREFIX", "echo", "prompt_text", "rendered_prompt"]

ECHO_PREFIX = "[echo] "
_PROMPT_KEYS = ("prompt", "task_description")

_MAX_DEPTH = 8
_SEQUENCE_ORIGINS = (list, set, frozenset, tuple, abc.Sequence, abc.Set)
_UNION_ORIGINS = (Union, types.UnionType)


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """The content of the last user message (text parts joined), ``""`` when there is none."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content", "")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
            return str(content)
    return ""


def rendered_prompt(text: str) -> str:
    """What the node asked, without the request around it.

    The LLM contract sends the payload as compact JSON followed by format
    instructions (SPEC §7.2); its ``prompt`` (LLM nodes) or ``task_description``
    (agents) is the text a reader recognises. Any other text is returned as is.
    """
    try:
        payload, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return text
    if isinstance(payload, Mapping):
        for key in _PROMPT_KEYS:
            if isinstance(payload.get(key), str):
                return cast("str", payload[key])
    return text


def _fill_union(args: tuple[Any, ...], prompt: str, depth: int) -> Any:
    """Optional[X] is filled as X; other unions as their first member."""
    members = [arg for arg in args if arg is not type(None)]
    return _fill(members[0], prompt, depth) if members else None


def _fill_class(annotation: type, prompt: str, depth: int) -> Any:
    """Values for plain classes: scalars, containers, enums and nested models."""
    if issubclass(annotation, bool):
        return False
    if issubclass(annotation, (int, float)):
        return annotation(0)
    if issubclass(annotation, str):
        return prompt
    if issubclass(annotation, enum.Enum):
        return next(iter(annotation)).value
    if issubclass(annotation, _SEQUENCE_ORIGINS):
        return []
    if issubclass(annotation, abc.Mapping):
        return {}
    if issubclass(annotation, RootModel):
        return _fill(annotation.model_fields["root"].annotation, prompt, depth + 1)
    if issubclass(annotation, BaseModel):
        return _fill_fields(annotation, prompt, depth + 1)
    return None


def _fill(annotation: Any, prompt: str, depth: int = 0) -> Any:
    """The value echo gives a field of type ``annotation``."""
    if depth > _MAX_DEPTH:
        return None
    if annotation is Any or annotation is object:
        return prompt
    origin = get_origin(annotation)
    if origin is Literal:
        return get_args(annotation)[0]
    if origin is Annotated:
        return _fill(get_args(annotation)[0], prompt, depth)
    if origin in _UNION_ORIGINS:
        return _fill_union(get_args(annotation), prompt, depth)
    if origin is not None:
        return _fill_class(origin, prompt, depth) if isinstance(origin, type) else None
    return _fill_class(annotation, prompt, depth) if isinstance(annotation, type) else None


def _first_signal(annotation: Any) -> list[Any]:
    """``selected_signals`` picks its first option, so the first signal fires."""
    args = get_args(annotation)
    item = args[0] if len(args) == 1 else None
    options = get_args(item) if get_origin(item) is Literal else ()
    return [options[0]] if options else []


def _fill_fields(model: type[BaseModel], prompt: str, depth: int) -> dict[str, Any]:
    """Input data for every field of ``model``, keyed as validation expects (aliases)."""
    data: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if name == "selected_signals":
            data[key] = _first_signal(field.annotation)
        else:
            data[key] = _fill(field.annotation, prompt, depth)
    return data


def echo_answer(response_model: type[BaseModel], prompt: str) -> BaseModel | str:
    """The instance echo answers with; its JSON text if the model's constraints reject it."""
    if issubclass(response_model, RouterResponse):
        return response_model(action="finish")
    data = _fill(response_model, prompt)
    try:
        return response_model.model_validate(data)
    except ValidationError:
        return json.dumps(data, default=str)


def echo() -> Callable[..., BaseModel | str]:
    """A messages-form ``call_llm`` answering deterministically from the prompt, offline."""

    def call_llm(messages: list[dict[str, Any]],
                 response_model: type[BaseModel] | None = None) -> BaseModel | str:
        prompt = ECHO_PREFIX + rendered_prompt(prompt_text(messages))
        if response_model is None:
            return prompt
        return echo_answer(response_model, prompt)

    call_llm.__name__ = call_llm.__qualname__ = "echo"
    return call_llm
