"""The LLM call contract used by the llm and agent nodes (SPEC §7).

``call_structured`` is the one place that talks to a user's ``call_llm``: it
picks the call form, builds the exact prompt text, validates the answer and
retries with feedback. The pieces it is built from are re-exported here so a
node needs a single import.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, RootModel

from soe.lib.awaitables import resolve
from soe.lib.effects import Steps, Wait, journal_value
from soe.llm.models import (
    RouterDecision,
    RouterResponse,
    build_response_model,
    parameter_model_for,
    signal_options,
)
from soe.llm.parsing import (
    coerce_response,
    extract_output,
    extract_selected_signals,
    parse_response_text,
    response_text,
)
from soe.llm.prompts import (
    ROUTER_INSTRUCTIONS,
    build_prompt_text,
    error_feedback,
    format_instructions,
    retry_suffix,
    router_instructions,
)
from soe.llm.request import LlmRequest, accepts_request
from soe.llm.usage import Usage, collect_usage

__all__ = [
    "ROUTER_INSTRUCTIONS",
    "CallForm",
    "LlmOutcome",
    "LlmRequest",
    "RouterDecision",
    "RouterResponse",
    "accepts_request",
    "Usage",
    "build_prompt_text",
    "build_response_model",
    "call_structured",
    "coerce_response",
    "detect_call_form",
    "error_feedback",
    "extract_output",
    "extract_selected_signals",
    "format_instructions",
    "llm_wait",
    "parameter_model_for",
    "parse_response_text",
    "response_text",
    "router_instructions",
    "signal_options",
]

CallForm = Literal["messages", "prompt"]

_MESSAGES_NAMES = frozenset({"messages", "response_model"})
_PROMPT_NAMES = frozenset({"prompt", "config"})
_form_cache: weakref.WeakKeyDictionary[Any, CallForm] = weakref.WeakKeyDictionary()


def _inspect_call_form(call_llm: Callable[..., Any]) -> CallForm:
    try:
        names = set(inspect.signature(call_llm).parameters)
    except (TypeError, ValueError):
        return "messages"
    if names & _MESSAGES_NAMES:
        return "messages"
    if names & _PROMPT_NAMES:
        return "prompt"
    return "messages"


def detect_call_form(call_llm: Callable[..., Any]) -> CallForm:
    """Which of the two §7.1 forms ``call_llm`` takes, from its parameter names.

    Cached per callable when it can be weakly referenced, so a closure that
    holds backends is not kept alive by the cache.
    """
    try:
        return _form_cache[call_llm]
    except (KeyError, TypeError):
        pass
    form = _inspect_call_form(call_llm)
    try:
        _form_cache[call_llm] = form
    except TypeError:
        pass
    return form


@dataclass(frozen=True)
class LlmOutcome:
    """What one ``call_llm`` invocation produced: its answer or error, and the usage it reported."""

    value: Any = None
    usage: Usage | None = None
    error: Exception | None = None


def _call_once(call_llm: Callable[..., Any], args: tuple[Any, ...]) -> LlmOutcome:
    """The wait itself: one invocation with usage collected; never raises (the node decides)."""
    with collect_usage() as usage:
        try:
            value = resolve(call_llm(*args))
        except Exception as exc:  # returned, so the usage it reported is still accounted
            return LlmOutcome(usage=usage if usage.reported else None, error=exc)
    return LlmOutcome(value, usage if usage.reported else None)


def _encode_outcome(outcome: LlmOutcome) -> dict[str, Any] | None:
    if outcome.error is not None:
        return None
    try:
        record: dict[str, Any] = {"value": journal_value(outcome.value)}
    except (TypeError, ValueError):
        return None
    if isinstance(outcome.value, BaseModel):  # a root model's dump alone would read back as a plain-text answer
        record["model"] = True
    if outcome.usage is not None:
        record["usage"] = [outcome.usage.prompt_tokens, outcome.usage.completion_tokens]
    return record


def _decode_outcome(record: dict[str, Any]) -> LlmOutcome:
    usage = None
    if record.get("usage"):
        usage = Usage()
        usage.add(*record["usage"])
    value = record["value"]
    return LlmOutcome(_JournaledModel(value) if record.get("model") else value, usage)


class _JournaledModel(RootModel[Any]):
    """A journaled model answer: validated again from its dump, as the model instance was."""


def _model_name(call_llm: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """The model for tracing: a legacy config's ``model`` key, the adapter's ``model``, else its name."""
    configured = [arg.get("model") for arg in args if isinstance(arg, dict) and arg.get("model")]
    if configured:
        return str(configured[0])
    return str(getattr(call_llm, "model", None) or getattr(call_llm, "__name__", "call_llm"))


def llm_wait(call_llm: Callable[..., Any], args: tuple[Any, ...]) -> Wait:
    """One ``call_llm`` invocation as a journaled wait (a replay never pays for it twice)."""
    return Wait("llm", functools.partial(_call_once, call_llm, args),
                encode=_encode_outcome, decode=_decode_outcome,
                attributes={"gen_ai.operation.name": "chat",
                            "gen_ai.request.model": _model_name(call_llm, args)})


def _invoke(call_llm: Callable[..., Any], args: tuple[Any, ...],
            after_call: Callable[[Usage], None] | None) -> Steps[Any]:
    """One invocation; its usage goes to ``after_call`` even when ``call_llm`` raised.

    The tokens were spent either way, and a budget check raised from
    ``after_call`` then takes precedence over the call's own error.
    """
    outcome: LlmOutcome = yield llm_wait(call_llm, args)
    if after_call is not None and outcome.usage is not None:
        after_call(outcome.usage)
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


def _arguments(call_llm: Callable[..., Any], form: CallForm, text: str, feedback: str,
               node_config: dict[str, Any], request: LlmRequest | None,
               response_model: type[BaseModel]) -> tuple[Any, ...]:
    """The positional arguments of one attempt in the callable's form."""
    if request is not None and accepts_request(call_llm):
        return (dataclasses.replace(request, text=text, feedback=feedback, response_model=response_model),)
    if form == "messages":
        return ([{"role": "user", "content": text}], response_model)
    return (text, node_config)


def call_structured(
    call_llm: Callable[..., Any],
    payload: dict[str, Any],
    response_model: type[BaseModel],
    retries: int,
    node_config: dict[str, Any],
    *,
    after_call: Callable[[Usage], None] | None = None,
    request: LlmRequest | None = None,
) -> Steps[BaseModel]:
    """One structured request: at most ``retries + 1`` calls, feedback appended each time.

    An answer that does not validate is a failed attempt; an exception raised
    by ``call_llm`` (or by ``after_call``, e.g. ``BudgetExceeded``) propagates
    at once and is never retried. ``after_call(usage)`` runs after every
    invocation that reported tokens, before its answer is used. A callable
    that declared the request protocol gets ``request`` (with this attempt's
    text and feedback) instead of §7's arguments; every other callable gets §7 unchanged.
    """
    form = detect_call_form(call_llm)
    text = build_prompt_text(payload, response_model)
    feedback = ""
    last_error: ValueError | None = None
    for _ in range(retries + 1):
        args = _arguments(call_llm, form, text, feedback, node_config, request, response_model)
        value = yield from _invoke(call_llm, args, after_call)
        try:
            return coerce_response(value, response_model)
        except ValueError as exc:
            last_error = exc
            suffix = retry_suffix(response_text(value), exc)
            text += suffix
            feedback += suffix
    raise Exception(f"Max retries ({retries}) exceeded. Last error: {last_error}")
