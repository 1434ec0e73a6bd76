"""The agent node (SPEC §5.3, §7.2-§7.3, §12.2, Q4', Q5, Q7, Q8, Q11).

No ``from __future__ import annotations`` here on purpose: the tools below
must keep real annotation objects so the tools signature shows ``<class 'int'>``.
"""

import json
from typing import Any, Optional

import pytest
from conftest import events, run

from soe import TemplateSecurityError, create_all_nodes, orchestrate
from soe.nodes.agent.factory import create_agent_node_caller

ROUTER_BASE = "Decide the next action: 'call_tool' to use a tool, or 'finish' if task is complete."


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def shout(text, suffix: Optional[str] = "!"):  # noqa: UP045 - the spec's signature example
    return text.upper() + (suffix or "")


class StageLLM:
    """A messages-form call_llm answering per stage model name; the last answer of a list repeats."""

    def __init__(self, **answers: Any):
        self.answers = {name: list(value) if isinstance(value, list) else [value] for name, value in answers.items()}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, messages: list[dict], response_model: Any) -> Any:
        name = response_model.__name__
        self.calls.append((name, messages[0]["content"]))
        queue = self.answers[name]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer if isinstance(answer, str) else json.dumps(answer)

    def prompts(self, name: str) -> list[str]:
        return [prompt for model, prompt in self.calls if model == name]

    def payloads(self, name: str) -> list[dict]:
        return [json.loads(prompt.split("\n\n", 1)[0]) for prompt in self.prompts(name)]


def call(name: str) -> dict:
    return {"action": "call_tool", "tool_name": name}


FINISH = {"action": "finish"}
TOOLS = {"adder": add, "shouter": {"function": shout, "max_retries": 0}}


def agent_config(**keys: Any) -> dict:
    node = {"node_type": "agent", "event_triggers": ["START"], "prompt": "Help {{ context.user }}",
            "tools": ["add", "shout"], "output_field": "answer", **keys}
    return {"wf": {"Agent": node, "Failed": {"node_type": "router", "event_triggers": ["FAILED"],
                                              "event_emissions": [{"signal_name": "HANDLED"}]}}}


def agent_events(backends: Any, eid: str) -> list[tuple[str, dict]]:
    skip = {"orchestration_start", "context_merge", "signals_broadcast", "node_execution"}
    return [(e["event_type"], e["context"]) for e in events(backends, eid) if e["event_type"] not in skip]


def operational(backends: Any, eid: str) -> dict:
    return backends.context.get_context(eid)["__operational__"]


LOADED = ("agent_tools_loaded", {"node_name": "Agent", "agent_tools": ["add", "shout"],
                                 "registry_tools": ["add", "shout"]})


# --- the happy path -------------------------------------------------------------------------


def two_tools_llm(answer: Any) -> StageLLM:
    return StageLLM(RouterResponse=[call("add"), call("shout"), FINISH],
                    addSchema={"a": 2, "b": 3}, shoutSchema={"text": "hi"}, AnswerResponse=answer)


def test_two_tools_then_finish_jinja_mode(backends):
    llm = two_tools_llm({"answer": "HI! 5"})
    config = agent_config(event_emissions=[{"signal_name": "GOOD", "condition": "{{ context.answer == 'HI! 5' }}"},
                                           {"signal_name": "BAD", "condition": "{{ context.answer == 'x' }}"}])
    eid = run(config, backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})

    ctx = backends.context.get_context(eid)
    assert ctx["answer"] == ["HI! 5"]
    assert ctx["__operational__"] == {"signals": ["START", "GOOD"], "nodes": {"Agent": 1}, "llm_calls": 6,
                                      "tool_calls": 2, "errors": 0, "main_execution_id": eid}
    assert [(e["event_type"], e["context"]) for e in events(backends, eid)][2:] == [
        ("node_execution", {"node_name": "Agent", "node_type": "agent"}),
        ("llm_call", {"stage": "router"}),
        LOADED,
        ("llm_call", {"stage": "parameter"}),
        ("agent_tool_call", {"node_name": "Agent", "tool_name": "add", "tool_args": {"a": 2, "b": 3}}),
        ("agent_tool_result", {"node_name": "Agent", "tool_name": "add", "result_preview": "5", "result_length": 1}),
        ("llm_call", {"stage": "router"}),
        ("llm_call", {"stage": "parameter"}),
        ("agent_tool_call", {"node_name": "Agent", "tool_name": "shout",
                             "tool_args": {"text": "hi", "suffix": "!"}}),
        ("agent_tool_result", {"node_name": "Agent", "tool_name": "shout", "result_preview": "HI!",
                               "result_length": 3}),
        ("llm_call", {"stage": "router"}),
        ("context_warning", {"message": "Output field 'answer' not found in context schema",
                             "output_field": "answer"}),
        ("llm_call", {"stage": "response"}),
        ("signals_broadcast", {"signals": ["GOOD"]}),
    ]
    assert [name for name, _ in llm.calls] == ["RouterResponse", "addSchema", "RouterResponse", "shoutSchema",
                                               "RouterResponse", "AnswerResponse"]


def test_router_payload_text_and_states(backends):
    llm = two_tools_llm({"answer": "done"})
    run(agent_config(), backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})
    first = llm.prompts("RouterResponse")[0]
    signature = ("add(a: <class 'int'>, b: <class 'int'>)\n  Add two numbers.\n\n"
                 "shout(text: Any, suffix: typing.Optional[str])\n  No description")
    payload = json.dumps({
        "instructions": ROUTER_BASE + "\n\nINITIAL EXECUTION:\n1. Analyze the task and available context\n"
        "2. Determine if you need additional information from tools\n"
        "3. If tools are needed, choose 'call_tool' and specify which tool\n"
        "4. If you have enough information to complete the task, choose 'finish'\n\n"
        "IMPORTANT: Only call tools that are NECESSARY. Be selective.",
        "task_description": "Help ana",
        "context": '{\n  "user": "ana"\n}',
        "available_tools": signature,
        "conversation_history": "",
    }, separators=(",", ":"), ensure_ascii=False)
    assert first.startswith(payload + "\n\nRespond ONLY with a valid JSON object matching this schema:\n")
    assert '"description": "Output model for the Router stage."' in first

    routers = llm.payloads("RouterResponse")
    assert list(routers[0]) == ["instructions", "task_description", "context", "available_tools",
                                "conversation_history"]
    assert routers[1]["instructions"].startswith(ROUTER_BASE + "\n\nTOOL RESPONSE RECEIVED:\n")
    assert routers[2]["conversation_history"] == "[Tool: add]\n5\n\n[Tool: shout]\nHI!"
    assert llm.payloads("shoutSchema") == [{"task_description": "Help ana", "context": '{\n  "user": "ana"\n}',
                                            "tool_name": "shout", "conversation_history": "[Tool: add]\n5"}]
    assert llm.payloads("AnswerResponse") == [{"task_description": "Help ana", "context": '{\n  "user": "ana"\n}',
                                               "conversation_history": "[Tool: add]\n5\n\n[Tool: shout]\nHI!"}]


def test_no_referenced_fields_gives_empty_object_context(backends):
    llm = StageLLM(RouterResponse=FINISH, AnswerResponse={"answer": "ok"})
    config = agent_config(prompt="Just answer", tools=[])
    eid = run(config, backends, call_llm=llm, tools=TOOLS)
    router = llm.payloads("RouterResponse")[0]
    assert router["context"] == "{}" and router["available_tools"] == ""
    assert agent_events(backends, eid)[1] == ("agent_tools_loaded", {
        "node_name": "Agent", "agent_tools": [], "registry_tools": ["add", "shout"]})


def test_selection_mode_broadcasts_llm_choice(backends):
    llm = StageLLM(RouterResponse=FINISH, AnswerResponse={"answer": "x", "selected_signals": ["B", "A"]})
    config = agent_config(event_emissions=[{"signal_name": "A", "condition": "first"}, {"signal_name": "B"}])
    eid = run(config, backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})
    assert operational(backends, eid)["signals"] == ["START", "B", "A"]
    assert "- A: first\\n- B" in llm.prompts("AnswerResponse")[0]


def test_response_with_context_schema_uses_root_model(backends):
    llm = StageLLM(RouterResponse=FINISH, AnswerRoot="42")
    config = {"workflows": agent_config(event_emissions=[{"signal_name": "DONE"}]),
              "context_schema": {"answer": "integer"}}
    eid = run(config, backends, workflow="wf", call_llm=llm, tools=TOOLS, context={"user": "ana"})
    ctx = backends.context.get_context(eid)
    assert ctx["answer"] == [42]
    assert ctx["__operational__"]["signals"] == ["START", "DONE"]
    assert "context_warning" not in [name for name, _ in agent_events(backends, eid)]


# --- Q8: only the node's own tools ---------------------------------------------------------


def test_tool_outside_node_list_is_a_system_error(backends):
    llm = StageLLM(RouterResponse=[call("shout"), FINISH], AnswerResponse={"answer": "ok"})
    eid = run(agent_config(tools=["add"]), backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})
    assert agent_events(backends, eid)[1:4] == [
        ("agent_tools_loaded", {"node_name": "Agent", "agent_tools": ["add"], "registry_tools": ["add", "shout"]}),
        ("agent_tool_not_found", {"node_name": "Agent", "tool_name": "shout", "available_tools": ["add", "shout"]}),
        ("llm_call", {"stage": "router"}),
    ]
    second = llm.payloads("RouterResponse")[1]
    assert second["instructions"].startswith(ROUTER_BASE + "\n\nRETRY NEEDED:\n")
    assert second["conversation_history"] == "[System Error]\nTool 'shout' not found or not available."
    assert operational(backends, eid)["errors"] == 0
    assert backends.context.get_context(eid)["answer"] == ["ok"]


def test_system_errors_consume_retries(backends):
    llm = StageLLM(RouterResponse=call(None))
    with pytest.raises(RuntimeError) as info:
        run(agent_config(retries=2), backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})
    assert str(info.value) == ("Agent execution exceeded max retries (2). "
                               "Last error: Tool 'None' not found or not available.")
    assert len(llm.calls) == 2


# --- tool errors ---------------------------------------------------------------------------


def test_tool_raising_records_tool_error_after_its_retries(backends):
    attempts = []

    def boom(x: int) -> int:
        attempts.append(x)
        raise ValueError("bad")

    llm = StageLLM(RouterResponse=[call("boom"), FINISH], boomSchema={"x": 1}, AnswerResponse={"answer": "ok"})
    tools = {"b": {"function": boom, "max_retries": 2}}
    eid = run(agent_config(tools=["boom"]), backends, call_llm=llm, tools=tools, context={"user": "ana"})
    assert attempts == [1, 1, 1]
    second = llm.payloads("RouterResponse")[1]
    assert second["instructions"].startswith(ROUTER_BASE + "\n\nTOOL ERROR OCCURRED:\n")
    assert second["conversation_history"] == "[Tool Error: boom]\nError executing boom: bad"
    names = [name for name, _ in agent_events(backends, eid)]
    assert "agent_tool_call" in names and "agent_tool_result" not in names and "node_error" not in names


def test_retries_exhausted_by_tool_errors(backends):
    def boom() -> None:
        raise ValueError("bad")

    llm = StageLLM(RouterResponse=call("boom"), boomSchema={})
    config = agent_config(tools=["boom"], retries=2, llm_failure_signal="FAILED")
    eid = run(config, backends, call_llm=llm, tools={"boom": boom}, context={"user": "ana"})
    message = "Agent execution exceeded max retries (2). Last error: Error executing boom: bad"
    assert agent_events(backends, eid)[-1] == ("node_error", {"node_type": "agent", "error": message})
    assert operational(backends, eid)["signals"] == ["START", "FAILED", "HANDLED"]
    assert operational(backends, eid)["errors"] == 1


def test_parameter_stage_failure_is_a_tool_error(backends):
    llm = StageLLM(RouterResponse=[call("add"), FINISH], addSchema="not json", AnswerResponse={"answer": "ok"})
    eid = run(agent_config(retries=2), backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})
    history = llm.payloads("RouterResponse")[1]["conversation_history"]
    assert history.startswith("[Tool Error: add]\nError executing add: Max retries (2) exceeded. Last error: ")
    assert [name for name, _ in llm.calls] == ["RouterResponse", *["addSchema"] * 3, "RouterResponse",
                                               "AnswerResponse"]
    assert operational(backends, eid)["llm_calls"] == 4


def test_call_llm_exception_in_parameter_stage_is_a_tool_error(backends):
    llm = StageLLM(RouterResponse=[call("add"), FINISH], addSchema=ConnectionError("down"),
                   AnswerResponse={"answer": "ok"})
    run(agent_config(), backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})
    assert llm.payloads("RouterResponse")[1]["conversation_history"] == "[Tool Error: add]\nError executing add: down"


# --- budgets: retries and max_iterations ---------------------------------------------------


def test_retries_zero_fails_at_once(backends):
    llm = StageLLM(RouterResponse=FINISH)
    with pytest.raises(RuntimeError, match=r"^Agent execution exceeded max retries \(0\)\.$"):
        run(agent_config(retries=0), backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})
    assert llm.calls == []


def test_retries_zero_events(backends):
    llm = StageLLM(RouterResponse=FINISH)
    eid = run(agent_config(retries=0, llm_failure_signal="FAILED"), backends, call_llm=llm, tools=TOOLS,
              context={"user": "ana"})
    assert agent_events(backends, eid) == [
        ("llm_call", {"stage": "router"}),
        LOADED,
        ("node_error", {"node_type": "agent", "error": "Agent execution exceeded max retries (0)."}),
    ]
    assert operational(backends, eid)["llm_calls"] == 1


def test_max_iterations_stops_endless_tool_calls(backends):
    llm = StageLLM(RouterResponse=call("add"), addSchema={"a": 1, "b": 1})
    with pytest.raises(RuntimeError) as info:
        run(agent_config(max_iterations=3), backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})
    assert str(info.value) == "Agent execution exceeded max iterations (3)."
    assert [name for name, _ in llm.calls] == ["RouterResponse", "addSchema"] * 3


def test_max_iterations_with_failure_signal_and_last_error(backends):
    llm = StageLLM(RouterResponse=[call("nope"), call("add")], addSchema={"a": 1, "b": 1})
    eid = run(agent_config(max_iterations=2, llm_failure_signal="FAILED"), backends, call_llm=llm, tools=TOOLS,
              context={"user": "ana"})
    message = "Agent execution exceeded max iterations (2). Last error: Tool 'nope' not found or not available."
    assert agent_events(backends, eid)[-1] == ("node_error", {"node_type": "agent", "error": message})
    op = operational(backends, eid)
    assert (op["signals"], op["llm_calls"], op["tool_calls"], op["errors"]) == (
        ["START", "FAILED", "HANDLED"], 3, 1, 1)


# --- Q4': router/response stage failures ---------------------------------------------------


def test_router_failure_without_signal_propagates_unchanged(backends):
    llm = StageLLM(RouterResponse="garbage")
    with pytest.raises(Exception) as info:
        run(agent_config(retries=1), backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})
    assert type(info.value) is Exception
    assert str(info.value).startswith("Max retries (1) exceeded. Last error: ")
    assert len(llm.calls) == 2


def test_call_llm_exception_without_signal_propagates_with_no_event(backends):
    error = ConnectionError("down")
    llm = StageLLM(RouterResponse=error)
    with pytest.raises(ConnectionError) as info:
        run(agent_config(), backends, call_llm=llm, tools=TOOLS, context={"user": "ana"}, execution_id="e1")
    assert info.value is error
    assert agent_events(backends, "e1") == [("llm_call", {"stage": "router"}), LOADED]
    assert operational(backends, "e1")["errors"] == 0


def test_response_failure_with_signal(backends):
    llm = StageLLM(RouterResponse=FINISH, AnswerResponse=ConnectionError("down"))
    eid = run(agent_config(llm_failure_signal="FAILED"), backends, call_llm=llm, tools=TOOLS,
              context={"user": "ana"})
    assert agent_events(backends, eid)[-2:] == [
        ("llm_call", {"stage": "response"}),
        ("node_error", {"node_type": "agent", "error": "down"}),
    ]
    assert operational(backends, eid)["signals"] == ["START", "FAILED", "HANDLED"]
    assert "answer" not in backends.context.get_context(eid)


# --- identity and history (Q11) -------------------------------------------------------------


def test_history_gets_system_and_tool_entries_once(backends):
    llm = two_tools_llm({"answer": "done"})
    config = {"workflows": agent_config(identity="helper"), "identities": {"helper": "You are helpful."}}
    eid = run(config, backends, workflow="wf", call_llm=llm, tools=TOOLS, context={"user": "ana"})
    assert backends.conversation_history.get_conversation_history(eid) == [
        {"role": "system", "content": "You are helpful."},
        {"role": "tool", "tool_name": "add", "content": "5"},
        {"role": "tool", "tool_name": "shout", "content": "HI!"},
    ]
    routers = llm.payloads("RouterResponse")
    assert routers[0]["conversation_history"] == "You are helpful."
    assert routers[0]["instructions"].startswith(ROUTER_BASE + "\n\nINITIAL EXECUTION:\n")
    assert routers[1]["conversation_history"] == "You are helpful.\n\n[Tool: add]\n5"


def test_state_comes_from_persisted_history(backends):
    llm = StageLLM(RouterResponse=[call("nope"), FINISH], AnswerResponse={"answer": "ok"})
    config = {"workflows": agent_config(identity="helper", retries=2), "identities": {"helper": "Be kind."}}
    eid = run(config, backends, workflow="wf", call_llm=llm, tools=TOOLS, context={"user": "ana"})
    assert backends.conversation_history.get_conversation_history(eid) == [
        {"role": "system", "content": "Be kind."},
        {"role": "system_error", "content": "Tool 'nope' not found or not available."},
    ]


# --- tool resolution ------------------------------------------------------------------------


def test_unknown_tool_name_raises_value_error(backends):
    llm = StageLLM(RouterResponse=FINISH)
    with pytest.raises(ValueError, match=r"^Tool 'missing' not found in registry or builtins$"):
        run(agent_config(tools=["add", "missing"]), backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})
    assert llm.calls == []


def test_tools_are_known_by_function_name_not_registry_key(backends):
    llm = StageLLM(RouterResponse=FINISH)
    with pytest.raises(ValueError, match=r"^Tool 'adder' not found in registry or builtins$"):
        run(agent_config(tools=["adder"]), backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})


def test_builtin_tool_is_bound_to_this_execution(backends):
    llm = StageLLM(RouterResponse=[call("soe_get_context"), FINISH], get_contextSchema={"field": "user"},
                   AnswerResponse={"answer": "ok"})
    tools: dict = {"adder": add}
    eid = run(agent_config(tools=["soe_get_context"]), backends, call_llm=llm, tools=tools, context={"user": "ana"})
    assert tools == {"adder": add}
    got = agent_events(backends, eid)
    assert got[1] == ("agent_tools_loaded", {"node_name": "Agent", "agent_tools": ["soe_get_context"],
                                             "registry_tools": ["add", "soe_get_context"]})
    assert got[3] == ("agent_tool_call", {"node_name": "Agent", "tool_name": "soe_get_context",
                                          "tool_args": {"field": "user", "fields": None}})
    assert got[4] == ("agent_tool_result", {"node_name": "Agent", "tool_name": "soe_get_context",
                                            "result_preview": "{'user': ['ana']}", "result_length": 17})
    assert llm.payloads("RouterResponse")[0]["available_tools"].startswith("get_context(field: ")


def test_long_result_preview_is_truncated(backends):
    def big() -> str:
        return "x" * 1500

    llm = StageLLM(RouterResponse=[call("big"), FINISH], bigSchema={}, AnswerResponse={"answer": "ok"})
    eid = run(agent_config(tools=["big"]), backends, call_llm=llm, tools={"big": big}, context={"user": "ana"})
    result = next(data for name, data in agent_events(backends, eid) if name == "agent_tool_result")
    assert result["result_preview"] == "x" * 1000 + "..."
    assert result["result_length"] == 1500


# --- pass-through errors and direct use ----------------------------------------------------


def test_template_security_error_in_prompt_passes_through(backends):
    llm = StageLLM(RouterResponse=FINISH)
    config = agent_config(prompt="{{ context.user.__class__ }}")
    with pytest.raises(TemplateSecurityError):
        run(config, backends, call_llm=llm, tools=TOOLS, context={"user": "ana"})
    assert llm.calls == []


def test_template_security_error_registers_no_node_error(backends):
    llm = StageLLM(RouterResponse=FINISH)
    _, broadcast = create_all_nodes(backends, call_llm=llm, tools_registry=TOOLS)
    config = agent_config(prompt="{{ context.user.__class__ }}", llm_failure_signal="FAILED")
    with pytest.raises(TemplateSecurityError):
        orchestrate(config, "wf", ["START"], {"user": "ana"}, backends, broadcast, execution_id="tse")
    names = [name for name, _ in agent_events(backends, "tse")]
    assert names == ["llm_call", "template_security_error"]
    assert operational(backends, "tse")["signals"] == ["START"]


def test_direct_factory_use_with_prompt_form_llm(backends):
    received = []

    def legacy(prompt, config):
        received.append(config)
        return json.dumps(FINISH) if "instructions" in prompt else '{"output": "fine"}'

    _, broadcast = create_all_nodes(backends)
    caller = create_agent_node_caller(backends, [{"function": add, "max_retries": 0}], legacy, broadcast)
    config = {"wf": {"R": {"node_type": "router", "event_triggers": ["GO"], "event_emissions": [{"signal_name": "X"}]}}}
    eid = orchestrate(config, "wf", ["NONE"], {}, backends, broadcast)
    node = {"name": "Direct", "event_triggers": ["GO"], "prompt": "Hi", "tools": ["add"], "model": "m1"}
    caller(eid, node)
    assert received == [node, node]
    assert ("agent_tools_loaded", {"node_name": "Direct", "agent_tools": ["add"], "registry_tools": ["add"]}) in \
        agent_events(backends, eid)


def test_builtin_binding_is_per_execution(backends):
    llm = StageLLM(RouterResponse=[call("soe_get_context"), FINISH, call("soe_get_context"), FINISH],
                   get_contextSchema={"field": "user"}, AnswerResponse={"answer": "ok"})
    tools: dict = {"adder": add}
    _, broadcast = create_all_nodes(backends, call_llm=llm, tools_registry=tools)
    config = agent_config(tools=["soe_get_context"])
    for eid, user in (("one", "ana"), ("two", "bob")):
        orchestrate(config, "wf", ["START"], {"user": user}, backends, broadcast, execution_id=eid)
        result = next(data for name, data in agent_events(backends, eid) if name == "agent_tool_result")
        assert result["result_preview"] == f"{{'user': ['{user}']}}"
    assert tools == {"adder": add}
