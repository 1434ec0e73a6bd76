"""Turning what ``call_llm`` returned into a validated model, and reading it (SPEC §7.1, §7.5).

Models wrap JSON in prose, reasoning blocks and code fences; the text parser
digs out the JSON value before Pydantic validates it in lax mode.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, RootModel

__all__ = [
    "coerce_response",
    "extract_json_text",
    "extract_output",
    "extract_selected_signals",
    "parse_response_text",
    "response_text",
]

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)
_FENCED_JSON = re.compile(r"```(?:json)?\s*([\[\{].*?[\]\}])\s*```", re.DOTALL)
_CLOSING = {"{": "}", "[": "]"}
_JSON_SCALARS = (int, float, bool, type(None))


def _balanced_span(text: str, start: int) -> str:
    """The bracketed span opening at ``start``, or the rest of the text if unbalanced.

    Only the opening bracket's own type is counted; brackets inside
    double-quoted strings (with backslash escapes) do not count.
    """
    opening = text[start]
    closing = _CLOSING[opening]
    depth = 0
    in_string = escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return text[start:index + 1]
    return text[start:]


def extract_json_text(text: str) -> str:
    """The JSON candidate inside an LLM answer: fenced block, bracketed span, or all of it."""
    stripped = _THINK_BLOCK.sub("", text).strip()
    fenced = _FENCED_JSON.search(stripped)
    if fenced:
        return fenced.group(1)
    starts = [pos for pos in (stripped.find("{"), stripped.find("[")) if pos != -1]
    if starts:
        return _balanced_span(stripped, min(starts))
    return stripped


def parse_response_text(text: str, response_model: type[BaseModel]) -> BaseModel:
    """Validate the JSON found in ``text``; raises ``ValidationError`` when it does not fit."""
    return response_model.model_validate_json(extract_json_text(text))


def coerce_response(value: Any, response_model: type[BaseModel]) -> BaseModel:
    """Validate whatever ``call_llm`` returned, per the return-handling table of §7.1.

    Raises ``ValueError`` (``ValidationError`` included) when the value does not
    fit, which the retry loop treats as a failed attempt.
    """
    if isinstance(value, str):
        return parse_response_text(value, response_model)
    if isinstance(value, response_model):
        return value
    if isinstance(value, BaseModel):
        return response_model.model_validate(value.model_dump())
    if isinstance(value, (dict, list, *_JSON_SCALARS)):
        return response_model.model_validate(value)
    return parse_response_text(str(value), response_model)


def response_text(value: Any) -> str:
    """The raw response as quoted back in the "Previous response" feedback."""
    return value if isinstance(value, str) else str(value)


def extract_output(result: BaseModel, output_field: str | None) -> Any:
    """The value to store: a root model's (dumped) root, else the field or ``output``."""
    if isinstance(result, RootModel):
        return result.model_dump()
    data = result.model_dump()
    if output_field and output_field in data:
        return data[output_field]
    return data.get("output")


def extract_selected_signals(result: BaseModel) -> list[Any]:
    """The signals the LLM selected, in its order; ``[]`` when there is no such list."""
    if isinstance(result, RootModel):
        return []
    selected = result.model_dump().get("selected_signals")
    return selected if isinstance(selected, list) else []
