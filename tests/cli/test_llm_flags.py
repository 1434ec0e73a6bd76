"""``--llm-option``, ``--llm-base-url`` and provider failures seen from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_provider import FakeProvider, Reply, isolate_provider_env, openai_ok
from typer.testing import CliRunner

from soe.cli.app import app

runner = CliRunner()

WORKFLOW = """\
wf:
  Ask:
    node_type: llm
    event_triggers: [START]
    prompt: "Say hi to {{ context.name }}"
    output_field: greeting
    max_tokens: 5
"""


@pytest.fixture
def server() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_provider_env(monkeypatch)


def write(tmp_path: Path) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW)
    return path


def invoke(*args: object):
    return runner.invoke(app, [str(arg) for arg in args])


def test_llm_options_and_base_url_reach_the_request_and_nodes_win(tmp_path, server):
    server.answer(openai_ok('{"greeting": "hi Ann"}'))
    result = invoke("run", write(tmp_path), "--store", "memory", "-c", "name=Ann", "--json",
                    "--llm", "openai:local", "--llm-base-url", f"{server.url}/v1",
                    "--llm-option", "temperature=0", "--llm-option", "max_tokens=100",
                    "--llm-option", "stop=[END]")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["context"]["greeting"] == "hi Ann"
    [body] = server.bodies
    assert (body["model"], body["temperature"], body["max_tokens"], body["stop"]) == ("local", 0, 5, ["END"])


def test_missing_api_key_stops_before_anything_runs(tmp_path):
    store = tmp_path / "store.db"
    result = invoke("run", write(tmp_path), "--store", f"sqlite:{store}", "--llm", "openai:gpt-4o-mini")
    assert result.exit_code == 2
    assert "OPENAI_API_KEY" in result.stderr
    assert not store.exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--llm", "nope:model"], "unknown provider 'nope'"),
    (["--llm", "echo", "--llm-option", "temperature=0"], "'echo' takes no options"),
    (["--llm", "openai:m", "--llm-option", "temperature"], "Invalid --llm-option 'temperature'"),
])
def test_bad_llm_flags_are_bad_input(tmp_path, flags, message):
    result = invoke("run", write(tmp_path), "--store", "memory", *flags)
    assert result.exit_code == 2
    assert message in result.stderr


def test_provider_error_in_json_keeps_type_status_and_request_id(tmp_path, server):
    server.answer(Reply(401, {"error": {"message": "bad key"}}, {"x-request-id": "req_7"}))
    result = invoke("run", write(tmp_path), "--store", "memory", "--json", "--llm", "openai:m",
                    "--llm-base-url", f"{server.url}/v1")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["error"] == {
        "type": "ProviderError", "message": "openai HTTP 401: bad key", "provider": "openai",
        "status": 401, "request_id": "req_7"}
