"""Executions sharing one store never block each other (SPEC §15: no transaction across a wait)."""

from __future__ import annotations

import threading

import pytest
from conftest import run

from soe.backends.sqlite import create_sqlite_backends

CALLING = {"wf": {
    "Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "hi", "output_field": "answer",
            "event_emissions": [{"signal_name": "ASKED"}]},
    "Note": {"node_type": "tool", "tool_name": "note", "event_triggers": ["ASKED"],
             "parameters": {"text": "{{ context.answer }}"}, "output_field": "noted"},
}}


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request, tmp_path):
    """Opens the store under test with a write (SQLite) or connection (PostgreSQL) timeout."""
    opened = []

    def open_with(timeout: float = 30.0):
        if request.param == "sqlite":
            backends = create_sqlite_backends(tmp_path / "soe.db", timeout=timeout)
        else:
            from soe.backends.postgres import create_postgres_backends

            backends = create_postgres_backends(request.getfixturevalue("postgres_url"),
                                                timeout=timeout)
        opened.append(backends)
        return backends

    yield open_with
    for backends in opened:
        backends.close()


def test_four_executions_on_one_store_overlap_their_calls(open_store):
    """Each call returns only once all four are in flight at the same time."""
    backends = open_store()
    barrier = threading.Barrier(4, timeout=20)

    def call_llm(messages, response_model):
        barrier.wait()
        return '{"answer": "hello"}'

    ids: list[str] = []
    threads = [threading.Thread(target=lambda: ids.append(
        run(CALLING, backends, call_llm=call_llm, tools={"note": lambda text: text.upper()})))
        for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(ids) == 4
    for eid in ids:
        assert backends.context.get_context(eid)["noted"] == ["HELLO"]
        assert backends.runtime.get_status(eid)["status"] == "completed"


def test_a_long_call_does_not_block_another_executions_writes(open_store):
    """With a 0.2 s write timeout, a call that outlasts it by far still leaves the store writable."""
    backends = open_store(timeout=0.2)
    release = threading.Event()
    started = threading.Event()

    def slow_llm(messages, response_model):
        started.set()
        assert release.wait(timeout=30)
        return '{"answer": "slow"}'

    slow_ids: list[str] = []
    slow = threading.Thread(target=lambda: slow_ids.append(
        run(CALLING, backends, call_llm=slow_llm, tools={"note": lambda text: text})))
    slow.start()
    assert started.wait(timeout=10)
    chain = {"wf": {f"N{i}": {"node_type": "router", "event_triggers": [f"S{i}"],
                              "event_emissions": [{"signal_name": f"S{i + 1}"}]} for i in range(50)}}
    fast = run(chain, backends, signals=["S0"])  # 50 transitions while the slow call is in flight
    assert backends.runtime.get_status(fast)["status"] == "completed"
    release.set()
    slow.join(timeout=30)
    assert backends.context.get_context(slow_ids[0])["noted"] == ["slow"]
