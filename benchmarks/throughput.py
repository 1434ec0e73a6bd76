"""Small executions per second: LLM stub -> router with a Jinja condition -> tool.

Sequential, then 8 at a time on threads sharing one set of in-memory backends.
Usage: .venv/bin/python benchmarks/throughput.py [COUNT]
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from _common import print_table, timed

from soe import create_all_nodes, orchestrate
from soe.local_backends import create_in_memory_backends

CONFIG = """
triage:
  Classify:
    node_type: llm
    event_triggers: [START]
    prompt: "Classify this ticket: {{ context.ticket }}"
    output_field: label
    event_emissions:
      - signal_name: CLASSIFIED
  Route:
    node_type: router
    event_triggers: [CLASSIFIED]
    event_emissions:
      - signal_name: URGENT
        condition: "{{ context.label == 'urgent' }}"
      - signal_name: NORMAL
        condition: "{{ context.label != 'urgent' }}"
  File:
    node_type: tool
    tool_name: file_ticket
    event_triggers: [URGENT, NORMAL]
    parameters:
      ticket: "{{ context.ticket }}"
      label: "{{ context.label }}"
    output_field: ticket_id
"""


def stub_llm(messages: list[dict], response_model: type) -> str:
    return '{"label": "urgent"}' if "outage" in messages[0]["content"] else '{"label": "normal"}'


def file_ticket(ticket: str, label: str) -> str:
    return f"{label}:{len(ticket)}"


def make_runner():
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, call_llm=stub_llm, tools_registry={"file_ticket": file_ticket})

    def one(i: int) -> tuple[str, str]:
        ticket = f"outage in region {i}" if i % 2 else f"question {i}"
        eid = orchestrate(CONFIG, "triage", ["START"], {"ticket": ticket}, backends, broadcast)
        return eid, ticket

    return backends, one


def check(backends, results: list[tuple[str, str]]) -> None:
    """Concurrent runs must not see each other's state."""
    for eid, ticket in results:
        ctx = backends.context.get_context(eid)
        label = "urgent" if "outage" in ticket else "normal"
        assert ctx["ticket"] == [ticket] and ctx["label"] == [label], eid
        assert ctx["ticket_id"] == [f"{label}:{len(ticket)}"], eid


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    make_runner()[1](0)  # warm caches: parse, validate, compile once per process
    rows = []
    backends, one = make_runner()
    results: list[tuple[str, str]] = []
    seconds = timed(lambda: results.extend(one(i) for i in range(count)))
    check(backends, results)
    rows.append(["sequential", count, f"{seconds:.2f}", f"{count / seconds:,.0f}"])
    backends, one = make_runner()
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded: list[tuple[str, str]] = []
        seconds = timed(lambda: threaded.extend(pool.map(one, range(count))))
    check(backends, threaded)
    rows.append(["8 threads", count, f"{seconds:.2f}", f"{count / seconds:,.0f}"])
    print_table("SOE throughput (LLM stub -> Jinja router -> tool, in-memory backends)",
                ["mode", "executions", "seconds", "executions/s"], rows)


if __name__ == "__main__":
    main()
