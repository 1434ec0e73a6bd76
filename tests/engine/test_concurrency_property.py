"""Property: an order-independent workflow ends the same with max_concurrency 1 and 8.

Workflows are generated from parts whose outcome does not depend on the order
in which their calls complete — parallel tool branches, a counting loop, a
fan-out of children reporting to the parent, an agent with a tool, and a join
over all of them — with random call latencies. "The same" is the final context
with histories and the signal list taken as multisets (their order is the
completion order, the one thing concurrency may change), counters exact.
"""

from __future__ import annotations

import json
import random
import time

from conftest import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soe.local_backends import create_in_memory_backends


def build(branches: int, loop: int, children: int, agent: bool) -> dict:
    main: dict = {}
    waits_for = []
    for i in range(branches):
        main[f"Branch{i}"] = {"node_type": "tool", "tool_name": "work", "event_triggers": ["START"],
                              "parameters": {"what": f"b{i}"}, "output_field": f"b{i}",
                              "event_emissions": [{"signal_name": "PART"}]}
        waits_for.append(f"context.b{i} is defined")
    if loop:
        main["Count"] = {"node_type": "tool", "tool_name": "increment", "event_triggers": ["START", "AGAIN"],
                         "parameters": {"n": "{{ context.n | default(0) }}"}, "output_field": "n",
                         "event_emissions": [
                             {"signal_name": "AGAIN", "condition": f"{{{{ result < {loop} }}}}"},
                             {"signal_name": "PART", "condition": f"{{{{ result >= {loop} }}}}"}]}
        waits_for.append(f"(context.n | default(0)) >= {loop}")
    if children:
        main["Fan"] = {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "child",
                       "child_initial_signals": ["START"], "fan_out_field": "items", "child_input_field": "item",
                       "signals_to_parent": ["PART"], "context_updates_to_parent": ["done"]}
        waits_for.append(f"context.done is defined and (context.done | accumulated | length) == {children}")
    if agent:
        main["Agent"] = {"node_type": "agent", "event_triggers": ["START"], "prompt": "look it up",
                         "tools": ["lookup"], "output_field": "found", "event_emissions": [{"signal_name": "PART"}]}
        waits_for.append("context.found is defined")
    condition = " and ".join(waits_for) or "true"
    main["Join"] = {"node_type": "router", "event_triggers": ["PART"],
                    "event_emissions": [{"signal_name": "JOINED", "condition": f"{{{{ {condition} }}}}"}]}
    main["Final"] = {"node_type": "tool", "tool_name": "work", "event_triggers": ["JOINED"],
                     "parameters": {"what": "final"}, "output_field": "final"}
    child = {"Do": {"node_type": "tool", "tool_name": "work", "event_triggers": ["START"],
                    "parameters": {"what": "child {{ context.item }}"}, "output_field": "done",
                    "event_emissions": [{"signal_name": "PART"}]}}
    return {"main": main, "child": child}


def tools(latency_seed: int) -> dict:
    rng = random.Random(latency_seed)

    def pause() -> None:
        time.sleep(rng.choice((0, 0, 0.0005, 0.002)))

    def work(what: str) -> str:
        pause()
        return what.upper()

    def increment(n: str) -> int:
        pause()
        return int(n) + 1

    def lookup(topic: str) -> str:
        pause()
        return f"facts on {topic}"

    return {"work": work, "increment": increment, "lookup": lookup}


def agent_llm(messages, response_model):
    fields = set(response_model.model_fields)
    if fields == {"action", "tool_name"}:
        done = "[Tool: lookup]" in messages[0]["content"]
        return json.dumps({"action": "finish" if done else "call_tool", "tool_name": "lookup"})
    if fields == {"topic"}:
        return '{"topic": "soe"}'
    return json.dumps({next(iter(fields)): "found it"})


def normalised(context: dict) -> dict:
    out = {}
    for key, value in context.items():
        if key == "__operational__":
            value = {**value, "signals": sorted(value["signals"])}
        elif isinstance(value, list):
            value = sorted(value, key=json.dumps)
        out[key] = value
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(branches=st.integers(1, 4), loop=st.integers(0, 4), children=st.integers(0, 5), agent=st.booleans(),
       seed=st.integers(0, 10**6))
def test_concurrent_run_equals_sequential_run(branches, loop, children, agent, seed):
    config = build(branches, loop, children, agent)
    context = {"items": list(range(children))}
    results = []
    for concurrency in (1, 8):
        backends = create_in_memory_backends()
        eid = run(config, backends, context=context, call_llm=agent_llm, tools=tools(seed),
                  max_concurrency=concurrency, execution_id="prop")
        final = backends.context.get_context(eid)
        assert final["__operational__"]["signals"].count("JOINED") == 1
        results.append(normalised(final))
    assert results[0] == results[1]
