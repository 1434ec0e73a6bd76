"""Identity and context-schema built-ins, keyed by the tree's main execution id (SPEC §10.2, Q12)."""

from __future__ import annotations

import pytest

from soe.builtin_tools import BUILTIN_TOOLS
from soe.local_backends import LocalBackends, create_local_backends


def seed(backends, eid, main_id=None):
    backends.context.save_context(eid, {"__operational__": {
        "signals": [], "nodes": {}, "llm_calls": 0, "tool_calls": 0, "errors": 0,
        "main_execution_id": main_id or eid}})


def tool(name, backends, eid="e1"):
    return BUILTIN_TOOLS[name](eid, backends)


def tool_events(backends, eid="e1"):
    return [e["context"] for e in backends.telemetry.get_events(eid) if e["event_type"] == "node_execution"]


# --- identities ------------------------------------------------------------------------------

def test_get_identities_shapes(backends):
    seed(backends, "e1")
    get = tool("soe_get_identities", backends)
    assert get() == {}
    assert get(list_only=True) == {"identity_names": []}  # list_only wins over "none stored"
    backends.identity.save_identities("e1", {"helper": "Be kind.", "critic": "Be harsh."})
    assert get(list_only=True) == {"identity_names": ["helper", "critic"]}
    assert get(identity_name="helper") == {"identity_name": "helper", "system_prompt": "Be kind."}
    assert get(identity_name="nope") == {"error": "Identity 'nope' not found", "available": ["helper", "critic"]}
    whole = get()
    assert whole == {"helper": "Be kind.", "critic": "Be harsh."}
    whole["helper"] = "changed"
    assert backends.identity.get_identity("e1", "helper") == "Be kind."


def test_inject_identity_creates_then_updates(backends):
    seed(backends, "e1")
    inject = tool("soe_inject_identity", backends)
    assert inject("helper", "Be kind.") == {"success": True, "identity_name": "helper", "action": "created",
                                            "message": "Successfully created identity 'helper'"}
    assert inject("helper", "Be brief.") == {"success": True, "identity_name": "helper", "action": "updated",
                                             "message": "Successfully updated identity 'helper'"}
    assert backends.identity.get_identities("e1") == {"helper": "Be brief."}
    assert tool_events(backends) == [
        {"tool": "soe_inject_identity", "identity_name": "helper", "action": "created"},
        {"tool": "soe_inject_identity", "identity_name": "helper", "action": "updated"}]
    assert backends.context.get_context("e1")["__operational__"]["nodes"] == {}


def test_inject_identity_never_mutates_the_stored_mapping(backends):
    seed(backends, "e1")
    original = {"helper": "Be kind."}
    backends.identity.save_identities("e1", original)
    tool("soe_inject_identity", backends)("other", "Hi.")
    assert original == {"helper": "Be kind."}
    assert backends.identity.get_identities("e1") == {"helper": "Be kind.", "other": "Hi."}


def test_inject_identity_bad_input(backends):
    seed(backends, "e1")
    inject = tool("soe_inject_identity", backends)
    with pytest.raises(ValueError, match="'system_prompt' must be a string, got int"):
        inject("helper", 3)
    with pytest.raises(ValueError, match="'identity_name' must be a non-empty string"):
        inject("", "x")
    assert backends.identity.get_identities("e1") is None
    assert tool_events(backends) == []


def test_remove_identity(backends):
    seed(backends, "e1")
    backends.identity.save_identities("e1", {"helper": "Be kind.", "critic": "Be harsh."})
    assert tool("soe_remove_identity", backends)("helper") == {
        "removed": True, "identity_name": "helper", "message": "Successfully removed identity 'helper'"}
    assert backends.identity.get_identities("e1") == {"critic": "Be harsh."}
    assert tool_events(backends) == [{"tool": "soe_remove_identity", "identity_name": "helper"}]
    with pytest.raises(ValueError) as info:
        tool("soe_remove_identity", backends)("helper")
    assert str(info.value) == "Identity 'helper' not found"
    assert len(tool_events(backends)) == 1


def test_identity_tools_without_backend(backends):
    bare = LocalBackends(backends.context, backends.workflow, backends.telemetry)
    seed(bare, "e1")
    assert tool("soe_get_identities", bare)() == {}
    assert tool("soe_get_identities", bare)(list_only=True) == {"identity_names": []}
    with pytest.raises(ValueError, match="No identity backend is configured"):
        tool("soe_inject_identity", bare)("helper", "x")


def test_identity_tools_use_the_main_execution_id_in_a_child(backends):
    seed(backends, "root")
    seed(backends, "child", main_id="root")
    backends.identity.save_identities("root", {"helper": "Be kind."})
    assert tool("soe_get_identities", backends, "child")(identity_name="helper") == {
        "identity_name": "helper", "system_prompt": "Be kind."}
    tool("soe_inject_identity", backends, "child")("critic", "Be harsh.")
    tool("soe_remove_identity", backends, "child")("helper")
    assert backends.identity.get_identities("root") == {"critic": "Be harsh."}
    assert backends.identity.get_identities("child") is None
    assert [e["tool"] for e in tool_events(backends, "child")] == ["soe_inject_identity", "soe_remove_identity"]


def test_main_id_falls_back_to_the_bound_id(backends):
    backends.identity.save_identities("lonely", {"a": "b"})
    assert tool("soe_get_identities", backends, "lonely")() == {"a": "b"}
    backends.context.save_context("odd", {"__operational__": {"signals": []}})
    backends.identity.save_identities("odd", {"c": "d"})
    assert tool("soe_get_identities", backends, "odd")() == {"c": "d"}


# --- context schema ---------------------------------------------------------------------------

def test_get_context_schema_shapes(backends):
    seed(backends, "e1")
    get = tool("soe_get_context_schema", backends)
    assert get() == {}
    backends.context_schema.save_context_schema("e1", {"summary": {"type": "string"}, "n": "integer"})
    assert get(field_name="summary") == {"field_name": "summary", "definition": {"type": "string"}}
    assert get(field_name="nope") == {"error": "Field 'nope' not found in context schema",
                                      "available": ["summary", "n"]}
    assert get() == {"summary": {"type": "string"}, "n": "integer"}


@pytest.mark.parametrize("definition", ['{"type": "string"}', "type: string\n"])
def test_inject_context_schema_field(backends, definition):
    seed(backends, "e1")
    inject = tool("soe_inject_context_schema_field", backends)
    assert inject("summary", definition) == {
        "success": True, "field_name": "summary", "action": "created",
        "message": "Successfully created field 'summary' in context schema"}
    assert inject("summary", '{"type": "integer"}')["action"] == "updated"
    assert backends.context_schema.get_context_schema("e1") == {"summary": {"type": "integer"}}
    assert tool_events(backends) == [
        {"tool": "soe_inject_context_schema_field", "field_name": "summary", "action": "created"},
        {"tool": "soe_inject_context_schema_field", "field_name": "summary", "action": "updated"}]


@pytest.mark.parametrize("definition", ['"string"', "[1]", "", "null"])
def test_inject_context_schema_field_non_mapping(backends, definition):
    seed(backends, "e1")
    with pytest.raises(ValueError) as info:
        tool("soe_inject_context_schema_field", backends)("summary", definition)
    assert str(info.value) == "Field definition must be a dictionary/object"
    assert backends.context_schema.get_context_schema("e1") is None
    assert tool_events(backends) == []


def test_inject_context_schema_field_unparseable(backends):
    seed(backends, "e1")
    with pytest.raises(ValueError, match="Invalid YAML"):
        tool("soe_inject_context_schema_field", backends)("summary", "type: [string")


def test_remove_context_schema_field(backends):
    seed(backends, "e1")
    backends.context_schema.save_context_schema("e1", {"summary": {"type": "string"}, "n": "integer"})
    assert tool("soe_remove_context_schema_field", backends)("summary") == {
        "removed": True, "field_name": "summary",
        "message": "Successfully removed field 'summary' from context schema"}
    assert backends.context_schema.get_context_schema("e1") == {"n": "integer"}
    assert tool_events(backends) == [{"tool": "soe_remove_context_schema_field", "field_name": "summary"}]
    with pytest.raises(ValueError) as info:
        tool("soe_remove_context_schema_field", backends)("summary")
    assert str(info.value) == "Field 'summary' not found in context schema"


def test_schema_tools_use_the_main_execution_id_in_a_child(backends):
    seed(backends, "root")
    seed(backends, "child", main_id="root")
    tool("soe_inject_context_schema_field", backends, "child")("summary", '{"type": "string"}')
    assert backends.context_schema.get_context_schema("root") == {"summary": {"type": "string"}}
    assert backends.context_schema.get_context_schema("child") is None
    assert tool("soe_get_context_schema", backends, "child")(field_name="summary") == {
        "field_name": "summary", "definition": {"type": "string"}}
    tool("soe_remove_context_schema_field", backends, "child")("summary")
    assert backends.context_schema.get_context_schema("root") == {}


def test_schema_and_identity_tools_with_file_backends(tmp_path):
    local = create_local_backends(str(tmp_path))
    seed(local, "e1")
    tool("soe_inject_context_schema_field", local)("summary", '{"type": "string"}')
    tool("soe_inject_identity", local)("helper", "Be kind.")
    reread = create_local_backends(str(tmp_path))
    assert reread.context_schema.get_context_schema("e1") == {"summary": {"type": "string"}}
    assert reread.identity.get_identities("e1") == {"helper": "Be kind."}
