"""Context built-ins: soe_get_context, soe_update_context, soe_copy_context, soe_list_contexts (SPEC §10.2)."""

from __future__ import annotations

import json

import pytest

from soe.builtin_tools import BUILTIN_TOOLS
from soe.local_backends import LocalBackends, create_local_backends


def operational(eid, **overrides):
    return {"signals": [], "nodes": {}, "llm_calls": 0, "tool_calls": 0, "errors": 0,
            "main_execution_id": eid, **overrides}


def seed(backends, eid="e1", **fields):
    ctx = {key: list(value) for key, value in fields.items()}
    ctx["__operational__"] = operational(eid)
    backends.context.save_context(eid, ctx)
    return eid


def tool(name, backends, eid="e1"):
    return BUILTIN_TOOLS[name](backends, eid)


class PlainContextBackend:
    """A user context backend with only the protocol methods (no atomic append)."""

    def __init__(self):
        self.contexts: dict = {}
        self.saves = 0

    def save_context(self, id, context):
        self.saves += 1
        self.contexts[id] = json.loads(json.dumps(context))

    def get_context(self, id):
        return json.loads(json.dumps(self.contexts.get(id, {})))


# --- soe_get_context ---------------------------------------------------------------------

def test_get_context_reads_raw_histories(backends):
    seed(backends, x=[1, 2], y=["a"])
    get = tool("soe_get_context", backends)
    assert get(field="x") == {"x": [1, 2]}
    assert get(field="missing") == {"missing": None}
    assert get(field="__operational__") == {"__operational__": None}
    assert get(fields=["x", "missing"]) == {"x": [1, 2], "missing": None}
    assert get() == {"x": [1, 2], "y": ["a"]}
    assert get(field="y", fields=["x"]) == {"y": ["a"]}


def test_get_context_fields_forms(backends):
    seed(backends, x=[1])
    get = tool("soe_get_context", backends)
    assert get(fields="x") == {"x": [1]}
    assert get(fields=("x",)) == {"x": [1]}
    with pytest.raises(ValueError, match="'fields' must be a list of field names, got int"):
        get(fields=3)


def test_get_context_unknown_execution(backends):
    assert tool("soe_get_context", backends, "unknown")() == {}


# --- soe_update_context ---------------------------------------------------------------------

def test_update_context_appends(backends):
    seed(backends, x=[1])
    result = tool("soe_update_context", backends)({"x": 2, "y": "new", "__operational__": {}})
    assert result == {"status": "updated", "fields": ["x", "y"]}
    ctx = backends.context.get_context("e1")
    assert ctx["x"] == [1, 2]
    assert ctx["y"] == ["new"]
    assert ctx["__operational__"] == operational("e1")


@pytest.mark.parametrize("updates", [{}, None])
def test_update_context_nothing(backends, updates):
    seed(backends, x=[1])
    assert tool("soe_update_context", backends)(updates) == {"status": "no updates provided"}


def test_update_context_only_operational(backends):
    seed(backends, x=[1])
    result = tool("soe_update_context", backends)({"__operational__": {}, "__parent__": 1})
    assert result == {"status": "no valid updates (operational fields cannot be updated)"}
    assert backends.context.get_context("e1") == {"x": [1], "__operational__": operational("e1")}


def test_update_context_bad_input(backends):
    seed(backends, x=[1])
    with pytest.raises(ValueError, match="must be a dictionary"):
        tool("soe_update_context", backends)(["x", 1])
    with pytest.raises(ValueError, match="field names must be strings"):
        tool("soe_update_context", backends)({1: "a", "x": 2})
    assert backends.context.get_context("e1")["x"] == [1]


def test_update_context_does_not_sync_to_parent(backends):
    seed(backends, "parent", x=[1])
    seed(backends, "child", x=[1])
    child = backends.context.get_context("child")
    child["__parent__"] = {"parent_execution_id": "parent", "signals_to_parent": [],
                           "context_updates_to_parent": ["x"], "main_execution_id": "parent"}
    backends.context.save_context("child", child)
    tool("soe_update_context", backends, "child")({"x": 2})
    assert backends.context.get_context("child")["x"] == [1, 2]
    assert backends.context.get_context("parent")["x"] == [1]


def test_update_context_with_a_plain_backend_saves_once(backends):
    plain = LocalBackends(PlainContextBackend(), backends.workflow)
    seed(plain, x=[1])
    saves = plain.context.saves
    tool("soe_update_context", plain)({"x": 2, "y": 3})
    assert plain.context.saves == saves + 1
    assert plain.context.get_context("e1")["x"] == [1, 2]


# --- soe_copy_context -----------------------------------------------------------------------

def test_copy_context_all_fields_replaces_target_histories(backends):
    seed(backends, "src", a=[1, 2], b=["x"])
    seed(backends, "dst", a=[9], keep=[0])
    result = tool("soe_copy_context", backends, "dst")(source_execution_id="src", all_fields=True)
    assert result == {"status": "copied", "source_execution": "src", "target_execution": "dst",
                      "fields_copied": {"a": "a", "b": "b"}}
    assert backends.context.get_context("dst") == {"a": [1, 2], "keep": [0], "__operational__": operational("dst"),
                                                   "b": ["x"]}


def test_copy_context_field_mapping_within_the_bound_execution(backends):
    seed(backends, a=[1, 2])
    result = tool("soe_copy_context", backends)(fields={"a": "b"})
    assert result == {"status": "copied", "source_execution": "e1", "target_execution": "e1",
                      "fields_copied": {"a": "b"}}
    assert backends.context.get_context("e1")["b"] == [1, 2]


def test_copy_context_to_another_target(backends):
    seed(backends, a=[1])
    seed(backends, "other")
    tool("soe_copy_context", backends)(fields={"a": "a2"}, target_execution_id="other")
    assert backends.context.get_context("other")["a2"] == [1]
    assert "a2" not in backends.context.get_context("e1")


def test_copy_context_missing_source_field_saves_nothing(backends):
    seed(backends, "src", a=[1])
    seed(backends, "dst")
    copy = tool("soe_copy_context", backends, "dst")
    result = copy(source_execution_id="src", fields={"a": "a", "nope": "b"})
    assert result == {"error": "Source field 'nope' not found in execution src"}
    result = copy(source_execution_id="src", fields={"__operational__": "b"})
    assert result == {"error": "Source field '__operational__' not found in execution src"}
    assert backends.context.get_context("dst") == {"__operational__": operational("dst")}


@pytest.mark.parametrize("kwargs", [{}, {"fields": {}}, {"fields": None, "all_fields": False}])
def test_copy_context_needs_fields_or_all(backends, kwargs):
    seed(backends, a=[1])
    assert tool("soe_copy_context", backends)(**kwargs) == {
        "error": "Must specify either 'fields' mapping or 'all_fields=True'"}


def test_copy_context_refuses_operational_targets_and_bad_mappings(backends):
    seed(backends, a=[1])
    copy = tool("soe_copy_context", backends)
    with pytest.raises(ValueError, match="'__operational__' is not a writable context field"):
        copy(fields={"a": "__operational__"})
    with pytest.raises(ValueError, match="'fields' must be a mapping"):
        copy(fields=["a"])
    assert backends.context.get_context("e1") == {"a": [1], "__operational__": operational("e1")}


# --- soe_list_contexts ----------------------------------------------------------------------

def test_list_contexts_in_memory_is_empty(backends):
    seed(backends)
    assert tool("soe_list_contexts", backends)() == {"current_execution_id": "e1", "contexts": []}


def test_list_contexts_reads_the_storage_dir(tmp_path):
    local = create_local_backends(str(tmp_path))
    local.context.save_context("e1", {"user_request": ["first", "second"], "__operational__": operational(
        "e1", signals=["A", "B", "C", "D", "E", "F"], nodes={"X": 2, "Y": 3})})
    local.context.save_context("e2", {"__operational__": operational("e2")})
    (tmp_path / "contexts" / "broken.json").write_text("{not json")
    result = tool("soe_list_contexts", local)()
    assert result["current_execution_id"] == "e1"
    assert sorted(result["contexts"], key=lambda c: c["execution_id"]) == [
        {"execution_id": "e1", "is_current": True, "user_request": "second",
         "signals": ["B", "C", "D", "E", "F"], "node_count": 5},
        {"execution_id": "e2", "is_current": False, "user_request": None, "signals": [], "node_count": 0},
    ]
    assert [c["execution_id"] for c in tool("soe_list_contexts", local)(include_current=False)["contexts"]] == ["e2"]


def test_list_contexts_missing_storage_dir(tmp_path):
    local = create_local_backends(str(tmp_path))
    local.context.storage_dir = tmp_path / "gone"
    assert tool("soe_list_contexts", local)() == {"current_execution_id": "e1", "contexts": []}
