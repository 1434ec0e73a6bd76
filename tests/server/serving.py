"""A real ``soe serve`` process on a free port with a real SQLite store, and a small HTTP client.

A module of its own (not conftest) so that its name cannot clash with ``tests/conftest.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOOLS = '''\
import time


def pause(seconds: float = 0.05) -> str:
    time.sleep(float(seconds))
    return "rested"


TOOLS = {"pause": pause}
'''

API_KEY = "test-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A running server and a client for it (one connection per request, so threads can share it)."""

    port: int
    process: subprocess.Popen
    store: Path
    key: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self, key: str | None = "default", **extra: str) -> dict[str, str]:
        key = self.key if key == "default" else key
        found = {"Content-Type": "application/json", **extra}
        if key is not None:
            found["Authorization"] = f"Bearer {key}"
        return found

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                key: str | None = "default", **headers: str) -> Response:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=data, headers=self.headers(key, **headers))
            response = connection.getresponse()
            headers = {name.lower(): value for name, value in response.getheaders()}
            return Response(response.status, response.read(), headers)
        finally:
            connection.close()

    def start(self, workflow: Any, **fields: Any) -> str:
        response = self.request("POST", "/v1/executions", {"workflow": workflow, **fields})
        assert response.status == 202, response.body
        return response.json()["execution_id"]

    def wait_for(self, execution_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.request("GET", f"/v1/executions/{execution_id}").json()
            if found["status"] in statuses:
                return found
            assert time.monotonic() < deadline, f"still {found['status']}, expected {statuses}"
            time.sleep(0.05)


def start_server(tmp_path: Path, *args: str) -> Server:
    tools = tmp_path / "server_tools.py"
    tools.write_text(TOOLS)
    store = tmp_path / "soe.db"
    port = free_port()
    command = [sys.executable, "-m", "soe", "serve", "--store", f"sqlite:{store}", "--port", str(port),
               "--tools", f"{tools}:TOOLS", "--llm", "echo", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"soe serve exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            assert time.monotonic() < deadline, "soe serve did not start listening"
            time.sleep(0.1)
    key = API_KEY if "--api-key-file" in args else None
    return Server(port, process, store, key)


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def running_server(tmp_path: Path, *, keyed: bool = False) -> Iterator[Server]:
    """A fixture body: a server (with ``API_KEY`` and a second key when ``keyed``), stopped after."""
    args: list[str] = []
    if keyed:
        keys = tmp_path / "keys.txt"
        keys.write_text(f"# comment\n{API_KEY}\n\nanother-key-0123456789\n")
        args = ["--api-key-file", str(keys)]
    running = start_server(tmp_path, *args)
    yield running
    stop(running)
