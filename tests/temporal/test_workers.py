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
from tests.temporal.chain_tools import attempts, chain

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


def _ended(path: Path) -> int:
    """How many tool calls finished (their end mark written)."""
    lines = path.read_text().splitlines() if path.exists() else []
    return sum(line.startswith("end ") for line in lines)


def _calls_by_step(backends, ids: list[str]) -> dict[tuple[str, int], list[str]]:
    """``(tag, step)`` -> the workers whose call activity journaled that step's call (``temporal_call``)."""
    found: dict[tuple[str, int], list[str]] = {}
    for index, execution_id in enumerate(ids):
        for event in backends.telemetry.get_events(execution_id):
            if event["event_type"] == "temporal_call":
                step = int(event["context"]["node"].removeprefix("Step"))
                found.setdefault((f"e{index}", step), []).append(event["context"]["worker"])
    return found


def test_kill_9_a_worker_mid_run_loses_nothing(workers, postgres_url):
    """Exact: every step ended once on a live worker, and a step ran twice only when its earlier
    attempt was on the killed worker and that call never got journaled there (in flight at the kill)."""
    side_effects = Path(workers.env["SOE_TEST_SIDE_EFFECTS"])
    survivor = workers.start("w1")
    victim = workers.start("w2")
    backends = create_postgres_backends(postgres_url)
    try:
        ids = _submit(workers.address, workers.task_queue, EXECUTIONS, chain(STEPS), pause=0.05)
        _wait_for(lambda: _ended(side_effects) >= EXECUTIONS * STEPS // 3, 240, "a third of the steps")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        _wait_for(lambda: _statuses(backends, ids)["completed"] == EXECUTIONS, 300, "every execution")
        journaled_by = _calls_by_step(backends, ids)
        for execution_id in ids:
            assert backends.context.get_context(execution_id)["args"][-1]["n"] == STEPS
    finally:
        backends.close()
    marks = attempts(str(side_effects))
    assert {step for step, _ in marks} == {f"e{index}" for index in range(EXECUTIONS)}
    assert {pid for step in marks.values() for _, pid in step} == {survivor.pid, victim.pid}
    repeated = []
    for (tag, step), seen in marks.items():
        starts = [pid for mark, pid in seen if mark == "start"]
        assert len(starts) >= 1 and any(mark == "end" for mark, _ in seen), f"{tag} lost step {step}"
        if len(starts) > 1:
            repeated.append((tag, step))
            assert starts[:-1] == [victim.pid] * (len(starts) - 1), (tag, step, seen)
            assert starts[-1] == survivor.pid and ("end", survivor.pid) in seen, (tag, step, seen)
            assert "w2" not in journaled_by.get((tag, step), []), f"{tag} step {step} repeated after w2 finished it"
    assert len(marks) == EXECUTIONS * STEPS
    print(f"{len(repeated)} steps repeated after the kill: {sorted(repeated)}")


FAN_OUT = 64


def _fan_out_config(branches: int) -> str:
    nodes = "".join(f"""
  Ask{i}:
    node_type: llm
    event_triggers: [GO]
    prompt: "branch {i}"
    output_field: a{i}
    event_emissions: [{{signal_name: ANSWERED}}]
""" for i in range(branches))
    condition = " and ".join(f"context.a{i} is defined" for i in range(branches))
    return f"""
fan:
  Split:
    node_type: router
    event_triggers: [START]
    event_emissions: [{{signal_name: GO}}]
{nodes}
  Join:
    node_type: router
    event_triggers: [ANSWERED]
    event_emissions:
      - signal_name: JOINED
        condition: "{{{{ {condition} }}}}"
"""


def test_fan_out_of_64_llm_branches_spreads_over_two_worker_processes_and_joins_once(workers, postgres_url):
    workers.start("worker-a")
    workers.start("worker-b")
    config = Path(workers.env["SOE_TEST_SIDE_EFFECTS"]).with_name("fan.yaml")
    config.write_text(_fan_out_config(FAN_OUT))
    result = workers.soe("run", str(config), "--temporal", workers.address, "--store", workers.store,
                         "--task-queue", workers.task_queue, "--json", "--max-concurrency", str(FAN_OUT))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "completed"
    assert document["operational"]["signals"].count("JOINED") == 1
    backends = create_postgres_backends(postgres_url)
    try:
        calls = [event for event in backends.telemetry.get_events(document["execution_id"])
                 if event["event_type"] == "temporal_call"]
    finally:
        backends.close()
    assert len(calls) == FAN_OUT
    by_worker = collections.Counter(event["context"]["worker"] for event in calls)
    assert set(by_worker) == {"worker-a", "worker-b"}, by_worker


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
    _wait_for(lambda: _ended(side_effects) >= 1, 120, "the first step")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0  # graceful: it finished or handed back its activities
    workers.start("later")
    backends = create_postgres_backends(workers.store)
    try:
        _wait_for(lambda: _statuses(backends, ids)["completed"] == len(ids), 180, "every execution")
    finally:
        backends.close()
    marks = attempts(str(side_effects))
    assert all(any(mark == "end" for mark, _ in marks[(f"s{index}", step)]) for index in range(3) for step in range(3))
    done = workers.soe("inspect", ids[0], "--store", workers.store, "--json")
    assert json.loads(done.stdout)["status"]["status"] == "completed"
