"""LLM-call and token budgets per tree (SPEC §16.3) and usage counters (§16.2)."""

from __future__ import annotations

import asyncio

import pytest
from conftest import events, run

from soe import BudgetExceeded, aresume, broadcast_signals, create_all_nodes, get_execution_status
from soe.llm import report_usage


def ask_chain(length: int, *, failure_signal: bool = False) -> dict:
    workflow = {}
    for i in range(length):
        node = {"node_type": "llm", "event_triggers": [f"S{i}"], "prompt": f"step {i}", "output_field": "out",
                "event_emissions": [{"signal_name": f"S{i + 1}"}]}
        if failure_signal:
            node["llm_failure_signal"] = "LLM_FAILED"
        workflow[f"Ask{i}"] = node
    return {"limits": {"max_llm_calls": 2}, "wf": workflow}


def answer(messages, response_model):
    return '{"out": "ok"}'


def test_max_llm_calls_stops_the_tree_before_the_request(backends):
    calls = []

    def counting(messages, response_model):
        calls.append(1)
        return answer(messages, response_model)

    with pytest.raises(BudgetExceeded) as info:
        run(ask_chain(3, failure_signal=True), backends, workflow="wf", signals=["S0"], call_llm=counting,
            execution_id="b1")
    err = info.value
    assert str(err) == "max_llm_calls of 2 exceeded in execution 'b1'"
    assert (err.limit_name, err.limit, err.used) == ("max_llm_calls", 2, 2)
    assert len(calls) == 2
    ctx = backends.context.get_context("b1")
    assert ctx["out"] == ["ok", "ok"]
    assert ctx["__operational__"]["llm_calls"] == 2 and ctx["__operational__"]["errors"] == 0
    assert "LLM_FAILED" not in ctx["__operational__"]["signals"]
    assert get_execution_status("b1", backends)["status"] == "failed"


def test_budget_counts_the_whole_tree_across_calls(backends):
    config = {"limits": {"max_llm_calls": 2}, "wf": {
        "Ask": {"node_type": "llm", "event_triggers": ["ASK"], "prompt": "hi", "output_field": "out"}}}
    nodes, _ = create_all_nodes(backends, call_llm=answer)
    eid = run(config, backends, workflow="wf", signals=["ASK"], call_llm=answer)
    broadcast_signals(eid, ["ASK"], nodes, backends)
    with pytest.raises(BudgetExceeded):
        broadcast_signals(eid, ["ASK"], nodes, backends)


def test_max_tokens_checked_after_each_usage_report(backends):
    def metered(messages, response_model):
        report_usage(30, 20)
        return answer(messages, response_model)

    config = {"limits": {"max_tokens": 120}, **{k: v for k, v in ask_chain(3).items() if k != "limits"}}
    with pytest.raises(BudgetExceeded) as info:
        run(config, backends, workflow="wf", signals=["S0"], call_llm=metered, execution_id="t1")
    assert str(info.value) == "max_tokens of 120 exceeded in execution 't1'"
    assert info.value.used == 150
    ctx = backends.context.get_context("t1")
    assert ctx["out"] == ["ok", "ok"]  # the third answer was not used
    op = ctx["__operational__"]
    assert (op["prompt_tokens"], op["completion_tokens"]) == (90, 60)
    assert list(op)[-2:] == ["prompt_tokens", "completion_tokens"]
    assert [e["context"] for e in events(backends, "t1", "llm_usage")] == [
        {"prompt_tokens": 30, "completion_tokens": 20}] * 3


def test_no_usage_reported_adds_no_counters(backends):
    eid = run(ask_chain(1) | {"limits": {"max_steps": 10}}, backends, workflow="wf", signals=["S0"],
              call_llm=answer)
    op = backends.context.get_context(eid)["__operational__"]
    assert "prompt_tokens" not in op and events(backends, eid, "llm_usage") == []


def test_aresume_of_completed_execution(backends):
    eid = run(ask_chain(1) | {"limits": {"max_steps": 10}}, backends, workflow="wf", signals=["S0"],
              call_llm=answer)
    _, broadcast = create_all_nodes(backends, call_llm=answer)
    assert asyncio.run(aresume(eid, backends, broadcast)) == eid
