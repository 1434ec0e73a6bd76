"""The tool node (SPEC §5.4, §10.1, §12.2, Q3, Q7, Q17, Q18, Q20, Q22)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import events, run

from soe import WorkflowValidationError, create_all_nodes, orchestrate
from soe.local_backends import create_in_memory_backends
from soe.local_backends.factory import LocalBackends


class Recorder:
    """A tool that records every call (positional and keyword) and returns a scripted value."""

    def __init__(self, *results: Any):
        self.results = list(results) or [None]
        self.calls: list[tuple[tuple, dict]] = []
        self.__name__ = "recorder"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, BaseException):
            raise result
        return result

    @property
    def kwargs(self) -> list[dict]:
        return [kwargs for _, kwargs in self.calls]


def add(a, b):
    return a + b


def tool_node(**keys: Any) -> dict:
    node = {"node_type": "tool", "event_triggers": ["START"], "tool_name": "t"}
    node.update(keys)
    return node


def wf(*nodes: tuple[str, dict]) -> dict:
    return {"wf": dict(nodes)}


def stored(backends, eid) -> dict:
    ctx = backends.context.get_context(eid)
    return {k: v for k, v in ctx.items() if not k.startswith("__")}


def operational(backends, eid) -> dict:
    return backends.context.get_context(eid)["__operational__"]


# ---------------------------------------------------------------- parameters


def test_parameters_are_deep_rendered(backends):
    tool = Recorder("ok")
    params = {
        "top": "{{ context.name }}",
        "nested": {
            "list": ["{{ context.name | upper }}", 5, {"deep": "{% if context.flag %}on{% else %}off{% endif %}"}],
            "n": 3,
            "flag": True,
            "none": None,
            "float": 1.5,
        },
        "plain": "no template here",
        "braces": "{ not a template }",
        "block_only": "{% for i in context.nums %}{{ i }},{% endfor %}",
        "stmt_only": "{% if true %}yes{% endif %}",
    }
    run(wf(("T", tool_node(parameters=params))), backends, tools={"t": tool},
        context={"name": "ana", "flag": True, "nums": [1, 2]})
    assert tool.calls == [((), {
        "top": "ana",
        "nested": {
            "list": ["ANA", 5, {"deep": "on"}],
            "n": 3,
            "flag": True,
            "none": None,
            "float": 1.5,
        },
        "plain": "no template here",
        "braces": "{ not a template }",
        "block_only": "1,2,",
        "stmt_only": "yes",
    })]


def test_rendered_parameters_are_always_strings(backends):
    tool = Recorder("ok")
    params = {"n": "{{ context.n }}", "lst": "{{ context.lst }}", "b": "{{ context.b }}", "none": "{{ context.none }}",
              "missing": "{{ context.missing }}"}
    run(wf(("T", tool_node(parameters=params))), backends, tools={"t": tool},
        context={"n": 5, "lst": [1, 2], "b": False, "none": None})
    got = tool.kwargs[0]
    assert got == {"n": "5", "lst": "[1, 2]", "b": "False", "none": "None", "missing": ""}
    assert all(type(value) is str for value in got.values())


def test_parameters_see_operational_and_accumulated(backends):
    tool = Recorder("ok")
    params = {"sig": "{{ context.__operational__.signals | join(',') }}",
              "acc": "{{ context.nums | accumulated | length }}",
              "items": "{{ context['items'] }}", "method": "{{ context.items is callable }}"}
    run(wf(("T", tool_node(parameters=params))), backends, tools={"t": tool},
        context={"nums": [1, 2, 3], "items": "field"})
    assert tool.kwargs == [{"sig": "START", "acc": "3", "items": "field", "method": "True"}]


def test_parameters_with_lists_of_templates_in_parameters_root_values(backends):
    run_tool = Recorder("ok")
    params = {"qs": [{"q": "{{ context.a }}"}, {"q": "{{ context.b }}"}], "mixed": [["{{ context.a }}", 1]]}
    run(wf(("T", tool_node(parameters=params))), backends, tools={"t": run_tool}, context={"a": "x", "b": "y"})
    assert run_tool.kwargs == [{"qs": [{"q": "x"}, {"q": "y"}], "mixed": [["x", 1]]}]


def test_parameters_config_is_not_mutated_by_rendering(backends):
    tool = Recorder("ok")
    config = wf(("T", tool_node(parameters={"a": {"b": ["{{ context.x }}"]}})))
    run(config, backends, tools={"t": tool}, context={"x": "1"})
    assert config["wf"]["T"]["parameters"] == {"a": {"b": ["{{ context.x }}"]}}
    eid = run(config, backends, tools={"t": tool}, context={"x": "2"})
    assert tool.kwargs == [{"a": {"b": ["1"]}}, {"a": {"b": ["2"]}}]
    registry = backends.workflow.get_workflows_registry(eid)
    assert registry["wf"]["T"]["parameters"] == {"a": {"b": ["{{ context.x }}"]}}


def test_empty_parameters_dict_calls_without_arguments(backends):
    tool = Recorder("ok")
    run(wf(("T", tool_node(parameters={}))), backends, tools={"t": tool})
    assert tool.calls == [((), {})]


# ----------------------------------------------------- context_parameter_field


@pytest.mark.parametrize("value", [
    {"a": 1, "b": 2},
    '{"a": 1, "b": 2}',
    "a: 1\nb: 2\n",
    "{a: 1, b: 2}",
])
def test_context_parameter_field_dict_json_and_yaml(backends, value):
    eid = run(wf(("T", tool_node(tool_name="add", context_parameter_field="args", output_field="sum"))),
              backends, tools={"add": add}, context={"args": value})
    assert stored(backends, eid)["sum"] == [3]


def test_context_parameter_field_uses_the_latest_value(backends):
    tool = Recorder("ok")
    config = wf(
        ("Write", tool_node(tool_name="writer", output_field="args", event_emissions=[{"signal_name": "GO"}])),
        ("T", tool_node(event_triggers=["GO"], context_parameter_field="args")),
    )
    run(config, backends, tools={"writer": lambda: '{"x": "new"}', "t": tool}, context={"args": {"x": "old"}})
    assert tool.kwargs == [{"x": "new"}]


def test_context_parameter_field_absent_from_context_gives_empty_params(backends):
    tool = Recorder("ok")
    run(wf(("T", tool_node(context_parameter_field="nope"))), backends, tools={"t": tool})
    assert tool.calls == [((), {})]


def test_parameters_none_falls_back_to_context_parameter_field(backends):
    tool = Recorder("ok")
    run(wf(("T", tool_node(parameters=None, context_parameter_field="args"))), backends, tools={"t": tool},
        context={"args": {"k": "v"}})
    assert tool.kwargs == [{"k": "v"}]


def test_no_parameters_at_all_gives_empty_params(backends):
    tool = Recorder("ok")
    run(wf(("T", tool_node())), backends, tools={"t": tool}, context={"args": {"k": "v"}})
    assert tool.calls == [((), {})]


def test_both_parameters_and_context_parameter_field_is_rejected(backends):
    with pytest.raises(WorkflowValidationError) as info:
        run(wf(("T", tool_node(parameters={"a": 1}, context_parameter_field="args"))), backends,
            tools={"t": Recorder()})
    assert str(info.value) == ("Workflow 'wf', node 'T': Cannot specify both 'parameters' and "
                               "'context_parameter_field' - use one or the other")


def test_parameters_take_precedence_over_context_parameter_field(backends, monkeypatch):
    """§5.4 step 3 order; only the structural check forbids the pair, so bypass it to observe the rule."""
    from soe.nodes.tool.factory import create_tool_node_caller
    from soe.validation.nodes import tool as tool_config

    tool = Recorder("ok")
    eid = run(wf(("R", {"node_type": "router", "event_triggers": ["X"], "event_emissions": [{"signal_name": "Y"}]})),
              backends, context={"args": {"from": "field"}})
    caller = create_tool_node_caller(backends, {"t": tool}, lambda *_: None)
    monkeypatch.setattr(tool_config, "_check_parameters", lambda node_config: None)
    caller(eid, tool_node(parameters={"from": "parameters"}, context_parameter_field="args"))
    caller(eid, tool_node(parameters=None, context_parameter_field="args"))
    caller(eid, tool_node(parameters=None, context_parameter_field="absent"))
    assert tool.calls == [((), {"from": "parameters"}), ((), {"from": "field"}), ((), {})]


# ------------------------------------------------------- process_accumulated


def test_process_accumulated_passes_raw_history_positionally(backends):
    tool = Recorder("ok")
    config = wf(
        ("Write", tool_node(tool_name="writer", output_field="items", event_emissions=[{"signal_name": "GO"}])),
        ("T", tool_node(event_triggers=["GO"], context_parameter_field="items")),
    )
    registry = {"writer": Recorder(2), "t": {"function": tool, "process_accumulated": True}}
    run(config, backends, tools=registry, context={"items": 1})
    assert tool.calls == [(([1, 2],), {})]


def test_process_accumulated_single_list_entry_is_not_unwrapped(backends):
    tool = Recorder("ok")
    run(wf(("T", tool_node(context_parameter_field="items"))), backends,
        tools={"t": {"function": tool, "process_accumulated": True}}, context={"items": [1, 2]})
    assert tool.calls == [(([[1, 2]],), {})]


def test_without_process_accumulated_the_latest_value_is_used(backends):
    tool = Recorder("ok")
    run(wf(("T", tool_node(context_parameter_field="items"))), backends,
        tools={"t": {"function": tool, "process_accumulated": False}}, context={"items": {"k": 1}})
    assert tool.calls == [((), {"k": 1})]


def test_process_accumulated_has_no_effect_with_inline_parameters(backends):
    """Q17: inline parameters are always passed as keywords."""
    tool = Recorder("ok")
    run(wf(("T", tool_node(parameters={"a": "{{ context.nums }}", "b": 2}))), backends,
        tools={"t": {"function": tool, "process_accumulated": True}}, context={"nums": [1, 2]})
    assert tool.calls == [((), {"a": "[1, 2]", "b": 2})]


# ------------------------------------------------------------- events, counters


def test_tool_call_event_and_sequence(backends):
    eid = run(wf(("T", tool_node(output_field="out", event_emissions=[{"signal_name": "DONE"}]))), backends,
              tools={"t": Recorder("r")})
    got = [(e["event_type"], e["context"]) for e in events(backends, eid)]
    assert got == [
        ("orchestration_start", {"workflow_name": "wf"}),
        ("signals_broadcast", {"signals": ["START"]}),
        ("node_execution", {"node_name": "T", "node_type": "tool"}),
        ("tool_call", {"tool_name": "t", "max_retries": 0}),
        ("signals_broadcast", {"signals": ["DONE"]}),
    ]
    op = operational(backends, eid)
    assert op["tool_calls"] == 1
    assert op["errors"] == 0
    assert op["nodes"] == {"T": 1}
    assert stored(backends, eid) == {"out": ["r"]}


def test_tool_call_event_reports_entry_max_retries(backends):
    eid = run(wf(("T", tool_node())), backends, tools={"t": {"function": Recorder("r"), "max_retries": 4}})
    assert [e["context"] for e in events(backends, eid, "tool_call")] == [{"tool_name": "t", "max_retries": 4}]


def test_tool_call_registered_once_per_node_run_despite_retries(backends):
    tool = Recorder(ValueError("a"), ValueError("b"), "ok")
    eid = run(wf(("T", tool_node())), backends, tools={"t": {"function": tool, "max_retries": 2}})
    assert len(events(backends, eid, "tool_call")) == 1
    assert operational(backends, eid)["tool_calls"] == 1
    assert len(tool.calls) == 3


# ------------------------------------------------------------------- retries


def test_max_retries_defaults_to_zero_for_callables(backends):
    tool = Recorder(ValueError("boom"), "never")
    eid = run(wf(("T", tool_node(output_field="out"))), backends, tools={"t": tool})
    assert len(tool.calls) == 1
    assert [e["context"] for e in events(backends, eid, "node_error")] == [{"tool_name": "t", "error": "boom"}]
    assert stored(backends, eid) == {"out": ["boom"]}


def test_max_retries_defaults_to_zero_for_dict_entries(backends):
    tool = Recorder(ValueError("boom"), "never")
    eid = run(wf(("T", tool_node())), backends, tools={"t": {"function": tool}})
    assert len(tool.calls) == 1
    assert [e["context"] for e in events(backends, eid, "tool_call")] == [{"tool_name": "t", "max_retries": 0}]


def test_retry_then_success(backends):
    tool = Recorder(ValueError("first"), KeyError("second"), "ok")
    config = wf(("T", tool_node(output_field="out", event_emissions=[{"signal_name": "DONE"}])))
    eid = run(config, backends, tools={"t": {"function": tool, "max_retries": 2, "failure_signal": "FAIL"}})
    assert len(tool.calls) == 3
    assert [e["context"] for e in events(backends, eid, "node_error")] == [
        {"tool_name": "t", "retry_attempt": 1, "error": "first"},
        {"tool_name": "t", "retry_attempt": 2, "error": "'second'"},
    ]
    assert stored(backends, eid) == {"out": ["ok"]}
    op = operational(backends, eid)
    assert op["signals"] == ["START", "DONE"]
    assert op["errors"] == 2


def test_all_retries_fail(backends):
    tool = Recorder(ValueError("e1"), ValueError("e2"), ValueError("e3"))
    config = wf(
        ("T", tool_node(output_field="out", event_emissions=[{"signal_name": "DONE"}])),
        ("OnFail", {"node_type": "router", "event_triggers": ["FAIL"],
                    "event_emissions": [{"signal_name": "HANDLED"}]}),
    )
    eid = run(config, backends, tools={"t": {"function": tool, "max_retries": 2, "failure_signal": "FAIL"}},
              context={"out": "before"})
    assert len(tool.calls) == 3
    got = [(e["event_type"], e["context"]) for e in events(backends, eid)][3:]
    assert got == [
        ("tool_call", {"tool_name": "t", "max_retries": 2}),
        ("node_error", {"tool_name": "t", "retry_attempt": 1, "error": "e1"}),
        ("node_error", {"tool_name": "t", "retry_attempt": 2, "error": "e2"}),
        ("node_error", {"tool_name": "t", "error": "e3"}),
        ("signals_broadcast", {"signals": ["FAIL"]}),
        ("node_execution", {"node_name": "OnFail", "node_type": "router"}),
        ("node_execution", {"node_type": "router"}),
        ("signals_broadcast", {"signals": ["HANDLED"]}),
    ]
    assert stored(backends, eid) == {"out": ["before", "e3"]}
    op = operational(backends, eid)
    assert op["signals"] == ["START", "FAIL", "HANDLED"]
    assert op["errors"] == 3


def test_failure_without_failure_signal_never_raises(backends):
    tool = Recorder(RuntimeError("kaput"))
    eid = run(wf(("T", tool_node(event_emissions=[{"signal_name": "DONE"}]))), backends, tools={"t": tool})
    assert operational(backends, eid)["signals"] == ["START"]
    assert [e["context"] for e in events(backends, eid, "node_error")] == [{"tool_name": "t", "error": "kaput"}]
    assert stored(backends, eid) == {}


def test_failure_stores_str_of_error_into_output_field(backends):
    class Weird(Exception):
        def __str__(self) -> str:
            return "weird <failure>"

    eid = run(wf(("T", tool_node(output_field="out"))), backends, tools={"t": Recorder(Weird())})
    assert stored(backends, eid) == {"out": ["weird <failure>"]}


def test_missing_parameter_surfaces_the_functions_type_error(backends):
    config = wf(("T", tool_node(tool_name="add", parameters={"a": 1}, output_field="sum")))
    eid = run(config, backends, tools={"add": {"function": add, "failure_signal": "BAD"}})
    message = "add() missing 1 required positional argument: 'b'"
    assert stored(backends, eid) == {"sum": [message]}
    assert [e["context"] for e in events(backends, eid, "node_error")] == [{"tool_name": "add", "error": message}]
    assert operational(backends, eid)["signals"] == ["START", "BAD"]


def test_unexpected_parameter_surfaces_the_functions_type_error(backends):
    config = wf(("T", tool_node(tool_name="add", parameters={"a": 1, "b": 2, "c": 3}, output_field="sum")))
    eid = run(config, backends, tools={"add": add})
    assert stored(backends, eid) == {"sum": ["add() got an unexpected keyword argument 'c'"]}


def test_non_mapping_parsed_params_are_a_tool_failure(backends):
    """A context string that parses to a non-mapping cannot be ``**``-expanded: a handled failure."""
    config = wf(("T", tool_node(tool_name="add", context_parameter_field="args", output_field="sum")))
    eid = run(config, backends, tools={"add": add}, context={"args": "just text"})
    assert len(stored(backends, eid)["sum"]) == 1
    assert len(events(backends, eid, "node_error")) == 1


def test_unparsable_context_parameter_text_propagates_before_the_tool_runs(backends):
    """Step 3 is outside the retry handler: ``parse_yaml``'s ValueError ends the call (§5.4, §13.4)."""
    tool = Recorder("ok")
    config = wf(("T", tool_node(context_parameter_field="args", output_field="out")))
    with pytest.raises(ValueError, match="^Invalid YAML configuration: "):
        run(config, backends, tools={"t": {"function": tool, "max_retries": 2, "failure_signal": "F"}},
            context={"args": "a: [unclosed"}, execution_id="bad-args")
    assert tool.calls == []
    assert events(backends, "bad-args", "tool_call") == []
    assert events(backends, "bad-args", "node_error") == []
    assert stored(backends, "bad-args") == {"args": ["a: [unclosed"]}


# -------------------------------------------------------------- None results


def test_none_result_is_not_stored(backends):
    config = wf(("T", tool_node(output_field="out", event_emissions=[
        {"signal_name": "NONE", "condition": "{{ result is none }}"},
        {"signal_name": "ALWAYS"},
    ])))
    eid = run(config, backends, tools={"t": Recorder(None)})
    assert stored(backends, eid) == {}
    assert operational(backends, eid)["signals"] == ["START", "NONE", "ALWAYS"]


def test_falsy_non_none_results_are_stored(backends):
    config = wf(
        ("A", tool_node(tool_name="zero", output_field="out", event_emissions=[{"signal_name": "B"}])),
        ("B", tool_node(event_triggers=["B"], tool_name="empty", output_field="out", event_emissions=[{"signal_name": "C"}])),
        ("C", tool_node(event_triggers=["C"], tool_name="false", output_field="out")),
    )
    eid = run(config, backends, tools={"zero": lambda: 0, "empty": lambda: "", "false": lambda: False})
    assert stored(backends, eid) == {"out": [0, "", False]}


def test_result_without_output_field_is_not_stored(backends):
    eid = run(wf(("T", tool_node())), backends, tools={"t": Recorder({"big": "value"})}, context={"x": 1})
    assert stored(backends, eid) == {"x": [1]}


# ---------------------------------------------------------------- conditions


def test_conditions_see_pre_tool_context_and_result(backends):
    """Q18: ``context`` is the view read before the tool ran; ``result`` is the return value."""
    config = wf(("T", tool_node(output_field="counter", event_emissions=[
        {"signal_name": "OLD", "condition": "{{ context.counter == 1 }}"},
        {"signal_name": "NEW", "condition": "{{ context.counter == 2 }}"},
        {"signal_name": "RESULT", "condition": "{{ result == 2 }}"},
        {"signal_name": "HISTORY", "condition": "{{ context.counter | accumulated | length == 1 }}"},
        {"signal_name": "PLAIN", "condition": "plain text is unconditional"},
    ])))
    eid = run(config, backends, tools={"t": Recorder(2)}, context={"counter": 1})
    assert operational(backends, eid)["signals"] == ["START", "OLD", "RESULT", "HISTORY", "PLAIN"]
    assert stored(backends, eid) == {"counter": [1, 2]}


def test_conditions_can_use_result_attributes(backends):
    config = wf(("T", tool_node(event_emissions=[
        {"signal_name": "HIGH", "condition": "{{ result.score > 5 }}"},
        {"signal_name": "LOW", "condition": "{{ result.score <= 5 }}"},
        {"signal_name": "BROKEN", "condition": "{{ result.nope.deeper }}"},
        {"signal_name": "DIVZERO", "condition": "{{ 1 / 0 }}"},
    ])))
    eid = run(config, backends, tools={"t": Recorder({"score": 9})})
    assert operational(backends, eid)["signals"] == ["START", "HIGH"]
    assert events(backends, eid, "node_error") == []


def test_all_passing_signals_are_broadcast_together_with_duplicates(backends):
    config = wf(("T", tool_node(event_emissions=[
        {"signal_name": "A"}, {"signal_name": "B", "condition": "{{ result }}"}, {"signal_name": "A"},
    ])))
    eid = run(config, backends, tools={"t": Recorder("yes")})
    assert [e["context"] for e in events(backends, eid, "signals_broadcast")] == [
        {"signals": ["START"]}, {"signals": ["A", "B", "A"]},
    ]


@pytest.mark.parametrize("result, passes", [("false", False), ("False", False), (0, False), ("0", False),
                                            (None, False), ("", False), ("none", False), ([], True),
                                            ("no", True), (1, True)])
def test_result_truthiness_is_string_based(backends, result, passes):
    config = wf(("T", tool_node(event_emissions=[{"signal_name": "OK", "condition": "{{ result }}"}])))
    eid = run(config, backends, tools={"t": Recorder(result)})
    assert ("OK" in operational(backends, eid)["signals"]) is passes


# ------------------------------------------------------------------------ Q3


def test_downstream_failure_does_not_rerun_tool_nor_emit_failure_signal(backends):
    tool = Recorder("ok")
    registry = {"t": {"function": tool, "max_retries": 3, "failure_signal": "TOOL_FAILED"}}
    nodes, broadcast = create_all_nodes(backends, tools_registry=registry)

    def boom(execution_id: str, node_config: dict) -> None:
        raise RuntimeError("downstream exploded")

    nodes["_boom"] = boom
    config = wf(
        ("T", tool_node(output_field="out", event_emissions=[{"signal_name": "DONE"}])),
        ("Boom", {"node_type": "_boom", "event_triggers": ["DONE"]}),
        ("OnFail", {"node_type": "router", "event_triggers": ["TOOL_FAILED"],
                    "event_emissions": [{"signal_name": "X"}]}),
    )
    eid = "q3-custom"
    with pytest.raises(RuntimeError, match="^downstream exploded$"):
        orchestrate(config, "wf", ["START"], {}, backends, broadcast, execution_id=eid)
    assert len(tool.calls) == 1
    assert events(backends, eid, "node_error") == []
    op = operational(backends, eid)
    assert op["signals"] == ["START", "DONE"]
    assert op["nodes"] == {"T": 1, "Boom": 1}
    assert stored(backends, eid) == {"out": ["ok"]}


def test_downstream_llm_failure_propagates_and_tool_is_not_rerun(backends):
    tool = Recorder("ok")

    def failing_llm(messages, response_model):
        raise ConnectionError("llm down")

    registry = {"t": {"function": tool, "max_retries": 2, "failure_signal": "TOOL_FAILED"}}
    config = wf(
        ("T", tool_node(output_field="out", event_emissions=[{"signal_name": "DONE"}])),
        ("Ask", {"node_type": "llm", "event_triggers": ["DONE"], "prompt": "hi", "output_field": "answer"}),
    )
    eid = "q3-llm"
    with pytest.raises(RuntimeError, match="^llm down$"):
        run(config, backends, tools=registry, call_llm=failing_llm, execution_id=eid)
    assert len(tool.calls) == 1
    assert [e["context"] for e in events(backends, eid, "node_error")] == [{"node_type": "llm", "error": "llm down"}]
    assert operational(backends, eid)["signals"] == ["START", "DONE"]


class _FailingAppend:
    """Wraps a context backend so that storing one field fails."""

    def __init__(self, inner: Any, field: str):
        self.inner = inner
        self.field = field

    def save_context(self, id: str, context: dict) -> None:
        self.inner.save_context(id, context)

    def get_context(self, id: str) -> dict:
        return self.inner.get_context(id)

    def append_to_field(self, execution_id: str, field: str, value: Any) -> None:
        if field == self.field:
            raise OSError("disk full")
        self.inner.append_to_field(execution_id, field, value)

    def update_operational(self, execution_id: str, event_type: str, data: dict) -> None:
        self.inner.update_operational(execution_id, event_type, data)


def test_failure_while_storing_is_not_a_tool_failure():
    """§5.4 step 5: only the call is inside the retry handler; a store failure propagates."""
    inner = create_in_memory_backends()
    backends = LocalBackends(_FailingAppend(inner.context, "out"), inner.workflow, inner.telemetry,
                             inner.conversation_history, inner.context_schema, inner.identity)
    tool = Recorder("ok")
    registry = {"t": {"function": tool, "max_retries": 3, "failure_signal": "FAIL"}}
    eid = "store-fails"
    with pytest.raises(OSError, match="^disk full$"):
        run(wf(("T", tool_node(output_field="out"))), backends, tools=registry, execution_id=eid)
    assert len(tool.calls) == 1
    assert events(backends, eid, "node_error") == []
    assert operational(inner, eid)["signals"] == ["START"]


# ------------------------------------------------------------ resolution, Q7


def test_unknown_tool_raises_at_execution(backends):
    with pytest.raises(WorkflowValidationError) as info:
        run(wf(("T", tool_node(tool_name="nope"))), backends, tools={"t": Recorder()})
    assert str(info.value) == "Tool 'nope' not found in tools_registry or builtin tools"


def test_unknown_tool_is_checked_only_when_the_node_runs(backends):
    config = wf(("T", tool_node(tool_name="nope", event_triggers=["NEVER"])),
                ("R", {"node_type": "router", "event_triggers": ["START"], "event_emissions": [{"signal_name": "OK"}]}))
    eid = run(config, backends, tools={})
    assert operational(backends, eid)["signals"] == ["START", "OK"]


@pytest.mark.parametrize("entry, message", [
    (42, "Tool 't' registry entry must be a callable or dict with 'function' key"),
    ({"max_retries": 1}, "Tool 't' registry entry dict must have 'function' key"),
    ({"function": "not callable"}, "Tool 't' 'function' must be callable"),
    ({"function": add, "max_retries": -1}, "Tool 't' 'max_retries' must be a non-negative integer"),
    ({"function": add, "max_retries": "2"}, "Tool 't' 'max_retries' must be a non-negative integer"),
    ({"function": add, "failure_signal": 5}, "Tool 't' 'failure_signal' must be a string"),
])
def test_invalid_registry_entries(backends, entry, message):
    with pytest.raises(WorkflowValidationError) as info:
        run(wf(("T", tool_node())), backends, tools={"t": entry})
    assert str(info.value) == message


def test_registry_entry_forms_callable_and_dict(backends):
    config = wf(
        ("A", tool_node(tool_name="plain", parameters={"a": 1, "b": 2}, output_field="x",
                        event_emissions=[{"signal_name": "NEXT"}])),
        ("B", tool_node(event_triggers=["NEXT"], tool_name="full", parameters={"a": 10, "b": 20}, output_field="x")),
    )
    eid = run(config, backends, tools={"plain": add, "full": {"function": add, "max_retries": 1,
                                                               "failure_signal": "F", "process_accumulated": False}})
    assert stored(backends, eid) == {"x": [3, 30]}


def test_registry_entry_wins_over_builtin_of_same_name(backends):
    mine = Recorder("mine")
    eid = run(wf(("T", tool_node(tool_name="soe_get_context", output_field="out"))), backends,
              tools={"soe_get_context": mine})
    assert stored(backends, eid) == {"out": ["mine"]}
    assert len(mine.calls) == 1


def test_tool_node_absent_without_registry(backends):
    nodes, _ = create_all_nodes(backends)
    assert "tool" not in nodes
    with pytest.raises(KeyError) as info:
        run(wf(("T", tool_node())), backends, tools=None)
    assert info.value.args == ("tool",)


def test_empty_registry_still_creates_tool_node_and_builtins_work(backends):
    registry: dict = {}
    nodes, _ = create_all_nodes(backends, tools_registry=registry)
    assert list(nodes) == ["router", "tool", "child"]
    eid = run(wf(("T", tool_node(tool_name="soe_get_context", parameters={"field": "user"}, output_field="out"))),
              backends, tools=registry, context={"user": "alice"})
    assert stored(backends, eid)["out"] == [{"user": ["alice"]}]
    assert registry == {}


def test_registry_is_never_mutated_by_builtin_resolution(backends):
    """Q7: built-ins are bound per execution and never cached into the caller's registry."""
    mine = Recorder("x")
    registry = {"mine": mine}
    nodes, broadcast = create_all_nodes(backends, tools_registry=registry)
    config = wf(("T", tool_node(tool_name="soe_get_context", parameters={"field": "who"}, output_field="out")))
    first = orchestrate(config, "wf", ["START"], {"who": "first"}, backends, broadcast)
    second = orchestrate(config, "wf", ["START"], {"who": "second"}, backends, broadcast)
    assert registry == {"mine": mine}
    assert list(registry) == ["mine"]
    # each execution's built-in acted on its own context
    assert stored(backends, first)["out"] == [{"who": ["first"]}]
    assert stored(backends, second)["out"] == [{"who": ["second"]}]


def test_builtin_sees_the_caller_registry(backends):
    registry = {"mine": Recorder("x")}
    eid = run(wf(("T", tool_node(tool_name="soe_get_available_tools", output_field="out"))), backends,
              tools=registry)
    out = stored(backends, eid)["out"][0]
    assert out["user_tools"] == ["mine"]
    assert "soe_get_context" in out["builtin_tools"]
    assert registry == {"mine": registry["mine"]}


def test_builtin_update_context_writes_and_tool_output_stores(backends):
    config = wf(("T", tool_node(tool_name="soe_update_context", parameters={"updates": {"a": 1}},
                                output_field="status")))
    eid = run(config, backends, tools={}, context={"a": 0})
    assert stored(backends, eid) == {"a": [0, 1], "status": [{"status": "updated", "fields": ["a"]}]}


def test_tool_node_called_directly_without_name(backends):
    """A node caller invoked directly with no ``name`` reports ``unknown`` where a name is expected."""
    eid = run(wf(("R", {"node_type": "router", "event_triggers": ["X"], "event_emissions": [{"signal_name": "Y"}]})),
              backends)
    from soe import TemplateRenderError
    from soe.nodes.tool.factory import create_tool_node_caller

    caller = create_tool_node_caller(backends, {"t": Recorder("ok")}, lambda *_: None)
    with pytest.raises(TemplateRenderError) as info:
        caller(eid, tool_node(parameters={"p": "{{ context.missing.attr }}"}))
    assert info.value.node_name == "unknown"
    assert str(info.value).startswith("Template error in node 'unknown', parameters.p: ")
