"""A finished small execution is freed by reference counting: it leaves no cycles for the GC.

At thousands of executions per second, cyclic garbage (a runner referring to
itself, an encoder's closures) is collected by full GC passes whose cost grows
with everything the process keeps, which the throughput benchmark shows.
"""

from __future__ import annotations

import gc
from typing import Any

from soe import create_all_nodes, orchestrate
from soe.local_backends import create_in_memory_backends

CONFIG = """
main:
  Ask:
    node_type: llm
    event_triggers: [START]
    prompt: "Classify {{ context.ticket }}"
    output_field: label
    event_emissions:
      - signal_name: DONE
  Route:
    node_type: router
    event_triggers: [DONE]
    event_emissions:
      - signal_name: FILED
        condition: "{{ context.label == 'urgent' }}"
  File:
    node_type: tool
    tool_name: file_ticket
    event_triggers: [FILED]
    parameters:
      ticket: "{{ context.ticket }}"
    output_field: ticket_id
"""


def _stub_llm(messages: list[dict[str, Any]], response_model: type) -> str:
    return '{"label": "urgent"}'


def test_an_llm_router_tool_execution_leaves_no_cyclic_garbage() -> None:
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, call_llm=_stub_llm,
                                    tools_registry={"file_ticket": lambda ticket: len(ticket)})

    def run() -> str:
        return orchestrate(CONFIG, "main", ["START"], {"ticket": "outage"}, backends, broadcast)

    run()  # compiles templates and fills the process's caches
    gc.collect()
    gc.disable()
    try:
        execution_id = run()
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert backends.context.get_context(execution_id)["ticket_id"] == [6]
