"""A local HTTP server speaking a provider's wire protocol from a script, and the replies it sends.

Shared by the adapter tests: every request is recorded (path, headers, JSON
body) so a test can assert exactly what an adapter sent.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Reply:
    """One scripted HTTP answer."""

    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}

    def encoded(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


class FakeProvider:
    """A local HTTP server answering POSTs from a script (the last reply repeats) and recording them."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [request["body"] for request in self.requests]

    def answer(self, *replies: Reply) -> FakeProvider:
        self.script = list(replies)
        return self

    def _next(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reply = fake._next({"path": self.path, "headers": dict(self.headers.items()),
                                    "body": json.loads(raw)})
                data = reply.encoded()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def openai_ok(content: str | None, prompt_tokens: int = 11, completion_tokens: int = 7) -> Reply:
    return Reply(200, {
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    })


def openai_error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "invalid_request_error",
                                    "code": None}}, headers)


def anthropic_ok(*content: dict[str, Any], input_tokens: int = 20, output_tokens: int = 4) -> Reply:
    return Reply(200, {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": list(content), "stop_reason": "tool_use",
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    })


def tool_use(value: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_1", "name": "respond", "input": value}


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def anthropic_error(status: int, message: str) -> Reply:
    return Reply(status, {"type": "error", "error": {"type": "invalid_request_error",
                                                     "message": message}})


def openai_tool_call(name: str, arguments: str) -> Reply:
    """A Chat Completions answer that calls one function (``arguments`` is JSON text, as OpenAI sends)."""
    return Reply(200, {
        "id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-test",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": name, "arguments": arguments}}]}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    })


def anthropic_call(name: str, arguments: Any) -> dict[str, Any]:
    """A ``tool_use`` content block calling one of the agent's tools."""
    return {"type": "tool_use", "id": "toolu_2", "name": name, "input": arguments}


def isolate_provider_env(monkeypatch: Any) -> None:
    """No provider key or base URL from the developer's shell; local servers bypass proxies."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
