"""Property tests: generated configs, valid and broken, through every entry point (issue 13, acceptance).

Configs are built from small valid parts (routers, tools, children, loops,
conditions) and then, for the broken ones, damaged: a value replaced by one of
the wrong type, an unknown key, a huge or deeply nested value, random Unicode
names. Whatever comes out, each entry point may only answer with a documented
error, never crash, hang or leave a half-written store; valid workflows end
within their step budget.
"""

from __future__ import annotations

import inspect
import string
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from soe import create_all_nodes, orchestrate
from soe.backends.sqlite import create_sqlite_backends
from soe.builtin_tools import BUILTIN_TOOLS
from soe.cli.app import app
from soe.local_backends import create_in_memory_backends
from soe.types import SoeError
from soe.validation import validate_config
from soe.validation.lint import lint_config

# What SPEC documents: SoeError subclasses, ValueError for unparsable text and
# bad arguments, TypeError for arguments of the wrong type, RuntimeError for an
# LLM failure without a failure signal.
DOCUMENTED = (SoeError, ValueError, TypeError, RuntimeError)
UNDOCUMENTED = (RecursionError, MemoryError, NotImplementedError)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

SIGNALS = ["START", "A", "B", "C", "DONE"]
NAMES = st.one_of(st.sampled_from(["x", "y", "out", "n"]),
                  st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                          max_size=8))
CONDITIONS = st.sampled_from([None, "{{ context.x is defined }}", "{{ result }}", "{{ context.n | default(0) < 3 }}",
                              "{{ 9 ** 9 ** 9 }}", "{{ 'a' * 10 ** 9 }}", "{{ ''.__class__ }}", "{{ x ~ }}",
                              "plain text"])


def emissions() -> st.SearchStrategy[list[dict[str, Any]]]:
    item = st.fixed_dictionaries({"signal_name": st.sampled_from(SIGNALS)},
                                 optional={"condition": CONDITIONS.filter(lambda c: c is not None)})
    return st.lists(item, max_size=3)


def node() -> st.SearchStrategy[dict[str, Any]]:
    triggers = st.lists(st.sampled_from(SIGNALS), min_size=1, max_size=2, unique=True)
    router = st.fixed_dictionaries({"node_type": st.just("router"), "event_triggers": triggers,
                                    "event_emissions": emissions().filter(bool)})
    tool = st.fixed_dictionaries({"node_type": st.just("tool"), "event_triggers": triggers,
                                  "tool_name": st.sampled_from(["echo", "soe_get_context", "missing"])},
                                 optional={"output_field": NAMES, "event_emissions": emissions(),
                                           "parameters": st.dictionaries(st.sampled_from(["value"]),
                                                                         st.sampled_from(["{{ context.x }}", 1,
                                                                                          "plain"]))})
    child = st.fixed_dictionaries({"node_type": st.just("child"), "event_triggers": triggers,
                                   "child_workflow_name": st.just("wf"), "child_initial_signals": st.just(["A"])},
                                  optional={"signals_to_parent": st.just(["DONE"])})
    return st.one_of(router, tool, child)


def valid_config() -> st.SearchStrategy[dict[str, Any]]:
    workflow = st.dictionaries(st.sampled_from(["N1", "N2", "N3", "N4"]), node(), min_size=1, max_size=4)
    return st.fixed_dictionaries({"wf": workflow})


JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
              st.just("x" * 100_000)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children,
                                                                              max_size=3)),
    max_leaves=10,
)


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"k": [value]}
    return value


@st.composite
def broken_config(draw: st.DrawFn) -> Any:
    """A valid config with one part damaged."""
    config = draw(valid_config())
    workflow = config["wf"]
    node_name = draw(st.sampled_from(sorted(workflow)))
    damage = draw(st.sampled_from(["wrong_type", "unknown_key", "deep", "unicode_names", "not_a_mapping",
                                   "limits"]))
    if damage == "wrong_type":
        key = draw(st.sampled_from(sorted(workflow[node_name])))
        workflow[node_name][key] = draw(JUNK)
    elif damage == "unknown_key":
        workflow[node_name][draw(st.text(min_size=1, max_size=6))] = draw(JUNK)
    elif damage == "deep":
        workflow[node_name]["parameters"] = _deep(draw(st.integers(50, 300)))
    elif damage == "unicode_names":
        config[draw(st.text(min_size=1, max_size=6))] = {draw(st.text(min_size=1, max_size=6)): workflow[node_name]}
    elif damage == "not_a_mapping":
        workflow[node_name] = draw(JUNK)
    else:
        config["limits"] = draw(st.dictionaries(st.text(max_size=20), JUNK, max_size=2))
    return config


CONFIGS = st.one_of(valid_config(), broken_config())


def echo(value: Any = None) -> Any:
    return value


def _orchestrate(config: Any, backends: Any, eid: str | None = None) -> str:
    _, broadcast = create_all_nodes(backends, tools_registry={"echo": echo})
    return orchestrate(config=config, initial_workflow_name="wf", initial_signals=["START"],
                       initial_context={"x": 1}, backends=backends, broadcast_signals_caller=broadcast,
                       max_steps=12, execution_id=eid)  # a loop storing soe_get_context doubles each step


def _only_documented(call: Any, *args: Any) -> Exception | None:
    try:
        call(*args)
    except UNDOCUMENTED as exc:
        raise AssertionError(f"undocumented {type(exc).__name__}: {exc}") from exc
    except DOCUMENTED as exc:
        return exc
    return None


@SETTINGS
@given(CONFIGS)
def test_validate_config_and_lint_answer_only_documented_errors(config):
    text = yaml.safe_dump(config, allow_unicode=True)
    for form in (config, text):
        _only_documented(validate_config, form)
    _only_documented(lint_config, text)


@SETTINGS
@given(CONFIGS)
def test_orchestrate_answers_only_documented_errors_and_valid_runs_end(config):
    valid = _only_documented(validate_config, config) is None
    backends = create_in_memory_backends()
    error = _only_documented(_orchestrate, config, backends)
    if valid and error is not None:
        assert isinstance(error, SoeError | RuntimeError | ValueError), error


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(CONFIGS)
def test_a_refused_config_leaves_no_execution_in_a_durable_store(tmp_path_factory, config):
    backends = create_sqlite_backends(tmp_path_factory.mktemp("db") / "soe.db")
    try:
        invalid = _only_documented(validate_config, config) is not None
        _only_documented(_orchestrate, config, backends, "e1")
        if invalid:
            assert backends.context.get_context("e1") == {}
            assert backends.runtime.load_tree("e1") is None
    finally:
        backends.close()


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(CONFIGS)
def test_cli_validate_and_lint_never_crash(tmp_path_factory, config):
    path = tmp_path_factory.mktemp("cli") / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()
    for command in (["validate", str(path)], ["lint", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code in (0, 1, 2), result.output
        assert not isinstance(result.exception, UNDOCUMENTED)
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


ARGUMENTS = st.one_of(JUNK, st.text(alphabet=string.printable, max_size=40), st.just("a: &a [*a]"),
                      st.just("[" * 5000))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(BUILTIN_TOOLS)), st.data())
def test_every_builtin_tool_answers_only_documented_errors(name, data):
    backends = create_in_memory_backends()
    eid = _orchestrate({"wf": {"N": {"node_type": "router", "event_triggers": ["START"],
                                     "event_emissions": [{"signal_name": "DONE"}]}}}, backends)
    function = BUILTIN_TOOLS[name](execution_id=eid, backends=backends, tools_registry={"echo": echo})
    parameters = list(inspect.signature(function).parameters)
    arguments = {p: data.draw(ARGUMENTS, label=p) for p in parameters
                 if data.draw(st.booleans(), label=f"pass {p}")}
    _only_documented(lambda: function(**arguments))
    assert backends.context.get_context(eid)["__operational__"]["main_execution_id"] == eid
