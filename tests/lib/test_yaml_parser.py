"""Every YAML entry point refuses alias bombs, recursive aliases and deep nesting (issue 13, item 2)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from soe import create_all_nodes, orchestrate
from soe.builtin_tools import BUILTIN_TOOLS
from soe.cli.app import app
from soe.inputs import load_context_file
from soe.lib.yaml_parser import MAX_YAML_ALIAS_NODES, MAX_YAML_DEPTH, load_yaml, parse_yaml
from soe.validation import validate_config

# nine levels of nine aliases: ~4 * 10^8 values once expanded, 600 bytes of text
LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi", strict=True)
)
BOMB_MESSAGE = "aliases expand the document by"
DEEP = "x: " + "[" * (MAX_YAML_DEPTH + 5) + "]" * (MAX_YAML_DEPTH + 5)


def test_alias_bomb_is_refused_before_it_expands():
    with pytest.raises(ValueError, match=f"Invalid YAML configuration: {BOMB_MESSAGE} .* more than "
                                         f"{MAX_YAML_ALIAS_NODES} \\(a YAML alias bomb\\?\\)"):
        parse_yaml(LAUGHS)


def test_recursive_alias_is_refused():
    with pytest.raises(ValueError, match="an alias refers to a node that contains it"):
        parse_yaml("a: &a [1, *a]")


def test_deep_nesting_is_refused():
    with pytest.raises(ValueError, match=f"values are nested more than {MAX_YAML_DEPTH} levels deep"):
        parse_yaml(DEEP)


def test_ordinary_anchors_and_merge_keys_still_load():
    text = "base: &b {retries: 2, model: m}\nnode: {<<: *b, model: n}\nlist: [*b, *b]\n"
    assert load_yaml(text) == {"base": {"retries": 2, "model": "m"}, "node": {"retries": 2, "model": "n"},
                               "list": [{"retries": 2, "model": "m"}] * 2}
    assert load_yaml("") is None
    assert load_yaml("yes") is True  # YAML 1.1 semantics kept


def test_validate_config_and_orchestrate_refuse_a_bomb(backends):
    with pytest.raises(ValueError, match=BOMB_MESSAGE):
        validate_config(LAUGHS)
    _, broadcast = create_all_nodes(backends)
    with pytest.raises(ValueError, match=BOMB_MESSAGE):
        orchestrate(config=LAUGHS, initial_workflow_name="a", initial_signals=["START"], initial_context={},
                    backends=backends, broadcast_signals_caller=broadcast)


def test_cli_validate_and_context_file_refuse_a_bomb(tmp_path):
    config = tmp_path / "bomb.yaml"
    config.write_text(LAUGHS)
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exit_code in (1, 2)
    assert BOMB_MESSAGE in result.output
    context = tmp_path / "context.yaml"
    context.write_text(LAUGHS)
    with pytest.raises(ValueError, match=BOMB_MESSAGE):
        load_context_file(context)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="Invalid --context-file"):
        load_context_file(deep)


@pytest.mark.parametrize("tool_name, arguments", [
    ("soe_inject_node", {"workflow_name": "wf", "node_name": "N", "node_config_data": LAUGHS}),
    ("soe_inject_workflow", {"workflow_name": "w2", "workflow_data": LAUGHS}),
    ("soe_inject_context_schema_field", {"field_name": "f", "field_definition": LAUGHS}),
])
def test_builtin_tools_refuse_a_bomb(backends, tool_name, arguments):
    eid = "bomb-exec"
    backends.context.save_context(eid, {"__operational__": {
        "signals": [], "nodes": {}, "llm_calls": 0, "tool_calls": 0, "errors": 0, "main_execution_id": eid}})
    backends.workflow.save_workflows_registry(eid, {"wf": {"A": {"node_type": "router",
                                                                 "event_triggers": ["START"]}}})
    tool = BUILTIN_TOOLS[tool_name](execution_id=eid, backends=backends, tools_registry={})
    try:
        result = tool(**arguments)
    except ValueError as exc:
        assert BOMB_MESSAGE in str(exc)
    else:
        assert BOMB_MESSAGE in json.dumps(result)
    assert backends.workflow.get_workflows_registry(eid) == {
        "wf": {"A": {"node_type": "router", "event_triggers": ["START"]}}}


CORPUS = [
    "a: &x [1, 2.5, true, null, ~, 0x1f, 0o17, 1_000, 2020-01-02, 2020-01-02T03:04:05Z, 'q', !!binary aGVsbG8=]\n"
    "b: *x\nc: {<<: {k: 1, j: 0}, j: 2}\nd: !!set {p, q}\ne: !!omap [{a: 1}, {b: 2}]\nf: [yes, No, on, 1e3, .inf]\n"
    "'=': 3\n!!str 5: five\n",
    "[1, {a: [b, {c: d}]}, &m {x: 1}, *m, {<<: [*m, {y: 2}]}]",
    "plain", "", "= : 3\nk: v\n", "- !!str 7\n- !!int '8'\n- !!float '9'\n- !!null ''\n- 'multi\n  line'\n- |\n  block\n",
]


@pytest.mark.parametrize("text", CORPUS)
def test_load_yaml_gives_exactly_safe_loads_values(text):
    import yaml

    assert load_yaml(text) == yaml.safe_load(text)


def test_an_aliased_value_is_shared_not_copied():
    loaded = load_yaml("a: &x [1]\nb: *x")
    assert loaded["a"] is loaded["b"]


def test_an_unhashable_key_is_a_yaml_error():
    with pytest.raises(ValueError, match="Invalid YAML configuration: while constructing a mapping"):
        parse_yaml("{[1]: 2}")

