"""Sandboxed templates and loud template failures (SPEC §6.2, §6.5, §15, §4.5, §13.4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ScriptedLLM, events, run

from soe import SoeError, TemplateRenderError, TemplateSecurityError, create_all_nodes, orchestrate
from soe.types import TemplateRenderError as TypesTemplateRenderError
from soe.types import TemplateSecurityError as TypesTemplateSecurityError

INITIAL = {"user": "ana", "os": "linux", "x": 1, "nested": {"k": [1, 2]}, "__meta": 7}
EID = "sec-exec"


def payloads(marker: Path) -> list[tuple[str, str]]:
    """(template, the sandbox's message) pairs; the first would create ``marker`` if it ever ran."""
    return [
        (f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}}",
         "access to attribute '__init__' of 'type' object is unsafe."),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}",
         "access to attribute '__class__' of 'str' object is unsafe."),
        ("{{ lipsum.__globals__ }}",
         "access to attribute '__globals__' of 'function' object is unsafe."),
        ("{{ self._TemplateReference__context }}",
         "access to attribute '_TemplateReference__context' of 'TemplateReference' object is unsafe."),
        ("{{ '{0.__class__}'.format(1) }}",
         "access to attribute '__class__' of 'int' object is unsafe."),
        ("{{ context.__class__ }}",
         "access to attribute '__class__' of 'dict' object is unsafe."),
        ("{% set c = ''.__class__ %}{{ c }}",
         "access to attribute '__class__' of 'str' object is unsafe."),
        ("{{ context | attr('__class__') }}",
         "access to attribute '__class__' of 'dict' object is unsafe."),
    ]


PAYLOAD_IDS = ["cycler-os-system", "mro-subclasses", "lipsum-globals", "template-reference", "str-format",
               "context-class", "set-block", "attr-filter"]


@pytest.fixture(params=range(len(PAYLOAD_IDS)), ids=PAYLOAD_IDS)
def payload(request, tmp_path) -> tuple[str, str, Path]:
    marker = tmp_path / "pwned"
    template, message = payloads(marker)[request.param]
    return template, message, marker


def router_config(condition: str) -> dict:
    return {"wf": {"Gate": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [
        {"signal_name": "SAFE"},
        {"signal_name": "OK", "condition": "{{ context.x == 1 }}"},
        {"signal_name": "EVIL", "condition": condition},
    ]}, "After": {"node_type": "router", "event_triggers": ["SAFE", "OK", "EVIL"],
                  "event_emissions": [{"signal_name": "AFTER"}]}}}


def llm_config(prompt: str) -> dict:
    return {"wf": {"Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": prompt,
                           "output_field": "answer", "llm_failure_signal": "LLM_FAILED", "retries": 0,
                           "event_emissions": [{"signal_name": "ANSWERED"}]},
                   "OnFail": {"node_type": "router", "event_triggers": ["LLM_FAILED"],
                              "event_emissions": [{"signal_name": "HANDLED"}]}}}


def tool_config(template: str) -> dict:
    return {"wf": {"Use": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                           "output_field": "out",
                           "parameters": {"safe": "{{ context.user }}", "deep": {"list": [1, {"q": template}]}}}}}


class Echo:
    __name__ = "echo"

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return kwargs


def non_internal(backends, eid: str) -> dict:
    return {k: v for k, v in backends.context.get_context(eid).items() if not k.startswith("__")}


WRAPPED = {"user": ["ana"], "os": ["linux"], "x": [1], "nested": [{"k": [1, 2]}]}


def _assert_security_error(error: TemplateSecurityError, *, node: str, field: str, template: str, message: str) -> None:
    assert isinstance(error, SoeError)
    assert str(error) == f"Unsafe template in node '{node}', {field}: {message}"
    assert error.node_name == node
    assert error.field == field
    assert error.template == template


def _assert_registered(backends, eid: str, error: TemplateSecurityError, node: str) -> None:
    assert [e["context"] for e in events(backends, eid, "template_security_error")] == [
        {"node_name": node, "error": str(error)}]
    assert events(backends, eid, "node_error") == []
    operational = backends.context.get_context(eid)["__operational__"]
    assert operational["errors"] == 0
    assert backends.context.get_context(eid)["__meta"] == 7


def test_error_classes_are_exported_from_soe_and_soe_types():
    assert TemplateSecurityError is TypesTemplateSecurityError
    assert TemplateRenderError is TypesTemplateRenderError
    assert issubclass(TemplateSecurityError, SoeError)
    assert issubclass(TemplateRenderError, SoeError)


# ------------------------------------------------------------ router condition


def test_payload_in_router_condition(backends, payload):
    template, message, marker = payload
    with pytest.raises(TemplateSecurityError) as info:
        run(router_config(template), backends, context=INITIAL, execution_id=EID)
    _assert_security_error(info.value, node="Gate", field="event_emissions[2].condition", template=template,
                           message=message)
    _assert_registered(backends, EID, info.value, "Gate")
    assert not marker.exists()
    # nothing was broadcast by the router: the passing emissions before it are dropped too
    assert backends.context.get_context(EID)["__operational__"]["signals"] == ["START"]
    assert backends.context.get_context(EID)["__operational__"]["nodes"] == {"Gate": 1}
    assert non_internal(backends, EID) == WRAPPED


def test_payload_in_first_router_condition_names_index_zero(backends, tmp_path):
    template, message = payloads(tmp_path / "m")[2]
    config = {"wf": {"Gate": {"node_type": "router", "event_triggers": ["START"],
                              "event_emissions": [{"signal_name": "EVIL", "condition": template}]}}}
    with pytest.raises(TemplateSecurityError) as info:
        run(config, backends, execution_id=EID)
    assert info.value.field == "event_emissions[0].condition"


# ---------------------------------------------------------------- LLM prompt


def test_payload_in_llm_prompt(backends, payload):
    template, message, marker = payload
    llm = ScriptedLLM('{"answer": "never"}')
    prompt = f"Hello {{{{ context.user }}}} {template}"
    with pytest.raises(TemplateSecurityError) as info:
        run(llm_config(prompt), backends, context=INITIAL, call_llm=llm, execution_id=EID)
    _assert_security_error(info.value, node="Ask", field="prompt", template=prompt, message=message)
    _assert_registered(backends, EID, info.value, "Ask")
    assert llm.calls == []
    assert not marker.exists()
    operational = backends.context.get_context(EID)["__operational__"]
    assert operational["signals"] == ["START"]  # no llm_failure_signal, no completion signal
    assert non_internal(backends, EID) == WRAPPED


def test_payload_in_prompt_form_llm_prompt(backends, tmp_path):
    marker = tmp_path / "pwned"
    template, message = payloads(marker)[0]
    calls = []

    def call_llm(prompt, config):
        calls.append(prompt)
        return '{"answer": "x"}'

    with pytest.raises(TemplateSecurityError) as info:
        run(llm_config(template), backends, call_llm=call_llm, execution_id=EID)
    assert str(info.value) == f"Unsafe template in node 'Ask', prompt: {message}"
    assert calls == []
    assert not marker.exists()


def test_payload_in_agent_prompt(backends, tmp_path):
    marker = tmp_path / "pwned"
    template, message = payloads(marker)[0]
    llm = ScriptedLLM('{"action": "finish"}')
    config = {"wf": {"Agent": {"node_type": "agent", "event_triggers": ["START"], "prompt": template,
                               "llm_failure_signal": "FAILED"}}}
    with pytest.raises(TemplateSecurityError) as info:
        run(config, backends, call_llm=llm, execution_id=EID)
    assert str(info.value) == f"Unsafe template in node 'Agent', prompt: {message}"
    assert llm.calls == []
    assert not marker.exists()
    assert events(backends, EID, "node_error") == []
    assert backends.context.get_context(EID)["__operational__"]["signals"] == ["START"]


# ------------------------------------------------------------- tool parameter


def test_payload_in_tool_parameter(backends, payload):
    template, message, marker = payload
    echo = Echo()
    registry = {"echo": {"function": echo, "max_retries": 3, "failure_signal": "TOOL_FAILED"}}
    with pytest.raises(TemplateSecurityError) as info:
        run(tool_config(template), backends, context=INITIAL, tools=registry, execution_id=EID)
    _assert_security_error(info.value, node="Use", field="parameters.deep.list[1].q", template=template,
                           message=message)
    _assert_registered(backends, EID, info.value, "Use")
    assert echo.calls == []
    assert not marker.exists()
    operational = backends.context.get_context(EID)["__operational__"]
    assert operational["signals"] == ["START"]
    assert operational["tool_calls"] == 0
    assert events(backends, EID, "tool_call") == []
    assert non_internal(backends, EID) == WRAPPED


def test_payload_in_tool_condition_raises_after_the_tool_ran(backends, tmp_path):
    marker = tmp_path / "pwned"
    template, message = payloads(marker)[0]
    echo = Echo()
    config = {"wf": {"Use": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                             "parameters": {"a": 1}, "output_field": "out",
                             "event_emissions": [{"signal_name": "OK"}, {"signal_name": "EVIL", "condition": template}]}}}
    registry = {"echo": {"function": echo, "max_retries": 2, "failure_signal": "TOOL_FAILED"}}
    with pytest.raises(TemplateSecurityError) as info:
        run(config, backends, tools=registry, execution_id=EID)
    assert str(info.value) == f"Unsafe template in node 'Use', event_emissions[1].condition: {message}"
    assert echo.calls == [{"a": 1}]  # not retried
    assert events(backends, EID, "node_error") == []
    assert backends.context.get_context(EID)["__operational__"]["signals"] == ["START"]
    assert not marker.exists()


def test_payload_in_llm_jinja_condition_raises(backends, tmp_path):
    template, message = payloads(tmp_path / "m")[2]
    llm = ScriptedLLM('{"answer": "hi"}')
    config = {"wf": {"Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "hi", "output_field": "answer",
                             "llm_failure_signal": "FAILED",
                             "event_emissions": [{"signal_name": "EVIL", "condition": template}]}}}
    with pytest.raises(TemplateSecurityError) as info:
        run(config, backends, call_llm=llm, execution_id=EID)
    assert str(info.value) == f"Unsafe template in node 'Ask', event_emissions[0].condition: {message}"
    assert events(backends, EID, "node_error") == []
    assert backends.context.get_context(EID)["__operational__"]["signals"] == ["START"]


# ------------------------------------------------------------- injected SSTI


def test_injected_ssti_node_is_accepted_then_raises_when_it_runs(backends, tmp_path):
    marker = tmp_path / "pwned"
    template, message = payloads(marker)[0]
    evil = {"node_type": "router", "event_triggers": ["GO"], "event_emissions": [{"signal_name": "X", "condition": template}]}
    inject = {"workflow_name": "wf", "node_name": "Evil", "node_config_data": json.dumps(evil)}
    config = {"wf": {"Inject": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "soe_inject_node",
                                "context_parameter_field": "inject", "output_field": "injected",
                                "event_emissions": [{"signal_name": "GO"}]}}}
    with pytest.raises(TemplateSecurityError) as info:
        run(config, backends, tools={}, context={"inject": inject}, execution_id=EID)
    assert str(info.value) == f"Unsafe template in node 'Evil', event_emissions[0].condition: {message}"
    assert not marker.exists()
    assert non_internal(backends, EID)["injected"][0]["injected"] is True
    assert [e["context"]["node_name"] for e in events(backends, EID, "template_security_error")] == ["Evil"]


def test_security_error_in_child_propagates_to_the_root_call(backends, tmp_path):
    template, message = payloads(tmp_path / "m")[1]
    config = {
        "parent": {"Spawn": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "kid",
                             "child_initial_signals": ["START"]}},
        "kid": {"Gate": {"node_type": "router", "event_triggers": ["START"],
                         "event_emissions": [{"signal_name": "X", "condition": template}]}},
    }
    with pytest.raises(TemplateSecurityError) as info:
        run(config, backends, execution_id=EID)
    assert info.value.node_name == "Gate"
    assert events(backends, EID, "template_security_error") == []


# ---------------------------------------------------------------- safe access


SAFE_TEMPLATE = ("{{ context.os }}|{{ context.__operational__.signals[0] }}|{{ context.get('x') }}|"
                 "{{ context.items is callable }}|{{ context['items'] }}|{{ context.get('nope', 'dflt') }}")
SAFE_RENDERED = "linux|START|1|True|field|dflt"


def test_safe_access_in_router_condition(backends):
    config = {"wf": {"Gate": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [
        {"signal_name": "OS", "condition": "{{ context.os == 'linux' }}"},
        {"signal_name": "OP", "condition": "{{ 'START' in context.__operational__.signals }}"},
        {"signal_name": "GET", "condition": "{{ context.get('x') == 1 }}"},
        {"signal_name": "ITEMS_METHOD", "condition": "{{ context.items is callable }}"},
        {"signal_name": "ITEMS_FIELD", "condition": "{{ context['items'] == 'field' }}"},
        {"signal_name": "KEYS", "condition": "{{ 'os' in context.keys() | list }}"},
    ]}}}
    eid = run(config, backends, context={"os": "linux", "x": 1, "items": "field"})
    assert backends.context.get_context(eid)["__operational__"]["signals"] == [
        "START", "OS", "OP", "GET", "ITEMS_METHOD", "ITEMS_FIELD", "KEYS"]
    assert events(backends, eid, "template_security_error") == []


def test_safe_access_in_llm_prompt(backends):
    llm = ScriptedLLM('{"answer": "ok"}')
    run(llm_config(SAFE_TEMPLATE), backends, call_llm=llm, context={"os": "linux", "x": 1, "items": "field"})
    payload = json.loads(llm.prompts[0].split("\n\n", 1)[0])
    assert payload["prompt"] == SAFE_RENDERED


def test_safe_access_in_tool_parameter(backends):
    echo = Echo()
    config = {"wf": {"Use": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                             "parameters": {"v": SAFE_TEMPLATE}}}}
    run(config, backends, tools={"echo": echo}, context={"os": "linux", "x": 1, "items": "field"})
    assert echo.calls == [{"v": SAFE_RENDERED}]


def test_ordinary_filters_and_string_methods_work(backends):
    echo = Echo()
    params = {"fmt": "{{ '%s-%s' | format(context.user, 2) }}", "upper": "{{ context.user.upper() }}",
              "fmt_method": "{{ '{0}!'.format(context.user) }}", "join": "{{ context.nested.k | join('+') }}"}
    config = {"wf": {"Use": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                             "parameters": params}}}
    run(config, backends, tools={"echo": echo}, context=INITIAL)
    assert echo.calls == [{"fmt": "ana-2", "upper": "ANA", "fmt_method": "ana!", "join": "1+2"}]


def test_templates_cannot_mutate_the_context(backends):
    """The environment is immutable: ``append`` on a list is refused, the stored context is unchanged."""
    echo = Echo()
    config = {"wf": {"Use": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                             "parameters": {"v": "{{ context.nested.k.append(3) }}"}}}}
    with pytest.raises(TemplateSecurityError) as info:
        run(config, backends, tools={"echo": echo}, context=INITIAL, execution_id=EID)
    assert info.value.field == "parameters.v"
    assert echo.calls == []
    assert non_internal(backends, EID) == WRAPPED


# ------------------------------------------------------------ loud failures


def test_missing_field_renders_empty_in_prompt_with_warning(backends):
    llm = ScriptedLLM('{"answer": "ok"}')
    prompt = "Hello {{ context.missing }}!{% if context.missing %} yes{% endif %}"
    eid = run(llm_config(prompt), backends, call_llm=llm)
    payload = json.loads(llm.prompts[0].split("\n\n", 1)[0])
    assert payload["prompt"] == "Hello !"
    assert [e["context"] for e in events(backends, eid, "context_warning") if "warnings" in e["context"]] == [
        {"warnings": ["Context field 'missing' referenced in prompt but not found in context"]}]
    assert non_internal(backends, eid) == {"answer": ["ok"]}


@pytest.mark.parametrize("prompt, detail", [
    ("Hi {{ context.missing.attr }}", "'dict object' has no attribute 'missing'"),
    ("Hi {{ context.user.nope.deeper }}", "'str object' has no attribute 'nope'"),
    ("Hi {{ 1 / 0 }}", "division by zero"),
    ("Hi {{ context['missing']['k'] }}", "'dict object' has no attribute 'missing'"),
])
def test_prompt_render_error_raises_and_llm_is_never_called(backends, prompt, detail):
    llm = ScriptedLLM('{"answer": "never"}')
    with pytest.raises(TemplateRenderError) as info:
        run(llm_config(prompt), backends, call_llm=llm, context=INITIAL, execution_id=EID)
    assert str(info.value) == f"Template error in node 'Ask', prompt: {detail}"
    assert info.value.node_name == "Ask"
    assert info.value.field == "prompt"
    assert info.value.template == prompt
    assert llm.calls == []
    assert events(backends, EID, "node_error") == []
    assert events(backends, EID, "template_security_error") == []
    operational = backends.context.get_context(EID)["__operational__"]
    assert operational["signals"] == ["START"]  # no llm_failure_signal
    assert operational["llm_calls"] == 1  # registered before the render, kept after the failure
    assert non_internal(backends, EID) == WRAPPED


def test_agent_prompt_render_error_raises_and_llm_is_never_called(backends):
    llm = ScriptedLLM('{"action": "finish"}')
    config = {"wf": {"Agent": {"node_type": "agent", "event_triggers": ["START"],
                               "prompt": "Do {{ context.missing.attr }}", "llm_failure_signal": "FAILED"}}}
    with pytest.raises(TemplateRenderError) as info:
        run(config, backends, call_llm=llm, execution_id=EID)
    assert str(info.value) == "Template error in node 'Agent', prompt: 'dict object' has no attribute 'missing'"
    assert llm.calls == []
    assert events(backends, EID, "node_error") == []
    assert backends.context.get_context(EID)["__operational__"]["signals"] == ["START"]


def test_tool_parameter_render_error_names_the_path(backends):
    echo = Echo()
    config = {"wf": {"Use": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                             "parameters": {"a": {"b": ["ok {{ context.user }}", "{{ context.missing.attr }}"]}}}}}
    registry = {"echo": {"function": echo, "max_retries": 2, "failure_signal": "FAILED"}}
    with pytest.raises(TemplateRenderError) as info:
        run(config, backends, tools=registry, context=INITIAL, execution_id=EID)
    assert str(info.value) == "Template error in node 'Use', parameters.a.b[1]: 'dict object' has no attribute 'missing'"
    assert info.value.field == "parameters.a.b[1]"
    assert info.value.node_name == "Use"
    assert echo.calls == []
    assert events(backends, EID, "node_error") == []
    assert events(backends, EID, "tool_call") == []
    assert backends.context.get_context(EID)["__operational__"]["signals"] == ["START"]
    assert non_internal(backends, EID) == WRAPPED


def test_tool_parameter_missing_field_renders_empty(backends):
    echo = Echo()
    config = {"wf": {"Use": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                             "parameters": {"a": "[{{ context.missing }}]"}}}}
    run(config, backends, tools={"echo": echo})
    assert echo.calls == [{"a": "[]"}]


def test_undefined_comparison_in_condition_silently_fails_that_emission(backends):
    config = {"wf": {"Gate": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [
        {"signal_name": "CMP", "condition": "{{ context.missing > 3 }}"},
        {"signal_name": "ATTR", "condition": "{{ context.missing.attr }}"},
        {"signal_name": "DIV", "condition": "{{ 1 / 0 }}"},
        {"signal_name": "UNDEF", "condition": "{{ context.missing }}"},
        {"signal_name": "TYPE", "condition": "{{ context.x + 'a' }}"},
        {"signal_name": "OK", "condition": "{{ context.x == 1 }}"},
    ]}}}
    eid = run(config, backends, context={"x": 1})
    assert backends.context.get_context(eid)["__operational__"]["signals"] == ["START", "OK"]
    assert events(backends, eid, "node_error") == []
    assert events(backends, eid, "template_security_error") == []


def test_tool_condition_render_error_fails_silently(backends):
    echo = Echo()
    config = {"wf": {"Use": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                             "parameters": {"a": 1}, "event_emissions": [
                                 {"signal_name": "BAD", "condition": "{{ result.missing.attr }}"},
                                 {"signal_name": "OK", "condition": "{{ result.a == 1 }}"}]}}}
    eid = run(config, backends, tools={"echo": echo})
    assert backends.context.get_context(eid)["__operational__"]["signals"] == ["START", "OK"]
    assert events(backends, eid, "node_error") == []


def test_security_error_passes_a_custom_downstream_boundary(backends, tmp_path):
    """An SSTI payload in a node triggered by an LLM node does not become that LLM node's failure."""
    template, message = payloads(tmp_path / "m")[2]
    llm = ScriptedLLM('{"answer": "ok"}')
    nodes, broadcast = create_all_nodes(backends, call_llm=llm)
    config = {"wf": {
        "Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "hi", "output_field": "answer",
                "llm_failure_signal": "FAILED", "event_emissions": [{"signal_name": "NEXT"}]},
        "Gate": {"node_type": "router", "event_triggers": ["NEXT"],
                 "event_emissions": [{"signal_name": "X", "condition": template}]},
    }}
    with pytest.raises(TemplateSecurityError):
        orchestrate(config, "wf", ["START"], {}, backends, broadcast, execution_id=EID)
    assert len(llm.calls) == 1
    assert events(backends, EID, "node_error") == []
    assert backends.context.get_context(EID)["__operational__"]["signals"] == ["START", "NEXT"]


def test_security_error_from_a_tree_started_by_a_tool_is_registered_once(backends, tmp_path):
    """§12.2: the event goes on the execution whose node rendered the template, not on the tool's."""
    template, message = payloads(tmp_path / "m")[2]
    inner = {"inner": {"Gate": {"node_type": "router", "event_triggers": ["START"],
                                "event_emissions": [{"signal_name": "X", "condition": template}]}}}

    def spawn():
        _, inner_broadcast = create_all_nodes(backends)
        return orchestrate(inner, "inner", ["START"], {}, backends, inner_broadcast, execution_id="inner-id")

    config = {"outer": {"Spawn": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "spawn",
                                  "output_field": "out"}}}
    registry = {"spawn": {"function": spawn, "max_retries": 2, "failure_signal": "FAILED"}}
    with pytest.raises(TemplateSecurityError) as info:
        run(config, backends, tools=registry, execution_id="outer-id")
    assert str(info.value) == f"Unsafe template in node 'Gate', event_emissions[0].condition: {message}"
    assert [e["context"] for e in events(backends, "inner-id", "template_security_error")] == [
        {"node_name": "Gate", "error": str(info.value)}]
    assert events(backends, "outer-id", "template_security_error") == []
    assert events(backends, "outer-id", "node_error") == []  # passed through the tool's retry handler
    assert len(events(backends, "outer-id", "tool_call")) == 1
