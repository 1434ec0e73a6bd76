"""The LLM call contract (SPEC §6.3, §7)."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ValidationError

from soe.lib.effects import run_inline
from soe.lib.schema_validation import root_model_for_field
from soe.llm import report_usage
from soe.llm.contract import (
    ROUTER_INSTRUCTIONS,
    RouterResponse,
    build_prompt_text,
    build_response_model,
    call_structured,
    coerce_response,
    detect_call_form,
    error_feedback,
    extract_output,
    extract_selected_signals,
    format_instructions,
    parameter_model_for,
    parse_response_text,
    router_instructions,
    signal_options,
)

SUMMARY_PAYLOAD = {
    "prompt": "Summarize hello",
    "context": json.dumps({"text": "hello"}, indent=2),
    "conversation_history": "",
}
SUMMARY_PROMPT = (
    '{"prompt":"Summarize hello","context":"{\\n  \\"text\\": \\"hello\\"\\n}",'
    '"conversation_history":""}\n'
    "\n"
    "Respond ONLY with a valid JSON object matching this schema:\n"
    '{"properties": {"summary": {"description": "The summary value", "title": "Summary"}}, '
    '"required": ["summary"], "title": "SummaryResponse", "type": "object"}\n'
    "Do not return the schema itself. Return a JSON instance of the schema."
)
MISSING_SUMMARY_FEEDBACK = (
    "\n\nValidation failed. Fix these fields:\n"
    "  - summary: Field required\n"
    "\n"
    "Respond with valid JSON."
)
INVALID_JSON_FEEDBACK = (
    "\n\nValidation failed. Fix these fields:\n"
    "  - : Invalid JSON: expected ident at line 1 column 2\n"
    "\n"
    "Respond with valid JSON."
)
EMISSIONS = [
    {"signal_name": "FRIENDLY", "condition": "The reply is warm"},
    {"signal_name": "FORMAL", "condition": "The reply is formal"},
]


def summary_model() -> type[BaseModel]:
    return build_response_model("summary", None, [])


class Recorder:
    """A messages-form call_llm answering from a script and recording each call."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, messages: list[dict[str, str]], response_model: type) -> Any:
        self.calls.append((messages, response_model))
        return self.answers.pop(0)


# --- prompt text -------------------------------------------------------------------------


def test_spec_example_prompt_text() -> None:
    assert build_prompt_text(SUMMARY_PAYLOAD, summary_model()) == SUMMARY_PROMPT


def test_payload_keeps_non_ascii() -> None:
    text = build_prompt_text({"prompt": "héllo ✓"}, summary_model())
    assert text.startswith('{"prompt":"héllo ✓"}\n\n')


def test_format_instructions_use_default_json_dumps() -> None:
    model = summary_model()
    assert format_instructions(model) == (
        "Respond ONLY with a valid JSON object matching this schema:\n"
        + json.dumps(model.model_json_schema())
        + "\nDo not return the schema itself. Return a JSON instance of the schema."
    )


def test_feedback_texts() -> None:
    with pytest.raises(ValidationError) as missing:
        parse_response_text("{}", summary_model())
    assert error_feedback(missing.value) == MISSING_SUMMARY_FEEDBACK
    with pytest.raises(ValidationError) as invalid:
        parse_response_text("nope", summary_model())
    assert error_feedback(invalid.value) == INVALID_JSON_FEEDBACK
    assert error_feedback(ValueError("bad")) == "\n\nJSON parse error: bad. Output valid JSON."


def test_feedback_joins_nested_locations() -> None:
    model = root_model_for_field(
        "profile", {"type": "object", "properties": {"address": {"type": "object", "properties": {"city": "str"}}}}
    )
    with pytest.raises(ValidationError) as exc:
        parse_response_text('{"address": {}}', model)
    assert "  - address.city: Field required\n" in error_feedback(exc.value)


def test_router_instructions() -> None:
    base = "Decide the next action: 'call_tool' to use a tool, or 'finish' if task is complete."
    assert ROUTER_INSTRUCTIONS["base"] == base
    assert router_instructions("initial") == (
        base + "\n\nINITIAL EXECUTION:\n"
        "1. Analyze the task and available context\n"
        "2. Determine if you need additional information from tools\n"
        "3. If tools are needed, choose 'call_tool' and specify which tool\n"
        "4. If you have enough information to complete the task, choose 'finish'\n\n"
        "IMPORTANT: Only call tools that are NECESSARY. Be selective."
    )
    assert router_instructions("tool_response").endswith(
        "choose 'finish'\n\nDo NOT re-call tools that already succeeded."
    )
    assert router_instructions("tool_error").startswith(base + "\n\nTOOL ERROR OCCURRED:\n")
    assert router_instructions("retry") == (
        base + "\n\nRETRY NEEDED:\n"
        "A system error occurred (e.g., invalid tool name). Review the error.\n\n"
        "RECOVERY:\n"
        "1. Check that tool names match available tools exactly\n"
        "2. Use a valid tool name and try again\n"
        "3. If no tools are needed, choose 'finish'"
    )
    assert router_instructions("unknown") == base
    assert router_instructions("base") == base


# --- call forms --------------------------------------------------------------------------


def test_detect_call_form_rules() -> None:
    def messages_form(messages, response_model): ...
    def only_response_model(x, response_model): ...
    def prompt_form(prompt, config): ...
    def only_config(text, config): ...
    def both(prompt, messages): ...
    def unknown(a, b): ...
    def variadic(*args): ...

    assert detect_call_form(messages_form) == "messages"
    assert detect_call_form(only_response_model) == "messages"
    assert detect_call_form(prompt_form) == "prompt"
    assert detect_call_form(only_config) == "prompt"
    assert detect_call_form(both) == "messages"
    assert detect_call_form(unknown) == "messages"
    assert detect_call_form(variadic) == "messages"
    assert detect_call_form(functools.partial(prompt_form)) == "prompt"


def test_detect_call_form_uninspectable_is_messages() -> None:
    class Uninspectable:
        __signature__ = "not a signature"

        def __call__(self, prompt, config): ...

    assert detect_call_form(Uninspectable()) == "messages"


def test_messages_form_call() -> None:
    llm = Recorder('{"summary": "hi"}')
    model = summary_model()
    result = run_inline(call_structured(llm, SUMMARY_PAYLOAD, model, 3, {"name": "N"}))
    assert llm.calls == [([{"role": "user", "content": SUMMARY_PROMPT}], model)]
    assert extract_output(result, "summary") == "hi"


def test_prompt_form_receives_node_config() -> None:
    seen = []
    node_config = {"name": "Summarize", "prompt": "x", "model": "small", "temperature": 0.1}

    def call_llm(prompt, config):
        seen.append((prompt, config))
        return '{"summary": "hi"}'

    run_inline(call_structured(call_llm, SUMMARY_PAYLOAD, summary_model(), 3, node_config))
    assert seen == [(SUMMARY_PROMPT, node_config)]
    assert seen[0][1] is node_config


# --- retries -----------------------------------------------------------------------------


def test_retry_feedback_accumulates() -> None:
    llm = Recorder("{}", "nope", '{"summary": "ok"}')
    result = run_inline(call_structured(llm, SUMMARY_PAYLOAD, summary_model(), 3, {}))
    assert extract_output(result, "summary") == "ok"
    prompts = [messages[0]["content"] for messages, _ in llm.calls]
    second = SUMMARY_PROMPT + "\n\nPrevious response: {}" + MISSING_SUMMARY_FEEDBACK
    third = second + "\n\nPrevious response: nope" + INVALID_JSON_FEEDBACK
    assert prompts == [SUMMARY_PROMPT, second, third]


def test_retries_exhausted() -> None:
    llm = Recorder(*["{}"] * 10)
    with pytest.raises(Exception) as exc:
        run_inline(call_structured(llm, SUMMARY_PAYLOAD, summary_model(), 2, {}))
    assert len(llm.calls) == 3
    assert str(exc.value).startswith(
        "Max retries (2) exceeded. Last error: 1 validation error for SummaryResponse\nsummary\n"
    )
    assert type(exc.value) is Exception


def test_zero_retries_means_one_call() -> None:
    llm = Recorder("{}", '{"summary": "late"}')
    with pytest.raises(Exception, match=r"^Max retries \(0\) exceeded"):
        run_inline(call_structured(llm, SUMMARY_PAYLOAD, summary_model(), 0, {}))
    assert len(llm.calls) == 1


def test_call_llm_exception_not_retried() -> None:
    calls = []

    def call_llm(messages, response_model):
        calls.append(1)
        raise ConnectionError("down")

    with pytest.raises(ConnectionError, match="down"):
        run_inline(call_structured(call_llm, SUMMARY_PAYLOAD, summary_model(), 3, {}))
    assert len(calls) == 1


def test_invalid_returned_object_uses_str_in_feedback() -> None:
    llm = Recorder({"wrong": 1}, {"summary": "ok"})
    run_inline(call_structured(llm, SUMMARY_PAYLOAD, summary_model(), 1, {}))
    second = llm.calls[1][0][0]["content"]
    assert second == SUMMARY_PROMPT + "\n\nPrevious response: {'wrong': 1}" + (
        "\n\nValidation failed. Fix these fields:\n  - summary: Field required\n\nRespond with valid JSON."
    )


# --- return handling ---------------------------------------------------------------------


class Other(BaseModel):
    summary: str
    extra: int = 0


class Weird:
    def __str__(self) -> str:
        return 'noise {"summary": "from str"} noise'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"summary": "text"}', "text"),
        (Other(summary="other"), "other"),
        ({"summary": "dict"}, "dict"),
        (Weird(), "from str"),
    ],
)
def test_return_handling_rows(value: Any, expected: str) -> None:
    result = coerce_response(value, summary_model())
    assert extract_output(result, "summary") == expected


def test_instance_of_response_model_is_accepted_as_is() -> None:
    model = summary_model()
    instance = model(summary="x")
    assert coerce_response(instance, model) is instance


def test_scalar_and_list_returns_validate_against_root_models() -> None:
    assert coerce_response(7, root_model_for_field("n", "integer")).root == 7
    assert coerce_response([1, "2"], root_model_for_field("xs", {"type": "list", "items": "int"})).root == [1, 2]
    assert coerce_response(None, root_model_for_field("v", "any")).root is None
    with pytest.raises(ValidationError):
        coerce_response(3.5, summary_model())


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"summary": "a"}',
        '  <think>{"summary": "no"}</think>\n{"summary": "a"}',
        '<think>\nstep {\n</think><think>x]</think>Here: {"summary": "a"} done',
        'Sure!\n```json\n{"summary": "a"}\n```\nbye',
        '```\n{"summary": "a"}\n```',
        'text {"summary": "a"} trailing {"summary": "b"}',
        '{"summary": "a", "note": "brace } and [ inside \\" quoted \\\\"} tail }',
    ],
)
def test_parse_variants(text: str) -> None:
    assert extract_output(parse_response_text(text, summary_model()), "summary") == "a"


def test_balanced_scan_counts_only_the_opening_bracket_type() -> None:
    model = root_model_for_field("xs", {"type": "list"})
    assert parse_response_text('values: [1, {"a": "]"}, [2]] end', model).root == [1, {"a": "]"}, [2]]


def test_unbalanced_takes_rest_of_text() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_response_text('prefix {"summary": "a"', summary_model())
    assert exc.value.errors()[0]["type"] == "json_invalid"


def test_lax_mode_string_to_int_root() -> None:
    model = root_model_for_field("count", "integer")
    assert parse_response_text('"42"', model).root == 42
    assert parse_response_text("42", model).root == 42


def test_bare_text_for_string_root_needs_json() -> None:
    model = root_model_for_field("title", "string")
    assert parse_response_text('"hello"', model).root == "hello"
    with pytest.raises(ValidationError):
        parse_response_text("hello", model)


# --- response models ---------------------------------------------------------------------


def test_signal_options() -> None:
    emissions = [
        {"signal_name": "A", "condition": "when a"},
        {"signal_name": "B"},
        {"signal_name": "", "condition": "dropped"},
        {"condition": "dropped"},
        {"signal_name": "C", "condition": None},
    ]
    assert signal_options(emissions) == [
        {"name": "A", "description": "when a"},
        {"name": "B", "description": ""},
        {"name": "C", "description": ""},
    ]
    assert signal_options(None) == []


def test_appendix_a_response_model() -> None:
    model = build_response_model("reply", None, signal_options(EMISSIONS))
    assert model.__name__ == "ReplyResponse"
    assert model.model_fields["reply"].annotation is Any
    assert model.model_fields["selected_signals"].annotation == list[Literal["FRIENDLY", "FORMAL"]]
    assert model.model_json_schema() == {
        "properties": {
            "reply": {"description": "The reply value", "title": "Reply"},
            "selected_signals": {
                "default": [],
                "description": "Select ALL signals that apply (can be none, one, or multiple):\n"
                "- FRIENDLY: The reply is warm\n- FORMAL: The reply is formal",
                "items": {"enum": ["FRIENDLY", "FORMAL"], "type": "string"},
                "title": "Selected Signals",
                "type": "array",
            },
        },
        "required": ["reply"],
        "title": "ReplyResponse",
        "type": "object",
    }
    result = parse_response_text('{"reply": "hi Ana", "selected_signals": ["FRIENDLY"]}', model)
    assert extract_output(result, "reply") == "hi Ana"
    assert extract_selected_signals(result) == ["FRIENDLY"]
    with pytest.raises(ValidationError):
        parse_response_text('{"reply": "x", "selected_signals": ["OTHER"]}', model)


def test_undescribed_option_line() -> None:
    model = build_response_model("r", None, [{"name": "A", "description": ""}, {"name": "B", "description": "b"}])
    description = model.model_json_schema()["properties"]["selected_signals"]["description"]
    assert description == "Select ALL signals that apply (can be none, one, or multiple):\n- A\n- B: b"


def test_root_model_without_options_is_returned_itself() -> None:
    root = root_model_for_field("count", "integer")
    assert build_response_model("count", root, []) is root
    assert build_response_model("count", root, None) is root


def test_root_model_with_options() -> None:
    root = root_model_for_field("count", "integer")
    model = build_response_model("count", root, [{"name": "A", "description": ""}, {"name": "B", "description": ""}])
    assert model.__name__ == "CountResponse"
    field = model.model_fields["count"]
    assert field.annotation is int and field.is_required()
    assert field.description == "The count value matching the expected schema"
    result = parse_response_text('{"count": "3", "selected_signals": ["B", "A"]}', model)
    assert extract_output(result, "count") == 3
    assert extract_selected_signals(result) == ["B", "A"]


def test_no_output_field() -> None:
    model = build_response_model(None, None, [])
    assert model.model_json_schema() == {
        "properties": {"output": {"description": "The final output/result", "title": "Output", "type": "string"}},
        "required": ["output"],
        "title": "DynamicResponse",
        "type": "object",
    }
    assert extract_output(parse_response_text('{"output": "done", "x": 1}', model), None) == "done"
    with pytest.raises(ValidationError):
        parse_response_text('{"output": 5}', model)
    assert extract_selected_signals(parse_response_text('{"output": "d"}', model)) == []


def test_response_models_are_cached() -> None:
    options = signal_options(EMISSIONS)
    assert build_response_model("reply", None, options) is build_response_model("reply", None, list(options))
    assert build_response_model("reply", None, []) is not build_response_model("reply", None, options)


def test_extra_keys_ignored_in_object_model() -> None:
    result = parse_response_text('{"summary": "s", "other": 1}', summary_model())
    assert result.model_dump() == {"summary": "s"}


def test_root_extraction_dumps_nested_models() -> None:
    root = root_model_for_field(
        "people",
        {"type": "list", "items": {"type": "object", "properties": {"name": "str"}}},
    )
    result = parse_response_text('[{"name": "a", "age": 3}]', root)
    assert extract_output(result, "people") == [{"name": "a", "age": 3}]
    assert extract_selected_signals(result) == []


def test_untyped_null_output() -> None:
    model = build_response_model("summary", None, [])
    assert extract_output(parse_response_text('{"summary": null}', model), "summary") is None


# --- agent stage models ------------------------------------------------------------------


def test_router_response_model() -> None:
    assert RouterResponse.model_json_schema() == {
        "description": "Output model for the Router stage.",
        "properties": {
            "action": {"enum": ["call_tool", "finish"], "title": "Action", "type": "string"},
            "tool_name": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "default": None,
                "description": "Name of the tool to call. Required if action is 'call_tool'.",
                "title": "Tool Name",
            },
        },
        "required": ["action"],
        "title": "RouterResponse",
        "type": "object",
    }
    parsed = parse_response_text('{"action": "finish", "result": "ignored"}', RouterResponse)
    assert parsed.action == "finish" and parsed.tool_name is None


def test_parameter_model() -> None:
    def search(query: str, limit: int = 5, raw=None, *args, **kwargs):
        """Search."""

    model = parameter_model_for(search)
    assert model.__name__ == "searchSchema"
    assert list(model.model_fields) == ["query", "limit", "raw"]
    assert model.model_fields["query"].is_required()
    assert model.model_fields["limit"].default == 5
    assert model.model_fields["raw"].annotation is Any
    assert parse_response_text('{"query": "q"}', model).model_dump() == {"query": "q", "limit": 5, "raw": None}
    assert parameter_model_for(search) is model


def test_parameter_model_unresolvable_annotation_is_any() -> None:
    def tool(x: NotDefinedAnywhere) -> None:  # noqa: F821
        ...

    assert parameter_model_for(tool).model_fields["x"].annotation is Any


# --- async and usage ---------------------------------------------------------------------


def test_async_call_llm_without_running_loop() -> None:
    async def call_llm(messages, response_model):
        await asyncio.sleep(0)
        report_usage(3, 4)
        return '{"summary": "async"}'

    usages = []
    result = run_inline(call_structured(call_llm, SUMMARY_PAYLOAD, summary_model(), 0, {}, after_call=usages.append))
    assert extract_output(result, "summary") == "async"
    assert [(u.prompt_tokens, u.completion_tokens) for u in usages] == [(3, 4)]


def test_async_call_llm_inside_running_loop() -> None:
    async def call_llm(messages, response_model):
        await asyncio.sleep(0)
        report_usage(1, 2)
        return '{"summary": "nested"}'

    usages = []

    async def main() -> Any:
        return run_inline(call_structured(call_llm, SUMMARY_PAYLOAD, summary_model(), 0, {}, after_call=usages.append))

    result = asyncio.run(main())
    assert extract_output(result, "summary") == "nested"
    assert [(u.prompt_tokens, u.completion_tokens) for u in usages] == [(1, 2)]


def test_usage_per_invocation() -> None:
    answers = iter(["{}", '{"summary": "ok"}', '{"summary": "x"}'])

    def call_llm(messages, response_model):
        report_usage(10, 1)
        report_usage(5, 1)
        return next(answers)

    usages = []
    run_inline(call_structured(call_llm, SUMMARY_PAYLOAD, summary_model(), 3, {}, after_call=usages.append))
    assert [(u.reported, u.prompt_tokens, u.completion_tokens) for u in usages] == [
        (True, 15, 2),
        (True, 15, 2),
    ]


def test_no_report_no_after_call() -> None:
    usages = []
    run_inline(call_structured(Recorder('{"summary": "x"}'), SUMMARY_PAYLOAD, summary_model(), 0, {}, after_call=usages.append))
    assert usages == []


def test_after_call_runs_before_result_is_used_and_can_stop_it() -> None:
    class Budget(Exception):
        pass

    calls = []

    def call_llm(messages, response_model):
        calls.append(1)
        report_usage(100, 100)
        return "not json"

    def after_call(usage):
        raise Budget("too many tokens")

    with pytest.raises(Budget):
        run_inline(call_structured(call_llm, SUMMARY_PAYLOAD, summary_model(), 3, {}, after_call=after_call))
    assert len(calls) == 1


def test_usage_reported_before_call_llm_raises_is_accounted() -> None:
    usages = []

    def call_llm(messages, response_model):
        report_usage(7, 0)
        raise RuntimeError("late failure")

    with pytest.raises(RuntimeError, match="late failure"):
        run_inline(call_structured(call_llm, SUMMARY_PAYLOAD, summary_model(), 3, {}, after_call=usages.append))
    assert [u.prompt_tokens for u in usages] == [7]
