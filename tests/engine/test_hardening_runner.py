"""Runner hardening (issue 13): refused broadcasts leave no trace."""

from __future__ import annotations

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
