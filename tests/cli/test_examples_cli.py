"""Every workflow in examples/ runs offline through ``soe run --llm echo`` and does what it says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soe.cli.app import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOOLS = f"{EXAMPLES / 'tools.py'}:TOOLS"
EXTRA_ARGS = {
    "triage.yaml": ["--context", "ticket=URGENT: checkout is down"],
    "summarize_schema.yaml": [],
    "agent_tools.yaml": ["--tools", TOOLS],
    "fan_out.yaml": [],
    "self_evolving.yaml": [],
}

runner = CliRunner()


def run_json(name: str, *args: str, store: str = "memory") -> dict:
    """``soe run examples/<name> --llm echo --json``; the exit code must be 0."""
    result = runner.invoke(app, ["run", str(EXAMPLES / name), "--llm", "echo", "--store", store, "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_example_is_covered_here():
    """A new example must be added to EXTRA_ARGS (and so to the parametrized run below)."""
    shipped = sorted(path.name for path in EXAMPLES.glob("*.yaml"))
    assert shipped == sorted(EXTRA_ARGS)
    assert len(shipped) >= 5


@pytest.mark.parametrize("name", sorted(EXTRA_ARGS))
def test_example_runs_to_completion_and_validates(name):
    document = run_json(name, *EXTRA_ARGS[name])
    assert document["status"] == "completed"
    assert document["error"] is None
    assert document["operational"]["signals"][0] == "START"
    validated = runner.invoke(app, ["validate", str(EXAMPLES / name)])
    assert validated.exit_code == 0 and validated.stdout.strip().endswith(": OK")
    fields = [arg.split("=", 1)[0] for flag, arg in zip(EXTRA_ARGS[name], EXTRA_ARGS[name][1:], strict=False)
              if flag == "--context"]
    linted = runner.invoke(app, ["lint", str(EXAMPLES / name), *(f"--context-field={f}" for f in fields)])
    assert linted.exit_code == 0, linted.output
    # the only findings allowed on a shipped example are informational (terminal signals, guarded reads)
    assert not [line for line in linted.stdout.splitlines() if ": warning " in line or ": error " in line]


def test_triage_router_takes_the_urgent_branch():
    document = run_json("triage.yaml", "--context", "ticket=URGENT: checkout is down")
    assert document["operational"]["signals"] == ["START", "URGENT", "DONE"]
    assert "URGENT: checkout is down" in document["context"]["escalation"]
    assert "reply" not in document["context"]


def test_triage_router_takes_the_routine_branch():
    document = run_json("triage.yaml", "--context", "ticket=How do I export a report?")
    assert document["operational"]["signals"] == ["START", "ROUTINE", "DONE"]
    assert "How do I export a report?" in document["context"]["reply"]
    assert "escalation" not in document["context"]


def test_triage_lints_clean_when_the_ticket_is_provided():
    result = runner.invoke(app, ["lint", str(EXAMPLES / "triage.yaml"), "--context-field", "ticket"])
    assert result.exit_code == 0
    assert "warning" not in result.stdout


def test_llm_node_with_context_schema_stores_typed_values():
    document = run_json("summarize_schema.yaml")
    context = document["context"]
    assert isinstance(context["summary"], str) and "Summarize this article" in context["summary"]
    assert context["assessment"] == {"clarity": 0, "keywords": [], "needs_rewrite": False}
    assert document["operational"]["llm_calls"] == 2


def test_agent_with_two_python_tools():
    document = run_json("agent_tools.yaml", "--tools", TOOLS, "--context", "text=one two two three three three")
    context = document["context"]
    assert context["word_count"] == 6
    assert "6 words" in context["report"]
    assert document["operational"]["tool_calls"] == 1
    assert document["operational"]["nodes"] == {"Measure": 1, "Analyst": 1}


def test_agent_tools_module_offers_exactly_two_tools():
    result = runner.invoke(app, ["run", str(EXAMPLES / "agent_tools.yaml"), "--llm", "echo", "--store", "memory"])
    assert result.exit_code == 2
    assert "Tools not found: count_words, top_words" in result.stderr


def test_fan_out_sends_every_child_result_to_the_parent():
    document = run_json("fan_out.yaml", "--history")
    context = document["context"]
    assert context["topics"] == [["signals", "context", "children"]]
    notes = context["note"]
    assert len(notes) == 3
    for note, topic in zip(notes, ["signals", "context", "children"], strict=True):
        assert f"Write one line about {topic}" in note
    assert len(context["summary"]) == 1
    assert document["operational"]["signals"][-2:] == ["ALL_DONE", "DONE"]


def test_fan_out_over_topics_from_a_context_file(tmp_path):
    topics = tmp_path / "topics.json"
    topics.write_text(json.dumps({"topics": ["routers", "agents"]}))
    document = run_json("fan_out.yaml", "--history", "--context-file", str(topics))
    assert len(document["context"]["note"]) == 2
    assert "NEED_TOPICS" not in document["operational"]["signals"]
    assert "Write one line about agents" in document["context"]["note"][1]


def test_fan_out_children_run_concurrently_too():
    document = run_json("fan_out.yaml", "--max-concurrency", "3")
    assert document["status"] == "completed"
    assert "summary" in document["context"]


def test_self_evolving_workflow_injects_and_runs_a_node(tmp_path):
    store = f"sqlite:{tmp_path / 'soe.db'}"
    document = run_json("self_evolving.yaml", "--context", "text=a grown node", store=store)
    assert document["context"]["injection"]["injected"] is True
    assert "Summarize in one line: a grown node" in document["context"]["summary"]
    assert document["operational"]["signals"] == ["START", "EXTEND", "SUMMARIZE", "DONE"]
    inspected = runner.invoke(app, ["inspect", document["execution_id"], "--store", store, "--json"])
    assert inspected.exit_code == 0, inspected.output
    revisions = json.loads(inspected.stdout)["revisions"]
    assert [r["revision"] for r in revisions] == [0, 1]
    assert revisions[1]["author"] == "Extend"
    assert revisions[1]["operation"] == "soe_inject_node"
    assert revisions[1]["diff"][0]["path"] == "/self_evolving/Summarize"


def test_example_on_the_default_embedded_store(tmp_path, monkeypatch):
    """No --store: the run lands in .soe/soe.db under the current directory and can be inspected."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOE_STORE", raising=False)
    result = runner.invoke(app, ["run", str(EXAMPLES / "triage.yaml"), "--llm", "echo",
                                 "--context", "ticket=URGENT: checkout is down"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".soe" / "soe.db").is_file()
    assert "node     Classify (router)" in result.stdout
    assert "completed in" in result.stdout
    execution_id = result.stdout.split("execution ")[-1].split()[0]
    inspected = runner.invoke(app, ["inspect", execution_id])
    assert inspected.exit_code == 0, inspected.output
    assert "completed" in inspected.stdout
    assert "URGENT: checkout is down" in inspected.stdout
