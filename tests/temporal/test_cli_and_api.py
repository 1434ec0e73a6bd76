"""The Temporal command line and API: refusals, signals, continue-as-new."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

from soe.temporal import Runner, connect
from tests.temporal.chain_tools import chain
from tests.temporal.support import ThreadWorker

WAITS_FOR_APPROVAL = """
external_signals:
  - [APPROVED]
review:
  Ask:
    node_type: router
    event_triggers: [START]
    event_emissions: [{signal_name: ASKED}]
  Ship:
    node_type: tool
    event_triggers: [APPROVED]
    tool_name: step
    context_parameter_field: args
    output_field: args
    event_emissions: [{signal_name: SHIPPED}]
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(workers, config: Path, *extra: str, temporal: str | None = None, store: str | None = None):
    return workers.soe("run", str(config), "--temporal", temporal or workers.address, "--store",
                       store or workers.store, "--task-queue", workers.task_queue, "--quiet", *extra)


def test_invalid_workflow_is_refused_before_submission(workers, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("wf:\n  A:\n    node_type: tool\n    event_triggers: [START]\n")  # no tool_name
    result = _run(workers, config, "--no-wait", "--json")
    assert result.returncode == 2
    assert "tool_name" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""  # no execution id: nothing was submitted


def test_unreachable_temporal_or_postgres_is_one_line_naming_the_address(workers, tmp_path):
    config = tmp_path / "chain.yaml"
    config.write_text(chain(1))
    dead_temporal = f"127.0.0.1:{_closed_port()}"
    result = _run(workers, config, "--no-wait", temporal=dead_temporal)
    assert result.returncode == 2
    assert dead_temporal in result.stderr and len(result.stderr.strip().splitlines()) == 1
    dead_postgres = f"postgresql://postgres@127.0.0.1:{_closed_port()}/test"
    result = _run(workers, config, "--no-wait", store=dead_postgres)
    assert result.returncode == 2
    assert f"127.0.0.1:{dead_postgres.rsplit(':', 1)[1].split('/')[0]}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    worker = workers.soe("worker", "--temporal", dead_temporal, "--store", workers.store)
    assert worker.returncode == 2 and dead_temporal in worker.stderr and "Traceback" not in worker.stderr


def test_run_waits_and_signal_continues_a_waiting_execution(workers, tmp_path):
    workers.start("w1")
    config = tmp_path / "review.yaml"
    config.write_text(WAITS_FOR_APPROVAL)
    first = _run(workers, config, "--json", "--context", "args={tag: r, n: 7}")
    assert first.returncode == 0, first.stderr
    document = json.loads(first.stdout)
    assert document["status"] == "waiting"
    execution_id = document["execution_id"]
    inspected = json.loads(workers.soe("inspect", execution_id, "--store", workers.store, "--json").stdout)
    assert inspected["status"]["status"] == "waiting"
    signalled = workers.soe("signal", execution_id, "APPROVED", "--temporal", workers.address, "--store",
                            workers.store, "--task-queue", workers.task_queue, "--json")
    assert signalled.returncode == 0, signalled.stderr
    after = json.loads(signalled.stdout)
    assert after["status"] == "completed"
    assert after["context"]["args"] == {"tag": "r", "n": 8, "pause": 0.0}
    assert "SHIPPED" in after["operational"]["signals"]


def test_long_loops_continue_as_new_and_finish(temporal_address, postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("SOE_TEST_SIDE_EFFECTS", str(tmp_path / "effects.txt"))
    from tests.temporal.chain_tools import TOOLS

    worker = ThreadWorker(temporal_address, postgres_url, TOOLS, None, f"can-{time.monotonic_ns()}")
    try:
        runner = Runner(worker.client, task_queue=worker.runner.task_queue, max_rounds=3)

        async def go() -> tuple[str, str]:
            client = await connect(temporal_address)
            runner.client = client
            execution_id = await runner.submit(chain(8), "chain", ["START"], {"args": {"tag": "c"}})
            first_run = (await client.get_workflow_handle(execution_id).describe()).run_id
            await runner.result(execution_id)
            described = await client.get_workflow_handle(execution_id, run_id=first_run).describe()
            return execution_id, described.status.name

        execution_id, first_run_status = asyncio.run(go())
        assert first_run_status == "CONTINUED_AS_NEW"
        assert worker.backends.context.get_context(execution_id)["args"][-1]["n"] == 8
    finally:
        worker.close()

