"""The structured request (``soe.llm.request``) through the shipped adapters, against local fake servers.

Each test runs a workflow through the engine with ``soe.llm.openai`` or
``soe.llm.anthropic`` pointed at a ``ThreadingHTTPServer`` on 127.0.0.1 and
asserts the exact request bodies and what the engine made of the answers.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from conftest import events, run
from fake_provider import (
    FakeProvider,
    Reply,
    anthropic_call,
    anthropic_ok,
    isolate_provider_env,
    openai_error,
    openai_ok,
    openai_tool_call,
    text_block,
    tool_use,
)
from pydantic import Field

from soe.llm import ProviderError, anthropic, litellm, openai
from soe.llm.request import LlmRequest, StructuredLLM, structured_llm

FAST = {"backoff_base": 0.001}


@pytest.fixture
def server() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_provider_env(monkeypatch)


def go(config: Any, backends: Any, **kwargs: Any) -> str:
    """Run the ``desk`` workflow of ``config``."""
    return run(config, backends, workflow="desk", **kwargs)


def gpt(server: FakeProvider, **options: Any) -> Any:
    return openai("gpt-test", base_url=f"{server.url}/v1", api_key="sk-secret", **{**FAST, **options})


def claude(server: FakeProvider, **options: Any) -> Any:
    return anthropic("claude-test", base_url=server.url, api_key="ak-secret", **{**FAST, **options})


def classify_config(**node: Any) -> dict[str, Any]:
    """A support-desk classifier: an identity, a described schema field, two selectable signals."""
    return {
        "workflows": {"desk": {
            "Classify": {
                "node_type": "llm", "event_triggers": ["START"], "identity": "support",
                "prompt": "Classify: {{ context.message }}", "output_field": "sentiment",
                "event_emissions": [
                    {"signal_name": "ESCALATE", "condition": "the customer is angry"},
                    {"signal_name": "THANK", "condition": "the customer is happy"},
                ],
                **node,
            },
            "Reply": {"node_type": "llm", "event_triggers": ["ESCALATE"], "identity": "support",
                      "prompt": "Write a reply", "output_field": "reply"},
        }},
        "identities": {"support": "You are a support agent."},
        "context_schema": {"sentiment": {"type": "string", "description": "positive or negative"}},
    }


CLASSIFY_TEXT = "Classify: I am furious"
CLASSIFY_FORMAT = 'Answer in JSON with "sentiment": positive or negative'


def test_context_is_sent_only_when_the_prompt_does_not_already_show_it(server: FakeProvider, backends: Any) -> None:
    server.answer(openai_ok('{"sentiment": "negative"}'))
    config = classify_config(prompt="{% if context.vip %}Important! {% endif %}Classify: {{ context.message }}")
    config["workflows"]["desk"]["Classify"].pop("event_emissions")
    go(config, backends, context={"message": "I am furious", "vip": True}, call_llm=gpt(server))
    assert server.bodies[0]["messages"][-1]["content"] == (
        'Important! Classify: I am furious\n\nContext:\n{\n  "vip": true,\n  "message": "I am furious"\n}')


def test_llm_node_sends_identity_history_described_field_signal_statements_and_node_options(
        server: FakeProvider, backends: Any) -> None:
    server.answer(openai_ok('{"sentiment": "negative", "applies": ["the customer is angry"]}'),
                  openai_ok('{"reply": "Sorry!"}'))
    node = {"model": "small", "temperature": 0, "seed": 7, "max_tokens": 20, "top_p": 1, "stop": ["\n\n"],
            "llm_options": {"logprobs": False}}
    eid = go(classify_config(**node), backends, context={"message": "I am furious"},
              call_llm=gpt(server, temperature=0.5, frequency_penalty=0.1))
    first, second = server.bodies
    assert first == {
        "model": "small", "temperature": 0, "frequency_penalty": 0.1, "seed": 7, "max_tokens": 20,
        "top_p": 1, "stop": ["\n\n"], "logprobs": False,
        "messages": [
            {"role": "system", "content": "You are a support agent.\n\n"
             "Decide which of these statements about the message are true:\n"
             "- the customer is angry\n- the customer is happy\n\n"
             + CLASSIFY_FORMAT + ', and "applies": the true statements (an empty list if none).'},
            {"role": "user", "content": CLASSIFY_TEXT},
        ],
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "SentimentResponse", "strict": False, "schema": {
                "type": "object", "required": ["sentiment", "applies"], "properties": {
                    "sentiment": {"type": "string", "description": "positive or negative"},
                    "applies": {"type": "array", "maxItems": 2, "items": {
                        "type": "string", "enum": ["the customer is angry", "the customer is happy"]}}}}}},
    }
    # The second node: the adapter's own model, the earlier exchange as real chat turns.
    assert second["model"] == "gpt-test" and second["temperature"] == 0.5
    assert second["messages"] == [
        {"role": "system", "content": 'You are a support agent.\n\nAnswer in JSON with "reply": The reply value.'},
        {"role": "user", "content": "Classify: I am furious"},
        {"role": "assistant", "content": "negative"},
        {"role": "user", "content": "Write a reply"},
    ]
    ctx = backends.context.get_context(eid)
    assert (ctx["sentiment"], ctx["reply"]) == (["negative"], ["Sorry!"])


def test_exclusive_signals_are_one_enum_of_statements_and_the_choice_is_the_selection(
        server: FakeProvider, backends: Any) -> None:
    server.answer(openai_ok('{"sentiment": "positive", "applies": "the customer is happy"}'))
    eid = go(classify_config(exclusive_signals=True), backends, context={"message": "I am furious"},
              call_llm=gpt(server))
    [body] = server.bodies
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["applies"] == {
        "type": "string", "enum": ["the customer is angry", "the customer is happy"]}
    assert body["messages"][0]["content"].endswith(
        "Decide which one of these statements about the message is true:\n"
        "- the customer is angry\n- the customer is happy\n\n"
        + CLASSIFY_FORMAT + ', and "applies": the true statement.')
    [emitted] = [e for e in events(backends, eid, "signals_broadcast") if e["context"]["signals"] != ["START"]]
    assert emitted["context"]["signals"] == ["THANK"]


def test_root_model_value_is_asked_and_read_under_the_field_name(server: FakeProvider, backends: Any) -> None:
    config = classify_config()
    config["workflows"]["desk"]["Classify"].pop("event_emissions")
    config["context_schema"]["sentiment"] = {"type": "object", "properties": {
        "label": "string", "score": {"type": "integer", "description": "1 to 5"}}}
    server.answer(openai_ok('{"sentiment": {"label": "negative", "score": 1}}'))
    eid = go(config, backends, context={"message": "I am furious"}, call_llm=gpt(server))
    [body] = server.bodies
    assert body["response_format"]["json_schema"]["schema"] == {
        "type": "object", "required": ["sentiment"], "properties": {"sentiment": {
            "$ref": "#/$defs/SentimentRootNested"}},
        "$defs": {"SentimentRootNested": {
            "additionalProperties": True, "title": "SentimentRootNested", "type": "object",
            "required": ["label", "score"], "properties": {
                "label": {"title": "Label", "type": "string"},
                "score": {"description": "1 to 5", "title": "Score", "type": "integer"}}}},
    }
    # descriptions inside the value are told, since the grammar never shows them to the model
    assert body["messages"][0]["content"].endswith('\n\nAnswer in JSON with "sentiment":\n- score: 1 to 5.')
    assert backends.context.get_context(eid)["sentiment"] == [{"label": "negative", "score": 1}]


def test_truncated_json_is_retried_with_feedback_in_the_last_user_turn(server: FakeProvider, backends: Any) -> None:
    config = classify_config()
    config["workflows"]["desk"]["Classify"].pop("event_emissions")
    server.answer(openai_ok('{"sentiment": "nega'), openai_ok('{"sentiment": "negative"}'))
    eid = go(config, backends, context={"message": "I am furious"}, call_llm=gpt(server))
    first, second = (body["messages"][-1]["content"] for body in server.bodies)
    assert first == CLASSIFY_TEXT
    assert server.bodies[0]["messages"][0]["content"] == "You are a support agent.\n\n" + CLASSIFY_FORMAT + "."
    assert second.startswith(CLASSIFY_TEXT + '\n\nPrevious response: {"sentiment": "nega')
    assert "JSON parse error" in second or "Validation failed" in second
    assert backends.context.get_context(eid)["sentiment"] == ["negative"]
    assert len(events(backends, eid, "llm_call")) == 1  # retries are not requests (§7.6)


# --- agents ------------------------------------------------------------------------------------

def get_order(order_id: Annotated[str, Field(description="The order number, e.g. A1")]) -> str:
    """Look up an order's status."""
    return f"order {order_id}: shipped"


def refund(order_id: str, amount: float = 0.0) -> str:
    """Refund an order."""
    return f"refunded {order_id}"


def cancel(order_id: str) -> str:
    """Cancel an order."""
    return f"cancelled {order_id}"


AGENT = {"desk": {"Help": {
    "node_type": "agent", "event_triggers": ["START"], "prompt": "Where is order {{ context.order }}?",
    "tools": ["get_order", "refund", "cancel"], "output_field": "answer"}}}
TOOLS = {"get_order": get_order, "refund": refund, "cancel": cancel}
GET_ORDER_SCHEMA = {"type": "object", "required": ["order_id"], "properties": {
    "order_id": {"description": "The order number, e.g. A1", "title": "Order Id", "type": "string"}}}


def _calls(backends: Any, eid: str) -> list[Any]:
    return [(e["context"].get("stage"), e["context"].get("tool_args"))
            for e in events(backends, eid) if e["event_type"] in ("llm_call", "agent_tool_call")]


def test_openai_agent_uses_native_tool_calls_and_skips_the_parameter_stage(
        server: FakeProvider, backends: Any) -> None:
    server.answer(openai_tool_call("get_order", '{"order_id": "A1"}'), openai_ok("It has shipped."),
                  openai_ok('{"answer": "Order A1 has shipped."}'))
    eid = go(AGENT, backends, context={"order": "A1"}, call_llm=gpt(server), tools=TOOLS)
    route, again, respond = server.bodies
    assert route["tools"][0] == {"type": "function", "function": {
        "name": "get_order", "description": "Look up an order's status.", "parameters": GET_ORDER_SCHEMA}}
    assert [t["function"]["name"] for t in route["tools"]] == ["get_order", "refund", "cancel"]
    assert "response_format" not in route
    # the loop's tool results follow the prompt they answer
    assert again["messages"][-2:] == [{"role": "user", "content": "Where is order A1?"},
                                      {"role": "user", "content": "[Tool: get_order]\norder A1: shipped"}]
    assert again["messages"][0]["content"].endswith("\nAlready called: get_order; their results are above.")
    assert "tools" not in respond and respond["response_format"]["json_schema"]["name"] == "AnswerResponse"
    assert _calls(backends, eid) == [("router", None), (None, {"order_id": "A1"}), ("router", None),
                                     ("response", None)]
    assert backends.context.get_context(eid)["answer"] == ["Order A1 has shipped."]


def test_agent_json_mode_constrains_the_choice_by_schema(server: FakeProvider, backends: Any) -> None:
    server.answer(openai_ok('{"tool": "cancel", "arguments": {"order_id": "B2"}}'),
                  openai_ok('{"final_answer": "Cancelled."}'), openai_ok('{"answer": "Cancelled."}'))
    eid = go(AGENT, backends, context={"order": "B2"}, call_llm=gpt(server, tool_calling="json"), tools=TOOLS)
    route, again = server.bodies[:2]
    assert "tools" not in route
    choices = route["response_format"]["json_schema"]["schema"]["anyOf"]
    assert choices[0] == {"type": "object", "required": ["tool", "arguments"], "properties": {
        "tool": {"const": "get_order"}, "arguments": GET_ORDER_SCHEMA}}
    assert choices[-1] == {"type": "object", "required": ["tool"], "properties": {"tool": {"const": "finish"}}}
    assert route["messages"][0]["content"].endswith(
        'or "finish" when the task is complete. Tools:\n- get_order: Look up an order\'s status.\n'
        "- refund: Refund an order.\n- cancel: Cancel an order.")
    # after a tool result a final answer is offered first, and it finishes the loop
    after = again["response_format"]["json_schema"]["schema"]["anyOf"]
    assert after[0] == {"type": "object", "required": ["final_answer"],
                        "properties": {"final_answer": {"type": "string"}}}
    assert after[1:] == choices[:-1]
    assert again["messages"][0]["content"].startswith(
        'If the tool results above answer the task, give the final answer as "final_answer"; '
        'otherwise choose the tool still needed ("tool") and its arguments. Tools:\n- get_order: ')
    assert _calls(backends, eid) == [("router", None), (None, {"order_id": "B2"}), ("router", None),
                                     ("response", None)]


def test_router_arguments_that_do_not_fit_fall_back_to_the_parameter_stage(
        server: FakeProvider, backends: Any) -> None:
    server.answer(openai_tool_call("get_order", '{"order": 5}'), openai_ok('{"order_id": "A1"}'),
                  openai_ok(None), openai_ok('{"answer": "Shipped."}'))
    eid = go(AGENT, backends, context={"order": "A1"}, call_llm=gpt(server), tools=TOOLS)
    parameter = server.bodies[1]
    assert parameter["response_format"]["json_schema"]["schema"] == GET_ORDER_SCHEMA
    assert parameter["messages"][0]["content"].endswith("Give the arguments to call the tool get_order with, as JSON.")
    assert _calls(backends, eid) == [("router", None), ("parameter", None), (None, {"order_id": "A1"}),
                                     ("router", None), ("response", None)]


def test_anthropic_agent_uses_tool_use_and_the_node_gets_a_system_field(server: FakeProvider, backends: Any) -> None:
    server.answer(anthropic_ok(text_block("Checking."), anthropic_call("get_order", {"order_id": "A1"})),
                  anthropic_ok(text_block("Done.")), anthropic_ok(tool_use({"answer": "Shipped."})))
    config = {"workflows": AGENT, "identities": {"clerk": "You are a clerk."}}
    config["workflows"]["desk"]["Help"] = {**AGENT["desk"]["Help"], "identity": "clerk", "temperature": 0}
    eid = go(config, backends, context={"order": "A1"}, call_llm=claude(server), tools=TOOLS)
    route, _, respond = server.bodies
    assert route["system"].startswith("You are a clerk.\n\nCall the tool the task needs next.")
    assert route["temperature"] == 0 and route["max_tokens"] == 1024
    assert route["tools"][0] == {"name": "get_order", "description": "Look up an order's status.",
                                 "input_schema": GET_ORDER_SCHEMA}
    assert "tool_choice" not in route
    assert respond["tool_choice"] == {"type": "tool", "name": "respond"}
    assert respond["tools"][0]["input_schema"] == {"type": "object", "required": ["answer"], "properties": {
        "answer": {"description": "The answer value", "type": "string"}}}
    assert backends.context.get_context(eid)["answer"] == ["Shipped."]


def test_anthropic_llm_node_body(server: FakeProvider, backends: Any) -> None:
    server.answer(anthropic_ok(tool_use({"sentiment": "positive", "applies": ["the customer is happy"]})))
    config = classify_config(max_tokens=50, top_p=0.9)
    go(config, backends, context={"message": "I am furious"}, call_llm=claude(server))
    [body] = server.bodies
    assert body["model"] == "claude-test" and body["max_tokens"] == 50 and body["top_p"] == 0.9
    assert body["system"].startswith("You are a support agent.\n\nDecide which of these statements")
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert body["tools"][0]["input_schema"]["properties"]["applies"]["items"]["enum"] == [
        "the customer is angry", "the customer is happy"]


# --- errors ------------------------------------------------------------------------------------

def test_401_is_a_provider_error_with_status_and_request_id_never_the_key(
        server: FakeProvider, backends: Any) -> None:
    server.answer(Reply(401, {"error": {"message": "Incorrect API key provided: sk-s***"}},
                        {"x-request-id": "req_123"}))
    with pytest.raises(ProviderError) as info:
        go(classify_config(), backends, context={"message": "hi"}, call_llm=gpt(server))
    error = info.value
    assert (error.status, error.provider, error.request_id, error.retryable) == (401, "openai", "req_123", False)
    assert "sk-secret" not in str(error) and "sk-secret" not in repr(vars(error))
    assert len(server.requests) == 1


def test_429_then_success_is_retried_by_the_adapter(server: FakeProvider, backends: Any) -> None:
    config = classify_config()
    config["workflows"]["desk"]["Classify"].pop("event_emissions")
    server.answer(openai_error(429, "slow down", {"Retry-After": "0"}), openai_ok('{"sentiment": "positive"}'))
    eid = go(config, backends, context={"message": "hi"}, call_llm=gpt(server))
    assert backends.context.get_context(eid)["sentiment"] == ["positive"]
    assert len(server.requests) == 2


def test_500_exhausted_reaches_the_caller_as_provider_error(server: FakeProvider, backends: Any) -> None:
    server.answer(Reply(500, {"type": "error", "error": {"message": "overloaded"}}, {"request-id": "req_9"}))
    with pytest.raises(ProviderError) as info:
        go(classify_config(), backends, context={"message": "hi"}, call_llm=claude(server, max_retries=1))
    assert (info.value.status, info.value.request_id, info.value.retryable) == (500, "req_9", True)
    assert len(server.requests) == 2


# --- the protocol ------------------------------------------------------------------------------

def test_a_third_party_adapter_declares_the_protocol_and_gets_the_parts(backends: Any) -> None:
    seen: list[LlmRequest] = []

    @structured_llm
    def mine(request: LlmRequest) -> dict[str, Any]:
        seen.append(request)
        return {request.output_field: "negative", "selected_signals": ["ESCALATE"] if request.signals else []}

    assert isinstance(mine, StructuredLLM)
    config = classify_config(temperature=0, exclusive_signals=True)
    go(config, backends, context={"message": "I am furious"}, call_llm=mine)
    first = seen[0]
    assert (first.stage, first.prompt, first.system, first.output_field) == (
        "llm", "Classify: I am furious", "You are a support agent.", "sentiment")
    assert first.field_description == "positive or negative" and first.exclusive_signals is True
    assert [(s.name, s.description) for s in first.signals] == [
        ("ESCALATE", "the customer is angry"), ("THANK", "the customer is happy")]
    assert first.options == {"temperature": 0}
    assert json.loads(first.text.split("\n\n")[0])["prompt"] == "Classify: I am furious"  # §7.2 text too
    second = seen[1]
    assert second.history == ({"role": "user", "content": "Classify: I am furious"},
                              {"role": "assistant", "content": "negative"})
    assert second.options == {} and second.signals == ()


def test_user_callables_still_get_section_7_exactly(backends: Any) -> None:
    calls: list[Any] = []

    def call_llm(messages: list[dict[str, Any]], response_model: Any) -> str:
        calls.append(messages)
        return '{"sentiment": "negative", "selected_signals": []}'

    config = classify_config(temperature=0)
    go(config, backends, context={"message": "I am furious"}, call_llm=call_llm)
    [[message]] = calls
    assert message["role"] == "user"
    assert message["content"].startswith(
        '{"prompt":"Classify: I am furious","context":"{\\n  \\"message\\": \\"I am furious\\"\\n}",'
        '"conversation_history":"[system]: You are a support agent."}\n\n'
        "Respond ONLY with a valid JSON object matching this schema:\n")


def test_litellm_takes_the_request_with_node_options_and_native_tool_calls(
        monkeypatch: pytest.MonkeyPatch, backends: Any) -> None:
    answers = [
        {"choices": [{"message": {"content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "refund", "arguments": '{"order_id": "C3"}'}}]}}]},
        {"choices": [{"message": {"content": "done"}}]},
        {"choices": [{"message": {"content": '{"answer": "Refunded."}'}}]},
    ]
    calls: list[dict[str, Any]] = []

    def completion(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return answers[len(calls) - 1]

    monkeypatch.setitem(sys.modules, "litellm", types.SimpleNamespace(completion=completion))
    config = {"desk": {"Help": {**AGENT["desk"]["Help"], "model": "ollama/qwen", "seed": 3}}}
    eid = go(config, backends, context={"order": "C3"}, call_llm=litellm("ollama/llama3", temperature=0),
             tools=TOOLS)
    assert (calls[0]["model"], calls[0]["seed"], calls[0]["temperature"]) == ("ollama/qwen", 3, 0)
    assert [t["function"]["name"] for t in calls[0]["tools"]] == ["get_order", "refund", "cancel"]
    assert _calls(backends, eid) == [("router", None), (None, {"order_id": "C3", "amount": 0.0}),
                                     ("router", None), ("response", None)]
    assert backends.context.get_context(eid)["answer"] == ["Refunded."]


@pytest.mark.parametrize(("factory", "message"), [
    (lambda: openai("m", base_url="http://127.0.0.1:9/v1", tool_calling="xml"), "tool_calling must be"),
    (lambda: anthropic("m", api_key="k", tool_calling="json"), "always uses native tool_use"),
])
def test_a_bad_tool_calling_mode_is_refused_at_creation(factory: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()


def test_signals_without_a_condition_or_sharing_one_still_decode_to_one_name_each() -> None:
    from pydantic import create_model

    from soe.llm.providers._compose import compose
    from soe.llm.request import SignalOption

    model = create_model("NoteResponse", note=(str, ...), selected_signals=(list[str], []))
    request = LlmRequest(stage="llm", prompt="p", response_model=model, text="p", output_field="note",
                         signals=(SignalOption("DONE"), SignalOption("A", "same"), SignalOption("B", "same")))
    composed = compose(request, native_tools=False)
    assert composed.schema["properties"]["applies"]["items"]["enum"] == ["DONE", "A: same", "B: same"]
    decoded = composed.decode({"note": "n", "applies": ["B: same", "DONE", "not an option"]})
    assert decoded.selected_signals == ["DONE", "B"]  # the node's order; unknown statements dropped
    assert composed.decode({"note": "n", "applies": "nonsense"}).selected_signals == []
