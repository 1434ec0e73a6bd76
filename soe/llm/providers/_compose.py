"""From an :class:`~soe.llm.request.LlmRequest` to chat messages, an answer schema and a decoder.

Shared by the adapters so OpenAI, Anthropic and LiteLLM ask the same
question. The request is laid out for small models: the identity is a real
``system`` message, history is chat turns, the user turn is short prose (no
JSON schema dump, which costs prompt tokens and confuses small models), and
the provider's structured output enforces the shape. The answer format goes in
the system turn and the node's prompt is the user turn: a 0.5B model follows
the format as an instruction and reads the user turn as the task (classification
went from 5/10 to 9/10 on ``benchmarks/real_llm.py``). Signals are chosen by
their conditions, not their names: a model picks "the message is written in
Spanish" far more reliably than ``SPANISH``. Exclusive signals are one enum of
conditions, the others a list of the conditions that hold; both are decoded
back to §7.4's ``selected_signals`` list of names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, RootModel, ValidationError

from soe.llm.parsing import extract_json_text
from soe.llm.request import LlmRequest, ToolSpec

__all__ = ["FINISH", "Composed", "compose", "decide", "merged_options", "read_text", "validated"]

FINISH = "finish"
FINAL_ANSWER = "final_answer"
_SIGNALS_KEY = "applies"


@dataclass(frozen=True)
class Composed:
    """What to send: messages, the answer's JSON schema (``None`` for native tool calling) and its decoder."""

    messages: list[dict[str, Any]]
    schema: dict[str, Any] | None
    decode: Callable[[Any], Any]
    tools: tuple[ToolSpec, ...] = ()


def validated(model: type[BaseModel], value: Any) -> BaseModel | str:
    """``value`` validated in JSON mode (as the engine's text parser would), else its JSON text to retry on."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    try:
        return model.model_validate_json(text)
    except (ValidationError, ValueError):
        return text


def _turn(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A history entry as a chat turn; agent tool records are reported to the model as user text."""
    role, content = entry.get("role"), str(entry.get("content", ""))
    if role in ("user", "assistant"):
        return {"role": role, "content": content}
    if role == "tool":
        return {"role": "user", "content": f"[Tool: {entry.get('tool_name')}]\n{content}"}
    if role == "tool_error":
        return {"role": "user", "content": f"[Tool Error: {entry.get('tool_name')}]\n{content}"}
    return {"role": "user", "content": f"[{role}]\n{content}"}


def _shown(value: Any, prompt: str) -> bool:
    """Whether the rendered prompt already shows ``value`` (as text, or as JSON for other values)."""
    if isinstance(value, str):
        return value in prompt
    return str(value) in prompt or json.dumps(value, ensure_ascii=False) in prompt


def _context_adds(request: LlmRequest) -> bool:
    """Whether the context string tells the model anything the rendered prompt does not.

    The context holds the fields the prompt references (§5.2), usually
    rendered into it already; repeating them doubles the prompt for nothing,
    and prompt tokens are most of a small local model's latency.
    """
    try:
        fields = json.loads(request.context)
    except ValueError:
        return bool(request.context)
    if not isinstance(fields, Mapping):
        return True
    return not all(_shown(value, request.prompt) for value in fields.values())


def _messages(request: LlmRequest, question: str) -> list[dict[str, Any]]:
    """The identity and the answer format as the system turn, the node's prompt as the user turn.

    Small models follow the format far better as an instruction than as a
    tail of the user's text, and they read the user turn as the task.
    """
    parts = [request.prompt]
    if request.context and _context_adds(request):
        parts.append("Context:\n" + request.context)
    text = "\n\n".join(part for part in parts if part)
    system = "\n\n".join(part for part in (request.system, question) if part)
    earlier, records = _loop_records(request.history)
    turns = [*map(_turn, earlier), {"role": "user", "content": text}, *map(_turn, records)]
    turns[-1] = {**turns[-1], "content": turns[-1]["content"] + request.feedback}
    return [{"role": "system", "content": system}, *turns]


_RECORD_ROLES = frozenset({"tool", "tool_error", "system_error"})


def _loop_records(history: tuple[Mapping[str, Any], ...]) -> tuple[tuple[Mapping[str, Any], ...],
                                                                  tuple[Mapping[str, Any], ...]]:
    """History split before its trailing agent records, which answer the prompt and so follow it."""
    start = len(history)
    while start and history[start - 1].get("role") in _RECORD_ROLES:
        start -= 1
    return history[:start], history[start:]


def _value_schema(request: LlmRequest, key: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The output value's schema (with the field's description) and the ``$defs`` it refers to."""
    schema = request.response_model.model_json_schema()
    defs = schema.pop("$defs", None)
    if issubclass(request.response_model, RootModel):
        value = schema
    else:
        value = dict(schema["properties"][key])
    value.pop("title", None)
    if not value.keys() - {"description"}:  # an untyped field: ask for text, not any JSON a small model may ramble in
        value["type"] = "string"
    if request.field_description:
        value["description"] = request.field_description
    return value, defs


def _statements(request: LlmRequest) -> dict[str, str]:
    """Each signal's statement (its condition, else its name) mapped to the signal's name.

    Conditions that are empty or shared by two signals are prefixed with the
    name so every statement decodes to exactly one signal.
    """
    texts = [s.description or s.name for s in request.signals]
    return {text if texts.count(text) == 1 else f"{s.name}: {text}": s.name
            for s, text in zip(request.signals, texts, strict=True)}


def _described_parts(schema: Mapping[str, Any], defs: Mapping[str, Any], prefix: str = "",
                     depth: int = 0) -> list[str]:
    """``path: description`` for each described property inside the value, nested objects included.

    Descriptions inside the schema reach a small model only through the
    grammar, which never shows them; told in the instruction they keep
    "how many items" out of the item's name (extraction 7/10 -> see chapter 24).
    """
    lines: list[str] = []
    if depth > 4:  # a recursive model: the first levels say enough
        return lines
    for name, prop in (_resolved(schema, defs).get("properties") or {}).items():
        prop = _resolved(prop, defs)
        if prop.get("description"):
            lines.append(f"{prefix}{name}: {prop['description']}")
        lines.extend(_described_parts(prop, defs, f"{prefix}{name}.", depth + 1))
    return lines


def _resolved(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    """``schema`` itself, or the ``$defs`` entry its local ``$ref`` points to."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"))
        return target if isinstance(target, Mapping) else schema
    return schema


def _answer(request: LlmRequest) -> Composed:
    """LLM node and agent response stage: ``{<field>: value, "applies": …}``, decoded to the §7.4 model."""
    key = request.output_field or "output"
    value, defs = _value_schema(request, key)
    statements = _statements(request)
    properties: dict[str, Any] = {key: value}
    described = f": {value['description']}" if value.get("description") else ""
    parts = "".join(f"\n- {line}" for line in _described_parts(value, defs or {}))
    question = f'Answer in JSON with "{key}"{described}{":" if parts and not described else ""}{parts}'
    listed = "".join(f"\n- {text}" for text in statements)
    if statements and request.exclusive_signals:
        properties[_SIGNALS_KEY] = {"type": "string", "enum": list(statements)}
        question = (f"Decide which one of these statements about the message is true:{listed}\n\n"
                    f'{question}, and "{_SIGNALS_KEY}": the true statement')
    elif statements:
        properties[_SIGNALS_KEY] = {"type": "array", "maxItems": len(statements),
                                    "items": {"type": "string", "enum": list(statements)}}
        question = (f"Decide which of these statements about the message are true:{listed}\n\n"
                    f'{question}, and "{_SIGNALS_KEY}": the true statements (an empty list if none)')
    question += "."
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(properties)}
    if defs:
        schema["$defs"] = defs
    model = request.response_model

    def decode(answer: Any) -> Any:
        if not isinstance(answer, Mapping) or key not in answer:
            return json.dumps(answer, ensure_ascii=False, default=str)
        if issubclass(model, RootModel):
            return validated(model, answer[key])
        data: dict[str, Any] = {key: answer[key]}
        if statements:
            data["selected_signals"] = _selected(answer.get(_SIGNALS_KEY), statements)
        return validated(model, data)

    return Composed(_messages(request, question), schema, decode)


def _selected(chosen: Any, statements: Mapping[str, str]) -> list[str]:
    """§7.4's list of selected signals, in the node's order, from the statements the model chose."""
    chosen = [chosen] if isinstance(chosen, str) else chosen if isinstance(chosen, list) else []
    return [name for text, name in statements.items() if text in chosen]


def decide(tool_name: str | None, arguments: Any = None) -> dict[str, Any]:
    """A router decision as the engine reads it (``RouterDecision``)."""
    if not tool_name or tool_name == FINISH:
        return {"action": "finish"}
    return {"action": "call_tool", "tool_name": tool_name,
            "arguments": arguments if isinstance(arguments, Mapping) else None}


def _tool_lines(tools: tuple[ToolSpec, ...]) -> str:
    return "\n".join(f"- {t.name}: {t.description}" if t.description else f"- {t.name}" for t in tools)


def _called(request: LlmRequest) -> str:
    """A reminder of the tools already answered, so a small model finishes instead of calling again."""
    names = list(dict.fromkeys(str(e.get("tool_name")) for e in request.history if e.get("role") == "tool"))
    if not names:
        return ""
    return f"\nAlready called: {', '.join(names)}; their results are above."


def _route(request: LlmRequest, native: bool) -> Composed:
    """Router stage: provider tools (native), or one schema-constrained ``{"tool", "arguments"}`` choice.

    Once a tool has answered, the JSON choice offers ``{"final_answer": …}``
    first: asked for ``{"tool": "finish"}``, a 0.5B model called the same tool
    again until ``max_iterations`` in every run of ``benchmarks/real_llm.py``,
    while a final answer to write is what it reaches for after a result. The
    text is not kept: the response stage writes the node's answer.
    """
    if native:
        question = ("Call the tool the task needs next. When the task is complete, answer without "
                    "calling a tool." + _called(request))
        return Composed(_messages(request, question), None, lambda answer: answer, request.tools)
    choices = [{"type": "object", "required": ["tool", "arguments"],
                "properties": {"tool": {"const": t.name}, "arguments": t.parameters}}
               for t in request.tools]
    if _called(request):
        question = (f'If the tool results above answer the task, give the final answer as "{FINAL_ANSWER}"; '
                    'otherwise choose the tool still needed ("tool") and its arguments. Tools:\n')
        choices.insert(0, {"type": "object", "required": [FINAL_ANSWER],
                           "properties": {FINAL_ANSWER: {"type": "string"}}})
    else:
        question = f'Choose the tool the task needs next and give its arguments, or "{FINISH}" when the task is complete. Tools:\n'
        choices.append({"type": "object", "required": ["tool"], "properties": {"tool": {"const": FINISH}}})

    def decode(answer: Any) -> Any:
        if not isinstance(answer, Mapping):
            return json.dumps(answer, ensure_ascii=False, default=str)
        if FINAL_ANSWER in answer:
            return decide(FINISH)
        return decide(answer.get("tool"), answer.get("arguments"))

    return Composed(_messages(request, question + _tool_lines(request.tools)), {"anyOf": choices}, decode)


def _parameters(request: LlmRequest) -> Composed:
    """Parameter stage (a router answer without valid arguments): the tool's argument object."""
    schema = request.response_model.model_json_schema()
    schema.pop("title", None)
    question = f"Give the arguments to call the tool {request.tool_name} with, as JSON."
    return Composed(_messages(request, question), schema,
                    lambda answer: validated(request.response_model, answer))


def compose(request: LlmRequest, native_tools: bool) -> Composed:
    """The provider-neutral layout of ``request``; ``native_tools`` picks the router mode."""
    if request.stage == "router":
        return _route(request, native_tools)
    if request.stage == "parameter":
        return _parameters(request)
    return _answer(request)


def read_text(composed: Composed, text: str) -> Any:
    """Decode a text answer; text that is not JSON goes back as is, so the engine retries with feedback."""
    try:
        answer = json.loads(extract_json_text(text))
    except ValueError:
        return text
    return composed.decode(answer)


def merged_options(model: str, defaults: Mapping[str, Any], request: LlmRequest) -> dict[str, Any]:
    """The body's model and options: the adapter's, overridden by the node's (``model`` included)."""
    return {"model": model, **defaults, **request.options}
