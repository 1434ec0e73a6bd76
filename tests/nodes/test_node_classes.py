"""The node callers' classes (AgentNode, ToolNode, LlmNode), one method at a time.

The whole-node behaviour is covered in test_agent_node / test_tool_node /
test_llm_node through ``orchestrate``; here each method is driven directly, with
in-memory backends and a context prepared by hand, so a stage can be checked
without scripting the stages before it.
"""

import json
from typing import Any

import pytest
from conftest import events

from soe._errors import ProviderError
from soe.lib.effects import run_inline
from soe.local_backends import create_in_memory_backends
from soe.nodes._tools import ToolEntry
from soe.nodes.agent.factory import AgentNode
from soe.nodes.agent.loop import AgentLoop
from soe.nodes.llm.factory import LlmNode
from soe.nodes.tool.factory import ToolNode

EID = "exec-1"


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


class Broadcasts(list):
    """A broadcast_signals_caller that records what it was asked to send."""

    def __call__(self, execution_id: str, signals: list[str]) -> None:
        self.append((execution_id, list(signals)))


def refuse_llm(messages: list[dict], response_model: Any) -> str:
    raise AssertionError("this stage must not call the LLM")


@pytest.fixture
def store():
    backends = create_in_memory_backends()
    backends.context.save_context(EID, {"user": ["ana"], "__operational__": {
        "signals": [], "nodes": {}, "llm_calls": 0, "tool_calls": 0, "errors": 0, "main_execution_id": EID}})
    return backends


def event_types(backends: Any) -> list[str]:
    return [event["event_type"] for event in events(backends, EID)]


# --- AgentNode ---------------------------------------------------------------------------------


def agent_node(backends: Any, call_llm: Any = refuse_llm) -> tuple[AgentNode, Broadcasts]:
    sent = Broadcasts()
    return AgentNode(backends, [{"function": add, "max_retries": 0}], call_llm, sent), sent


def agent_run(node: AgentNode, backends: Any, **keys: Any) -> Any:
    config = {"name": "Agent", "prompt": "Help {{ context.user }}", "tools": ["add"], **keys}
    return node.prepare(EID, config, backends.context.get_context(EID))


def test_agent_prepare_renders_task_and_loads_only_named_tools(store):
    node, _ = agent_node(store)
    run = agent_run(node, store, retries=2)
    assert (run.task, run.node_name, run.max_retries, run.max_iterations) == ("Help ana", "Agent", 2, 25)
    assert run.tools.names == ("add",) and run.tools.functions["add"] is add
    assert run.main_id == EID


def test_agent_use_tool_unknown_name_is_a_system_error_not_a_crash(store):
    node, _ = agent_node(store)
    run, loop = agent_run(node, store), AgentLoop(None, None, [])
    run_inline(node.use_tool(run, loop, "delete_everything", None))
    assert loop.retry_count == 1
    assert loop.history[-1] == {"role": "system_error",
                                "content": "Tool 'delete_everything' not found or not available."}
    assert event_types(store) == ["agent_tool_not_found"]


def test_agent_parameters_takes_valid_native_arguments_without_a_request(store):
    node, _ = agent_node(store)
    run = agent_run(node, store)
    args = run_inline(node.parameters(run, AgentLoop(None, None, []), "add", {"a": 1, "b": 2}))
    assert args == {"a": 1, "b": 2}
    assert event_types(store) == []


def test_agent_parameters_asks_the_parameter_stage_when_native_arguments_do_not_validate(store):
    asked: list[str] = []

    def llm(messages: list[dict], response_model: Any) -> str:
        asked.append(response_model.__name__)
        return json.dumps({"a": 4, "b": 5})

    node, _ = agent_node(store, llm)
    run = agent_run(node, store)
    args = run_inline(node.parameters(run, AgentLoop(None, None, []), "add", {"a": "not a number"}))
    assert args == {"a": 4, "b": 5}
    assert asked == ["addSchema"]
    assert event_types(store) == ["llm_call"]


def test_agent_run_tool_records_call_and_result(store):
    node, _ = agent_node(store)
    run = agent_run(node, store)
    assert run_inline(node.run_tool(run, AgentLoop(None, None, []), "add", {"a": 20, "b": 22})) == 42
    result = events(store, EID)[-1]
    assert result["event_type"] == "agent_tool_result"
    assert result["context"] == {"node_name": "Agent", "tool_name": "add", "result_preview": "42",
                                 "result_length": 2}


def test_agent_drive_gives_up_at_max_iterations_before_any_request(store):
    node, _ = agent_node(store)
    run = agent_run(node, store, max_iterations=0)
    with pytest.raises(RuntimeError, match=r"exceeded max iterations \(0\)"):
        run_inline(node.drive(run, AgentLoop(None, None, [])))


def test_agent_give_up_with_a_failure_signal_broadcasts_it(store):
    node, sent = agent_node(store)
    run = agent_run(node, store, llm_failure_signal="FAILED")
    node.give_up(run, "no answer")
    assert sent == [(EID, ["FAILED"])]
    assert events(store, EID)[-1]["context"] == {"node_type": "agent", "error": "no answer"}


def test_agent_guarded_handles_a_failed_request_only_with_a_signal(store):
    def broken(messages: list[dict], response_model: Any) -> str:
        raise ConnectionError("provider down")

    node, sent = agent_node(store, broken)
    loop = AgentLoop(None, None, [])
    assert run_inline(node.route(agent_run(node, store, llm_failure_signal="FAILED"), loop)) is None
    assert sent == [(EID, ["FAILED"])]
    with pytest.raises(ConnectionError):
        run_inline(node.route(agent_run(node, store), loop))


# --- ToolNode ----------------------------------------------------------------------------------


def test_tool_resolve_names_the_missing_tool(store):
    node = ToolNode(store, {}, Broadcasts())
    with pytest.raises(ValueError, match="Tool 'nope' not found"):
        node.resolve(EID, "nope")
    assert node.resolve(EID, "soe_get_context").builtin


def test_tool_run_retries_then_stores_the_error_and_signals_failure(store):
    attempts: list[int] = []

    def flaky(**_: Any) -> None:
        attempts.append(1)
        raise OSError(f"attempt {len(attempts)}")

    sent = Broadcasts()
    node = ToolNode(store, {}, sent)
    entry = ToolEntry(flaky, max_retries=1, failure_signal="TOOL_FAILED")
    config = {"name": "T", "tool_name": "flaky", "output_field": "out"}
    run_inline(node.run(EID, config, store.context.get_context(EID), entry, {}))
    assert len(attempts) == 2
    assert store.context.get_context(EID)["out"] == ["attempt 2"]
    assert [event["context"] for event in events(store, EID, "node_error")] == [
        {"tool_name": "flaky", "retry_attempt": 1, "error": "attempt 1"},
        {"tool_name": "flaky", "error": "attempt 2"},
    ]
    assert sent == [(EID, ["TOOL_FAILED"])]


def test_tool_emit_sees_the_result(store):
    sent = Broadcasts()
    node = ToolNode(store, {}, sent)
    config = {"name": "T", "event_emissions": [{"signal_name": "BIG", "condition": "{{ result > 10 }}"},
                                               {"signal_name": "SMALL", "condition": "{{ result <= 10 }}"}]}
    node.emit(EID, config, store.context.get_context(EID), 42)
    assert sent == [(EID, ["BIG"])]


# --- LlmNode -----------------------------------------------------------------------------------


def test_llm_prepare_renders_the_prompt_and_counts_one_call(store):
    node = LlmNode(store, refuse_llm, Broadcasts())
    call = node.prepare(EID, {"name": "L", "prompt": "Hi {{ context.user }}", "output_field": "reply"},
                        store.context.get_context(EID))
    assert call.rendered == "Hi ana"
    assert call.payload["prompt"] == "Hi ana" and call.payload["conversation_history"] == ""
    assert call.history_key is None and call.request is None  # a messages-form call_llm
    assert "llm_call" in event_types(store)


def test_llm_store_extends_the_conversation_of_an_identity(store):
    node = LlmNode(store, refuse_llm, Broadcasts())
    config = {"name": "L", "prompt": "Hi", "output_field": "reply", "identity": "helper"}
    call = node.prepare(EID, config, store.context.get_context(EID))
    result = call.response_model.model_validate({"reply": "hello"})
    ctx = node.store(call, result)
    assert ctx["reply"] == ["hello"]
    assert store.conversation_history.get_conversation_history(EID) == [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "hello"}]


def test_llm_fail_signals_or_raises(store):
    sent = Broadcasts()
    node = LlmNode(store, refuse_llm, sent)
    node.fail(EID, {"llm_failure_signal": "LLM_FAILED"}, ValueError("bad json"))
    assert sent == [(EID, ["LLM_FAILED"])]
    with pytest.raises(RuntimeError, match="bad json"):
        node.fail(EID, {}, ValueError("bad json"))
    with pytest.raises(ProviderError):
        node.fail(EID, {}, ProviderError("401", provider="openai", status=401))


def test_agent_finish_stores_the_answer_and_emits_the_single_signal(store):
    node, sent = agent_node(store, lambda messages, model: json.dumps({"answer": "42"}))
    run = agent_run(node, store, output_field="answer", event_emissions=[{"signal_name": "DONE"}])
    run_inline(node.finish(run, AgentLoop(None, None, [])))
    assert store.context.get_context(EID)["answer"] == ["42"]
    assert sent == [(EID, ["DONE"])]


def test_llm_ask_retries_an_unparseable_answer_then_returns_the_model(store):
    answers = iter(["not json", json.dumps({"reply": "hello"})])
    node = LlmNode(store, lambda messages, model: next(answers), Broadcasts())
    call = node.prepare(EID, {"name": "L", "prompt": "Hi", "output_field": "reply", "retries": 1},
                        store.context.get_context(EID))
    assert run_inline(node.ask(call)).model_dump() == {"reply": "hello"}
