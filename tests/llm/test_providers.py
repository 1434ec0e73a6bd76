"""Provider adapters against local servers speaking each provider's wire protocol (SPEC §16.1, §16.2).

Every adapter talks to a ``ThreadingHTTPServer`` on 127.0.0.1 started in this
process; nothing here reaches the internet.
"""

from __future__ import annotations

import json
import socket
import sys
import types
import urllib.error
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import events
from fake_provider import (
    FakeProvider,
    Reply,
    anthropic_error,
    anthropic_ok,
    isolate_provider_env,
    openai_error,
    openai_ok,
    text_block,
    tool_use,
)
from pydantic import BaseModel

import soe.llm
from soe import create_all_nodes, orchestrate
from soe.lib.schema_validation import schema_to_root_model
from soe.llm import ProviderError, anthropic, litellm, llm_from_spec, openai
from soe.llm.usage import collect_usage
from soe.types import SoeError

FAST = {"backoff_base": 0.001}
USER = [{"role": "user", "content": "Say hi"}]


@pytest.fixture
def server() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_provider_env(monkeypatch)


class Answer(BaseModel):
    """A short answer."""

    summary: str
    score: int = 0


def gpt(server: FakeProvider, **options: Any) -> Any:
    return openai("gpt-test", base_url=f"{server.url}/v1", api_key="k", **{**FAST, **options})


def claude(server: FakeProvider, **options: Any) -> Any:
    return anthropic("claude-test", base_url=server.url, api_key="ak", **{**FAST, **options})


def headers_of(request: dict[str, Any]) -> dict[str, str]:
    return {name.lower(): value for name, value in request["headers"].items()}


# --- exports and specs -------------------------------------------------------------------------

def test_soe_llm_exports() -> None:
    assert {"report_usage", "ProviderError", "openai", "anthropic", "litellm", "echo",
            "llm_from_spec"} <= set(soe.llm.__all__)
    assert all(callable(getattr(soe.llm, name)) for name in soe.llm.__all__)
    assert issubclass(ProviderError, SoeError)


def test_llm_from_spec_builds_each_adapter(server: FakeProvider) -> None:
    server.answer(openai_ok("plain"))
    call = llm_from_spec("openai:gpt-test", base_url=f"{server.url}/v1", api_key="k")
    assert call(USER, None) == "plain"
    assert server.bodies[0]["model"] == "gpt-test"
    assert callable(llm_from_spec("anthropic:claude-test", api_key="k"))
    assert llm_from_spec(" echo ")(USER, None) == "[echo] Say hi"


@pytest.mark.parametrize("spec", ["", "gpt-4o", "openai", "openai:", "foo:bar", "echo:x", "azure:m"])
def test_llm_from_spec_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        llm_from_spec(spec)
    message = str(info.value)
    for form in ("openai:MODEL", "anthropic:MODEL", "litellm:MODEL", "echo"):
        assert form in message


# --- OpenAI ------------------------------------------------------------------------------------

def test_openai_request_and_structured_success(server: FakeProvider) -> None:
    server.answer(openai_ok('{"summary": "hi", "score": 3}', 11, 7))
    with collect_usage() as usage:
        result = gpt(server, temperature=0.2)(USER, Answer)
    assert result == Answer(summary="hi", score=3)
    assert (usage.reported, usage.prompt_tokens, usage.completion_tokens) == (True, 11, 7)
    [request] = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert headers_of(request)["authorization"] == "Bearer k"
    assert headers_of(request)["content-type"] == "application/json"
    assert request["body"] == {
        "model": "gpt-test",
        "messages": USER,
        "temperature": 0.2,
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "Answer", "schema": Answer.model_json_schema(), "strict": False}},
    }


def test_openai_without_response_model_returns_text(server: FakeProvider) -> None:
    server.answer(openai_ok("hello there"))
    assert gpt(server)(USER, None) == "hello there"
    assert "response_format" not in server.bodies[0]


def test_openai_wraps_non_object_schema(server: FakeProvider) -> None:
    root = schema_to_root_model("integer", "ScoreRoot")
    server.answer(openai_ok('{"value": 42}'))
    result = gpt(server)(USER, root)
    assert isinstance(result, root) and result.root == 42
    sent = server.bodies[0]["response_format"]["json_schema"]
    assert sent["strict"] is False
    assert sent["schema"] == {"type": "object", "properties": {"value": root.model_json_schema()},
                              "required": ["value"]}


def test_openai_wrapping_hoists_defs_of_nested_root_model(server: FakeProvider) -> None:
    root = schema_to_root_model({"type": "object", "properties": {"name": "string"}}, "ProfileRoot")
    server.answer(openai_ok('{"value": {"name": "Ana"}}'))
    result = gpt(server)(USER, root)
    assert result.model_dump() == {"name": "Ana"}
    schema = server.bodies[0]["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["value"]
    assert schema["properties"]["value"]["$ref"] == "#/$defs/ProfileRootNested"
    assert "ProfileRootNested" in schema["$defs"]


def test_openai_api_key_from_environment(server: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    server.answer(openai_ok("ok"))
    openai("gpt-test", base_url=f"{server.url}/v1", **FAST)(USER, None)
    assert headers_of(server.requests[0])["authorization"] == "Bearer env-key"


def test_openai_missing_key_for_openai_itself_is_a_config_error_at_creation() -> None:
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        openai("gpt-test")


def test_openai_429_with_retry_after_is_retried(server: FakeProvider) -> None:
    server.answer(openai_error(429, "slow down", {"Retry-After": "0"}), openai_ok('{"summary": "ok"}'))
    assert gpt(server)(USER, Answer) == Answer(summary="ok")
    assert len(server.requests) == 2


def test_openai_500_then_success_is_retried(server: FakeProvider) -> None:
    server.answer(openai_error(500, "boom"), openai_ok('{"summary": "ok"}'))
    with collect_usage() as usage:
        assert gpt(server)(USER, Answer) == Answer(summary="ok")
    assert len(server.requests) == 2
    assert usage.prompt_tokens == 11


def test_openai_500_forever_raises_after_max_retries(server: FakeProvider) -> None:
    server.answer(openai_error(500, "server on fire"))
    with pytest.raises(ProviderError) as info:
        gpt(server, max_retries=2)(USER, Answer)
    error = info.value
    assert (error.provider, error.status, error.retryable) == ("openai", 500, True)
    assert "server on fire" in str(error)
    assert isinstance(error.__cause__, urllib.error.HTTPError)
    assert len(server.requests) == 3


def test_openai_400_raises_at_once_with_provider_message(server: FakeProvider) -> None:
    server.answer(openai_error(400, "Invalid schema for response_format 'Answer'"))
    with pytest.raises(ProviderError) as info:
        gpt(server)(USER, Answer)
    error = info.value
    assert (error.status, error.retryable) == (400, False)
    assert "Invalid schema for response_format 'Answer'" in str(error)
    assert len(server.requests) == 1


def test_openai_non_json_error_body_is_quoted(server: FakeProvider) -> None:
    server.answer(Reply(401, b"<html>Unauthorized</html>"))
    with pytest.raises(ProviderError, match="Unauthorized") as info:
        gpt(server)(USER, None)
    assert info.value.status == 401
    assert len(server.requests) == 1


@pytest.mark.parametrize("content", ['{"summary": "cut of', "not json at all", ""])
def test_openai_invalid_json_is_returned_as_raw_text(server: FakeProvider, content: str) -> None:
    server.answer(openai_ok(content))
    assert gpt(server)(USER, Answer) == content
    assert len(server.requests) == 1


@pytest.mark.parametrize("content", ['{"score": 1}', '{"summary": "x", "score": "many"}', '{"value": 1}'])
def test_openai_schema_violation_is_returned_as_raw_text(server: FakeProvider, content: str) -> None:
    server.answer(openai_ok(content))
    assert gpt(server)(USER, Answer) == content


def test_openai_wrapped_answer_without_value_is_raw_text(server: FakeProvider) -> None:
    server.answer(openai_ok("42"))
    assert gpt(server)(USER, schema_to_root_model("integer", "ScoreRoot")) == "42"


def test_openai_refusal_is_returned_as_text(server: FakeProvider) -> None:
    server.answer(Reply(200, {"choices": [{"message": {"content": None, "refusal": "I can't"}}]}))
    with collect_usage() as usage:
        assert gpt(server)(USER, Answer) == "I can't"
    assert not usage.reported


def test_connection_refused_is_retryable_provider_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    call = openai("gpt-test", base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=1, **FAST)
    with pytest.raises(ProviderError) as info:
        call(USER, None)
    assert (info.value.status, info.value.retryable) == (None, True)
    assert isinstance(info.value.__cause__, urllib.error.URLError)


# --- Anthropic ---------------------------------------------------------------------------------

def test_anthropic_request_and_tool_answer(server: FakeProvider) -> None:
    server.answer(anthropic_ok(tool_use({"summary": "hi", "score": 2}), input_tokens=20, output_tokens=4))
    messages = [{"role": "system", "content": "Be brief."}, *USER]
    with collect_usage() as usage:
        result = claude(server, temperature=0)(messages, Answer)
    assert result == Answer(summary="hi", score=2)
    assert (usage.prompt_tokens, usage.completion_tokens) == (20, 4)
    [request] = server.requests
    assert request["path"] == "/v1/messages"
    headers = headers_of(request)
    assert headers["x-api-key"] == "ak"
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    body = request["body"]
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 1024
    assert body["temperature"] == 0
    assert body["system"] == "Be brief."
    assert body["messages"] == USER
    [tool] = body["tools"]
    assert tool["name"] == "respond" and tool["description"]
    assert tool["input_schema"] == Answer.model_json_schema()
    assert body["tool_choice"] == {"type": "tool", "name": "respond"}


def test_anthropic_text_without_response_model(server: FakeProvider) -> None:
    server.answer(anthropic_ok(text_block("Hello "), text_block("world")))
    assert claude(server, max_tokens=50)(USER, None) == "Hello world"
    body = server.bodies[0]
    assert "tools" not in body and "tool_choice" not in body and "system" not in body
    assert body["max_tokens"] == 50


def test_anthropic_wraps_non_object_schema(server: FakeProvider) -> None:
    root = schema_to_root_model("integer", "ScoreRoot")
    server.answer(anthropic_ok(tool_use({"value": 7})))
    assert claude(server)(USER, root).root == 7
    schema = server.bodies[0]["tools"][0]["input_schema"]
    assert schema == {"type": "object", "properties": {"value": root.model_json_schema()},
                      "required": ["value"]}


def test_anthropic_invalid_tool_input_is_raw_text(server: FakeProvider) -> None:
    server.answer(anthropic_ok(tool_use({"score": "lots"})))
    assert json.loads(claude(server)(USER, Answer)) == {"score": "lots"}


def test_anthropic_text_instead_of_tool_is_parsed_or_returned(server: FakeProvider) -> None:
    server.answer(anthropic_ok(text_block('```json\n{"summary": "fenced"}\n```')),
                  anthropic_ok(text_block("no idea")))
    assert claude(server)(USER, Answer) == Answer(summary="fenced")
    assert claude(server)(USER, Answer) == "no idea"


def test_anthropic_overloaded_then_success(server: FakeProvider) -> None:
    server.answer(anthropic_error(529, "Overloaded"), anthropic_ok(tool_use({"summary": "ok"})))
    assert claude(server)(USER, Answer) == Answer(summary="ok")
    assert len(server.requests) == 2


def test_anthropic_400_raises_with_message(server: FakeProvider) -> None:
    server.answer(anthropic_error(400, "max_tokens: field required"))
    with pytest.raises(ProviderError, match="max_tokens: field required") as info:
        claude(server)(USER, Answer)
    assert (info.value.provider, info.value.status, info.value.retryable) == ("anthropic", 400, False)
    assert len(server.requests) == 1


def test_anthropic_missing_key_is_a_config_error_at_creation() -> None:
    with pytest.raises(ValueError, match="ANTHROPIC_API_KEY"):
        anthropic("claude-test")


# --- LiteLLM -----------------------------------------------------------------------------------

def test_litellm_missing_package_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)
    with pytest.raises(ImportError, match=r"needs the litellm package: pip install litellm$"):
        litellm("gpt-4o-mini")


def test_litellm_with_a_stand_in_module(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def completion(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return {"choices": [{"message": {"content": '{"summary": "lite"}'}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2}}

    monkeypatch.setitem(sys.modules, "litellm", types.SimpleNamespace(completion=completion))
    with collect_usage() as usage:
        assert litellm("ollama/llama3", temperature=0)(USER, Answer) == Answer(summary="lite")
    assert (usage.prompt_tokens, usage.completion_tokens) == (3, 2)
    assert calls[0]["model"] == "ollama/llama3" and calls[0]["temperature"] == 0
    assert calls[0]["response_format"]["json_schema"]["strict"] is False


# --- end to end through the engine --------------------------------------------------------------

SUMMARY_CONFIG = {"wf": {"Summarize": {
    "node_type": "llm", "event_triggers": ["START"], "prompt": "Summarize {{ context.text }}",
    "output_field": "summary", "retries": 2}}}


def run_with(call_llm: Any, backends: Any) -> str:
    _, broadcast = create_all_nodes(backends, call_llm=call_llm)
    return orchestrate(SUMMARY_CONFIG, "wf", ["START"], {"text": "hello"}, backends, broadcast)


def test_end_to_end_openai_node_stores_output(server: FakeProvider, backends: Any) -> None:
    server.answer(openai_ok('{"summary": "short"}', 30, 5))
    eid = run_with(openai("gpt-test", base_url=f"{server.url}/v1", api_key="k", **FAST), backends)
    ctx = backends.context.get_context(eid)
    assert ctx["summary"] == ["short"]
    assert (ctx["__operational__"]["prompt_tokens"], ctx["__operational__"]["completion_tokens"]) == (30, 5)
    [usage_event] = events(backends, eid, "llm_usage")
    assert usage_event["context"] == {"prompt_tokens": 30, "completion_tokens": 5}
    [request] = server.requests
    assert request["body"] == {
        "model": "gpt-test",
        "messages": [{"role": "system", "content": 'Answer in JSON with "summary": The summary value.'},
                     {"role": "user", "content": "Summarize hello"}],
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "SummaryResponse", "strict": False,
            "schema": {"type": "object", "required": ["summary"],
                       "properties": {"summary": {"description": "The summary value", "type": "string"}}}}},
    }


def test_end_to_end_invalid_json_is_retried_with_feedback(server: FakeProvider, backends: Any) -> None:
    server.answer(openai_ok('{"summary": broken'), openai_ok('{"summary": "fixed"}'))
    eid = run_with(openai("gpt-test", base_url=f"{server.url}/v1", api_key="k", **FAST), backends)
    assert backends.context.get_context(eid)["summary"] == ["fixed"]
    first, second = (body["messages"][-1]["content"] for body in server.bodies)
    assert second.startswith(first)
    assert '\n\nPrevious response: {"summary": broken' in second
    assert "Validation failed. Fix these fields:" in second
    assert backends.context.get_context(eid)["__operational__"]["prompt_tokens"] == 22


def test_end_to_end_provider_error_keeps_its_type(server: FakeProvider, backends: Any) -> None:
    server.answer(openai_error(400, "model not found"))
    with pytest.raises(ProviderError, match="model not found"):
        run_with(openai("gpt-test", base_url=f"{server.url}/v1", api_key="k", **FAST), backends)
    assert len(server.requests) == 1
