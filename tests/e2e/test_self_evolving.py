"""Self-evolving workflows end to end (SPEC §5.3, §5.4, §10.2, §14 Q13/Q23, §15).

A node changes its own execution's registry through a built-in registry tool; the
change takes effect for later broadcasts, is recorded as a numbered revision
authored by that node, and ``soe.rollback_registry`` brings the old behaviour back.
Injected templates are never scanned statically: an SSTI payload is accepted and
only fails, loudly and harmlessly, when the injected node runs.

Why some tool nodes use a registry entry under a built-in's own name: SPEC §5.4
puts ``failure_signal`` on the tools-registry entry, not on the node, so a tool
node can only broadcast a failure signal for a built-in when the registry holds
that built-in (bound with its factory, §10.1) together with a ``failure_signal``.
Those executions use a caller-chosen ``execution_id`` (§4.1 step 3) so the
built-in can be bound before ``orchestrate`` runs.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jinja2.sandbox
import pytest
from conftest import ScriptedLLM, events, run

import soe
from soe import TemplateSecurityError, WorkflowValidationError, create_all_nodes, orchestrate
from soe.builtin_tools import BUILTIN_TOOLS
from soe.registry import inject_node

ROUTER_BASE = "Decide the next action: 'call_tool' to use a tool, or 'finish' if task is complete."


# --- helpers --------------------------------------------------------------------------------------


class StageLLM:
    """A messages-form call_llm answering by stage: ``RouterResponse``, ``...Schema`` or the response model.

    ``router`` and ``params`` are consumed in order (the last one repeats); every
    other model gets ``response``. Every call is recorded as ``(model name, payload dict)``.
    """

    def __init__(self, router: list[dict], params: list[dict], response: Any):
        self.router = list(router)
        self.params = list(params)
        self.response = response
        self.calls: list[tuple[str, dict]] = []

    @staticmethod
    def _next(queue: list[Any]) -> Any:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def __call__(self, messages: list[dict], response_model: Any) -> str:
        name = response_model.__name__
        self.calls.append((name, json.loads(messages[0]["content"].split("\n\n", 1)[0])))
        if name == "RouterResponse":
            return json.dumps(self._next(self.router))
        if name.endswith("Schema"):
            return json.dumps(self._next(self.params))
        return json.dumps(self.response)

    def payloads(self, name: str) -> list[dict]:
        return [payload for model, payload in self.calls if model == name]

    @property
    def names(self) -> list[str]:
        return [model for model, _ in self.calls]


def call(tool: str) -> dict:
    return {"action": "call_tool", "tool_name": tool}


FINISH = {"action": "finish"}


def router(triggers: list[str], *signals: str, condition: str | None = None) -> dict:
    emissions = [{"signal_name": s} if condition is None else {"signal_name": s, "condition": condition}
                 for s in signals]
    return {"node_type": "router", "event_triggers": triggers, "event_emissions": emissions}


def tool_node(tool_name: str, triggers: list[str], **keys: Any) -> dict:
    return {"node_type": "tool", "event_triggers": triggers, "tool_name": tool_name, **keys}


def operational(backends: Any, eid: str) -> dict:
    return backends.context.get_context(eid)["__operational__"]


def user_fields(backends: Any, eid: str) -> dict:
    return {k: v for k, v in backends.context.get_context(eid).items() if not k.startswith("__")}


def registry(backends: Any, eid: str) -> dict:
    return copy.deepcopy(dict(backends.workflow.get_workflows_registry(eid)))


def summary(backends: Any, eid: str) -> list[tuple[int, str, str]]:
    return [(r["revision"], r["author"], r["operation"]) for r in soe.get_registry_revisions(eid, backends)]


def builtin_entry(name: str, eid: str, backends: Any, failure_signal: str, tools: dict | None = None) -> dict:
    """A registry entry holding the built-in ``name`` bound to ``eid``, with a failure signal (§5.4)."""
    function = BUILTIN_TOOLS[name](execution_id=eid, backends=backends, tools_registry=tools or {})
    return {"function": function, "failure_signal": failure_signal}


def assert_diff(diff: list[dict], *allowed: list[dict]) -> None:
    """A change's diff is node-level or whole-workflow (§15 allows either path form)."""
    assert diff in allowed, diff


def jinja_syntax_message(template: str) -> str:
    try:
        jinja2.sandbox.ImmutableSandboxedEnvironment().parse(template)
    except jinja2.TemplateSyntaxError as exc:
        return exc.message
    raise AssertionError(f"{template!r} compiled")


# --- 1. an agent injects a node, it runs, and rollback restores the old behaviour ------------------


GREETER = router(["EVOLVED"], "GREETED")
AGENT_CONFIG = {"wf": {
    "Evolver": {"node_type": "agent", "event_triggers": ["START"], "prompt": "Teach the workflow to greet",
                "tools": ["soe_inject_node"], "output_field": "answer",
                "event_emissions": [{"signal_name": "EVOLVED"}]},
    "Logger": router(["EVOLVED"], "LOGGED"),
}}


def evolver_llm() -> StageLLM:
    return StageLLM(router=[call("soe_inject_node"), FINISH],
                    params=[{"workflow_name": "wf", "node_name": "Greeter", "node_config_data": json.dumps(GREETER)}],
                    response={"answer": "taught"})


def test_agent_injects_a_node_that_runs_then_rollback_restores_old_behaviour(backends):
    original = copy.deepcopy(AGENT_CONFIG)
    llm = evolver_llm()
    _, broadcast = create_all_nodes(backends, call_llm=llm, tools_registry={})
    eid = orchestrate(AGENT_CONFIG, "wf", ["START"], {"user": "ana"}, backends, broadcast)

    # The agent called the built-in (parameter model named after the function), then finished.
    assert llm.names == ["RouterResponse", "soe_soe_inject_nodeSchema", "RouterResponse", "AnswerResponse"]
    assert llm.payloads("RouterResponse")[1]["instructions"].startswith(ROUTER_BASE + "\n\nTOOL RESPONSE RECEIVED:")
    assert AGENT_CONFIG == original  # the caller's config is never changed

    ctx = backends.context.get_context(eid)
    assert ctx["answer"] == ["taught"]
    op = ctx["__operational__"]
    # Greeter ran on the agent's own completion signal, after Logger (workflow order).
    assert op["signals"] == ["START", "EVOLVED", "LOGGED", "GREETED"]
    # Q13: the injection event counts once, the run once more.
    assert op["nodes"] == {"Evolver": 1, "Greeter": 2, "Logger": 1}
    assert registry(backends, eid) == {"wf": {**original["wf"], "Greeter": GREETER}}
    assert list(registry(backends, eid)["wf"]) == ["Evolver", "Logger", "Greeter"]

    revisions = soe.get_registry_revisions(eid, backends)
    assert summary(backends, eid) == [(0, "api", "orchestrate"), (1, "Evolver", "soe_inject_node")]
    assert revisions[0]["diff"] == [{"op": "add", "path": "/wf", "value": original["wf"]}]
    assert revisions[1]["diff"] == [{"op": "add", "path": "/wf/Greeter", "value": GREETER}]
    tool_events = [e["context"] for e in events(backends, eid, "agent_tool_result")]
    assert tool_events[0]["result_preview"] == str({
        "injected": True, "workflow_name": "wf", "node_name": "Greeter",
        "message": "Successfully injected node 'Greeter' into workflow 'wf'"})

    # Rollback to revision 0 is itself revision 2, authored by the API.
    assert soe.rollback_registry(eid, 0, backends) == 2
    assert registry(backends, eid) == original
    assert list(registry(backends, eid)["wf"]) == ["Evolver", "Logger"]
    assert summary(backends, eid)[-1] == (2, "api", "rollback_registry")
    assert_diff(soe.get_registry_revisions(eid, backends)[2]["diff"], [{"op": "remove", "path": "/wf/Greeter"}],
                [{"op": "replace", "path": "/wf", "value": original["wf"]}])

    # The same signal now runs only the original listener.
    broadcast(eid, ["EVOLVED"])
    op = operational(backends, eid)
    assert op["signals"] == ["START", "EVOLVED", "LOGGED", "GREETED", "EVOLVED", "LOGGED"]
    assert op["nodes"] == {"Evolver": 1, "Greeter": 2, "Logger": 2}
    assert len(llm.calls) == 4  # the agent did not run again


def test_agent_injected_node_shows_in_its_own_telemetry(backends):
    llm = evolver_llm()
    eid = run(AGENT_CONFIG, backends, call_llm=llm, tools={})
    node_events = [e["context"] for e in events(backends, eid, "node_execution")]
    assert {"tool": "soe_inject_node", "workflow_name": "wf", "node_name": "Greeter"} in node_events
    assert [e["context"] for e in events(backends, eid, "agent_tool_call")] == [{
        "node_name": "Evolver", "tool_name": "soe_inject_node",
        "tool_args": {"workflow_name": "wf", "node_name": "Greeter", "node_config_data": json.dumps(GREETER)}}]


# --- 1b. tool nodes inject a workflow and add a signal, with parameters ----------------------------


EXTRA = {"Work": router(["BEGIN"], "EXTRA_DONE")}
TOOL_CONFIG = {"wf": {
    "Inject": tool_node("soe_inject_workflow", ["START"], output_field="inject_result",
                        parameters={"workflow_name": "extra", "workflow_data": json.dumps({"extra": EXTRA})},
                        event_emissions=[{"signal_name": "INJECTED"}]),
    "AddSignal": tool_node("soe_add_signal", ["INJECTED"], output_field="signal_result",
                           parameters={"workflow_name": "wf", "node_name": "Logger", "signal_name": "ALSO_{{ context.tag }}",
                                       "condition": "{% raw %}{{ context.tag == 'x' }}{% endraw %}"},
                           event_emissions=[{"signal_name": "ADDED"}]),
    "Spawn": {"node_type": "child", "event_triggers": ["ADDED"], "child_workflow_name": "extra",
              "child_initial_signals": ["BEGIN"], "signals_to_parent": ["EXTRA_DONE"]},
    "Logger": router(["EXTRA_DONE"], "LOGGED"),
}}


def test_tool_nodes_inject_a_workflow_and_add_a_signal_then_rollback(backends):
    original = copy.deepcopy(TOOL_CONFIG)
    _, broadcast = create_all_nodes(backends, tools_registry={})
    eid = orchestrate(TOOL_CONFIG, "wf", ["START"], {"tag": "x"}, backends, broadcast)

    ctx = backends.context.get_context(eid)
    assert ctx["inject_result"] == [{"injected": True, "workflow_name": "extra",
                                     "message": "Successfully injected workflow 'extra'"}]
    assert ctx["signal_result"] == [{"status": "added", "message": "Added signal 'ALSO_x' to node 'Logger'"}]
    # The child ran the injected workflow; its signal reached the parent, whose Logger now
    # emits the added signal (its condition arrived unrendered thanks to {% raw %}).
    assert ctx["__operational__"]["signals"] == ["START", "INJECTED", "ADDED", "EXTRA_DONE", "LOGGED", "ALSO_x"]
    assert ctx["__operational__"]["nodes"] == {"Inject": 1, "AddSignal": 1, "Logger": 2, "Spawn": 1}

    logger = {**original["wf"]["Logger"], "event_emissions": [
        {"signal_name": "LOGGED"}, {"signal_name": "ALSO_x", "condition": "{{ context.tag == 'x' }}"}]}
    assert registry(backends, eid) == {"wf": {**original["wf"], "Logger": logger}, "extra": EXTRA}
    revisions = soe.get_registry_revisions(eid, backends)
    assert summary(backends, eid) == [(0, "api", "orchestrate"), (1, "Inject", "soe_inject_workflow"),
                                      (2, "AddSignal", "soe_add_signal")]
    assert revisions[1]["diff"] == [{"op": "add", "path": "/extra", "value": EXTRA}]
    assert_diff(revisions[2]["diff"], [{"op": "replace", "path": "/wf/Logger", "value": logger}],
                [{"op": "replace", "path": "/wf", "value": {**original["wf"], "Logger": logger}}])
    node_events = [e["context"] for e in events(backends, eid, "node_execution") if "tool" in e["context"]]
    assert node_events == [{"tool": "soe_inject_workflow", "workflow_name": "extra"},
                           {"tool": "add_signal", "workflow_name": "wf", "node_name": "Logger", "signal": "ALSO_x"}]

    assert soe.rollback_registry(eid, 0, backends) == 3
    assert registry(backends, eid) == original
    assert summary(backends, eid)[-1] == (3, "api", "rollback_registry")

    broadcast(eid, ["EXTRA_DONE"])
    assert operational(backends, eid)["signals"][-2:] == ["EXTRA_DONE", "LOGGED"]

    # Rolling forward to revision 2 brings the evolved behaviour back.
    assert soe.rollback_registry(eid, 2, backends) == 4
    broadcast(eid, ["EXTRA_DONE"])
    assert operational(backends, eid)["signals"][-3:] == ["EXTRA_DONE", "LOGGED", "ALSO_x"]


def test_rollback_of_an_unknown_revision_changes_nothing(backends):
    eid = run(TOOL_CONFIG, backends, tools={}, context={"tag": "x"})
    before = registry(backends, eid)
    with pytest.raises(ValueError) as info:
        soe.rollback_registry(eid, 7, backends)
    assert str(info.value) == f"Revision 7 not found for execution '{eid}'"
    assert registry(backends, eid) == before
    assert len(soe.get_registry_revisions(eid, backends)) == 3


# --- 2. injected SSTI: accepted, then stopped when it runs ----------------------------------------


def ssti_nodes(marker: Path) -> dict[str, dict]:
    return {
        "EvilRouter": router(["GO_ROUTER"], "PWNED", condition="{{ ''.__class__.__mro__[1].__subclasses__() }}"),
        "EvilLLM": {"node_type": "llm", "event_triggers": ["GO_LLM"], "output_field": "leak",
                    "prompt": f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}}"},
    }


SSTI_CASES = [
    ("EvilRouter", "GO_ROUTER", "event_emissions[0].condition",
     "access to attribute '__class__' of 'str' object is unsafe."),
    ("EvilLLM", "GO_LLM", "prompt", "access to attribute '__init__' of 'type' object is unsafe."),
]


def assert_ssti_stopped(backends: Any, eid: str, broadcast: Any, node: str, signal: str, field: str,
                        detail: str, marker: Path) -> None:
    before = user_fields(backends, eid)
    with pytest.raises(TemplateSecurityError) as info:
        broadcast(eid, [signal])
    error = info.value
    message = f"Unsafe template in node '{node}', {field}: {detail}"
    assert str(error) == message
    assert (error.node_name, error.field) == (node, field)
    assert not marker.exists()
    assert [e["context"] for e in events(backends, eid, "template_security_error")] == [
        {"node_name": node, "error": message}]
    assert user_fields(backends, eid) == before
    op = operational(backends, eid)
    assert "PWNED" not in op["signals"] and op["errors"] == 0


@pytest.mark.parametrize(("node", "signal", "field", "detail"), SSTI_CASES, ids=["router", "llm"])
def test_ssti_injected_through_the_python_api(backends, tmp_path, node, signal, field, detail):
    marker = tmp_path / "pwned"
    llm = ScriptedLLM(AssertionError("the LLM must never be called"))
    nodes, broadcast = create_all_nodes(backends, call_llm=llm, tools_registry={})
    eid = orchestrate({"wf": {"Idle": router(["START"], "READY")}}, "wf", ["START"], {"user": "ana"},
                      backends, broadcast)
    assert inject_node(eid, "wf", node, ssti_nodes(marker)[node], backends) == 1
    assert registry(backends, eid)["wf"][node] == ssti_nodes(marker)[node]
    assert summary(backends, eid) == [(0, "api", "orchestrate"), (1, "api", "inject_node")]

    # soe.broadcast_signals itself, not the closure (§1.3).
    direct = lambda execution_id, signals: soe.broadcast_signals(execution_id, signals, nodes, backends)  # noqa: E731
    assert_ssti_stopped(backends, eid, direct, node, signal, field, detail, marker)
    assert llm.calls == []


@pytest.mark.parametrize(("node", "signal", "field", "detail"), SSTI_CASES, ids=["router", "llm"])
def test_ssti_injected_by_a_tool_node(backends, tmp_path, node, signal, field, detail):
    """The payload reaches the built-in unrendered: from a context field, and through ``{% raw %}``."""
    marker = tmp_path / "pwned"
    config_text = json.dumps(ssti_nodes(marker)[node])
    llm = ScriptedLLM(AssertionError("the LLM must never be called"))
    _, broadcast = create_all_nodes(backends, call_llm=llm, tools_registry={})
    config = {"wf": {
        "FromContext": tool_node("soe_inject_node", ["START"], context_parameter_field="inject_args",
                                 output_field="injected"),
        "FromRaw": tool_node("soe_inject_node", ["START"], output_field="injected", parameters={
            "workflow_name": "wf", "node_name": f"{node}Raw",
            "node_config_data": "{% raw %}" + config_text + "{% endraw %}"}),
    }}
    args = {"workflow_name": "wf", "node_name": node, "node_config_data": config_text}
    eid = orchestrate(config, "wf", ["START"], {"inject_args": args}, backends, broadcast)

    ctx = backends.context.get_context(eid)
    assert [r["injected"] for r in ctx["injected"]] == [True, True]
    assert registry(backends, eid)["wf"][node] == ssti_nodes(marker)[node]
    assert registry(backends, eid)["wf"][f"{node}Raw"] == ssti_nodes(marker)[node]
    assert summary(backends, eid) == [(0, "api", "orchestrate"), (1, "FromContext", "soe_inject_node"),
                                      (2, "FromRaw", "soe_inject_node")]

    # Both injected copies listen to the signal; the first in workflow order raises, and the
    # rest of the queue is dropped (§4.5).
    assert_ssti_stopped(backends, eid, broadcast, node, signal, field, detail, marker)
    assert llm.calls == []


# --- 3. Q23 through nodes: invalid injections take the failure path ------------------------------


def bad_nodes() -> list[tuple[str, dict, str]]:
    bad_prompt = "Hello {{ context.user "
    return [
        ("missing-node-type", {"event_triggers": ["X"], "event_emissions": [{"signal_name": "Y"}]},
         "'node_type' is required - specify the type (router, agent, llm, tool, child)"),
        ("malformed-emission", {"node_type": "router", "event_triggers": ["X"], "event_emissions": ["Y"]},
         "Each event_emission must be an object with 'signal_name', got invalid item at position 1"),
        ("emission-without-name", {"node_type": "router", "event_triggers": ["X"],
                                   "event_emissions": [{"condition": "always"}]},
         "Event emission at position 1 is missing 'signal_name'"),
        ("bad-jinja-prompt", {"node_type": "llm", "event_triggers": ["X"], "prompt": bad_prompt},
         f"'prompt' template: Jinja syntax error - {jinja_syntax_message(bad_prompt)}"),
        ("unknown-type", {"node_type": "robot", "event_triggers": ["X"]},
         "unknown node_type 'robot'. Valid types are: router, agent, llm, child, tool"),
    ]


BAD_IDS = [case[0] for case in bad_nodes()]
INJECT_WF = {"wf": {
    "Inject": tool_node("soe_inject_node", ["START"], context_parameter_field="inject_args",
                        output_field="inject_result", event_emissions=[{"signal_name": "INJECTED"}]),
    "OnFail": router(["INJECT_FAILED"], "RECOVERED"),
    "OnOk": router(["INJECTED"], "CONTINUED"),
}}


@pytest.mark.parametrize(("case", "node", "detail"), bad_nodes(), ids=BAD_IDS)
def test_tool_node_invalid_injection_takes_the_failure_path(backends, case, node, detail):
    eid = f"q23-{case}"
    tools = {"soe_inject_node": builtin_entry("soe_inject_node", eid, backends, "INJECT_FAILED")}
    args = {"workflow_name": "wf", "node_name": "Bad", "node_config_data": json.dumps(node)}
    eid = run(INJECT_WF, backends, tools=tools, context={"inject_args": args}, execution_id=eid)

    message = f"Workflow 'wf', node 'Bad': {detail}"
    ctx = backends.context.get_context(eid)
    assert ctx["inject_result"] == [message]
    assert ctx["inject_args"] == [args]
    assert ctx["__operational__"]["signals"] == ["START", "INJECT_FAILED", "RECOVERED"]
    assert ctx["__operational__"]["errors"] == 1
    assert "Bad" not in ctx["__operational__"]["nodes"]  # no Q13 event for a failed injection
    assert [e["context"] for e in events(backends, eid, "node_error")] == [
        {"tool_name": "soe_inject_node", "error": message}]
    assert registry(backends, eid) == INJECT_WF
    assert summary(backends, eid) == [(0, "api", "orchestrate")]


@pytest.mark.parametrize(("case", "node", "detail"), bad_nodes(), ids=BAD_IDS)
def test_tool_node_invalid_injection_through_builtin_resolution(backends, case, node, detail):
    """Resolved from the built-ins (no registry entry): no failure signal, the message is still stored."""
    args = {"workflow_name": "wf", "node_name": "Bad", "node_config_data": json.dumps(node)}
    eid = run(INJECT_WF, backends, tools={}, context={"inject_args": args})
    ctx = backends.context.get_context(eid)
    assert ctx["inject_result"] == [f"Workflow 'wf', node 'Bad': {detail}"]
    assert ctx["__operational__"]["signals"] == ["START"]
    assert registry(backends, eid) == INJECT_WF
    assert summary(backends, eid) == [(0, "api", "orchestrate")]


def test_the_exception_behind_the_stored_message_is_a_workflow_validation_error(backends):
    eid = "q23-type"
    seen: list[BaseException] = []
    inner = BUILTIN_TOOLS["soe_inject_node"](execution_id=eid, backends=backends, tools_registry={})

    def soe_inject_node(**kwargs: Any) -> Any:
        try:
            return inner(**kwargs)
        except Exception as exc:
            seen.append(exc)
            raise

    args = {"workflow_name": "wf", "node_name": "Bad", "node_config_data": json.dumps({"event_triggers": ["X"]})}
    run(INJECT_WF, backends, tools={"soe_inject_node": {"function": soe_inject_node, "failure_signal": "INJECT_FAILED"}},
        context={"inject_args": args}, execution_id=eid)
    assert len(seen) == 1 and type(seen[0]) is WorkflowValidationError


def test_valid_injection_after_an_invalid_one_in_the_same_run(backends):
    """The failure path leaves the registry usable: the next injection is revision 1."""
    eid = "q23-then-ok"
    tools = {"soe_inject_node": builtin_entry("soe_inject_node", eid, backends, "INJECT_FAILED")}
    config = {"wf": {
        **INJECT_WF["wf"],
        "Retry": tool_node("soe_inject_node", ["INJECT_FAILED"], output_field="inject_result", parameters={
            "workflow_name": "wf", "node_name": "Good", "node_config_data": json.dumps(router(["CONTINUED"], "GOOD"))}),
    }}
    args = {"workflow_name": "wf", "node_name": "Bad", "node_config_data": "{}"}
    run(config, backends, tools=tools, context={"inject_args": args}, execution_id=eid)
    ctx = backends.context.get_context(eid)
    assert ctx["inject_result"][0] == "Workflow 'wf', node 'Bad': 'node_type' is required - specify the type " \
                                      "(router, agent, llm, tool, child)"
    assert ctx["inject_result"][1]["injected"] is True
    assert summary(backends, eid) == [(0, "api", "orchestrate"), (1, "Retry", "soe_inject_node")]
    assert list(registry(backends, eid)["wf"]) == ["Inject", "OnFail", "OnOk", "Retry", "Good"]


@pytest.mark.parametrize(("case", "node", "detail"), bad_nodes(), ids=BAD_IDS)
def test_agent_invalid_injection_is_a_tool_error_and_the_loop_continues(backends, case, node, detail):
    config = {"wf": {"Evolver": {"node_type": "agent", "event_triggers": ["START"], "prompt": "Evolve",
                                 "tools": ["soe_inject_node"], "output_field": "answer",
                                 "event_emissions": [{"signal_name": "DONE"}]}}}
    original = copy.deepcopy(config)
    llm = StageLLM(router=[call("soe_inject_node"), FINISH],
                   params=[{"workflow_name": "wf", "node_name": "Bad", "node_config_data": json.dumps(node)}],
                   response={"answer": "gave up on Bad"})
    eid = run(config, backends, call_llm=llm, tools={})

    content = f"Error executing soe_inject_node: Workflow 'wf', node 'Bad': {detail}"
    assert llm.names == ["RouterResponse", "soe_soe_inject_nodeSchema", "RouterResponse", "AnswerResponse"]
    second = llm.payloads("RouterResponse")[1]
    assert second["instructions"].startswith(ROUTER_BASE + "\n\nTOOL ERROR OCCURRED:")
    assert second["conversation_history"] == f"[Tool Error: soe_inject_node]\n{content}"
    assert llm.payloads("AnswerResponse")[0]["conversation_history"] == f"[Tool Error: soe_inject_node]\n{content}"

    ctx = backends.context.get_context(eid)
    assert ctx["answer"] == ["gave up on Bad"]
    assert ctx["__operational__"]["signals"] == ["START", "DONE"]
    assert ctx["__operational__"]["errors"] == 0  # a tool error is not a node error
    assert ctx["__operational__"]["nodes"] == {"Evolver": 1}
    assert events(backends, eid, "agent_tool_result") == []
    assert registry(backends, eid) == original
    assert summary(backends, eid) == [(0, "api", "orchestrate")]


def test_agent_tool_error_is_persisted_to_conversation_history(backends):
    config = {"workflows": {"wf": {"Evolver": {
        "node_type": "agent", "event_triggers": ["START"], "prompt": "Evolve", "identity": "builder",
        "tools": ["soe_inject_node"], "output_field": "answer"}}},
        "identities": {"builder": "You build workflows."}}
    llm = StageLLM(router=[call("soe_inject_node"), FINISH],
                   params=[{"workflow_name": "nope", "node_name": "X", "node_config_data": "{}"}],
                   response={"answer": "ok"})
    eid = run(config, backends, workflow="wf", call_llm=llm, tools={})
    assert backends.conversation_history.get_conversation_history(eid) == [
        {"role": "system", "content": "You build workflows."},
        {"role": "tool_error", "tool_name": "soe_inject_node",
         "content": "Error executing soe_inject_node: Workflow 'nope' not found in workflows registry"},
    ]


# --- 6. Q13: an injection through a tool node counts the injected node --------------------------


def test_q13_tool_node_injection_increments_the_injected_node_counter(backends):
    config = {"wf": {
        "Inject": tool_node("soe_inject_node", ["START"], output_field="out", parameters={
            "workflow_name": "wf", "node_name": "Dormant",
            "node_config_data": "node_type: router\nevent_triggers: [NEVER]\nevent_emissions:\n  - signal_name: X\n"}),
    }}
    eid = run(config, backends, tools={})
    op = operational(backends, eid)
    assert op["nodes"] == {"Inject": 1, "Dormant": 1}  # Dormant never ran: the injection event counted it
    assert op["signals"] == ["START"]
    assert [e["context"] for e in events(backends, eid, "node_execution")] == [
        {"node_name": "Inject", "node_type": "tool"},
        {"tool": "soe_inject_node", "workflow_name": "wf", "node_name": "Dormant"},
    ]
    assert registry(backends, eid)["wf"]["Dormant"] == router(["NEVER"], "X")


def test_q13_reinjecting_counts_again_and_running_counts_too(backends):
    dormant = json.dumps(router(["WAKE"], "AWAKE"))
    config = {"wf": {
        "Inject": tool_node("soe_inject_node", ["START", "AGAIN"], output_field="out", parameters={
            "workflow_name": "wf", "node_name": "Dormant", "node_config_data": dormant}),
    }}
    _, broadcast = create_all_nodes(backends, tools_registry={})
    eid = orchestrate(config, "wf", ["START"], {}, backends, broadcast)
    broadcast(eid, ["AGAIN"])
    assert operational(backends, eid)["nodes"] == {"Inject": 2, "Dormant": 2}
    broadcast(eid, ["WAKE"])
    op = operational(backends, eid)
    assert op["nodes"] == {"Inject": 2, "Dormant": 3}
    assert op["signals"] == ["START", "AGAIN", "WAKE", "AWAKE"]
    # Re-injecting an identical node still records a revision (an empty diff).
    assert summary(backends, eid) == [(0, "api", "orchestrate"), (1, "Inject", "soe_inject_node"),
                                      (2, "Inject", "soe_inject_node")]


# --- changes made while a broadcast runs only affect later broadcasts (§4.2 step 3) ---------------


def test_node_injected_for_the_running_signal_waits_for_the_next_broadcast(backends):
    config = {"wf": {
        "Inject": tool_node("soe_inject_node", ["START"], output_field="out", parameters={
            "workflow_name": "wf", "node_name": "Late", "node_config_data": json.dumps(router(["START"], "LATE"))}),
        "After": router(["START"], "AFTER"),
    }}
    _, broadcast = create_all_nodes(backends, tools_registry={})
    eid = orchestrate(config, "wf", ["START"], {}, backends, broadcast)
    assert operational(backends, eid)["signals"] == ["START", "AFTER"]
    assert operational(backends, eid)["nodes"] == {"Inject": 1, "Late": 1, "After": 1}  # Late: Q13 only

    broadcast(eid, ["START"])  # Inject runs again (re-injecting Late), then After, then Late itself
    op = operational(backends, eid)
    assert op["signals"] == ["START", "AFTER", "START", "AFTER", "LATE"]
    assert op["nodes"] == {"Inject": 2, "Late": 3, "After": 2}


def test_node_removed_during_a_broadcast_still_runs_in_it_then_never_again(backends):
    config = {"wf": {
        "Remove": tool_node("soe_remove_node", ["START"], output_field="out",
                            parameters={"workflow_name": "wf", "node_name": "Victim"}),
        "Victim": router(["START", "AGAIN"], "VICTIM"),
    }}
    _, broadcast = create_all_nodes(backends, tools_registry={})
    eid = orchestrate(config, "wf", ["START"], {}, backends, broadcast)
    ctx = backends.context.get_context(eid)
    assert ctx["out"] == [{"removed": True, "workflow_name": "wf", "node_name": "Victim",
                           "message": "Successfully removed node 'Victim' from workflow 'wf'"}]
    assert ctx["__operational__"]["signals"] == ["START", "VICTIM"]
    # Q13: soe_remove_node names the node too, so its counter moved by the event and the run.
    assert ctx["__operational__"]["nodes"] == {"Remove": 1, "Victim": 2}
    assert summary(backends, eid) == [(0, "api", "orchestrate"), (1, "Remove", "soe_remove_node")]
    assert_diff(soe.get_registry_revisions(eid, backends)[1]["diff"], [{"op": "remove", "path": "/wf/Victim"}],
                [{"op": "replace", "path": "/wf", "value": {"Remove": config["wf"]["Remove"]}}])

    broadcast(eid, ["AGAIN"])
    assert operational(backends, eid)["signals"] == ["START", "VICTIM", "AGAIN"]

    assert soe.rollback_registry(eid, 0, backends) == 2
    broadcast(eid, ["AGAIN"])
    assert operational(backends, eid)["signals"] == ["START", "VICTIM", "AGAIN", "AGAIN", "VICTIM"]


# --- a child changes its own registry, recorded on its own execution -------------------------------


def test_child_injection_is_a_revision_of_the_child_only(backends):
    saved: list[str] = []
    save = backends.context.save_context

    def spy(execution_id: str, ctx: dict) -> None:
        saved.append(execution_id)
        save(execution_id, ctx)

    backends.context.save_context = spy
    config = {
        "main": {"Spawn": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "kid",
                           "child_initial_signals": ["BEGIN"], "signals_to_parent": ["KID_GREETED"]},
                 "Heard": router(["KID_GREETED"], "HEARD")},
        "kid": {"KidInject": tool_node("soe_inject_node", ["BEGIN"], output_field="out",
                                       event_emissions=[{"signal_name": "INJECTED"}], parameters={
                                           "workflow_name": "kid", "node_name": "KidGreeter",
                                           "node_config_data": json.dumps(router(["INJECTED"], "KID_GREETED"))})},
    }
    original = copy.deepcopy(config)
    _, broadcast = create_all_nodes(backends, tools_registry={})
    parent = orchestrate(config, "main", ["START"], {}, backends, broadcast)
    kids = [eid for eid in dict.fromkeys(saved) if eid != parent]
    assert len(kids) == 1
    kid = kids[0]

    assert operational(backends, parent)["signals"] == ["START", "KID_GREETED", "HEARD"]
    assert operational(backends, kid)["signals"] == ["BEGIN", "INJECTED", "KID_GREETED"]
    assert registry(backends, parent) == original
    assert summary(backends, parent) == [(0, "api", "orchestrate")]
    assert summary(backends, kid) == [(0, "api", "orchestrate"), (1, "KidInject", "soe_inject_node")]
    assert registry(backends, kid)["kid"] == {**original["kid"], "KidGreeter": router(["INJECTED"], "KID_GREETED")}
    assert operational(backends, kid)["nodes"] == {"KidInject": 1, "KidGreeter": 2}
    assert "KidGreeter" not in operational(backends, parent)["nodes"]
