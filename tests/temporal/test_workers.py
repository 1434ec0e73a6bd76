"""Workers that die or stop: nothing is lost, and only calls in flight at a kill run twice.

Real ``soe worker`` subprocesses on a real Temporal dev server and PostgreSQL.
Sizes follow the issue (100 executions of a 10-step chain); ``SOE_TEMPORAL_EXECUTIONS``
makes them smaller on a slow machine.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import time
from pathlib import Path

import pytest

from soe import list_executions
from soe.backends.postgres import create_postgres_backends
from soe.temporal import Runner, connect
from tests.temporal.chain_tools import chain

EXECUTIONS = int(os.environ.get("SOE_TEMPORAL_EXECUTIONS", "100"))
STEPS = 10


def _submit(address: str, task_queue: str, count: int, config: str, **context) -> list[str]:
    async def go() -> list[str]:
        runner = Runner(await connect(address), task_queue=task_queue)
        return list(await asyncio.gather(*(
            runner.submit(config, "chain", ["START"], {"args": {"tag": f"e{i}", **context}})
            for i in range(count))))

    return asyncio.run(go())


def _statuses(backends, ids: list[str]) -> collections.Counter:
    known = {entry["execution_id"]: entry["status"] for entry in list_executions(backends)}
    return collections.Counter(known.get(execution_id, "unknown") for execution_id in ids)


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _side_effects(path: Path) -> collections.Counter:
    lines = path.read_text().splitlines() if path.exists() else []
    return collections.Counter(lines)


def test_kill_9_a_worker_mid_run_loses_nothing(workers, postgres_url):
    side_effects = Path(workers.env["SOE_TEST_SIDE_EFFECTS"])
    workers.start("w1")
    victim = workers.start("w2")
    backends = create_postgres_backends(postgres_url)
    try:
        ids = _submit(workers.address, workers.task_queue, EXECUTIONS, chain(STEPS), pause=0.01)
        _wait_for(lambda: sum(_side_effects(side_effects).values()) >= EXECUTIONS * STEPS // 3, 180,
                  "a third of the steps")
        in_flight = _statuses(backends, ids)["running"]  # each running chain has at most one call in flight
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        _wait_for(lambda: _statuses(backends, ids)["completed"] == EXECUTIONS, 300, "every execution")
        effects = _side_effects(side_effects)
        for index in range(EXECUTIONS):
            for step in range(STEPS):
                assert effects[f"e{index} {step}"] >= 1, f"execution e{index} lost step {step}"
        repeated = sum(count - 1 for count in effects.values())
        assert repeated <= in_flight
        for execution_id in ids:
            assert backends.context.get_context(execution_id)["args"][-1]["n"] == STEPS
    finally:
        backends.close()


def test_sigterm_hands_back_and_a_later_worker_picks_up(workers, postgres_url):
    side_effects = Path(workers.env["SOE_TEST_SIDE_EFFECTS"])
    config = Path(workers.env["SOE_TEST_SIDE_EFFECTS"]).with_name("chain.yaml")
    config.write_text(chain(3))
    ids = []
    for index in range(3):  # submitted while no worker runs
        result = workers.soe("run", str(config), "--temporal", workers.address, "--store", workers.store,
                             "--task-queue", workers.task_queue, "--no-wait", "--json",
                             "--context", f"args={{tag: s{index}, pause: 0.5}}")
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["status"] == "running"
        ids.append(document["execution_id"])
    inspected = workers.soe("inspect", ids[0], "--store", workers.store, "--json")
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["status"]["status"] == "running"
    first = workers.start("first")
    _wait_for(lambda: sum(_side_effects(side_effects).values()) >= 1, 120, "the first step")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0  # graceful: it finished or handed back its activities
    workers.start("later")
    backends = create_postgres_backends(workers.store)
    try:
        _wait_for(lambda: _statuses(backends, ids)["completed"] == len(ids), 180, "every execution")
    finally:
        backends.close()
    effects = _side_effects(side_effects)
    assert all(effects[f"s{index} {step}"] >= 1 for index in range(3) for step in range(3))
    done = workers.soe("inspect", ids[0], "--store", workers.store, "--json")
    assert json.loads(done.stdout)["status"]["status"] == "completed"
