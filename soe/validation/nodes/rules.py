"""Checks shared by the node-config validators (SPEC §13.2) and runtime validators (§13.3).

The five node types repeat the same kinds of checks (triggers, emissions,
output field, typed optional keys) with different wording. Keeping each check
here once, parametrised by its message, means a fix to a rule lands in every
node type at the same time; the node modules only hold their own texts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from jinja2 import TemplateSyntaxError

from soe._errors import ConfigShapeError, OperationalValidationError, WorkflowValidationError
from soe.lib.recent import RecentMap
from soe.lib.snapshot import FrozenDict, registry_snapshot
from soe.lib.templating import compile_template, has_template_syntax
from soe.types import Backends

__all__ = [
    "LlmStyleTexts",
    "OPERATIONAL_FIELD",
    "check_count",
    "check_emissions",
    "check_optional_type",
    "check_not_reserved",
    "check_output_field",
    "check_required",
    "check_timeout",
    "check_tool_emissions",
    "check_triggers",
    "is_int_at_least",
    "read_workflow_backend",
    "reject_present",
    "require_mapping",
    "template_syntax_error",
    "template_strings",
    "validate_llm_style",
    "validate_once",
]

OPERATIONAL_FIELD = "__operational__"

# §13.2 says "non-int or negative" for retries; a bool is rejected too, as
# max_iterations spells out for itself: YAML's ``retries: yes`` is a mistake, not 1.
_RETRIES_MSG = "'retries' must be a positive integer (default is 3)"
_IDENTITY_MSG = "'identity' must be a string - used to persist conversation history across executions"
_FAILURE_SIGNAL_MSG = (
    "'llm_failure_signal' must be a string - the signal to emit when LLM call fails"
)
_LLM_OPTIONS_MSG = "'llm_options' must be a mapping - provider options sent with the request, e.g. {logprobs: true}"
_TIMEOUT_MSG = ("'timeout' must be a positive number of seconds - how long each LLM or tool call of this "
                "node may take (overrides limits.max_call_seconds)")
_EXCLUSIVE_MSG = "'exclusive_signals' must be true or false - whether exactly one signal is selected"


# (validator, node config) pairs that passed, kept with the config so an id is never mistaken
_PASSED: RecentMap[tuple[int, int], Any] = RecentMap(10_000)


def validate_once(validate: Callable[[Any], None], node_config: Any) -> None:
    """Run ``validate`` on ``node_config`` unless it already passed on this very snapshot.

    Every activation re-checks its node's config (SPEC §13.3), but a registry
    snapshot cannot change, so its configs need checking only once per process.
    A plain ``dict`` can change between activations and is checked every time.
    """
    if type(node_config) is not FrozenDict:
        validate(node_config)
        return
    key = (id(validate), id(node_config))
    if _PASSED.get(key) is node_config:
        return
    validate(node_config)
    _PASSED.put(key, node_config)


def _fail(msg: str, cause: BaseException | None = None) -> NoReturn:
    """Raise the validation error every node check reports; ``cause`` keeps the chain."""
    error = WorkflowValidationError(msg)
    if cause is None:
        raise error
    raise error from cause


def require_mapping(node_config: Any) -> None:
    """A node caller may be handed anything; a non-mapping must fail as Q28's error, not ``.get``."""
    if not isinstance(node_config, Mapping):
        msg = f"node config must be a mapping, got {type(node_config).__name__}"
        raise ConfigShapeError(msg)


def is_int_at_least(value: Any, minimum: int) -> bool:
    """An ``int`` (never a ``bool``: YAML's ``yes`` is not a count) of at least ``minimum``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def check_required(
    node_config: Mapping[str, Any], key: str, kind: type, required_msg: str, type_msg: str
) -> None:
    """A required key: missing or empty is "required"; a value not of ``kind`` is rejected."""
    value = node_config.get(key)
    if not value:
        _fail(required_msg)
    if not isinstance(value, kind):
        _fail(type_msg)


def check_triggers(node_config: Mapping[str, Any], required_msg: str, list_msg: str) -> None:
    """``event_triggers``, required by every node type: a node nothing triggers never runs."""
    check_required(node_config, "event_triggers", list, required_msg, list_msg)


def check_optional_type(node_config: Mapping[str, Any], key: str, kind: type, msg: str) -> None:
    """An optional key may be absent or ``None``; when set it must be of ``kind``."""
    value = node_config.get(key)
    if value is not None and not isinstance(value, kind):
        _fail(msg)


def reject_present(node_config: Mapping[str, Any], key: str, msg: str) -> None:
    """Retired keys (``input_fields`` on LLM/agent nodes) fail loudly instead of being ignored."""
    if node_config.get(key) is not None:
        _fail(msg)


def check_count(node_config: Mapping[str, Any], key: str, minimum: int, msg: str) -> None:
    """An optional integer setting (retries, iterations) of at least ``minimum``."""
    value = node_config.get(key)
    if value is not None and not is_int_at_least(value, minimum):
        _fail(msg)


def check_timeout(node_config: Mapping[str, Any]) -> None:
    """An optional per-call ``timeout``: a finite number of seconds above zero (never a bool)."""
    value = node_config.get("timeout")
    if value is None:
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not 0 < value < math.inf:
        _fail(_TIMEOUT_MSG)


def check_output_field(node_config: Mapping[str, Any], type_msg: str) -> None:
    """``output_field`` is a plain field name; writing ``__operational__`` would corrupt counters."""
    field = node_config.get("output_field")
    if field is None:
        return
    if not isinstance(field, str):
        _fail(type_msg)
    if field == OPERATIONAL_FIELD:
        _fail(f"'output_field' cannot be '{OPERATIONAL_FIELD}' - this is a reserved system field")
    check_not_reserved("output_field", field)


def check_not_reserved(key: str, field: Any) -> None:
    """A field a node writes must not be engine state: ``__parent__`` decides where a child reports."""
    if isinstance(field, str) and field.startswith("__"):
        _fail(f"'{key}' cannot be '{field}' - fields starting with '__' are reserved for the engine")


def _check_response_field(node_config: Mapping[str, Any]) -> None:
    """The LLM's response model has a field named ``output_field``; Pydantic refuses a leading ``_``."""
    field = node_config.get("output_field")
    if isinstance(field, str) and field.startswith("_"):
        _fail(f"'output_field' cannot start with '_' (got '{field}') - it names a field of the LLM's "
              "response, and response fields starting with '_' are not allowed")


def template_syntax_error(source: Any) -> TemplateSyntaxError | None:
    """Compile ``source`` when it holds template syntax; its syntax error, if any.

    Validation compiles with the engine's one environment so a template that
    passes here is exactly one that compiles at run time (unknown filters
    included). Nothing is rendered: unsafe access is caught when it runs.
    """
    if not isinstance(source, str) or not has_template_syntax(source):
        return None
    try:
        compile_template(source)
    except TemplateSyntaxError as exc:
        return exc
    return None


def _check_emission_item(index: int, item: Any) -> None:
    """One 1-based emission entry: a mapping with a truthy ``signal_name`` and string condition."""
    if not isinstance(item, Mapping):
        _fail(f"Each event_emission must be an object with 'signal_name', got invalid item at position {index}")
    if not item.get("signal_name"):
        _fail(f"Event emission at position {index} is missing 'signal_name'")
    condition = item.get("condition")
    if condition is not None and not isinstance(condition, str):
        _fail(f"Event emission at position {index} has invalid 'condition' - must be a jinja string")


def _check_condition_template(signal: Any, condition: Any) -> None:
    """Router conditions are syntax-checked (as upstream); only filter trouble beyond syntax counts."""
    try:
        error = template_syntax_error(condition)
    except Exception as exc:  # noqa: BLE001 - §13.2 reports only the filter-related ones
        if "filter" in str(exc):
            _fail(f"Event emission '{signal}' condition: {exc}", exc)
        return
    if error is not None:
        _fail(f"Event emission '{signal}' condition: Jinja syntax error - {error.message}", error)


def check_emissions(
    node_config: Mapping[str, Any],
    *,
    required_msg: str | None = None,
    check_conditions: bool = False,
) -> None:
    """``event_emissions`` in the 1-based "position" style (router, llm, agent, child).

    ``required_msg`` makes a missing or empty list an error (routers exist only
    to emit); ``check_conditions`` compiles templated conditions (routers only).
    """
    emissions = node_config.get("event_emissions")
    if required_msg is not None and not emissions:
        _fail(required_msg)
    if emissions is None:
        return
    if not isinstance(emissions, list):
        _fail("'event_emissions' must be a list of signal definitions")
    for index, item in enumerate(emissions, start=1):
        _check_emission_item(index, item)
        if check_conditions:
            _check_condition_template(item["signal_name"], item.get("condition"))


def check_tool_emissions(node_config: Mapping[str, Any]) -> None:
    """``event_emissions`` in the tool node's 0-based ``'event_emissions[i]'`` style."""
    emissions = node_config.get("event_emissions")
    if emissions is None:
        return
    if not isinstance(emissions, list):
        _fail("'event_emissions' must be a list of signal definitions")
    for index, item in enumerate(emissions):
        if not isinstance(item, Mapping):
            _fail(f"'event_emissions[{index}]' must be a dict with 'signal_name'")
        if "signal_name" not in item:
            _fail(f"'event_emissions[{index}]' must have 'signal_name'")


def template_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every templated string inside ``value`` with its dotted path (``a.b[0].c``).

    Walks dicts and lists exactly as the tool node's deep render does, so
    every string that will be rendered is the one that gets syntax-checked.
    """
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from template_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from template_strings(item, f"{path}[{index}]")
    elif isinstance(value, str) and has_template_syntax(value):
        yield path, value


@dataclass(frozen=True)
class LlmStyleTexts:
    """The messages in which the LLM and agent validators differ (§13.2).

    ``max_iterations`` and ``tools`` are agent-only checks: ``None`` skips them.
    """

    triggers_required: str
    triggers_list: str
    prompt_required: str
    input_fields: str
    output_field: str
    max_iterations: str | None = None
    tools: str | None = None


def _check_prompt(node_config: Mapping[str, Any], required_msg: str) -> None:
    """The prompt is required and, when templated, must compile (§15 "Loud template failures")."""
    prompt = node_config.get("prompt")
    if not prompt:
        _fail(required_msg)
    error = template_syntax_error(prompt)
    if error is not None:
        _fail(f"'prompt' template: Jinja syntax error - {error.message}", error)


def validate_llm_style(node_config: Any, texts: LlmStyleTexts) -> None:
    """The LLM and agent rules, in §13.2's order; the agent adds two checks via ``texts``."""
    require_mapping(node_config)
    check_triggers(node_config, texts.triggers_required, texts.triggers_list)
    _check_prompt(node_config, texts.prompt_required)
    reject_present(node_config, "input_fields", texts.input_fields)
    check_output_field(node_config, texts.output_field)
    _check_response_field(node_config)
    check_count(node_config, "retries", 0, _RETRIES_MSG)
    if texts.max_iterations is not None:
        check_count(node_config, "max_iterations", 1, texts.max_iterations)
    check_emissions(node_config)
    if texts.tools is not None:
        check_optional_type(node_config, "tools", list, texts.tools)
    check_optional_type(node_config, "identity", str, _IDENTITY_MSG)
    check_optional_type(node_config, "llm_failure_signal", str, _FAILURE_SIGNAL_MSG)
    check_optional_type(node_config, "llm_options", Mapping, _LLM_OPTIONS_MSG)
    check_optional_type(node_config, "exclusive_signals", bool, _EXCLUSIVE_MSG)
    check_timeout(node_config)


def read_workflow_backend(backends: Backends, method: str, execution_id: str) -> Any:
    """One workflow-backend read for a runtime validator (§13.3).

    A node that cannot reach its registry would fail later with an obscure
    error; wrapping any failure here names the backend as the culprit.
    """
    try:
        if method == "get_workflows_registry":  # only read here: the snapshot spares a copy
            return registry_snapshot(backends.workflow, execution_id)
        return getattr(backends.workflow, method)(execution_id)
    except Exception as exc:
        msg = f"Cannot access workflow backend: {exc}"
        raise OperationalValidationError(msg) from exc
