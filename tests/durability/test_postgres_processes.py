"""Several processes on one PostgreSQL store at once: nothing is lost, nothing runs twice."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from soe import list_executions
from soe.backends.postgres import create_postgres_backends

DRIVER = Path(__file__).with_name("processes_driver.py")
PER_PROCESS = 12
STEPS = 10  # the loop's tool calls per execution: n goes 0 -> 10


@pytest.mark.slow
def test_two_processes_run_executions_on_one_store(postgres_url, tmp_path):
    effects = tmp_path / "effects.log"
    procs = [subprocess.Popen([sys.executable, str(DRIVER), postgres_url, tag, str(PER_PROCESS), str(effects)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tag in ("a", "b")]
    outcomes = [(proc.communicate(timeout=120)[1], proc.returncode) for proc in procs]  # reap all first
    for stderr, returncode in outcomes:
        assert returncode == 0, stderr

    ids = [f"{tag}-{i}" for tag in ("a", "b") for i in range(PER_PROCESS)]
    expected = Counter(f"{eid}:{n}" for eid in ids for n in range(STEPS))
    assert Counter(effects.read_text().splitlines()) == expected  # every call once, none lost
    with create_postgres_backends(postgres_url) as store:
        assert sorted(r["execution_id"] for r in list_executions(store, status="completed")) == sorted(ids)
        for eid in ids:
            context = store.context.get_context(eid)
            assert context["n"] == list(range(STEPS + 1)), eid
            assert context["__operational__"]["nodes"] == {"Count": STEPS, "Check": STEPS}
            assert len(store.telemetry.get_events(eid)) > 2 * STEPS
        shared = store.conversation_history.get_conversation_history("shared")
        assert Counter(entry["content"] for entry in shared) == expected
        for eid in ids:  # one execution's entries keep their order among everyone's
            mine = [entry["content"] for entry in shared if entry["content"].startswith(f"{eid}:")]
            assert mine == [f"{eid}:{n}" for n in range(STEPS)]
