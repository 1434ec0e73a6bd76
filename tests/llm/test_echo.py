"""The offline ``echo`` model: deterministic answers built from the response model's types."""

from __future__ import annotations

import enum
from typing import Any, Literal, Optional

from conftest import run
from pydantic import BaseModel, Field

from soe.lib.schema_validation import schema_to_root_model
from soe.llm import echo, llm_from_spec
from soe.llm.models import RouterResponse, build_response_model
from soe.llm.usage import collect_usage

USER = [{"role": "user", "content": "the prompt"}]


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Inner(BaseModel):
    label: str
    count: int


class Everything(BaseModel):
    text: str
    anything: Any
    whole: int
    ratio: float
    flag: bool
    items: list[int]
    mapping: dict[str, Any]
    mode: Literal["fast", "slow"]
    inner: Inner
    maybe_text: Optional[str] = None  # noqa: UP045 - Optional is the case under test
    maybe_number: int | None = None
    maybe_inner: Inner | None = None
    color: Color
    tags: set[str] = Field(default_factory=set)


def test_no_response_model_returns_the_prompt() -> None:
    assert echo()(USER, None) == "[echo] the prompt"
    assert echo()(USER) == "[echo] the prompt"


def test_prompt_is_the_last_user_message() -> None:
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "first"},
                {"role": "assistant", "content": "reply"}, {"role": "user", "content": "second"},
                {"role": "assistant", "content": "trailing"}]
    assert echo()(messages, None) == "[echo] second"
    assert echo()([], None) == "[echo] "


def test_fields_are_filled_by_type() -> None:
    result = echo()(USER, Everything)
    assert isinstance(result, Everything)
    assert result.model_dump() == {
        "text": "[echo] the prompt", "anything": "[echo] the prompt", "whole": 0, "ratio": 0.0, "flag": False,
        "items": [], "mapping": {}, "mode": "fast", "inner": {"label": "[echo] the prompt", "count": 0},
        "maybe_text": "[echo] the prompt", "maybe_number": 0,
        "maybe_inner": {"label": "[echo] the prompt", "count": 0}, "color": Color.RED, "tags": set(),
    }


def test_router_stage_finishes() -> None:
    result = echo()(USER, RouterResponse)
    assert isinstance(result, RouterResponse)
    assert result.action == "finish"


def test_llm_node_model_with_signal_selection() -> None:
    options = [{"name": "GOOD", "description": "it is good"}, {"name": "BAD", "description": ""}]
    model = build_response_model("summary", None, options)
    result = echo()(USER, model)
    assert result.model_dump() == {"summary": "[echo] the prompt", "selected_signals": ["GOOD"]}


def test_output_model_without_field() -> None:
    assert echo()(USER, build_response_model(None, None, None)).model_dump() == {"output": "[echo] the prompt"}


def test_root_models_yield_bare_values() -> None:
    assert echo()(USER, schema_to_root_model("integer", "CountRoot")).root == 0
    assert echo()(USER, schema_to_root_model("string", "NameRoot")).root == "[echo] the prompt"
    assert echo()(USER, schema_to_root_model("list", "ItemsRoot")).root == []
    nested = schema_to_root_model(
        {"type": "object", "properties": {"name": "string", "age": "int", "ok": "bool"}}, "PersonRoot")
    assert echo()(USER, nested).model_dump() == {"name": "[echo] the prompt", "age": 0, "ok": False}


def test_the_contract_request_is_answered_with_its_prompt_only() -> None:
    request = [{"role": "user", "content": '{"prompt":"Write a poem","context":"{}"}\n\nRespond ONLY with JSON'}]
    assert echo()(request, build_response_model("poem", None, None)).model_dump() == {"poem": "[echo] Write a poem"}
    task = [{"role": "user", "content": '{"task_description":"Find it","tools":[]}\n\nRespond'}]
    assert echo()(task, None) == "[echo] Find it"
    assert echo()([{"role": "user", "content": '["not", "a mapping"] tail'}], None) == '[echo] ["not", "a mapping"] tail'


def test_constraints_it_cannot_meet_give_raw_text() -> None:
    class Positive(BaseModel):
        n: int = Field(gt=0)

    assert echo()(USER, Positive) == '{"n": 0}'


def test_deterministic_and_silent_about_usage() -> None:
    call = echo()
    with collect_usage() as usage:
        assert call(USER, Everything) == call(USER, Everything)
    assert not usage.reported


def test_spec_echo() -> None:
    assert llm_from_spec("echo")(USER, None) == "[echo] the prompt"
    assert llm_from_spec("ECHO")(USER, RouterResponse).action == "finish"


def test_llm_node_end_to_end_stores_the_prompt(backends: Any) -> None:
    config = {"wf": {"Summarize": {"node_type": "llm", "event_triggers": ["START"],
                                   "prompt": "Summarize {{ context.text }}", "output_field": "summary"}}}
    eid = run(config, backends, call_llm=echo(), context={"text": "hello"})
    [stored] = backends.context.get_context(eid)["summary"]
    assert stored == "[echo] Summarize hello"  # the rendered prompt, not the JSON request around it


def test_agent_finishes_at_once(backends: Any) -> None:
    calls: list[str] = []

    def lookup(term: str) -> str:
        calls.append(term)
        return term

    config = {"wf": {"Agent": {"node_type": "agent", "event_triggers": ["START"], "prompt": "Do it",
                               "tools": ["lookup"], "output_field": "answer",
                               "event_emissions": [{"signal_name": "DONE"}]}}}
    eid = run(config, backends, call_llm=echo(), tools={"lookup": lookup})
    ctx = backends.context.get_context(eid)
    assert calls == []
    assert ctx["answer"] == ["[echo] Do it"]
    assert "DONE" in ctx["__operational__"]["signals"]
