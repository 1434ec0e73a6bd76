"""OpenTelemetry spans (soe.otel) with the SDK's in-memory exporter: tree shape and attributes."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from soe import create_all_nodes, orchestrate  # noqa: E402
from soe.engine import tracing  # noqa: E402
from soe.llm import report_usage  # noqa: E402
from soe.local_backends import create_in_memory_backends  # noqa: E402
from soe.otel import disable_tracing, enable_tracing  # noqa: E402

CONFIG = {
    "main": {
        "Research": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "helper",
                     "child_initial_signals": ["BEGIN"], "signals_to_parent": ["HELPED"]},
        "Wrap": {"node_type": "router", "event_triggers": ["HELPED"], "event_emissions": [{"signal_name": "DONE"}]},
    },
    "helper": {
        "Solver": {"node_type": "agent", "event_triggers": ["BEGIN"], "prompt": "Add 2 and 3",
                   "tools": ["add"], "output_field": "answer", "model": "test-model",
                   "event_emissions": [{"signal_name": "HELPED"}]},
    },
}


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def scripted_llm() -> Any:
    """Legacy form (so it sees the node's ``model``): call ``add``, finish, answer; reports tokens."""
    script = [{"action": "call_tool", "tool_name": "add"}, {"a": 2, "b": 3}, {"action": "finish"},
              {"answer": "5"}]

    def call_llm(prompt: str, config: dict) -> str:
        report_usage(10, 4)
        return json.dumps(script.pop(0))

    return call_llm


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    enable_tracing(provider)
    yield exporter
    disable_tracing()


def by_name(finished: list[Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for span in finished:
        found.setdefault(span.name, []).append(span)
    return found


def test_otel_span_tree_for_a_child_with_an_agent(spans):
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, call_llm=scripted_llm(), tools_registry={"add": add})
    root_id = orchestrate(CONFIG, "main", ["START"], {}, backends, broadcast)
    assert backends.context.get_context(root_id)["__operational__"]["signals"][-1] == "DONE"

    named = by_name(spans.get_finished_spans())
    (root,) = named["soe.execution main"]
    (child,) = named["soe.execution helper"]
    (research,) = named["soe.node Research"]
    (wrap,) = named["soe.node Wrap"]
    (solver,) = named["soe.node Solver"]
    llm_calls = named["chat test-model"]
    (tool,) = named["execute_tool add"]

    trace_ids = {span.context.trace_id for span in spans.get_finished_spans()}
    assert trace_ids == {root.context.trace_id}  # one tree, one trace
    assert root.parent is None
    assert research.parent.span_id == wrap.parent.span_id == root.context.span_id
    assert child.parent.span_id == root.context.span_id  # parented across the child execution
    assert solver.parent.span_id == child.context.span_id
    assert tool.parent.span_id == solver.context.span_id
    assert len(llm_calls) == 4 and all(c.parent.span_id == solver.context.span_id for c in llm_calls)

    assert root.attributes["soe.execution_id"] == root_id and root.attributes["soe.status"] == "completed"
    assert child.attributes["soe.parent_execution_id"] == root_id
    assert dict(solver.attributes) == {"soe.execution_id": child.attributes["soe.execution_id"],
                                       "soe.node_name": "Solver", "soe.node_type": "agent"}
    assert {key: llm_calls[0].attributes[key] for key in llm_calls[0].attributes} == {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "test-model",
        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 4}
    assert dict(tool.attributes) == {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "add"}


def test_otel_failed_tool_call_marks_its_span_and_the_execution(spans):
    def boom() -> str:
        raise RuntimeError("disk on fire")

    config = {"wf": {"T": {"node_type": "tool", "tool_name": "boom", "event_triggers": ["START"],
                           "output_field": "out", "event_emissions": [{"signal_name": "DONE"}]}}}
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, tools_registry={"boom": {"function": boom, "max_retries": 0}})
    orchestrate(config, "wf", ["START"], {}, backends, broadcast)
    named = by_name(spans.get_finished_spans())
    (call,) = named["execute_tool boom"]
    assert call.status.status_code.name == "ERROR" and call.attributes["error.type"] == "RuntimeError"
    assert [e.name for e in call.events] == ["exception"]


def test_otel_no_tracer_installed_means_no_hook_runs():
    assert tracing.current() is None  # the engine's default: every hook is one check of None
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, call_llm=scripted_llm(), tools_registry={"add": add})
    orchestrate(CONFIG, "main", ["START"], {}, backends, broadcast)


def test_otel_engine_never_imports_opentelemetry_unless_asked():
    import subprocess
    import sys

    script = ("import sys\nfrom soe import create_all_nodes, orchestrate\n"
              "from soe.local_backends import create_in_memory_backends\n"
              "b = create_in_memory_backends()\n"
              "orchestrate({'wf': {'A': {'node_type': 'router', 'event_triggers': ['START'], "
              "'event_emissions': [{'signal_name': 'X'}]}}}, 'wf', ['START'], {}, b, create_all_nodes(b)[1])\n"
              "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'soe.otel'))))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_otel_concurrent_fan_out_keeps_every_span_under_its_own_parent(spans):
    config = {
        "main": {"Spread": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "one",
                            "child_initial_signals": ["GO"], "fan_out_field": "items",
                            "child_input_field": "item", "signals_to_parent": ["ONE_DONE"]}},
        "one": {"Work": {"node_type": "tool", "tool_name": "add", "event_triggers": ["GO"],
                         "parameters": {"a": "{{ context.item }}", "b": 1}, "output_field": "sum",
                         "event_emissions": [{"signal_name": "ONE_DONE"}]}},
    }
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, tools_registry={"add": lambda a, b: int(a) + b})
    orchestrate(config, "main", ["START"], {"items": [1, 2, 3, 4, 5, 6]}, backends, broadcast,
                max_concurrency=4)
    named = by_name(spans.get_finished_spans())
    (root,) = named["soe.execution main"]
    children = named["soe.execution one"]
    works = named["soe.node Work"]
    calls = named["execute_tool <lambda>"]
    assert len(children) == len(works) == len(calls) == 6
    assert all(child.parent.span_id == root.context.span_id for child in children)
    by_execution = {child.attributes["soe.execution_id"]: child.context.span_id for child in children}
    assert all(by_execution[w.attributes["soe.execution_id"]] == w.parent.span_id for w in works)
    assert {c.parent.span_id for c in calls} == {w.context.span_id for w in works}  # each call under its node
