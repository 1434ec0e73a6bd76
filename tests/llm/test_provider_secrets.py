"""Credentials never leak: redacted from errors and records, never sent across origins (issue 13, item 5).

Real local HTTP servers stand in for providers: one echoes the request's
credentials in its error body (as some gateways do), one redirects elsewhere.
"""

from __future__ import annotations

import json
import sys
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from soe import create_all_nodes, get_execution_status, orchestrate
from soe.backends.sqlite import create_sqlite_backends
from soe.llm import ProviderError, anthropic, litellm, openai

KEY = "sk-test-SECRET-0123456789abcdef"


class Server:
    """Answers every POST with ``reply(headers) -> (status, body, extra headers)`` and records the headers."""

    def __init__(self, reply: Any) -> None:
        self.seen: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                outer.seen.append(headers)
                status, body, extra = reply(headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = _answer  # noqa: N815 - the stdlib's naming

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(autouse=True)
def _local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def echoing() -> Iterator[Server]:
    """A provider whose 401 body repeats the credentials it was sent."""
    server = Server(lambda h: (401, {"error": {"message": f"bad key: {h.get('Authorization')} "
                                                          f"{h.get('X-Api-Key')}"}}, {}))
    yield server
    server.close()


USER = [{"role": "user", "content": "hi"}]


def test_openai_error_body_echoing_the_key_is_redacted(echoing):
    with pytest.raises(ProviderError) as info:
        openai("m", base_url=echoing.url, api_key=KEY, max_retries=0)(USER)
    assert str(info.value) == "openai HTTP 401: bad key: [REDACTED] None"


def test_anthropic_error_body_echoing_the_key_is_redacted(echoing):
    with pytest.raises(ProviderError) as info:
        anthropic("m", base_url=echoing.url, api_key=KEY, max_retries=0)(USER)
    assert str(info.value) == "anthropic HTTP 401: bad key: None [REDACTED]"


def test_litellm_error_echoing_the_key_is_redacted(monkeypatch):
    def completion(**kwargs: Any) -> Any:
        raise RuntimeError(f"auth failed for key {kwargs['api_key']}")

    monkeypatch.setitem(sys.modules, "litellm", types.SimpleNamespace(completion=completion))
    with pytest.raises(ProviderError) as info:
        litellm("gpt-x", api_key=KEY)(USER)
    assert str(info.value) == "litellm error: auth failed for key [REDACTED]"
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_the_key_reaches_no_record_of_a_failed_run(echoing, tmp_path):
    db = tmp_path / "soe.db"
    backends = create_sqlite_backends(db)
    _, broadcast = create_all_nodes(backends, call_llm=openai("m", base_url=echoing.url, api_key=KEY,
                                                              max_retries=0))
    config = {"wf": {"Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "hi",
                             "output_field": "answer", "retries": 0}}}
    with pytest.raises(ProviderError, match=r"^openai HTTP 401: bad key: \[REDACTED\] None$"):
        orchestrate(config=config, initial_workflow_name="wf", initial_signals=["START"], initial_context={},
                    backends=backends, broadcast_signals_caller=broadcast, execution_id="e1")
    records = json.dumps([get_execution_status("e1", backends), backends.context.get_context("e1"),
                          backends.telemetry.get_events("e1")], default=str)
    backends.close()
    assert "[REDACTED]" in records
    assert KEY not in records
    assert KEY.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())


def test_no_credentials_follow_a_redirect_to_another_origin():
    elsewhere = Server(lambda h: (200, {"choices": [{"message": {"content": "stolen"}}]}, {}))
    redirecting = Server(lambda h: (302, {}, {"Location": f"{elsewhere.url}/collect"}))
    try:
        with pytest.raises(ProviderError) as info:
            openai("m", base_url=redirecting.url, api_key=KEY, max_retries=0)(USER)
        assert str(info.value) == (f"openai refused a redirect to another origin ({elsewhere.url}): "
                                   "credentials are never sent to a different host")
        assert len(redirecting.seen) == 1
        assert all("Authorization" not in headers for headers in elsewhere.seen)
        assert elsewhere.seen == []
    finally:
        redirecting.close()
        elsewhere.close()
