"""Executions sharing one SQLite file never block each other (SPEC §15: no transaction across a wait)."""

from __future__ import annotations

import threading

from conftest import run

from soe.backends.sqlite import create_sqlite_backends

CALLING = {"wf": {
    "Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "hi", "output_field": "answer",
            "event_emissions": [{"signal_name": "ASKED"}]},
    "Note": {"node_type": "tool", "tool_name": "note", "event_triggers": ["ASKED"],
             "parameters": {"text": "{{ context.answer }}"}, "output_field": "noted"},
}}


def test_four_executions_on_one_file_overlap_their_calls(tmp_path):
    """Each call returns only once all four are in flight at the same time."""
    backends = create_sqlite_backends(tmp_path / "soe.db")
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


def test_a_long_call_does_not_block_another_executions_writes(tmp_path):
    """With a 0.2 s busy timeout, a call that outlasts it by far still leaves the file writable."""
    backends = create_sqlite_backends(tmp_path / "soe.db", timeout=0.2)
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
