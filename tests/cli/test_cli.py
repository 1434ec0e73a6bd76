"""The ``soe`` command: each command's output, error paths and exit codes (0 ok, 1 failed, 2 bad input)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soe.cli.app import app
from soe.inputs import (
    apply_budgets,
    build_initial_context,
    missing_tools,
    open_store,
    parse_context_pairs,
    shown_store,
)
from soe.tool_specs import load_tools

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

ROUTER_AND_LLM = """\
main:
  Check:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: GO
  Write:
    node_type: llm
    event_triggers: [GO]
    prompt: "Write about {{ context.topic | default('nothing') }}"
    output_field: text
    event_emissions:
      - signal_name: WRITTEN
  Again:
    node_type: llm
    event_triggers: [WRITTEN]
    prompt: "Shorten {{ context.text }}"
    output_field: short
"""

WAITING = """\
approval:
  Ask:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: WAITING_FOR_APPROVAL
  Approved:
    node_type: router
    event_triggers: [APPROVED]
    event_emissions:
      - signal_name: SHIPPED
        condition: "{{ context.answer == 'yes' }}"
"""

CRASHING = """\
crash:
  First:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: GO
  Flaky:
    node_type: tool
    event_triggers: [GO]
    tool_name: flaky
    output_field: outcome
    event_emissions:
      - signal_name: DONE
"""

CRASHING_TOOLS = '''\
from pathlib import Path

MARK = Path(__file__).with_suffix(".ran")


def flaky() -> str:
    """Interrupted (like Ctrl-C or a kill) the first time, fine afterwards."""
    if not MARK.exists():
        MARK.write_text("interrupted once")
        raise KeyboardInterrupt
    return "recovered"
'''


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def invoke(*args: str):
    return runner.invoke(app, [str(arg) for arg in args])


def run_json(*args: str, code: int = 0) -> dict:
    result = invoke("run", *args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.fixture
def workflow(tmp_path):
    return write(tmp_path, "main.yaml", ROUTER_AND_LLM)


@pytest.fixture(params=["sqlite", "postgres"])
def durable_store(request, tmp_path):
    """A ``--store`` keeping runs between commands: a SQLite file or a fresh PostgreSQL schema."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:{tmp_path / 'store.db'}"


# --------------------------------------------------------------------------- run


def test_run_prints_plain_progress_context_and_execution_id(workflow):
    result = invoke("run", workflow, "--llm", "echo", "--store", "memory", "-c", "topic=bees")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for line in ("signals  START", "node     Check (router)", "signals  GO", "node     Write (llm)",
                 "llm      Write", "completed in"):
        assert line in out
    assert "topic  bees" in out
    assert "Write about bees" in out
    execution_id = out.split("execution ")[-1].split()[0]
    assert len(execution_id) == 36
    assert "soe inspect" not in out  # the memory store cannot be inspected later


def test_run_json_document_shape(workflow):
    document = run_json(workflow, "--llm", "echo", "--store", "memory", "-c", "topic=bees")
    assert set(document) == {"execution_id", "status", "context", "operational", "error"}
    assert document["status"] == "completed"
    assert document["error"] is None
    assert document["context"]["topic"] == "bees"
    assert "__operational__" not in document["context"]
    assert document["operational"]["signals"] == ["START", "GO", "WRITTEN"]
    assert document["operational"]["main_execution_id"] == document["execution_id"]


def test_run_history_shows_every_value(tmp_path):
    path = write(tmp_path, "loop.yaml", """\
loop:
  Count:
    node_type: tool
    event_triggers: [START, AGAIN]
    tool_name: soe_update_context
    parameters:
      updates: {n: 1}
    event_emissions:
      - signal_name: AGAIN
        condition: "{{ context.n | accumulated | length < 3 }}"
""")
    document = run_json(path, "--store", "memory", "--history")
    assert document["context"]["n"] == [1, 1, 1, 1]  # conditions see the context before the write
    plain = invoke("run", path, "--store", "memory", "--history")
    assert plain.exit_code == 0
    assert "n  [0]  1" in plain.stdout and "[3]  1" in plain.stdout


def test_context_flags_override_the_file_and_each_other(tmp_path, workflow):
    values = write(tmp_path, "ctx.json", json.dumps({"topic": "file", "count": 3, "tags": ["a"]}))
    document = run_json(workflow, "--llm", "echo", "--store", "memory", "--context-file", values,
                        "-c", "topic=first", "--context", "topic=last")
    assert document["context"]["topic"] == "last"
    assert document["context"]["count"] == 3
    assert document["context"]["tags"] == ["a"]


def test_context_file_may_be_yaml(tmp_path, workflow):
    values = write(tmp_path, "ctx.yaml", "topic: yaml\nsize: 2\n")
    document = run_json(workflow, "--llm", "echo", "--store", "memory", "--context-file", values)
    assert document["context"]["size"] == 2


def test_workflow_and_signal_options(tmp_path):
    path = write(tmp_path, "two.yaml", """\
first:
  A:
    node_type: router
    event_triggers: [START]
    event_emissions: [{signal_name: A_DONE}]
second:
  B:
    node_type: router
    event_triggers: [KICK]
    event_emissions: [{signal_name: B_DONE}]
""")
    assert run_json(path, "--store", "memory")["operational"]["signals"] == ["START", "A_DONE"]
    document = run_json(path, "--store", "memory", "--workflow", "second", "--signal", "KICK")
    assert document["operational"]["signals"] == ["KICK", "B_DONE"]


def test_tools_as_module_attribute_single_callable_and_list(tmp_path, monkeypatch):
    write(tmp_path, "mytools.py", "def shout(text: str) -> str:\n    return text.upper()\n"
                                  "ALL = [shout]\n")
    path = write(tmp_path, "tool.yaml", """\
t:
  Shout:
    node_type: tool
    event_triggers: [START]
    tool_name: shout
    parameters: {text: "{{ context.word }}"}
    output_field: loud
""")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "mytools", raising=False)
    for spec in ("mytools:shout", "mytools:ALL", f"{tmp_path / 'mytools.py'}:shout"):
        document = run_json(path, "--store", "memory", "--tools", spec, "-c", "word=hey")
        assert document["context"]["loud"] == "HEY"


# --------------------------------------------------------------------------- run: bad input (exit 2)


@pytest.mark.parametrize(("args", "message"), [
    (["-c", "novalue"], "Error: Invalid --context 'novalue': expected KEY=VALUE"),
    (["--llm", "nope:model"], "Error: Invalid LLM spec 'nope:model'"),
    (["--workflow", "missing"], "Error: Workflow 'missing' not found in config"),
    (["--store", "sqlite:"], "Error: --store sqlite: needs a path"),
    (["--tools", "no_such_module_xyz:TOOLS"], "Error: Cannot load --tools 'no_such_module_xyz:TOOLS'"),
    (["--tools", "json:nothing_here"], "Error: Cannot load --tools 'json:nothing_here'"),
    (["--tools", "json:__doc__"], "must name a dict of tools, a callable or a list of callables"),
    (["--tools", "no-colon"], "expected module:attribute"),
])
def test_run_bad_input_exits_2(workflow, args, message):
    result = invoke("run", workflow, "--store", "memory", "--llm", "echo", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""


def test_run_without_llm_for_llm_nodes_exits_2(workflow, monkeypatch):
    monkeypatch.delenv("SOE_LLM", raising=False)
    result = invoke("run", workflow, "--store", "memory")
    assert result.exit_code == 2
    assert "pass --llm SPEC" in result.stderr


def test_run_llm_from_environment(workflow, monkeypatch):
    monkeypatch.setenv("SOE_LLM", "echo")
    assert run_json(workflow, "--store", "memory")["status"] == "completed"


def test_run_invalid_config_exits_2_with_location(tmp_path):
    path = write(tmp_path, "bad.yaml", "wf:\n  A:\n    node_type: router\n    event_triggers: [START]\n")
    result = invoke("run", path, "--store", "memory")
    assert result.exit_code == 2
    assert (f"Error: {path}:2:3: Workflow 'wf', node 'A': 'event_emissions' "
            "is required") in result.stderr


def test_run_missing_file_is_a_usage_error(tmp_path):
    result = invoke("run", tmp_path / "absent.yaml")
    assert result.exit_code == 2


def test_bad_context_file_exits_2(tmp_path, workflow):
    listing = write(tmp_path, "list.json", "[1, 2]")
    result = invoke("run", workflow, "--store", "memory", "--llm", "echo", "--context-file", listing)
    assert result.exit_code == 2
    assert "must hold a mapping" in result.stderr


# --------------------------------------------------------------------------- budgets (exit 1)


def test_max_llm_calls_flag_fails_the_run_and_keeps_the_context(workflow, tmp_path):
    store = f"sqlite:{tmp_path / 'b.db'}"
    document = run_json(workflow, "--llm", "echo", "--store", store, "--max-llm-calls", "1", code=1)
    assert document["status"] == "failed"
    assert document["error"]["type"] == "BudgetExceeded"
    assert document["error"]["message"].startswith("max_llm_calls of 1 exceeded")
    assert "Write about nothing" in document["context"]["text"]  # saved before the budget ran out
    inspected = invoke("inspect", document["execution_id"], "--store", store, "--json")
    assert json.loads(inspected.stdout)["status"]["status"] == "failed"


def test_budget_failure_in_plain_output(workflow):
    result = invoke("run", workflow, "--llm", "echo", "--store", "memory", "--max-llm-calls", "1")
    assert result.exit_code == 1
    assert "failed in" in result.stdout
    assert "\nmax_llm_calls of 1 exceeded" in result.stdout and "BudgetExceeded:" not in result.stdout
    text_lines = [line for line in result.stdout.splitlines() if line.startswith("  text  ")]
    assert len(text_lines) == 1 and "Write about nothing" in text_lines[0]


def test_config_limits_budget_and_the_flag_wins(tmp_path):
    path = write(tmp_path, "limited.yaml", "limits: {max_llm_calls: 1}\n" + ROUTER_AND_LLM)
    failed = run_json(path, "--llm", "echo", "--store", "memory", code=1)
    assert failed["error"]["type"] == "BudgetExceeded"
    assert run_json(path, "--llm", "echo", "--store", "memory", "--max-llm-calls", "5")["status"] == "completed"


def test_max_tokens_flag_uses_reported_usage(workflow, monkeypatch):
    from soe.llm import report_usage
    from soe.llm.providers import echo

    def counting_spec(spec: str):
        answer = echo()

        def call_llm(messages, response_model=None):
            report_usage(40, 20)
            return answer(messages, response_model)

        return call_llm

    monkeypatch.setattr("soe.llm.providers.llm_from_spec", counting_spec)
    document = run_json(workflow, "--llm", "counting", "--store", "memory", "--max-tokens", "100", code=1)
    assert document["error"]["type"] == "BudgetExceeded"
    assert document["error"]["message"].startswith("max_tokens of 100 exceeded")
    assert document["operational"]["prompt_tokens"] == 80


def test_max_steps_flag(workflow):
    document = run_json(workflow, "--llm", "echo", "--store", "memory", "--max-steps", "1", code=1)
    assert document["error"]["type"] == "StepBudgetExceeded"


def test_apply_budgets_writes_config_limits():
    text = "limits: {max_steps: 9, max_tokens: 1}\nw: {}\n"
    assert apply_budgets(text) is text
    config = apply_budgets(text, max_llm_calls=3, max_tokens=50)
    assert config["limits"] == {"max_steps": 9, "max_tokens": 50, "max_llm_calls": 3}
    combined = apply_budgets({"workflows": {"w": {}}}, max_tokens=5)
    assert combined == {"workflows": {"w": {}}, "limits": {"max_tokens": 5}}


# --------------------------------------------------------------------------- validate, lint, graph


def test_validate_reports_file_line_col(tmp_path, workflow):
    bad = write(tmp_path, "bad.yaml", "wf:\n  A:\n    node_type: router\n    event_triggers: [START]\n")
    result = invoke("validate", workflow, bad)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{workflow}: OK"
    assert lines[1] == (f"{bad}:2:3: Workflow 'wf', node 'A': 'event_emissions' is required - "
                        "specify which signals to emit based on conditions")


def test_validate_yaml_syntax_error_and_success(tmp_path, workflow):
    broken = write(tmp_path, "broken.yaml", "wf:\n  A: [\n")
    result = invoke("validate", broken)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{broken}:3:1: Invalid YAML configuration")
    assert invoke("validate", workflow).exit_code == 0


def test_lint_findings_have_code_severity_location_and_fix(tmp_path):
    path = write(tmp_path, "lint.yaml", """\
wf:
  A:
    node_type: router
    event_triggers: [GO]
    event_emissions:
      - signal_name: NOBODY
""")
    result = invoke("lint", path)
    assert result.exit_code == 0  # warnings only
    assert f"{path}:4:22: warning SOE003 [wf/A] trigger 'GO' is never emitted" in result.stdout
    assert f"{path}:6:22: warning SOE002" in result.stdout
    assert "(fix: " in result.stdout
    started = invoke("lint", path, "--signal", "GO")
    assert "SOE003" not in started.stdout and "SOE002" in started.stdout
    assert invoke("lint", path, "--strict").exit_code == 1


def test_lint_invalid_config_is_an_error(tmp_path):
    bad = write(tmp_path, "bad.yaml", "wf:\n  A:\n    node_type: router\n    event_triggers: [START]\n")
    result = invoke("lint", bad)
    assert result.exit_code == 1
    assert "error SOE001" in result.stdout


def test_lint_without_findings(tmp_path):
    path = write(tmp_path, "ok.yaml", "wf:\n  A:\n    node_type: router\n    event_triggers: [START]\n"
                                      "    event_emissions: [{signal_name: START_OVER}]\n  B:\n"
                                      "    node_type: router\n    event_triggers: [START_OVER]\n"
                                      "    event_emissions: [{signal_name: END, condition: '{{ false }}'}]\n")
    result = invoke("lint", path)
    assert result.exit_code == 0


def test_graph_mermaid_and_dot(workflow):
    mermaid = invoke("graph", workflow)
    assert mermaid.exit_code == 0
    assert mermaid.stdout.startswith("flowchart")
    assert "Check" in mermaid.stdout and "Write" in mermaid.stdout
    dot = invoke("graph", workflow, "--format", "dot")
    assert dot.exit_code == 0 and dot.stdout.startswith("digraph")


def test_graph_bad_input(tmp_path, workflow):
    assert invoke("graph", workflow, "--format", "svg").exit_code == 2
    bad = write(tmp_path, "bad.yaml", "wf:\n  A:\n    node_type: router\n    event_triggers: [START]\n")
    result = invoke("graph", bad)
    assert result.exit_code == 2
    assert f"{bad}:2:3:" in result.stderr


# --------------------------------------------------------------------------- inspect


def test_inspect_shows_status_context_operational_timeline_revisions(durable_store, workflow):
    store = durable_store
    document = run_json(workflow, "--llm", "echo", "--store", store, "-c", "topic=owls")
    result = invoke("inspect", document["execution_id"], "--store", store)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in ("Execution", "status     completed", "Context (every value, oldest first)",
                     "topic  [0]  owls", "__operational__", "signals            START, GO, WRITTEN",
                     "Timeline", "orchestration_start", "llm_call", "Registry revisions",
                     "0    api     orchestrate"):
        assert expected in out, expected
    as_json = json.loads(invoke("inspect", document["execution_id"], "--store", store, "--json").stdout)
    assert as_json["context"]["topic"] == ["owls"]
    assert as_json["operational"]["llm_calls"] == 2
    assert as_json["events"][0]["event_type"] == "orchestration_start"


def test_inspect_local_file_store(tmp_path, workflow):
    store = str(tmp_path / "files")
    document = run_json(workflow, "--llm", "echo", "--store", store)
    result = invoke("inspect", document["execution_id"], "--store", store)
    assert result.exit_code == 0, result.output
    assert "orchestration_start" in result.stdout


@pytest.mark.parametrize("store", ["memory", "sqlite:{tmp}/absent.db", "{tmp}/absent-dir"])
def test_inspect_bad_store_exits_2(tmp_path, store):
    result = invoke("inspect", "some-id", "--store", store.format(tmp=tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")


def test_inspect_absent_postgres_schema_exits_2_and_creates_nothing(postgres_url):
    from conftest import POSTGRES_DSN

    from soe.backends.postgres.connection import describe_dsn

    result = invoke("inspect", "some-id", "--store", postgres_url)
    assert result.exit_code == 2
    schema = postgres_url.rpartition("schema=")[2]
    assert result.stderr.startswith(f"Error: No SOE store in schema '{schema}' "
                                    f"of PostgreSQL at {describe_dsn(POSTGRES_DSN)}")
    assert invoke("inspect", "some-id", "--store", postgres_url).exit_code == 2  # still absent


def test_a_store_password_is_never_printed(postgres_url, workflow):
    store = postgres_url.replace("postgres@", "postgres:s3cret@")  # the test server trusts local users
    result = invoke("run", workflow, "--llm", "echo", "--store", store)
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert f"store {store.replace('s3cret', '***')}" in result.stdout


def test_shown_store_hides_passwords_only():
    assert shown_store("postgresql://u:pw@h:5/db?schema=s") == "postgresql://u:***@h:5/db?schema=s"
    assert shown_store("postgres://h/db?password=pw&schema=s") == "postgres://h/db?password=***&schema=s"
    for spec in ("postgresql://u@h/db", "sqlite:.soe/soe.db", "memory", "runs"):
        assert shown_store(spec) == spec


def test_unreachable_postgres_is_one_line_naming_the_address(workflow):
    result = invoke("run", workflow, "--llm", "echo", "--store", "postgres://postgres@127.0.0.1:1/test")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Cannot connect to PostgreSQL at "
                                    "127.0.0.1:1/test: ")
    assert "Connection refused" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_inspect_unknown_execution_exits_2(tmp_path, workflow):
    store = f"sqlite:{tmp_path / 'i.db'}"
    run_json(workflow, "--llm", "echo", "--store", store)
    result = invoke("inspect", "not-an-execution", "--store", store)
    assert result.exit_code == 2
    assert "Error: Execution 'not-an-execution' not found in this store" in result.stderr


# --------------------------------------------------------------------------- resume


def _interrupted_run(tmp_path: Path, store: str | None = None) -> tuple[str, str, str]:
    """Run a workflow whose tool is interrupted mid-run (KeyboardInterrupt): the queue stays stored."""
    path = write(tmp_path, "crash.yaml", CRASHING)
    tools = write(tmp_path, "crash_tools.py", CRASHING_TOOLS)
    store = store or f"sqlite:{tmp_path / 'r.db'}"
    tools_spec = f"{tools}:flaky"
    result = invoke("run", path, "--store", store, "--tools", tools_spec)
    assert result.exit_code == 130, result.output
    execution_id = result.stdout.split("execution ")[-1].split()[0]
    assert f"continue it with soe resume {execution_id} --store {store} --tools {tools_spec}\n" in result.stdout
    return execution_id, store, tools_spec


def test_resume_an_interrupted_durable_execution(tmp_path, durable_store):
    execution_id, store, tools = _interrupted_run(tmp_path, durable_store)
    status = json.loads(invoke("inspect", execution_id, "--store", store, "--json").stdout)["status"]
    assert status["status"] == "running"
    result = invoke("resume", execution_id, "--store", store, "--tools", tools, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "completed"
    assert document["context"]["outcome"] == "recovered"
    assert document["operational"]["nodes"] == {"First": 1, "Flaky": 1}  # First did not run again
    assert document["operational"]["signals"] == ["START", "GO", "DONE"]
    again = invoke("resume", execution_id, "--store", store, "--tools", tools)
    assert again.exit_code == 0  # completed: returns at once
    assert "completed" in again.stdout


def test_resume_without_the_tools_is_refused_before_anything_runs(tmp_path):
    execution_id, store, tools = _interrupted_run(tmp_path)
    refused = invoke("resume", execution_id, "--store", store)
    assert refused.exit_code == 2
    assert "Tools not found: flaky" in refused.stderr
    assert invoke("resume", execution_id, "--store", store, "--tools", tools).exit_code == 0


def test_resume_unknown_execution_exits_2(tmp_path, workflow):
    store = f"sqlite:{tmp_path / 'r.db'}"
    run_json(workflow, "--llm", "echo", "--store", store)
    result = invoke("resume", "nope", "--store", store)
    assert result.exit_code == 2
    assert "not found" in result.stderr


def test_resume_of_a_failed_execution_exits_2(tmp_path, workflow):
    store = f"sqlite:{tmp_path / 'r.db'}"
    document = run_json(workflow, "--llm", "echo", "--store", store, "--max-llm-calls", "1", code=1)
    result = invoke("resume", document["execution_id"], "--store", store, "--llm", "echo")
    assert result.exit_code == 2
    assert "Error: " in result.stderr and "nothing to resume" in result.stderr


# --------------------------------------------------------------------------- signal


def test_signal_answers_a_waiting_execution(tmp_path, durable_store):
    path = write(tmp_path, "approval.yaml", WAITING)
    store = durable_store
    started = run_json(path, "--store", store)  # waiting is not a failure: exit 0
    assert started["status"] == "waiting" and started["waiting_for"] == ["APPROVED"]
    assert started["operational"]["signals"] == ["START", "WAITING_FOR_APPROVAL"]
    shown = invoke("inspect", started["execution_id"], "--store", store)
    assert "waiting for  APPROVED" in shown.stdout, shown.stdout
    result = invoke("signal", started["execution_id"], "APPROVED", "--store", store, "-c", "answer=yes")
    assert result.exit_code == 0, result.output
    assert "signals  APPROVED" in result.stdout and "node     Approved (router)" in result.stdout
    document = json.loads(invoke("inspect", started["execution_id"], "--store", store, "--json").stdout)
    assert document["status"]["status"] == "completed" and "waiting_for" not in document["status"]
    assert document["operational"]["signals"] == ["START", "WAITING_FOR_APPROVAL", "APPROVED", "SHIPPED"]
    assert document["context"]["answer"] == ["yes"]


def test_signal_json_and_several_signals(tmp_path):
    path = write(tmp_path, "approval.yaml", WAITING)
    store = str(tmp_path / "files")
    started = run_json(path, "--store", store)
    result = invoke("signal", started["execution_id"], "START", "APPROVED", "--store", store, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["operational"]["signals"][2:4] == ["START", "APPROVED"]
    assert "SHIPPED" not in document["operational"]["signals"]  # no answer: no SHIPPED


def test_signal_errors_exit_2(tmp_path):
    path = write(tmp_path, "approval.yaml", WAITING)
    store = f"sqlite:{tmp_path / 's.db'}"
    started = run_json(path, "--store", store)
    unknown = invoke("signal", "nope", "APPROVED", "--store", store)
    assert unknown.exit_code == 2 and "not found" in unknown.stderr
    bad_pair = invoke("signal", started["execution_id"], "APPROVED", "--store", store, "-c", "oops")
    assert bad_pair.exit_code == 2
    assert invoke("signal", started["execution_id"], "--store", store).exit_code == 2  # no signal


# --------------------------------------------------------------------------- inputs


def test_parse_context_pairs_types_values_and_later_wins():
    assert parse_context_pairs(["a=1", "b=x=y", "a=2", "c="]) == {"a": 2, "b": "x=y", "c": ""}
    assert parse_context_pairs(["a=1"], typed=False) == {"a": "1"}
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_context_pairs(["=v"])


def test_build_initial_context_without_file():
    assert build_initial_context(None, ["k=v"]) == {"k": "v"}


def test_open_store_forms(tmp_path):
    from soe.backends.sqlite import SqliteBackends
    from soe.local_backends import LocalBackends

    assert isinstance(open_store("memory"), LocalBackends)
    backends = open_store(f"sqlite:{tmp_path / 'x.db'}")
    assert isinstance(backends, SqliteBackends)
    backends.close()
    local = open_store(str(tmp_path / "dir"))
    assert local.telemetry is not None
    with pytest.raises(ValueError, match="keeps nothing"):
        open_store("memory", must_exist=True)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_open_store_postgres_urls(postgres_url, scheme):
    from soe.backends.postgres import PostgresBackends

    url = postgres_url.replace("postgresql://", f"{scheme}://")
    backends = open_store(url)
    assert isinstance(backends, PostgresBackends)
    assert backends.schema == url.rpartition("schema=")[2]
    backends.close()
    open_store(url, must_exist=True).close()  # now it exists


def test_load_tools_merges_flags_later_wins():
    tools = load_tools([f"{ROOT / 'examples' / 'tools.py'}:TOOLS", "json:dumps",
                        f"{ROOT / 'examples' / 'tools.py'}:count_words"])
    assert sorted(tools) == ["count_words", "dumps", "top_words"]
    assert tools["top_words"]("b a b c b a", 2) == ["b", "a"]


def test_missing_tools_knows_builtins_and_function_names():
    def helper() -> None:
        return None

    workflows = {"w": {"T": {"node_type": "tool", "tool_name": "soe_update_context"},
                       "U": {"node_type": "tool", "tool_name": "helper_key"},
                       "A": {"node_type": "agent", "tools": ["helper", "ghost"]}}}
    assert missing_tools(workflows, {"helper_key": helper}) == ["ghost"]
    assert load_tools([]) == {}


# --------------------------------------------------------------------------- terminal rendering


def terminal() -> tuple:
    import io

    from rich.console import Console

    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=140, color_system=None), buffer


def test_live_view_follows_the_run_on_a_terminal():
    from soe import create_all_nodes, orchestrate
    from soe.cli.monitor import RunMonitor
    from soe.llm.providers import echo
    from soe.local_backends import create_in_memory_backends

    console, buffer = terminal()
    backends = create_in_memory_backends()
    original = backends.telemetry
    _, broadcast = create_all_nodes(backends, call_llm=echo(), tools_registry={})
    monitor = RunMonitor(console, mode="live", title="live test", execution_id="live-1", label="main")
    with monitor.watching(backends):
        orchestrate(ROUTER_AND_LLM, "main", ["START"], {}, backends, broadcast, execution_id="live-1")
    assert backends.telemetry is original  # the tap is removed afterwards
    shown = buffer.getvalue()
    for text in ("live test", "Check", "router", "Write", "llm", "2 LLM calls", "signals  WRITTEN"):
        assert text in shown, text
    assert monitor.summary() == "3 nodes, 2 LLM calls, 0 tool calls"


def test_inspection_renders_as_tables_on_a_terminal(tmp_path, workflow):
    from soe.cli.render import Screen, print_inspection
    from soe.cli.session import inspection_of

    store = f"sqlite:{tmp_path / 't.db'}"
    document = run_json(workflow, "--llm", "echo", "--store", store)
    backends = open_store(store, must_exist=True)
    try:
        inspection = inspection_of(backends, document["execution_id"])
    finally:
        backends.close()
    console, buffer = terminal()
    screen = Screen(console)
    assert not screen.plain
    print_inspection(screen, inspection)
    shown = buffer.getvalue()
    for text in ("Timeline", "orchestration_start", "Registry revisions", "orchestrate", "completed"):
        assert text in shown, text


def test_bad_input_leaves_no_store_behind(tmp_path, workflow, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOE_LLM", raising=False)
    assert invoke("run", workflow).exit_code == 2  # no --llm for its LLM nodes
    assert not (tmp_path / ".soe").exists()


# --------------------------------------------------------------------------- packaging


def test_without_the_postgres_extra_the_store_says_how_to_install_it(workflow):
    code = ("import sys; sys.modules['psycopg'] = None; sys.argv = ['soe'] + sys.argv[1:]\n"
            "from soe.cli.app import main; main()")
    result = subprocess.run([sys.executable, "-c", code, "run", str(workflow), "--llm", "echo",
                             "--store", "postgresql://postgres@127.0.0.1:5432/test"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == ("Error: --store postgresql:// needs psycopg: "
                                     "pip install '.[postgres]' from a checkout of SOE")


def test_version_and_help():
    assert invoke("--version").stdout.startswith("soe ")
    result = invoke("--help")
    for command in ("run", "validate", "lint", "graph", "inspect", "resume", "signal"):
        assert command in result.stdout


def test_python_dash_m_soe_runs_the_app(tmp_path):
    path = write(tmp_path, "main.yaml", ROUTER_AND_LLM)
    result = subprocess.run([sys.executable, "-m", "soe", "run", str(path), "--llm", "echo",
                             "--store", "memory", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "completed"


def test_without_the_cli_extra_soe_says_how_to_install_it():
    code = textwrap.dedent("""
        import sys
        sys.modules["typer"] = None  # as if the cli extra were not installed
        from soe.cli.app import main
        main()
    """)
    result = subprocess.run([sys.executable, "-c", code, "run", "x.yaml"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "pip install typer rich" in result.stderr
    assert "pip install soe-ai" not in result.stderr  # the index has the older 0.1.4 without the extra
    assert "Traceback" not in result.stderr


def test_core_does_not_import_typer_or_rich():
    code = ("import sys, soe, soe.local_backends, soe.backends.sqlite, soe.llm.providers, soe.validation.lint, "
            "soe.validation.graph, soe.validation.locate\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
