"""max_concurrency > 1: independent work at once, no lost update (SPEC §15 "Concurrency")."""

from __future__ import annotations

import asyncio
import threading

import pytest
from conftest import run

from soe import StepBudgetExceeded, aorchestrate, create_all_nodes


def fan_out_config(workers: int) -> dict:
    return {
        "parent": {"Fan": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "worker",
                           "child_initial_signals": ["START"], "fan_out_field": "items",
                           "child_input_field": "item", "context_updates_to_parent": ["result"],
                           "signals_to_parent": ["WORKER_DONE"]}},
        "worker": {"Work": {"node_type": "tool", "tool_name": "work", "event_triggers": ["START"],
                            "parameters": {"item": "{{ context.item }}"}, "output_field": "result",
                            "event_emissions": [{"signal_name": "WORKER_DONE"}]}},
    }


def test_listeners_of_one_broadcast_run_at_the_same_time(backends):
    barrier = threading.Barrier(3, timeout=10)

    def meet(name: str) -> str:
        barrier.wait()  # only returns if all three tools are running at once
        return name

    config = {"wf": {name: {"node_type": "tool", "tool_name": "meet", "event_triggers": ["START"],
                            "parameters": {"name": name}, "output_field": "met"} for name in ("A", "B", "C")}}
    eid = run(config, backends, tools={"meet": meet}, max_concurrency=3)
    assert sorted(backends.context.get_context(eid)["met"]) == ["A", "B", "C"]


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_max_concurrency_bounds_the_calls_running_at_once(backends, limit):
    lock = threading.Lock()
    running, peak = [0], [0]

    def work(item: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        threading.Event().wait(0.01)
        with lock:
            running[0] -= 1
        return item

    eid = run(fan_out_config(12), backends, context={"items": list(range(12))}, tools={"work": work},
              max_concurrency=limit)
    assert sorted(int(r) for r in backends.context.get_context(eid)["result"]) == list(range(12))
    assert peak[0] == limit


def test_fan_out_of_64_children_writing_one_parent_field(backends):
    barrier = threading.Barrier(8, timeout=10)

    def work(item: str) -> int:
        if int(item) < 8:
            barrier.wait()  # the first eight children must overlap
        return int(item) * 10

    eid = run(fan_out_config(64), backends, context={"items": list(range(64))}, tools={"work": work},
              max_concurrency=8)
    ctx = backends.context.get_context(eid)
    assert sorted(ctx["result"]) == [i * 10 for i in range(64)]
    assert ctx["__operational__"]["signals"].count("WORKER_DONE") == 64
    assert ctx["__operational__"]["nodes"] == {"Fan": 1}


def test_operational_counters_exact_under_concurrency(backends):
    config = {"wf": {f"N{i}": {"node_type": "router", "event_triggers": ["START"],
                               "event_emissions": [{"signal_name": f"S{i}"}]} for i in range(40)}}
    eid = run(config, backends, max_concurrency=8)
    op = backends.context.get_context(eid)["__operational__"]
    assert op["nodes"] == {f"N{i}": 1 for i in range(40)}
    assert sorted(op["signals"][1:]) == sorted(f"S{i}" for i in range(40)) and op["signals"][0] == "START"


def test_limits_key_sets_concurrency(backends):
    barrier = threading.Barrier(2, timeout=10)
    config = {"limits": {"max_concurrency": 2},
              "wf": {name: {"node_type": "tool", "tool_name": "meet", "event_triggers": ["START"],
                            "parameters": {}, "output_field": "met"} for name in ("A", "B")}}
    eid = run(config, backends, workflow="wf", tools={"meet": lambda: barrier.wait() is not None})
    assert backends.context.get_context(eid)["met"] == [True, True]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_async_call_llm_and_async_tools(backends, concurrency):
    async def call_llm(messages, response_model):
        await asyncio.sleep(0)
        return '{"answer": "hi"}'

    async def shout(text: str) -> str:
        await asyncio.sleep(0)
        return text.upper()

    config = {"wf": {
        "Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "Say hi", "output_field": "answer",
                "event_emissions": [{"signal_name": "ASKED"}]},
        "Shout": {"node_type": "tool", "tool_name": "shout", "event_triggers": ["ASKED"],
                  "parameters": {"text": "{{ context.answer }}"}, "output_field": "loud"},
    }}
    eid = run(config, backends, call_llm=call_llm, tools={"shout": shout}, max_concurrency=concurrency)
    ctx = backends.context.get_context(eid)
    assert ctx["answer"] == ["hi"] and ctx["loud"] == ["HI"]


def test_a_failing_branch_fails_the_call(backends):
    def boom() -> None:
        raise RuntimeError("branch failed")

    nodes, broadcast = create_all_nodes(backends, tools_registry={"ok": lambda: 1})
    nodes["_boom"] = lambda eid, cfg: boom()
    config = {"wf": {"Bad": {"node_type": "_boom", "event_triggers": ["START"]},
                     "Good": {"node_type": "tool", "tool_name": "ok", "event_triggers": ["START"],
                              "output_field": "ok"}}}
    from soe import orchestrate

    with pytest.raises(RuntimeError, match="branch failed"):
        orchestrate(config, "wf", ["START"], {}, backends, broadcast, max_concurrency=2)


def test_step_budget_holds_under_concurrency(backends):
    config = {"wf": {"Spin": {"node_type": "router", "event_triggers": ["START", "SPIN"],
                              "event_emissions": [{"signal_name": "SPIN"}, {"signal_name": "SPIN"}]}}}
    with pytest.raises(StepBudgetExceeded) as info:
        run(config, backends, max_concurrency=4, max_steps=30)
    assert info.value.max_steps == 30


def test_aorchestrate(backends):
    config = {"wf": {"A": {"node_type": "router", "event_triggers": ["START"],
                           "event_emissions": [{"signal_name": "DONE"}]}}}
    _, broadcast = create_all_nodes(backends)
    eid = asyncio.run(aorchestrate(config, "wf", ["START"], {}, backends, broadcast))
    assert backends.context.get_context(eid)["__operational__"]["signals"] == ["START", "DONE"]
