"""The HTTP API against a real ``soe serve`` process and a real SQLite store."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from serving import API_KEY, Server, running_server, start_server, stop

APPROVAL = """\
approval:
  Ask:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: ASKED
  Decide:
    node_type: router
    event_triggers: [APPROVED, REJECTED]
    event_emissions:
      - signal_name: SHIPPED
        condition: "{{ context.answer == 'yes' }}"
"""

CHAIN = """\
chain:
  First:
    node_type: router
    event_triggers: [START]
    event_emissions: [{signal_name: ONE}]
  Rest:
    node_type: tool
    tool_name: pause
    parameters: {seconds: 0.01}
    output_field: rest
    event_triggers: [ONE]
    event_emissions: [{signal_name: TWO}]
  Last:
    node_type: router
    event_triggers: [TWO]
    event_emissions: [{signal_name: DONE}]
"""


@pytest.fixture
def server(tmp_path):
    """An open server (no keys, loopback only)."""
    yield from running_server(tmp_path)


@pytest.fixture
def keyed_server(tmp_path):
    """A server whose /v1 routes need ``Authorization: Bearer <API_KEY>``."""
    yield from running_server(tmp_path, keyed=True)


def read_events(server: Server, execution_id: str, *, last_event_id: str | None = None,
                stop_after: int | None = None) -> tuple[list[tuple[int, dict]], bool]:
    """``(id, data)`` of each telemetry event, and whether the stream ended with ``end``."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = server.headers()
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    connection.request("GET", f"/v1/executions/{execution_id}/events", headers=headers)
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    events: list[tuple[int, dict]] = []
    fields: dict[str, str] = {}
    try:
        while stop_after is None or len(events) < stop_after:
            line = response.readline().decode()
            if not line:
                return events, False
            line = line.rstrip("\n")
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if fields.get("event") == "end":
                return events, True
            if fields.get("event") == "telemetry":
                events.append((int(fields["id"]), json.loads(fields["data"])))
            fields = {}
        return events, False
    finally:
        connection.close()


# --------------------------------------------------------------------------- security


def test_every_v1_route_needs_a_key_when_keys_are_configured(keyed_server):
    execution_id = keyed_server.start(CHAIN)
    for method, path in [("GET", "/v1/executions"), ("GET", f"/v1/executions/{execution_id}"),
                         ("POST", "/v1/executions"), ("GET", f"/v1/executions/{execution_id}/events"),
                         ("POST", f"/v1/executions/{execution_id}/signals"),
                         ("GET", f"/v1/executions/{execution_id}/revisions")]:
        missing = keyed_server.request(method, path, {"workflow": CHAIN}, key=None)
        assert missing.status == 401, (method, path)
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = keyed_server.request(method, path, {"workflow": CHAIN}, key=API_KEY[:-1] + "X")
        assert wrong.status == 401, (method, path)
    assert keyed_server.request("GET", "/v1/executions", key="another-key-0123456789").status == 200
    assert keyed_server.wait_for(execution_id, "completed")["context"]["rest"] == "rested"


def test_without_keys_only_loopback_is_served(tmp_path):
    result = subprocess.run([sys.executable, "-m", "soe", "serve", "--store", f"sqlite:{tmp_path / 's.db'}",
                             "--host", "0.0.0.0", "--port", "1"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Refusing to serve on 0.0.0.0 without API keys" in result.stderr


def test_bodies_over_5_mb_are_refused_with_413(server):
    big = {"workflow": CHAIN, "context": {"blob": "x" * (5 * 1024 * 1024)}}
    response = server.request("POST", "/v1/executions", big)
    assert response.status == 413
    assert response.json() == {"detail": "Request body larger than 5242880 bytes"}
    assert server.request("GET", "/v1/executions").json()["total"] == 0


def test_chunked_bodies_are_counted_as_they_arrive(server):
    chunk = b'{"workflow": "x", "context": {"blob": "' + b"x" * (1024 * 1024)
    pieces = [chunk] + [b"x" * (1024 * 1024)] * 5 + [b'"}}']
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", "/v1/executions", body=iter(pieces), encode_chunked=True,
                           headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {"detail": "Request body larger than 5242880 bytes"}
    finally:
        connection.close()


def test_malformed_json_and_yaml_are_4xx_with_a_message(server):
    bad_json = server.request("POST", "/v1/executions", raw=b'{"workflow": ')
    assert bad_json.status == 422 and "JSON decode error" in bad_json.body.decode()
    bad_yaml = server.request("POST", "/v1/executions", {"workflow": "chain: [unclosed"})
    assert bad_yaml.status == 400
    assert bad_yaml.json()["detail"]["message"].startswith("Invalid YAML configuration:")
    invalid = server.request("POST", "/v1/executions", {"workflow": CHAIN.replace("node_type: tool", "node_type: bogus")})
    assert invalid.status == 422
    assert invalid.json()["detail"] == {
        "message": "Workflow 'chain', node 'Rest': unknown node_type 'bogus'. Valid types are: router, agent, "
                   "llm, child, tool",
        "location": {"line": 7, "column": 16}}
    not_a_mapping = server.request("POST", "/v1/executions", {"workflow": ["chain"]})
    assert not_a_mapping.status == 422
    unknown_tool = server.request("POST", "/v1/executions", {"workflow": CHAIN.replace("pause", "rm_rf")})
    assert unknown_tool.status == 422 and "rm_rf" in unknown_tool.json()["detail"]["message"]
    assert server.request("GET", "/v1/executions").json()["total"] == 0  # nothing was stored


def test_submitted_templates_stay_in_the_sandbox(server):
    payload = CHAIN.replace("seconds: 0.01", "seconds: \"{{ ''.__class__.__mro__ }}\"")
    execution_id = server.start(payload)
    found = server.wait_for(execution_id, "failed")
    assert "Unsafe template in node 'Rest'" in found["error"]


def test_cors_is_off(server):
    response = server.request("GET", "/v1/executions", Origin="https://elsewhere.example")
    assert not any(name.lower().startswith("access-control-") for name in response.headers)


# --------------------------------------------------------------------------- executions


def test_waiting_execution_answered_by_a_signal_completes(server):
    execution_id = server.start(APPROVAL)
    waiting = server.wait_for(execution_id, "waiting")
    assert waiting["waiting_for"] == ["APPROVED", "REJECTED"]
    unheard = server.request("POST", f"/v1/executions/{execution_id}/signals", {"signals": ["SHIP_IT"]})
    assert unheard.status == 422 and "listens for START, APPROVED, REJECTED" in unheard.json()["detail"]["message"]
    answer = server.request("POST", f"/v1/executions/{execution_id}/signals",
                            {"signals": ["APPROVED"], "context": {"answer": "yes"}})
    assert answer.status == 202
    done = server.wait_for(execution_id, "completed")
    assert done["waiting_for"] == [] and done["context"] == {"answer": "yes"}
    assert done["operational"]["signals"] == ["START", "ASKED", "APPROVED", "SHIPPED"]
    history = server.request("GET", f"/v1/executions/{execution_id}/history").json()
    assert history["context"] == {"answer": ["yes"]}
    listed = server.request("GET", "/v1/executions?status=completed").json()
    assert [e["execution_id"] for e in listed["executions"]] == [execution_id]


def test_unknown_execution_is_404(server):
    assert server.request("GET", "/v1/executions/nope").status == 404
    assert server.request("POST", "/v1/executions/nope/signals", {"signals": ["GO"]}).status == 404


def test_sse_resumes_with_last_event_id_without_gaps_or_repeats(server):
    execution_id = server.start(APPROVAL)
    server.wait_for(execution_id, "waiting")
    first, ended = read_events(server, execution_id, stop_after=3)
    assert [i for i, _ in first] == [0, 1, 2] and not ended
    server.request("POST", f"/v1/executions/{execution_id}/signals", {"signals": ["REJECTED"]})
    rest, ended = read_events(server, execution_id, last_event_id=str(first[-1][0]))
    assert ended  # the stream ends once the execution completed
    everything, _ = read_events(server, execution_id)
    assert first + rest == everything
    assert [i for i, _ in everything] == list(range(len(everything)))
    assert {"event_type": "signals_broadcast", "signals": ["REJECTED"]} in [
        {"event_type": e["event_type"], **e["context"]} for _, e in rest]
    bad = server.request("GET", f"/v1/executions/{execution_id}/events", **{"Last-Event-ID": "x"})
    assert bad.status == 400


def test_100_concurrent_starts_from_16_threads_all_complete(server):
    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda i: server.start(CHAIN, context={"n": i}), range(100)))
    assert len(set(ids)) == 100
    for execution_id in ids:
        found = server.wait_for(execution_id, "completed", "failed")
        assert found["status"] == "completed", found["error"]
        assert found["operational"]["signals"] == ["START", "ONE", "TWO", "DONE"]
        assert found["context"]["rest"] == "rested"
    assert sorted(server.request("GET", f"/v1/executions/{i}").json()["context"]["n"] for i in ids) == list(range(100))
    page = server.request("GET", "/v1/executions?status=completed&limit=30&offset=90").json()
    assert page["total"] == 100 and len(page["executions"]) == 10


def test_registry_revisions_diff_and_rollback(server):
    evolving = CHAIN + """\
  Grow:
    node_type: tool
    tool_name: soe_inject_node
    event_triggers: [DONE]
    parameters:
      workflow_name: chain
      node_name: Extra
      node_config_data: '{"node_type": "router", "event_triggers": ["LATER"], "event_emissions": [{"signal_name": "X"}]}'
"""
    execution_id = server.start(evolving)
    server.wait_for(execution_id, "waiting")  # Extra listens for LATER, which nothing emits
    path = f"/v1/executions/{execution_id}/revisions"
    revisions = server.request("GET", path).json()
    assert [(r["revision"], r["author"], r["operation"]) for r in revisions] == [
        (0, "api", "orchestrate"), (1, "Grow", "soe_inject_node")]
    diff = server.request("GET", f"{path}/1/diff").json()
    assert diff["base"] == 0 and [(d["op"], d["path"]) for d in diff["diff"]] == [("add", "/chain/Extra")]
    rolled = server.request("POST", f"{path}/0/rollback")
    assert rolled.status == 200 and rolled.json() == {"revision": 2}
    assert server.request("GET", f"{path}/2/diff?base=1").json()["diff"] == [
        {"op": "remove", "path": "/chain/Extra"}]
    assert server.request("POST", f"{path}/9/rollback").status == 404
    assert "Extra" not in server.request("GET", f"/v1/executions/{execution_id}/graph").json()["mermaid"]


@pytest.mark.slow
def test_a_restarted_server_resumes_what_a_killed_one_left_running(tmp_path):
    first = start_server(tmp_path)
    execution_id = first.start(CHAIN.replace("seconds: 0.01", "seconds: 2"))
    deadline = time.monotonic() + 30
    while "Rest" not in (first.request("GET", f"/v1/executions/{execution_id}").json()["operational"] or {}).get("nodes", {}):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.process.kill()  # kill -9 while the tool call is in flight
    first.process.wait()
    second = start_server(tmp_path)
    try:
        done = second.wait_for(execution_id, "completed", "failed")
    finally:
        stop(second)
    assert done["status"] == "completed", done["error"]
    assert done["operational"]["nodes"] == {"First": 1, "Rest": 1, "Last": 1}  # nothing ran twice
    assert done["context"]["rest"] == "rested"


def test_openapi_page_lists_the_routes(server):
    assert server.request("GET", "/docs").status == 200
    spec = server.request("GET", "/openapi.json").json()
    assert {"/v1/executions", "/v1/executions/{execution_id}/events",
            "/v1/executions/{execution_id}/signals"} <= set(spec["paths"])
