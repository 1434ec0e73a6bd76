"""Built-in tools used from tool and agent nodes (SPEC §5.3, §5.4, §10, §11.4, §14 Q7).

Bad input for every built-in goes through a tool node whose registry entry has a
``failure_signal``. SPEC §5.4 puts ``failure_signal`` on the registry entry, so each
case registers the built-in under its own name, bound with its factory (§10.1) to a
caller-chosen execution id, and wrapped so the test also sees the exception class
behind the message the node stores. Each case ends in exactly one of two ways:

* the tool returns its documented error value (e.g. ``soe_call_tool``'s ``{"error": ...}``,
  ``soe_explore_docs``'s ``Error: ...`` text), which is stored and ``OK`` is emitted; or
* the tool raises ``ValueError``/``WorkflowValidationError``/``TypeError``; its message
  is stored, ``node_error`` is registered and ``FAILED`` is broadcast.

Either way the stored registry (and its revisions), identities, context schema and
every context field except the output field stay as they were.

Names with path separators: workflow, node, identity and schema-field names are
plain mapping keys, so SPEC allows them (registry diffs escape ``/`` as ``~1``, §15);
only ids that become file names are refused by the file backends (§11.4).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

import jinja2.sandbox
import pytest
from conftest import events, run

import soe
from soe import WorkflowValidationError, create_all_nodes, orchestrate
from soe.builtin_tools import BUILTIN_TOOLS
from soe.builtin_tools.soe_explore_docs import DOCS_ROOT, soe_explore_docs
from soe.local_backends import create_local_backends

SCHEMA = {"summary": {"type": "string"}}
IDENTITIES = {"helper": "You are kind."}
INITIAL = {"user": "ana", "notes": ["a", "b"]}


def router(triggers: list[str], *signals: str) -> dict:
    return {"node_type": "router", "event_triggers": triggers,
            "event_emissions": [{"signal_name": s} for s in signals]}


def echo(text: str) -> str:
    return text


def explode() -> None:
    raise RuntimeError("boom")


def user_fields(backends: Any, eid: str) -> dict:
    return {k: v for k, v in backends.context.get_context(eid).items() if not k.startswith("__")}


def json_error(text: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return str(exc)
    raise AssertionError(text)


def jinja_syntax_message(template: str) -> str:
    try:
        jinja2.sandbox.ImmutableSandboxedEnvironment().parse(template)
    except jinja2.TemplateSyntaxError as exc:
        return exc.message
    raise AssertionError(template)


# --- 4. bad input for every built-in --------------------------------------------------------------


@dataclass
class Case:
    """One bad input. ``output``: the stored tool result; else ``error`` (class) and ``message``.

    ``message`` is an exact string, or a compiled pattern searched in the stored text.
    ``output`` may mention ``EID`` for the execution id.
    """

    id: str
    tool: str
    parameters: Any = None  # inline ``parameters`` (rendered by the node)
    context_args: Any = None  # else the value of context field ``args`` (``context_parameter_field``)
    output: Any = None
    error: type[BaseException] | None = None
    message: str | re.Pattern[str] | None = None
    call_site: bool = False  # the call ``f(**params)`` itself fails, before the tool runs


def missing(function: str, argument: str) -> re.Pattern[str]:
    return re.compile(rf"\b{function}\(\) missing 1 required positional argument: '{argument}'$")


def unexpected(function: str, argument: str) -> re.Pattern[str]:
    return re.compile(rf"\b{function}\(\) got an unexpected keyword argument '{argument}'$")


def invalid_yaml() -> re.Pattern[str]:
    return re.compile(r"^Invalid YAML configuration: ")


ROUTER_JSON = json.dumps(router(["X"], "Y"))
NODE_PREFIX = "Workflow 'wf', node 'Failed': "
BAD_CONDITION = "{{ context.user == "

CASES = [
    # soe_inject_workflow
    Case("inject_workflow-missing-data", "soe_inject_workflow", {"workflow_name": "x"},
         error=TypeError, message=missing("soe_inject_workflow", "workflow_data")),
    Case("inject_workflow-name-not-a-string", "soe_inject_workflow", {"workflow_name": 5, "workflow_data": "{}"},
         error=WorkflowValidationError, message="'workflow_name' must be a non-empty string, got int"),
    Case("inject_workflow-reserved-limits", "soe_inject_workflow",
         {"workflow_name": "limits", "workflow_data": json.dumps({"A": router(["X"], "Y")})},
         error=WorkflowValidationError, message="'limits' is reserved and cannot be used as a workflow name"),
    Case("inject_workflow-yaml-does-not-parse", "soe_inject_workflow",
         {"workflow_name": "x", "workflow_data": "A: [unclosed"}, error=ValueError, message=invalid_yaml()),
    Case("inject_workflow-yaml-list", "soe_inject_workflow", {"workflow_name": "x", "workflow_data": "- a\n- b"},
         error=ValueError, message="Workflow data must be a dictionary/object"),
    Case("inject_workflow-data-is-a-list", "soe_inject_workflow", {"workflow_name": "x", "workflow_data": [1, 2]},
         error=ValueError, message="Workflow data must be a dictionary/object"),
    Case("inject_workflow-empty", "soe_inject_workflow", {"workflow_name": "x", "workflow_data": "{}"},
         error=ValueError, message="No workflow definition found for injection"),
    Case("inject_workflow-invalid-node", "soe_inject_workflow",
         {"workflow_name": "x", "workflow_data": json.dumps({"x": {"A": {"node_type": "router"}}})},
         error=WorkflowValidationError,
         message="Workflow 'x', node 'A': 'event_triggers' is required - specify which signals activate this router"),
    Case("inject_workflow-invalid-replacement-of-current", "soe_inject_workflow",
         {"workflow_name": "wf", "workflow_data": json.dumps({"wf": {"Run": {"event_triggers": ["X"]}}})},
         error=WorkflowValidationError,
         message="Workflow 'wf', node 'Run': 'node_type' is required - specify the type (router, agent, llm, tool, child)"),
    # soe_inject_node
    Case("inject_node-missing-data", "soe_inject_node", {"workflow_name": "wf", "node_name": "N"},
         error=TypeError, message=missing("soe_soe_inject_node", "node_config_data")),
    Case("inject_node-unknown-workflow", "soe_inject_node",
         {"workflow_name": "nope", "node_name": "N", "node_config_data": ROUTER_JSON},
         error=ValueError, message="Workflow 'nope' not found in workflows registry"),
    Case("inject_node-workflow-name-with-separator", "soe_inject_node",
         {"workflow_name": "../wf", "node_name": "N", "node_config_data": ROUTER_JSON},
         error=ValueError, message="Workflow '../wf' not found in workflows registry"),
    Case("inject_node-yaml-does-not-parse", "soe_inject_node",
         {"workflow_name": "wf", "node_name": "N", "node_config_data": "node_type: [router"},
         error=ValueError, message=invalid_yaml()),
    Case("inject_node-text-not-a-mapping", "soe_inject_node",
         {"workflow_name": "wf", "node_name": "N", "node_config_data": "just text"},
         error=ValueError, message="Node configuration must be a dictionary/object"),
    Case("inject_node-data-is-a-list", "soe_inject_node",
         {"workflow_name": "wf", "node_name": "N", "node_config_data": [ROUTER_JSON]},
         error=ValueError, message="Node configuration must be a dictionary/object"),
    Case("inject_node-reserved-node-name", "soe_inject_node",
         {"workflow_name": "wf", "node_name": "__secret", "node_config_data": ROUTER_JSON},
         error=WorkflowValidationError,
         message="Workflow 'wf': node name '__secret' is reserved - names starting with '__' are reserved for internal use"),
    Case("inject_node-node-name-not-a-string", "soe_inject_node",
         {"workflow_name": "wf", "node_name": 3, "node_config_data": ROUTER_JSON},
         error=WorkflowValidationError, message="'node_name' must be a non-empty string, got int"),
    Case("inject_node-invalid-replacement-of-running-node", "soe_inject_node",
         {"workflow_name": "wf", "node_name": "Run", "node_config_data": json.dumps({"node_type": "tool"})},
         error=WorkflowValidationError,
         message="Workflow 'wf', node 'Run': 'event_triggers' is required - specify which signals activate this tool node"),
    # soe_get_workflows
    Case("get_workflows-unknown", "soe_get_workflows", {"workflow_name": "nope"},
         output={"error": "Workflow 'nope' not found", "available": ["wf"]}),
    Case("get_workflows-separator", "soe_get_workflows", {"workflow_name": "../wf"},
         output={"error": "Workflow '../wf' not found", "available": ["wf"]}),
    Case("get_workflows-unexpected-argument", "soe_get_workflows", {"name": "wf"},
         error=TypeError, message=unexpected("soe_get_workflows", "name")),
    # soe_get_available_tools
    Case("get_available_tools-unexpected-argument", "soe_get_available_tools", {"verbose": True},
         error=TypeError, message=unexpected("soe_get_available_tools", "verbose")),
    # soe_explore_docs
    Case("explore_docs-missing-action", "soe_explore_docs", {"path": "soe/docs"},
         error=TypeError, message=missing("soe_explore_docs", "action")),
    Case("explore_docs-unknown-action", "soe_explore_docs", {"path": "soe/docs", "action": "delete"},
         output="Error: Unknown action 'delete'"),
    Case("explore_docs-action-not-a-string", "soe_explore_docs", {"path": "soe/docs", "action": 5},
         output="Error: Unknown action '5'"),
    Case("explore_docs-traversal-read", "soe_explore_docs", {"path": "../../etc/passwd", "action": "read"},
         output="Error: Path '../../etc/passwd' not found."),
    Case("explore_docs-traversal-list", "soe_explore_docs", {"path": "soe/docs/../../etc", "action": "list"},
         output="Error: Path 'soe/docs/../../etc' not found in index."),
    Case("explore_docs-read-a-directory", "soe_explore_docs", {"path": "soe/docs", "action": "read"},
         output="Error: 'soe/docs' is a directory. Use action='list' or 'tree'."),
    Case("explore_docs-search-without-query", "soe_explore_docs", {"path": "", "action": "search"},
         output="Error: Provide 'query' or 'tag' for search."),
    # soe_remove_workflow
    Case("remove_workflow-unknown", "soe_remove_workflow", {"workflow_name": "nope"},
         error=ValueError, message="Workflow 'nope' not found in workflows registry"),
    Case("remove_workflow-separator", "soe_remove_workflow", {"workflow_name": "wf/Run"},
         error=ValueError, message="Workflow 'wf/Run' not found in workflows registry"),
    Case("remove_workflow-not-a-string", "soe_remove_workflow", {"workflow_name": 5},
         error=WorkflowValidationError, message="'workflow_name' must be a non-empty string, got int"),
    Case("remove_workflow-missing-name", "soe_remove_workflow", {},
         error=TypeError, message=missing("soe_remove_workflow", "workflow_name")),
    # soe_remove_node
    Case("remove_node-unknown-node", "soe_remove_node", {"workflow_name": "wf", "node_name": "Nope"},
         error=ValueError, message="Node 'Nope' not found in workflow 'wf'"),
    Case("remove_node-unknown-workflow", "soe_remove_node", {"workflow_name": "nope", "node_name": "Run"},
         error=ValueError, message="Workflow 'nope' not found in workflows registry"),
    Case("remove_node-separator", "soe_remove_node", {"workflow_name": "wf", "node_name": "wf/Run"},
         error=ValueError, message="Node 'wf/Run' not found in workflow 'wf'"),
    Case("remove_node-missing-node", "soe_remove_node", {"workflow_name": "wf"},
         error=TypeError, message=missing("soe_remove_node", "node_name")),
    # soe_get_context
    Case("get_context-fields-not-a-list", "soe_get_context", {"fields": 5},
         error=ValueError, message="'fields' must be a list of field names, got int"),
    Case("get_context-internal-field", "soe_get_context", {"field": "__operational__"},
         output={"__operational__": None}),
    Case("get_context-unexpected-argument", "soe_get_context", {"key": "user"},
         error=TypeError, message=unexpected("get_context", "key")),
    # soe_update_context
    Case("update_context-text", "soe_update_context", {"updates": "user: bob"},
         error=ValueError, message="'updates' must be a dictionary/object mapping field names to values"),
    Case("update_context-list", "soe_update_context", {"updates": [["user", "bob"]]},
         error=ValueError, message="'updates' must be a dictionary/object mapping field names to values"),
    Case("update_context-non-string-key", "soe_update_context", {"updates": {1: "x", "user": "bob"}},
         error=ValueError, message="Context field names must be strings, got int"),
    Case("update_context-empty", "soe_update_context", {"updates": {}}, output={"status": "no updates provided"}),
    Case("update_context-only-internal", "soe_update_context",
         {"updates": {"__operational__": {}, "__x": 1}},
         output={"status": "no valid updates (operational fields cannot be updated)"}),
    Case("update_context-missing", "soe_update_context", {},
         error=TypeError, message=missing("update_context", "updates")),
    # soe_copy_context
    Case("copy_context-neither", "soe_copy_context", {},
         output={"error": "Must specify either 'fields' mapping or 'all_fields=True'"}),
    Case("copy_context-missing-source-field", "soe_copy_context", {"fields": {"user": "u2", "nope": "b"}},
         output={"error": "Source field 'nope' not found in execution EID"}),
    Case("copy_context-internal-source", "soe_copy_context", {"fields": {"__operational__": "op"}},
         output={"error": "Source field '__operational__' not found in execution EID"}),
    Case("copy_context-fields-text", "soe_copy_context", {"fields": "user"},
         error=ValueError, message="'fields' must be a mapping of source field names to target field names"),
    Case("copy_context-internal-target", "soe_copy_context", {"fields": {"user": "__operational__"}},
         error=ValueError, message="Target field '__operational__' is not a writable context field"),
    # soe_list_contexts
    Case("list_contexts-unexpected-argument", "soe_list_contexts", {"limit": 5},
         error=TypeError, message=unexpected("list_contexts", "limit")),
    Case("list_contexts-flag-as-text", "soe_list_contexts", {"include_current": "no"},
         output={"current_execution_id": "EID", "contexts": []}),
    # soe_add_signal
    Case("add_signal-missing-condition", "soe_add_signal",
         {"workflow_name": "wf", "node_name": "Failed", "signal_name": "X"},
         error=TypeError, message=missing("add_signal", "condition")),
    Case("add_signal-unknown-workflow", "soe_add_signal",
         {"workflow_name": "nope", "node_name": "Failed", "signal_name": "X", "condition": "c"},
         error=ValueError, message="Workflow 'nope' not found"),
    Case("add_signal-unknown-node", "soe_add_signal",
         {"workflow_name": "wf", "node_name": "wf/Failed", "signal_name": "X", "condition": "c"},
         error=ValueError, message="Node 'wf/Failed' not found in workflow 'wf'"),
    Case("add_signal-empty-signal-name", "soe_add_signal",
         {"workflow_name": "wf", "node_name": "Failed", "signal_name": "", "condition": "c"},
         error=WorkflowValidationError, message=NODE_PREFIX + "Event emission at position 2 is missing 'signal_name'"),
    Case("add_signal-condition-not-a-string", "soe_add_signal",
         {"workflow_name": "wf", "node_name": "Failed", "signal_name": "X", "condition": 5},
         error=WorkflowValidationError,
         message=NODE_PREFIX + "Event emission at position 2 has invalid 'condition' - must be a jinja string"),
    Case("add_signal-condition-bad-jinja", "soe_add_signal",
         {"workflow_name": "wf", "node_name": "Failed", "signal_name": "X",
          "condition": "{% raw %}" + BAD_CONDITION + "{% endraw %}"},
         error=WorkflowValidationError,
         message=NODE_PREFIX + f"Event emission 'X' condition: Jinja syntax error - {jinja_syntax_message(BAD_CONDITION)}"),
    # soe_call_tool
    Case("call_tool-bad-json", "soe_call_tool", {"tool_name": "echo", "arguments": "{not json"},
         output={"error": f"Invalid JSON arguments: {json_error('{not json')}", "tool_name": "echo"}),
    Case("call_tool-unknown-tool", "soe_call_tool", {"tool_name": "nope"},
         output={"error": "Tool 'nope' not found", "available_tools": "REGISTRY_KEYS"}),
    Case("call_tool-builtins-are-not-searched", "soe_call_tool", {"tool_name": "soe_get_context"},
         output={"error": "Tool 'soe_get_context' not found", "available_tools": "REGISTRY_KEYS"}),
    Case("call_tool-invalid-entry", "soe_call_tool", {"tool_name": "broken"},
         output={"error": "Invalid tool registry entry for 'broken'"}),
    Case("call_tool-function-not-callable", "soe_call_tool", {"tool_name": "hollow"},
         output={"error": "Tool 'hollow' is not callable"}),
    Case("call_tool-argument-error", "soe_call_tool", {"tool_name": "echo", "arguments": '{"nope": 1}'},
         output={"error": "Argument error for 'echo': echo() got an unexpected keyword argument 'nope'",
                 "tool_name": "echo"}),
    Case("call_tool-tool-raises", "soe_call_tool", {"tool_name": "explode", "arguments": ""},
         output={"error": "Tool 'explode' failed: boom", "tool_name": "explode"}),
    Case("call_tool-missing-name", "soe_call_tool", {"arguments": "{}"},
         error=TypeError, message=missing("call_tool", "tool_name")),
    # soe_get_identities
    Case("get_identities-unknown", "soe_get_identities", {"identity_name": "nope"},
         output={"error": "Identity 'nope' not found", "available": ["helper"]}),
    Case("get_identities-unexpected-argument", "soe_get_identities", {"name": "helper"},
         error=TypeError, message=unexpected("soe_get_identities", "name")),
    # soe_inject_identity
    Case("inject_identity-empty-name", "soe_inject_identity", {"identity_name": "", "system_prompt": "x"},
         error=ValueError, message="'identity_name' must be a non-empty string, got str"),
    Case("inject_identity-name-is-a-list", "soe_inject_identity", {"identity_name": ["a"], "system_prompt": "x"},
         error=ValueError, message="'identity_name' must be a non-empty string, got list"),
    Case("inject_identity-prompt-not-a-string", "soe_inject_identity", {"identity_name": "x", "system_prompt": 5},
         error=ValueError, message="'system_prompt' must be a string, got int"),
    Case("inject_identity-missing-prompt", "soe_inject_identity", {"identity_name": "x"},
         error=TypeError, message=missing("soe_inject_identity", "system_prompt")),
    # soe_remove_identity
    Case("remove_identity-unknown", "soe_remove_identity", {"identity_name": "nope"},
         error=ValueError, message="Identity 'nope' not found"),
    Case("remove_identity-separator", "soe_remove_identity", {"identity_name": "../helper"},
         error=ValueError, message="Identity '../helper' not found"),
    Case("remove_identity-not-a-string", "soe_remove_identity", {"identity_name": 5},
         error=ValueError, message="Identity '5' not found"),
    # soe_get_context_schema
    Case("get_context_schema-unknown", "soe_get_context_schema", {"field_name": "nope"},
         output={"error": "Field 'nope' not found in context schema", "available": ["summary"]}),
    Case("get_context_schema-unexpected-argument", "soe_get_context_schema", {"field": "summary"},
         error=TypeError, message=unexpected("soe_get_context_schema", "field")),
    # soe_inject_context_schema_field
    Case("inject_schema_field-yaml-does-not-parse", "soe_inject_context_schema_field",
         {"field_name": "f", "field_definition": "type: [string"}, error=ValueError, message=invalid_yaml()),
    Case("inject_schema_field-not-a-mapping", "soe_inject_context_schema_field",
         {"field_name": "f", "field_definition": "[1, 2]"},
         error=ValueError, message="Field definition must be a dictionary/object"),
    Case("inject_schema_field-name-not-a-string", "soe_inject_context_schema_field",
         {"field_name": 5, "field_definition": '{"type": "string"}'},
         error=ValueError, message="'field_name' must be a non-empty string, got int"),
    Case("inject_schema_field-missing-definition", "soe_inject_context_schema_field", {"field_name": "f"},
         error=TypeError, message=missing("soe_inject_context_schema_field", "field_definition")),
    # soe_remove_context_schema_field
    Case("remove_schema_field-unknown", "soe_remove_context_schema_field", {"field_name": "nope"},
         error=ValueError, message="Field 'nope' not found in context schema"),
    Case("remove_schema_field-missing", "soe_remove_context_schema_field", {},
         error=TypeError, message=missing("soe_remove_context_schema_field", "field_name")),
    # non-mapping data from context_parameter_field: the call itself fails (§5.4 step 5)
    Case("context-args-yaml-list", "soe_get_context", context_args="- user\n- notes",
         error=TypeError, message=re.compile(r"argument after \*\* must be a mapping, not list$"), call_site=True),
    Case("context-args-scalar", "soe_update_context", context_args=7,
         error=TypeError, message=re.compile(r"argument after \*\* must be a mapping, not int$"), call_site=True),
    Case("context-args-missing-key", "soe_inject_identity", context_args="identity_name: x",
         error=TypeError, message=missing("soe_inject_identity", "system_prompt")),
]

assert {case.tool for case in CASES} == set(BUILTIN_TOOLS), "every built-in needs bad-input cases"


def recording(function: Any, seen: list[BaseException]) -> Any:
    """``function`` as is, except that an exception it raises is also recorded."""

    def recorded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            seen.append(exc)
            raise

    return recorded


def case_config(case: Case) -> dict:
    run_node: dict[str, Any] = {"node_type": "tool", "event_triggers": ["START"], "tool_name": case.tool,
                                "output_field": "out", "event_emissions": [{"signal_name": "OK"}]}
    if case.context_args is None:
        run_node["parameters"] = case.parameters
    else:
        run_node["context_parameter_field"] = "args"
    return {"workflows": {"wf": {"Run": run_node, "Failed": router(["FAILED"], "HANDLED")}},
            "context_schema": copy.deepcopy(SCHEMA), "identities": copy.deepcopy(IDENTITIES)}


def resolve(expected: Any, eid: str, registry_keys: list[str]) -> Any:
    if expected == "EID":
        return eid
    if expected == "REGISTRY_KEYS":
        return registry_keys
    if isinstance(expected, str):
        return expected.replace("EID", eid)
    if isinstance(expected, dict):
        return {k: resolve(v, eid, registry_keys) for k, v in expected.items()}
    return expected


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_through_a_tool_node(backends, case):
    eid = f"bad-{case.id}"
    seen: list[BaseException] = []
    tools: dict[str, Any] = {"echo": echo, "explode": explode, "broken": 5, "hollow": {"function": "not callable"}}
    bound = BUILTIN_TOOLS[case.tool](execution_id=eid, backends=backends, tools_registry=tools)
    tools[case.tool] = {"function": recording(bound, seen), "failure_signal": "FAILED"}
    config = case_config(case)
    original = copy.deepcopy(config)
    initial = dict(INITIAL) if case.context_args is None else {**INITIAL, "args": case.context_args}

    run(config, backends, workflow="wf", tools=tools, context=initial, execution_id=eid)

    assert config == original  # the caller's config is never touched
    ctx = backends.context.get_context(eid)
    op = ctx["__operational__"]
    stored = ctx.pop("out")
    assert len(stored) == 1
    if case.error is None:
        assert seen == []
        assert stored[0] == resolve(case.output, eid, list(tools))
        assert op["signals"] == ["START", "OK"]
        assert events(backends, eid, "node_error") == []
    else:
        message = stored[0]
        if case.call_site:
            assert seen == []
        else:
            assert len(seen) == 1 and type(seen[0]) is case.error, seen
            assert message == str(seen[0])
        if isinstance(case.message, re.Pattern):
            assert case.message.search(message), message
        else:
            assert message == case.message
        assert op["signals"] == ["START", "FAILED", "HANDLED"]
        assert [e["context"] for e in events(backends, eid, "node_error")] == [
            {"tool_name": case.tool, "error": message}]
        assert op["errors"] == 1

    # Nothing else changed.
    assert {k: v for k, v in ctx.items() if not k.startswith("__")} == {
        k: [v] for k, v in initial.items()}
    assert backends.workflow.get_workflows_registry(eid) == original["workflows"]
    assert [r["revision"] for r in soe.get_registry_revisions(eid, backends)] == [0]
    assert backends.identity.get_identities(eid) == IDENTITIES
    assert backends.context_schema.get_context_schema(eid) == SCHEMA
    assert op["nodes"] == {"Run": 1, **({"Failed": 1} if case.error else {})}
    assert [e["context"] for e in events(backends, eid, "node_execution") if "tool" in e["context"]] == []


def test_unparseable_yaml_in_a_context_parameter_field_propagates(backends):
    """§5.4 step 3 parses the field before the call's error handler (step 5): the node raises."""
    eid = "bad-context-yaml"
    tools = {"soe_update_context": {"function": BUILTIN_TOOLS["soe_update_context"](
        execution_id=eid, backends=backends), "failure_signal": "FAILED"}}
    config = case_config(Case("x", "soe_update_context", context_args="updates: [unclosed"))
    with pytest.raises(ValueError, match=r"^Invalid YAML configuration: "):
        run(config, backends, workflow="wf", tools=tools, context={**INITIAL, "args": "updates: [unclosed"},
            execution_id=eid)
    ctx = backends.context.get_context(eid)
    assert {k: v for k, v in ctx.items() if not k.startswith("__")} == {
        "user": ["ana"], "notes": [["a", "b"]], "args": ["updates: [unclosed"]}
    assert ctx["__operational__"]["signals"] == ["START"]
    assert events(backends, eid, "tool_call") == []


# --- names with path separators ------------------------------------------------------------------


def test_registry_names_with_path_separators_are_plain_keys(backends):
    """Workflow and node names are registry keys: ``/`` is allowed and escaped as ``~1`` in diffs."""
    config = {"wf": {
        "AddWorkflow": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "soe_inject_workflow",
                        "output_field": "out", "parameters": {
                            "workflow_name": "team/extra", "workflow_data": json.dumps({"A": router(["X"], "Y")})}},
        "AddNode": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "soe_inject_node",
                    "output_field": "out", "event_emissions": [{"signal_name": "GO"}], "parameters": {
                        "workflow_name": "wf", "node_name": "team/greeter",
                        "node_config_data": json.dumps(router(["GO"], "GREETED"))}},
    }}
    _, broadcast = create_all_nodes(backends, tools_registry={})
    eid = orchestrate(config, "wf", ["START"], {}, backends, broadcast)
    revisions = soe.get_registry_revisions(eid, backends)
    assert [(r["author"], r["diff"][0]["op"], r["diff"][0]["path"]) for r in revisions[1:]] == [
        ("AddWorkflow", "add", "/team~1extra"), ("AddNode", "add", "/wf/team~1greeter")]
    op = backends.context.get_context(eid)["__operational__"]
    assert op["signals"] == ["START", "GO", "GREETED"]
    assert op["nodes"]["team/greeter"] == 2  # Q13 injection event + its run
    assert soe.rollback_registry(eid, 0, backends) == 3
    assert backends.workflow.get_workflows_registry(eid) == config


def test_identity_and_schema_names_with_path_separators_are_plain_keys(backends):
    config = {"workflows": {"wf": {
        "Identity": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "soe_inject_identity",
                     "output_field": "out", "parameters": {"identity_name": "team/helper", "system_prompt": "Hi."}},
        "Field": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "soe_inject_context_schema_field",
                  "output_field": "out", "parameters": {"field_name": "a/b", "field_definition": "type: string"}},
    }}, "identities": IDENTITIES, "context_schema": SCHEMA}
    eid = run(config, backends, workflow="wf", tools={})
    assert backends.identity.get_identities(eid) == {**IDENTITIES, "team/helper": "Hi."}
    assert backends.context_schema.get_context_schema(eid) == {**SCHEMA, "a/b": {"type": "string"}}
    assert [out["action"] for out in backends.context.get_context(eid)["out"]] == ["created", "created"]


@pytest.mark.parametrize("target", ["../evil", "sub/evil", "..", "a\x00b"])
def test_execution_ids_with_path_separators_are_refused_by_file_backends(tmp_path, target):
    backends = create_local_backends(tmp_path / "data")
    eid = "files-exec"
    seen: list[BaseException] = []
    bound = BUILTIN_TOOLS["soe_copy_context"](execution_id=eid, backends=backends)
    tools = {"soe_copy_context": {"function": recording(bound, seen), "failure_signal": "FAILED"}}
    config = {"wf": {"Run": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "soe_copy_context",
                             "output_field": "out", "parameters": {"all_fields": True, "target_execution_id": target}},
                     "Failed": router(["FAILED"], "HANDLED")}}
    run(config, backends, tools=tools, context={"user": "ana"}, execution_id=eid)

    message = f"Invalid id '{target}': must not contain path separators, '..', or NUL"
    assert [type(e) for e in seen] == [ValueError] and str(seen[0]) == message
    ctx = backends.context.get_context(eid)
    assert ctx["out"] == [message]
    assert ctx["user"] == ["ana"]
    assert ctx["__operational__"]["signals"] == ["START", "FAILED", "HANDLED"]
    # Nothing was written for the refused id, inside or outside the storage folders.
    files = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(p.parts[0] == "data" and p.name.startswith(eid) for p in files), files


# --- 5. Q7: one create_all_nodes, several executions ----------------------------------------------


def mark(**keys: Any) -> dict:
    return {"node_type": "tool", "tool_name": "soe_update_context", "output_field": "status",
            "parameters": {"updates": {"mark": "{{ context.who }}"}}, **keys}


Q7_CONFIG = {"wf": {"Mark": mark(event_triggers=["START", "AGAIN"])},
             "kid": {"KidMark": mark(event_triggers=["BEGIN"])},
             "spawner": {"Spawn": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "kid",
                                   "child_initial_signals": ["BEGIN"], "input_fields": ["who"],
                                   "context_updates_to_parent": ["mark", "status"]},
                         "Mark": mark(event_triggers=["START"])}}


def test_q7_executions_from_one_create_all_nodes_use_their_own_contexts(backends):
    user_tool = {"function": echo, "max_retries": 1}
    tools = {"echo": user_tool}
    snapshot = copy.copy(tools)
    _, broadcast = create_all_nodes(backends, tools_registry=tools)

    first = orchestrate(Q7_CONFIG, "wf", ["START"], {"who": "first"}, backends, broadcast)
    second = orchestrate(Q7_CONFIG, "wf", ["START"], {"who": "second"}, backends, broadcast)
    broadcast(first, ["AGAIN"])  # the first execution again, after the second one resolved the built-in

    status = {"status": "updated", "fields": ["mark"]}
    assert user_fields(backends, first) == {"who": ["first"], "mark": ["first", "first"], "status": [status] * 2}
    assert user_fields(backends, second) == {"who": ["second"], "mark": ["second"], "status": [status]}

    # The dict passed in is untouched: same keys, same entry objects, no built-in cached.
    assert tools == snapshot and list(tools) == ["echo"]
    assert tools["echo"] is user_tool and user_tool == {"function": echo, "max_retries": 1}


def test_q7_a_child_updates_only_its_own_context(backends):
    """The child resolves the built-in for itself; ``soe_update_context`` never syncs to the parent."""
    saved: list[str] = []
    save = backends.context.save_context

    def spy(execution_id: str, ctx: dict) -> None:
        saved.append(execution_id)
        save(execution_id, ctx)

    backends.context.save_context = spy
    tools: dict = {}
    _, broadcast = create_all_nodes(backends, tools_registry=tools)
    parent = orchestrate(Q7_CONFIG, "spawner", ["START"], {"who": "p"}, backends, broadcast)

    kids = [eid for eid in dict.fromkeys(saved) if eid != parent]
    assert len(kids) == 1
    kid = backends.context.get_context(kids[0])
    assert kid["__parent__"]["parent_execution_id"] == parent
    status = {"status": "updated", "fields": ["mark"]}
    assert {k: v for k, v in kid.items() if not k.startswith("__")} == {"who": ["p"], "mark": ["p"],
                                                                        "status": [status]}
    # The child's stored output climbed to the parent (§4.4); its update_context write did not.
    assert user_fields(backends, parent) == {"who": ["p"], "mark": ["p"], "status": [status, status]}
    assert tools == {}


def test_q7_agents_in_two_executions_update_their_own_contexts(backends):
    def llm(messages: list[dict], response_model: Any) -> str:
        payload = json.loads(messages[0]["content"].split("\n\n", 1)[0])
        name = response_model.__name__
        if name == "RouterResponse":
            done = "[Tool: soe_update_context]" in payload["conversation_history"]
            return json.dumps({"action": "finish"} if done else {"action": "call_tool",
                                                                  "tool_name": "soe_update_context"})
        if name == "update_contextSchema":
            who = json.loads(payload["context"])["who"]
            return json.dumps({"updates": {"mark": who}})
        return json.dumps({"answer": "done"})

    tools = {"echo": echo}
    config = {"wf": {"Agent": {"node_type": "agent", "event_triggers": ["START"], "prompt": "Mark {{ context.who }}",
                               "tools": ["soe_update_context"], "output_field": "answer"}}}
    _, broadcast = create_all_nodes(backends, call_llm=llm, tools_registry=tools)
    one = orchestrate(config, "wf", ["START"], {"who": "one"}, backends, broadcast)
    two = orchestrate(config, "wf", ["START"], {"who": "two"}, backends, broadcast)
    assert user_fields(backends, one) == {"who": ["one"], "mark": ["one"], "answer": ["done"]}
    assert user_fields(backends, two) == {"who": ["two"], "mark": ["two"], "answer": ["done"]}
    assert tools == {"echo": echo}


# --- 7. soe_explore_docs from an agent --------------------------------------------------------------


def test_agent_explores_the_shipped_docs(backends):
    guide = "soe/docs/guide_00_getting_started.md"
    calls: list[tuple[str, dict]] = []
    router_answers = [{"action": "call_tool", "tool_name": "soe_explore_docs"}] * 2 + [{"action": "finish"}]
    param_answers = [{"path": "soe/docs", "action": "list"}, {"path": guide, "action": "read"}]

    def llm(messages: list[dict], response_model: Any) -> str:
        name = response_model.__name__
        calls.append((name, json.loads(messages[0]["content"].split("\n\n", 1)[0])))
        if name == "RouterResponse":
            return json.dumps(router_answers.pop(0))
        if name == "soe_explore_docsSchema":
            return json.dumps(param_answers.pop(0))
        return json.dumps({"summary": "read the guide"})

    config = {"workflows": {"wf": {"Reader": {
        "node_type": "agent", "event_triggers": ["START"], "prompt": "Learn SOE", "identity": "student",
        "tools": ["soe_explore_docs"], "output_field": "summary", "event_emissions": [{"signal_name": "LEARNED"}]}}},
        "identities": {"student": "You study."}}
    eid = run(config, backends, workflow="wf", call_llm=llm, tools={})

    listing = soe_explore_docs("soe/docs", "list")
    text = (DOCS_ROOT / guide).read_text(encoding="utf-8")
    assert "[FILE] guide_00_getting_started.md" in listing.splitlines()
    assert soe_explore_docs(guide, "read") == text

    history = backends.conversation_history.get_conversation_history(eid)
    assert history == [{"role": "system", "content": "You study."},
                       {"role": "tool", "tool_name": "soe_explore_docs", "content": listing},
                       {"role": "tool", "tool_name": "soe_explore_docs", "content": text}]
    assert "[FILE] guide_00_getting_started.md" in history[1]["content"]
    assert [name for name, _ in calls] == ["RouterResponse", "soe_explore_docsSchema"] * 2 + [
        "RouterResponse", "SummaryResponse"]
    signature = calls[0][1]["available_tools"]
    assert signature.startswith("soe_explore_docs(path: <class 'str'>, action: typing.Literal['list', 'read', "
                                "'search', 'tree', 'get_tags'], ")
    assert calls[4][1]["conversation_history"] == (
        f"You study.\n\n[Tool: soe_explore_docs]\n{listing}\n\n[Tool: soe_explore_docs]\n{text}")
    assert [e["context"]["tool_args"] for e in events(backends, eid, "agent_tool_call")] == [
        {"path": "soe/docs", "action": "list", "query": None, "tag": None},
        {"path": guide, "action": "read", "query": None, "tag": None}]
    ctx = backends.context.get_context(eid)
    assert ctx["summary"] == ["read the guide"]
    assert ctx["__operational__"]["signals"] == ["START", "LEARNED"]
    assert ctx["__operational__"]["tool_calls"] == 2
