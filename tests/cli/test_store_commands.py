"""Finding executions again: ``soe list``, short id prefixes, the store found up the tree, resume hints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soe.cli.app import app
from soe.inputs import DEFAULT_STORE, find_store

runner = CliRunner()

WAITING = """\
approval:
  Ask:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: WAITING
  Approved:
    node_type: router
    event_triggers: [APPROVED]
    event_emissions:
      - signal_name: SHIPPED
"""

INTERRUPTED = """\
crash:
  Ask:
    node_type: llm
    event_triggers: [START]
    prompt: "hi"
    output_field: answer
    event_emissions:
      - signal_name: GO
  Flaky:
    node_type: tool
    event_triggers: [GO]
    tool_name: interrupt
"""

TOOLS = """\
def interrupt() -> str:
    raise KeyboardInterrupt
"""


def invoke(*args: object):
    return runner.invoke(app, [str(arg) for arg in args])


def run_json(*args: object, code: int = 0) -> dict:
    result = invoke("run", *args, "--json", "--quiet")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.fixture
def approval(tmp_path: Path) -> Path:
    path = tmp_path / "approval.yaml"
    path.write_text(WAITING)
    return path


def test_list_shows_the_most_recent_first_with_status_and_workflow(tmp_path, approval):
    store = f"sqlite:{tmp_path / 's.db'}"
    first = run_json(approval, "--store", store)["execution_id"]
    second = run_json(approval, "--store", store)["execution_id"]
    listing = json.loads(invoke("list", "--store", store, "--json").stdout)
    assert [(e["execution_id"], e["status"], e["workflow"]) for e in listing] == [
        (second, "waiting", "approval"), (first, "waiting", "approval")]  # both wait for APPROVED
    assert [e["execution_id"] for e in json.loads(invoke("list", "--store", store, "--limit", "1",
                                                         "--json").stdout)] == [second]
    assert json.loads(invoke("list", "--store", store, "--status", "failed", "--json").stdout) == []
    assert invoke("signal", first, "APPROVED", "--store", store).exit_code == 0
    completed = json.loads(invoke("list", "--store", store, "--status", "completed", "--json").stdout)
    assert [e["execution_id"] for e in completed] == [first]
    shown = invoke("list", "--store", store)
    assert shown.exit_code == 0
    assert re.search(rf"{second}\s+waiting \(APPROVED\)\s+approval", shown.stdout), shown.stdout
    assert invoke("list", "--store", store, "--status", "done").exit_code == 2


def test_list_of_a_failed_run(tmp_path, approval):
    store = f"sqlite:{tmp_path / 's.db'}"
    run_json(approval, "--store", store, "-s", "START", "-s", "APPROVED", "--max-steps", "1", code=1)
    [entry] = json.loads(invoke("list", "--store", store, "--status", "failed", "--json").stdout)
    assert entry["status"] == "failed" and "1" in entry["error"]


def test_short_id_prefixes_for_inspect_signal_and_resume(tmp_path, approval):
    store = f"sqlite:{tmp_path / 's.db'}"
    execution_id = run_json(approval, "--store", store)["execution_id"]
    prefix = execution_id[:8]
    document = json.loads(invoke("inspect", prefix, "--store", store, "--json").stdout)
    assert document["execution_id"] == execution_id
    signalled = invoke("signal", prefix, "APPROVED", "--store", store, "--json")
    assert signalled.exit_code == 0, signalled.output
    assert json.loads(signalled.stdout)["execution_id"] == execution_id
    assert invoke("resume", prefix, "--store", store).exit_code == 0


def test_an_ambiguous_prefix_is_bad_input(tmp_path, approval):
    store = f"sqlite:{tmp_path / 's.db'}"
    ids = {run_json(approval, "--store", store)["execution_id"] for _ in range(20)}
    result = invoke("inspect", "", "--store", store)
    assert result.exit_code == 2
    assert "is ambiguous: it matches" in result.stderr
    assert any(execution_id in result.stderr for execution_id in ids)


def test_the_default_store_is_found_up_the_tree(tmp_path, approval, monkeypatch):
    monkeypatch.delenv("SOE_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert find_store() == DEFAULT_STORE  # nothing yet: created here
    result = invoke("run", approval, "--quiet")
    assert result.exit_code == 0, result.output
    execution_id = re.search(r"^execution (\S+)$", result.stdout, re.M).group(1)
    assert f"inspect it: soe inspect {execution_id}\n" in result.stdout  # no --store needed
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_store() == f"sqlite:{tmp_path.resolve() / '.soe' / 'soe.db'}"
    shown = invoke("inspect", execution_id, "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["execution_id"] == execution_id


def test_the_ctrl_c_hint_repeats_the_model_and_tools(tmp_path, monkeypatch):
    path = tmp_path / "crash.yaml"
    path.write_text(INTERRUPTED)
    (tmp_path / "stop_tools.py").write_text(TOOLS)
    store = f"sqlite:{tmp_path / 's.db'}"
    tools = f"{tmp_path / 'stop_tools.py'}:interrupt"
    result = invoke("run", path, "--store", store, "--llm", "echo", "--tools", tools, "--quiet")
    assert result.exit_code == 130, result.output
    execution_id = re.search(r"^execution (\S+)$", result.stdout, re.M).group(1)
    assert (f"interrupted: continue it with soe resume {execution_id} --store {store} --llm echo "
            f"--tools {tools}\n") in result.stdout
