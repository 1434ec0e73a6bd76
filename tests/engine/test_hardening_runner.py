"""Runner hardening (issue 13): refused broadcasts leave no trace."""

from __future__ import annotations

import json

import pytest

from soe import create_all_nodes, orchestrate
from soe.backends.sqlite import create_sqlite_backends
from soe.types import ResumeError

WAITING = {"wf": {"Start": {"node_type": "router", "event_triggers": ["START"],
                            "event_emissions": [{"signal_name": "WAIT"}]},
                  "Later": {"node_type": "router", "event_triggers": ["GO"],
                            "event_emissions": [{"signal_name": "DONE"}]}}}


def test_broadcast_refused_by_a_foreign_lease_records_no_signal(tmp_path):
    backends = create_sqlite_backends(tmp_path / "soe.db")
    _, broadcast = create_all_nodes(backends)
    eid = orchestrate(config=WAITING, initial_workflow_name="wf", initial_signals=["START"],
                      initial_context={}, backends=backends, broadcast_signals_caller=broadcast)
    before = backends.context.get_context(eid)["__operational__"]["signals"]
    events_before = backends.telemetry.get_events(eid)
    assert backends.runtime.acquire_lease(eid, "other-host:1:x", 30)
    with pytest.raises(ResumeError, match=f"^Execution '{eid}' is running in another process$"):
        broadcast(eid, ["GO"])
    assert backends.context.get_context(eid)["__operational__"]["signals"] == before == ["START", "WAIT"]
    assert backends.telemetry.get_events(eid) == events_before
    backends.runtime.release_lease(eid, "other-host:1:x")
    broadcast(eid, ["GO"])
    assert backends.context.get_context(eid)["__operational__"]["signals"] == ["START", "WAIT", "GO", "DONE"]


# --- item 1: a store that fails (disk full) fails the execution; resume continues ------------------

LLM_THEN_ROUTER = {"wf": {
    "Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "Write", "output_field": "essay",
            "event_emissions": [{"signal_name": "WRITTEN"}]},
    "After": {"node_type": "router", "event_triggers": ["WRITTEN"], "event_emissions": [{"signal_name": "DONE"}]},
}}
ESSAY_PAGES = 30  # ~120 KB of text: each stored copy needs about this many 4 KB pages


def _fill_disk_after_journal(backends):
    """SQLite's own "database or disk is full" once the journal (one copy of the answer) has room."""
    conn = backends._db.connection()  # the runner's connection: max_concurrency 1 waits in this thread
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + ESSAY_PAGES + 8}")


def _free_disk(backends):
    backends._db.connection().execute("PRAGMA max_page_count = 1073741823")


def test_disk_full_fails_the_execution_keeps_the_paid_answer_and_resume_continues(tmp_path):
    from soe import get_execution_status, resume
    from soe.types import StoreError

    backends = create_sqlite_backends(tmp_path / "soe.db")
    essay = "".join(f"{i:08x}" for i in range(15_000))  # 120 KB
    calls = []

    def call_llm(prompt: str, config: dict) -> str:
        calls.append(prompt)
        _fill_disk_after_journal(backends)
        return json.dumps({"essay": essay})

    _, broadcast = create_all_nodes(backends, call_llm=call_llm)
    with pytest.raises(StoreError, match="database or disk is full"):
        orchestrate(config=LLM_THEN_ROUTER, initial_workflow_name="wf", initial_signals=["START"],
                    initial_context={}, backends=backends, broadcast_signals_caller=broadcast, execution_id="e1")
    status = get_execution_status("e1", backends)
    assert status["status"] in ("failed", "running")  # "running" if even the failure could not be written
    assert "essay" not in backends.context.get_context("e1")
    assert backends.context.get_context("e1")["__operational__"]["signals"] == ["START"]
    assert len(calls) == 1

    _free_disk(backends)
    assert resume("e1", backends, broadcast) == "e1"
    assert len(calls) == 1  # the paid answer came from the journal
    assert backends.context.get_context("e1")["essay"] == [essay]
    assert backends.context.get_context("e1")["__operational__"]["signals"] == ["START", "WRITTEN", "DONE"]
    assert get_execution_status("e1", backends)["status"] == "completed"


def test_disk_full_in_a_builtin_tool_is_not_the_tools_output(tmp_path):
    """A built-in writes inside the transition: its failed write fails the run, not the tool."""
    from soe.types import StoreError

    backends = create_sqlite_backends(tmp_path / "soe.db")

    def fill_disk() -> str:
        conn = backends._db.connection()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 4}")  # small writes fit, 200 KB does not
        return "full"

    config = {"wf": {
        "Fill": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "fill_disk",
                 "event_emissions": [{"signal_name": "FULL"}]},
        "Update": {"node_type": "tool", "event_triggers": ["FULL"], "tool_name": "soe_update_context",
                   "parameters": {"updates": {"big": "x" * 200_000}}, "output_field": "result",
                   "event_emissions": [{"signal_name": "DONE"}]}}}
    _, broadcast = create_all_nodes(backends, tools_registry={"fill_disk": fill_disk})
    with pytest.raises(StoreError, match="database or disk is full"):
        orchestrate(config=config, initial_workflow_name="wf", initial_signals=["START"], initial_context={},
                    backends=backends, broadcast_signals_caller=broadcast, execution_id="e2")
    _free_disk(backends)
    context = backends.context.get_context("e2")
    assert "result" not in context and "big" not in context
    assert "DONE" not in context["__operational__"]["signals"]


def test_disk_full_while_starting_reports_the_write_that_failed(tmp_path):
    from soe.types import StoreError

    backends = create_sqlite_backends(tmp_path / "soe.db")
    backends.check()
    _, broadcast = create_all_nodes(backends)
    backends._db.connection().execute("PRAGMA max_page_count = 1")
    with pytest.raises(StoreError, match="database or disk is full"):
        orchestrate(config=WAITING, initial_workflow_name="wf", initial_signals=["START"],
                    initial_context={"big": "x" * 100_000}, backends=backends, broadcast_signals_caller=broadcast,
                    execution_id="e3")
    _free_disk(backends)
    assert backends.context.get_context("e3") == {}


# --- item 10: call timeouts -----------------------------------------------------------------------

def _hang(release):
    def hung_tool() -> str:
        release.wait(30)
        return "late"
    return hung_tool


def test_a_hung_tool_call_times_out_and_the_node_handles_it(tmp_path):
    import threading

    from soe import get_execution_status

    release = threading.Event()
    backends = create_sqlite_backends(tmp_path / "soe.db")
    config = {"limits": {"max_call_seconds": 1}, "wf": {
        "Call": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "hung_tool", "output_field": "out",
                 "event_emissions": [{"signal_name": "DONE"}]}}}
    _, broadcast = create_all_nodes(backends, tools_registry={"hung_tool": {"function": _hang(release),
                                                                           "failure_signal": "TIMED_OUT"}})
    try:
        eid = orchestrate(config=config, initial_workflow_name="wf", initial_signals=["START"],
                          initial_context={}, backends=backends, broadcast_signals_caller=broadcast)
    finally:
        release.set()
    context = backends.context.get_context(eid)
    assert context["out"] == ["Node 'Call': the tool call took longer than 1 s (limits.max_call_seconds) "
                              "and was abandoned"]
    assert context["__operational__"]["signals"] == ["START", "TIMED_OUT"]
    assert get_execution_status(eid, backends)["status"] == "completed"
    assert backends.runtime.lease_owner(eid) is None


def test_the_tree_time_limit_fails_the_run_and_releases_the_lease(tmp_path):
    import threading

    from soe import get_execution_status
    from soe.types import BudgetExceeded

    release = threading.Event()
    backends = create_sqlite_backends(tmp_path / "soe.db")
    config = {"limits": {"max_run_seconds": 1}, "wf": {
        "Call": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "hung_tool", "output_field": "out",
                 "event_emissions": [{"signal_name": "DONE"}]}}}
    _, broadcast = create_all_nodes(backends, tools_registry={"hung_tool": _hang(release)})
    try:
        with pytest.raises(BudgetExceeded, match="^max_run_seconds of 1 exceeded in execution 'e1'$"):
            orchestrate(config=config, initial_workflow_name="wf", initial_signals=["START"], initial_context={},
                        backends=backends, broadcast_signals_caller=broadcast, execution_id="e1")
    finally:
        release.set()
    assert get_execution_status("e1", backends)["status"] == "failed"
    assert backends.runtime.lease_owner("e1") is None
    assert "out" not in backends.context.get_context("e1")


# --- item 4: children are refused before any is created ---------------------------------------------

def test_max_children_refuses_a_fan_out_before_creating_any(tmp_path):
    from soe import list_executions
    from soe.types import BudgetExceeded

    backends = create_sqlite_backends(tmp_path / "soe.db")
    config = {"limits": {"max_children": 50, "max_steps": 10}, "wf": {
        "Fan": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "quiet",
                "child_initial_signals": ["NOBODY_LISTENS"], "fan_out_field": "items", "child_input_field": "item"}},
        "quiet": {"Idle": {"node_type": "router", "event_triggers": ["X"], "event_emissions": [{"signal_name": "Y"}]}}}
    _, broadcast = create_all_nodes(backends)
    with pytest.raises(BudgetExceeded, match="^max_children of 50 exceeded in execution 'root'$"):
        orchestrate(config=config, initial_workflow_name="wf", initial_signals=["START"],
                    initial_context={"items": list(range(120))}, backends=backends,
                    broadcast_signals_caller=broadcast, execution_id="root")
    assert [entry["execution_id"] for entry in list_executions(backends)] == ["root"]
    config["limits"]["max_children"] = 120
    orchestrate(config=config, initial_workflow_name="wf", initial_signals=["START"],
                initial_context={"items": list(range(120))}, backends=backends,
                broadcast_signals_caller=broadcast, execution_id="root2")
    assert len(list_executions(backends)) == 122


def test_a_failed_postgres_write_fails_the_execution_and_resume_continues(postgres_backends, postgres_url):
    """As on SQLite: the paid answer stays journaled, nothing half-written, resume finishes the run."""
    import psycopg

    from soe import get_execution_status, resume
    from soe.types import StoreError

    backends = postgres_backends
    dsn, schema = postgres_url.split("?schema=")
    calls = []

    def refuse_history(sql_text: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.execute(sql_text)

    def call_llm(prompt: str, config: dict) -> str:
        calls.append(prompt)
        refuse_history("ALTER TABLE context_history ADD CONSTRAINT no_room CHECK (false) NOT VALID")
        return json.dumps({"essay": "paid for"})

    _, broadcast = create_all_nodes(backends, call_llm=call_llm)
    with pytest.raises(StoreError, match="^Cannot write to the PostgreSQL store at .*no_room"):
        orchestrate(config=LLM_THEN_ROUTER, initial_workflow_name="wf", initial_signals=["START"],
                    initial_context={}, backends=backends, broadcast_signals_caller=broadcast, execution_id="e1")
    assert get_execution_status("e1", backends)["status"] == "failed"
    assert "essay" not in backends.context.get_context("e1")
    assert backends.context.get_context("e1")["__operational__"]["signals"] == ["START"]

    refuse_history("ALTER TABLE context_history DROP CONSTRAINT no_room")
    assert resume("e1", backends, broadcast) == "e1"
    assert len(calls) == 1  # the paid answer came from the journal
    assert backends.context.get_context("e1")["essay"] == ["paid for"]
    assert get_execution_status("e1", backends)["status"] == "completed"


def _timed_tool_config(timeout, **limits):
    return {"limits": limits, "wf": {
        "Call": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "slow_tool", "output_field": "out",
                 "timeout": timeout, "event_emissions": [{"signal_name": "DONE"}]},
        "Again": {"node_type": "router", "event_triggers": ["AGAIN"], "event_emissions": [{"signal_name": "OK"}]}}}


def test_a_node_timeout_bounds_its_calls_and_names_the_node(tmp_path):
    """No tree limit at all: the node's own ``timeout`` abandons the hung call; the tool node handles it."""
    import threading

    release = threading.Event()
    backends = create_sqlite_backends(tmp_path / "soe.db")
    _, broadcast = create_all_nodes(backends, tools_registry={"slow_tool": _hang(release)})
    try:
        orchestrate(config=_timed_tool_config(0.2), initial_workflow_name="wf", initial_signals=["START"],
                    initial_context={}, backends=backends, broadcast_signals_caller=broadcast, execution_id="e1")
    finally:
        release.set()
    assert backends.context.get_context("e1")["out"] == [
        "Node 'Call': the tool call took longer than 0.2 s (the node's timeout) and was abandoned"]
    assert backends.runtime.get_lease("e1") is None


def test_a_node_timeout_overrides_the_trees_max_call_seconds(tmp_path):
    import time

    def slow_tool() -> str:
        time.sleep(1.5)
        return "finished"

    backends = create_sqlite_backends(tmp_path / "soe.db")
    _, broadcast = create_all_nodes(backends, tools_registry={"slow_tool": slow_tool})
    eid = orchestrate(config=_timed_tool_config(30, max_call_seconds=1), initial_workflow_name="wf",
                      initial_signals=["START"], initial_context={}, backends=backends,
                      broadcast_signals_caller=broadcast)
    assert backends.context.get_context(eid)["out"] == ["finished"]


def test_an_unhandled_node_timeout_fails_the_run_and_another_process_takes_the_tree_over(tmp_path):
    import threading

    from soe import get_execution_status

    release = threading.Event()

    def hung_llm(prompt, config):
        release.wait(30)
        return "late"

    config = {"wf": {"Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "Hi", "retries": 0,
                             "timeout": 0.1, "output_field": "answer"},
                     "Again": {"node_type": "router", "event_triggers": ["AGAIN"],
                               "event_emissions": [{"signal_name": "OK"}]}}}
    backends = create_sqlite_backends(tmp_path / "soe.db")
    _, broadcast = create_all_nodes(backends, call_llm=hung_llm)
    message = "Node 'Ask': the llm call took longer than 0.1 s (the node's timeout) and was abandoned"
    try:
        with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
            orchestrate(config=config, initial_workflow_name="wf", initial_signals=["START"],
                        initial_context={}, backends=backends, broadcast_signals_caller=broadcast,
                        execution_id="e2")
    finally:
        release.set()
    status = get_execution_status("e2", backends)
    assert status["status"] == "failed" and message in status["error"]
    assert backends.runtime.get_lease("e2") is None
    other = create_sqlite_backends(tmp_path / "soe.db")  # a second process on the same store
    _, other_broadcast = create_all_nodes(other, call_llm=hung_llm)
    other_broadcast("e2", ["AGAIN"])
    assert other.context.get_context("e2")["__operational__"]["signals"] == ["START", "AGAIN", "OK"]
