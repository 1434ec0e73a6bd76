"""Statuses, resume, leases, prune and concurrency on the SQLite and PostgreSQL stores (SPEC §15)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from soe import (
    create_all_nodes,
    get_execution_status,
    list_executions,
    orchestrate,
    prune,
    resume,
)
from soe.backends.sqlite import create_sqlite_backends
from soe.types import ResumeError

CHAIN = {"wf": {
    "A": {"node_type": "router", "event_triggers": ["START"], "event_emissions": [{"signal_name": "GO"}]},
    "B": {"node_type": "tool", "tool_name": "inc", "event_triggers": ["GO"], "parameters": {"n": "{{ context.n }}"},
          "output_field": "n", "event_emissions": [{"signal_name": "DONE"}]},
    "Later": {"node_type": "router", "event_triggers": ["LATER"], "event_emissions": [{"signal_name": "LATE"}]},
}}


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "postgres":
        yield request.getfixturevalue("postgres_backends")
        return
    backends = create_sqlite_backends(tmp_path / "soe.db")
    yield backends
    backends.close()


def start(backends, execution_id="e1", config=CHAIN, **kwargs):
    nodes, broadcast = create_all_nodes(backends, tools_registry={"inc": lambda n: int(n) + 1})
    eid = orchestrate(config, "wf", ["START"], {"n": 0}, backends, broadcast, execution_id=execution_id, **kwargs)
    return eid, nodes, broadcast


def test_drained_execution_waits_for_an_outside_signal_and_resume_returns_at_once(store):
    eid, _, broadcast = start(store)
    record = get_execution_status(eid, store)
    assert record["status"] == "waiting" and record["main_execution_id"] == eid and record["error"] is None
    assert record["waiting_for"] == ["LATER"]  # node Later listens for it and nothing emits it
    assert resume(eid, store, broadcast) == eid
    assert store.context.get_context(eid)["n"] == [0, 1]


def test_broadcast_to_a_waiting_execution_runs_it_again_and_completes_it(store):
    eid, nodes, broadcast = start(store)
    broadcast(eid, ["LATER"])
    assert store.context.get_context(eid)["__operational__"]["signals"][-2:] == ["LATER", "LATE"]
    assert get_execution_status(eid, store)["status"] == "completed"


def test_failed_execution_cannot_be_resumed(store):
    config = {"wf": {"Spin": {"node_type": "router", "event_triggers": ["START", "SPIN"],
                              "event_emissions": [{"signal_name": "SPIN"}]}}}
    nodes, broadcast = create_all_nodes(store)
    with pytest.raises(Exception) as info:
        orchestrate(config, "wf", ["START"], {}, store, broadcast, execution_id="spin", max_steps=5)
    record = get_execution_status("spin", store)
    assert record["status"] == "failed" and record["error"] == str(info.value)
    with pytest.raises(ResumeError) as refused:
        resume("spin", store, broadcast)
    assert str(refused.value) == f"Execution 'spin' failed: {info.value}; nothing to resume"
    assert store.context.get_context("spin")["__operational__"]["nodes"] == {"Spin": 5}


def test_unknown_execution(store):
    _, broadcast = create_all_nodes(store)
    with pytest.raises(ResumeError, match="^Execution 'nope' not found$"):
        resume("nope", store, broadcast)
    assert get_execution_status("nope", store) is None


def test_resume_refused_while_another_process_holds_the_lease(store):
    eid, _, broadcast = start(store)
    store.runtime.set_status(eid, eid, "running")
    assert store.runtime.acquire_lease(eid, "other-host:1:x", 30)
    with pytest.raises(ResumeError, match=f"^Execution '{eid}' is running in another process$"):
        resume(eid, store, broadcast)


def test_list_executions_and_prune(store):
    first, _, broadcast = start(store, "first")
    second, _, _ = start(store, "second")
    listed = [r["execution_id"] for r in list_executions(store)]
    assert listed[:2] == ["first", "second"]
    assert [r["execution_id"] for r in list_executions(store, status="running")] == []
    assert [r["execution_id"] for r in list_executions(store, status="waiting")] == ["first", "second"]
    assert prune(store, older_than=timedelta(seconds=-1)) == 0  # a waiting execution can still be answered
    for execution_id in ("first", "second"):
        broadcast(execution_id, ["LATER"])
    assert prune(store, older_than=timedelta(seconds=-1)) == 2
    assert get_execution_status("first", store) is None
    assert store.context.get_context("first") == {}


def test_prune_needs_a_durable_store():
    from soe.local_backends import create_in_memory_backends

    with pytest.raises(ValueError, match="durable store"):
        prune(create_in_memory_backends(), older_than=timedelta(0))


def test_caller_chosen_id_must_be_new(store):
    start(store, "once")
    with pytest.raises(Exception, match="^Execution 'once' already exists$"):
        start(store, "once")


@pytest.mark.slow
def test_200_executions_of_50_steps_concurrently_on_one_file(tmp_path):
    backends = create_sqlite_backends(tmp_path / "many.db")
    loop = {"wf": {
        "Count": {"node_type": "tool", "tool_name": "inc", "event_triggers": ["START", "AGAIN"],
                  "parameters": {"n": "{{ context.n }}"}, "output_field": "n",
                  "event_emissions": [{"signal_name": "CHECK"}]},
        "Check": {"node_type": "router", "event_triggers": ["CHECK"], "event_emissions": [
            {"signal_name": "AGAIN", "condition": "{{ context.n | int < 25 }}"}]},
    }}
    _, broadcast = create_all_nodes(backends, tools_registry={"inc": lambda n: int(n) + 1})

    def one(i: int) -> str:
        return orchestrate(loop, "wf", ["START"], {"n": 0}, backends, broadcast, execution_id=f"run-{i}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(one, range(200)))
    for eid in ids:
        ctx = backends.context.get_context(eid)
        assert ctx["n"] == list(range(26)), eid
        assert ctx["__operational__"]["nodes"] == {"Count": 25, "Check": 25}
        assert len(ctx["__operational__"]["signals"]) == 50  # START, 25 x CHECK, 24 x AGAIN
    assert len(list_executions(backends, status="completed")) == 200
    backends.close()


def test_fan_out_of_64_children_writing_one_parent_field_on_sqlite(store):
    barrier = threading.Barrier(4, timeout=20)

    def work(item: str) -> int:
        if int(item) < 4:
            barrier.wait()
        return int(item)

    config = {
        "parent": {"Fan": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "worker",
                           "child_initial_signals": ["START"], "fan_out_field": "items",
                           "child_input_field": "item", "context_updates_to_parent": ["result"]}},
        "worker": {"Work": {"node_type": "tool", "tool_name": "work", "event_triggers": ["START"],
                            "parameters": {"item": "{{ context.item }}"}, "output_field": "result"}},
    }
    _, broadcast = create_all_nodes(store, tools_registry={"work": work})
    eid = orchestrate(config, "parent", ["START"], {"items": list(range(64))}, store, broadcast,
                      max_concurrency=8, execution_id="fan")
    assert sorted(store.context.get_context(eid)["result"]) == list(range(64))
    assert get_execution_status(eid, store)["status"] == "completed"


def test_children_finished_before_a_crash_are_completed_by_resume(store):
    config = {
        "parent": {"Spawn": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "kid",
                             "child_initial_signals": ["START"], "signals_to_parent": ["KID_DONE"]},
                   "After": {"node_type": "_crash", "event_triggers": ["KID_DONE"]}},
        "kid": {"Work": {"node_type": "router", "event_triggers": ["START"],
                         "event_emissions": [{"signal_name": "KID_DONE"}]}},
    }

    class Crash(BaseException):
        """Stands in for a kill: not an Exception, so nothing is committed as a failure."""

    nodes, broadcast = create_all_nodes(store)
    nodes["_crash"] = lambda eid, cfg: (_ for _ in ()).throw(Crash())
    with pytest.raises(Crash):
        orchestrate(config, "parent", ["START"], {}, store, broadcast, execution_id="root")
    store.runtime.release_lease("root", store.runtime.lease_owner("root"))
    running = [r["execution_id"] for r in list_executions(store, status="running")]
    assert "root" in running and len(running) == 2
    nodes["_crash"] = lambda eid, cfg: None
    resume("root", store, broadcast)
    assert list_executions(store, status="running") == []
    assert {r["status"] for r in list_executions(store)} == {"completed"}


def test_a_later_call_runs_a_journaled_node_again(store):
    calls = []
    config = {"wf": {"T": {"node_type": "tool", "tool_name": "tick", "event_triggers": ["START", "AGAIN"],
                           "output_field": "ticks"}}}
    nodes, broadcast = create_all_nodes(store, tools_registry={"tick": lambda: calls.append(1) or len(calls)})
    orchestrate(config, "wf", ["START"], {}, store, broadcast, execution_id="again")
    broadcast("again", ["AGAIN"])
    assert len(calls) == 2
    assert store.context.get_context("again")["ticks"] == [1, 2]
