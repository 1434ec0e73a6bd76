"""Faults inside a worker: a signal's advance retried after its worker was lost, a start refused on the worker."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from soe.temporal import Runner, connect
from soe.temporal.activities import TreeActivities
from soe.temporal.workflow import TreeWorkflow
from tests.temporal.chain_tools import TOOLS
from tests.temporal.support import ThreadWorker
from tests.temporal.test_cli_and_api import WAITS_FOR_APPROVAL


def test_a_signal_whose_advance_is_retried_after_it_committed_is_applied_once(
        temporal_address, postgres_url, tmp_path, monkeypatch):
    side_effects = tmp_path / "effects.txt"
    monkeypatch.setenv("SOE_TEST_SIDE_EFFECTS", str(side_effects))
    applied = TreeActivities._advance
    lost: list[dict] = []

    def advance_then_lose_the_worker(self, request):
        """The advance commits the signal, then its worker is lost before Temporal hears back: it is retried."""
        outcome = applied(self, request)
        if request["action"] == "signal" and not lost:
            lost.append(request)
            raise RuntimeError("worker lost after the signal's advance committed")
        return outcome

    monkeypatch.setattr(TreeActivities, "_advance", advance_then_lose_the_worker)
    worker = ThreadWorker(temporal_address, postgres_url, TOOLS, None, f"faults-{time.monotonic_ns()}")
    try:
        async def go() -> tuple[str, dict]:
            runner = Runner(await connect(temporal_address), task_queue=worker.runner.task_queue)
            execution_id = await runner.submit(WAITS_FOR_APPROVAL, "review", ["START"], {"args": {"tag": "r", "n": 7}})
            assert (await runner.result(execution_id))["status"] == "waiting"
            await runner.signal(execution_id, execution_id, ["APPROVED"])
            return execution_id, await runner.result(execution_id)

        execution_id, outcome = asyncio.run(go())
        context = worker.backends.context.get_context(execution_id)
    finally:
        worker.close()
    assert lost, "the signal's advance ran and was retried"
    assert outcome["status"] == "completed"
    assert [line.rsplit(" ", 1)[0] for line in side_effects.read_text().splitlines()] == ["start r 7", "end r 7"]
    assert context["args"][-1] == {"tag": "r", "n": 8, "pause": 0.0}
    assert context["__operational__"]["signals"].count("APPROVED") == 1
    assert context["__operational__"]["signals"].count("SHIPPED") == 1


def test_a_start_the_worker_refuses_ends_failed_with_the_reason_in_inspect(workers):
    workers.start("w1")
    execution_id = str(uuid.uuid4())
    no_tool_name = {"wf": {"A": {"node_type": "tool", "event_triggers": ["START"]}}}

    async def start_unchecked() -> dict:
        """What a submitter that skipped validation (another release, a hand-made start) hands the workers."""
        client = await connect(workers.address)
        handle = await client.start_workflow(
            TreeWorkflow.run, {"main_execution_id": execution_id, "signals": [], "max_rounds": 500,
                               "start": {"action": "orchestrate", "config": no_tool_name, "workflow_name": "wf",
                                         "signals": ["START"], "context": {}}},
            id=execution_id, task_queue=workers.task_queue)
        result: dict = await handle.result()
        return result

    outcome = asyncio.run(start_unchecked())
    assert outcome["status"] == "failed" and "tool_name" in outcome["error"]
    inspected = workers.soe("inspect", execution_id, "--store", workers.store, "--json")
    assert inspected.returncode == 0, inspected.stderr
    status = json.loads(inspected.stdout)["status"]
    assert status["status"] == "failed" and "tool_name" in status["error"]
