"""Structured-output plumbing shared by the adapters (SPEC §16.1).

Providers only accept an object at the top of a response schema, while the
engine's root models (§7.4) expect a bare value such as ``42``; such schemas
are wrapped as ``{"value": <schema>}`` and the value unwrapped again before
validation. Output that does not parse or validate is handed back as the raw
text, never raised, so that the engine's retries with feedback (§7.6) apply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, RootModel, ValidationError

from soe.llm.parsing import extract_json_text

__all__ = ["StructuredRequest", "schema_name", "structured_request"]

WRAPPER_KEY = "value"
_NAME_INVALID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class StructuredRequest:
    """What to ask a provider for, and how to read its answer back into ``model``."""

    model: type[BaseModel]
    schema: dict[str, Any]
    wrapped: bool

    @property
    def name(self) -> str:
        """The schema name providers require (letters, digits, ``_`` and ``-``; ≤ 64)."""
        return schema_name(self.model)

    @property
    def description(self) -> str:
        """A short description of the expected answer, for tool-style structured output."""
        base = "Give your answer as this tool's input, matching its schema."
        doc = (self.model.__doc__ or "").strip()
        return f"{base} {doc}" if doc else base

    def response_format(self) -> dict[str, Any]:
        """OpenAI-style ``response_format``; ``strict: false`` since strict mode rejects our schemas."""
        return {
            "type": "json_schema",
            "json_schema": {"name": self.name, "schema": self.schema, "strict": False},
        }

    def parse_text(self, text: str) -> BaseModel | str:
        """The validated instance from a text answer, or ``text`` itself when it does not fit."""
        try:
            value = json.loads(extract_json_text(text))
        except ValueError:
            return text
        result = self._validate(value)
        return text if result is None else result

    def parse_object(self, value: Any) -> BaseModel | str:
        """The validated instance from an already decoded answer, or its JSON text."""
        result = self._validate(value)
        if result is not None:
            return result
        try:
            return json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            return str(value)

    def _validate(self, value: Any) -> BaseModel | None:
        """Unwrap if needed and validate in JSON mode, as the engine's text parser does."""
        if self.wrapped:
            if not isinstance(value, dict) or WRAPPER_KEY not in value:
                return None
            value = value[WRAPPER_KEY]
        try:
            return self.model.model_validate_json(json.dumps(value))
        except (ValidationError, TypeError, ValueError):
            return None


def schema_name(model: type[BaseModel]) -> str:
    """``model``'s name made acceptable as an OpenAI ``json_schema.name``."""
    name = _NAME_INVALID.sub("_", model.__name__)[:64]
    return name or "response"


def _needs_wrapping(model: type[BaseModel], schema: dict[str, Any]) -> bool:
    """Root models answer with a bare value; any non-object schema cannot be requested as is."""
    return issubclass(model, RootModel) or schema.get("type") != "object"


def _wrap(schema: dict[str, Any]) -> dict[str, Any]:
    """``{"value": <schema>}``, with ``$defs`` hoisted so ``#/$defs/...`` refs still resolve."""
    inner = dict(schema)
    defs = inner.pop("$defs", None)
    wrapped: dict[str, Any] = {
        "type": "object",
        "properties": {WRAPPER_KEY: inner},
        "required": [WRAPPER_KEY],
    }
    if defs is not None:
        wrapped["$defs"] = defs
    return wrapped


def structured_request(model: type[BaseModel]) -> StructuredRequest:
    """The schema to send for ``model`` (wrapped when not an object) and how to read answers."""
    schema = model.model_json_schema()
    if _needs_wrapping(model, schema):
        return StructuredRequest(model, _wrap(schema), True)
    return StructuredRequest(model, schema, False)
