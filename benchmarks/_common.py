"""Helpers shared by the benchmark scripts: workflows and a table printer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def router_chain(length: int) -> dict[str, Any]:
    """N distinct router nodes, each emitting the signal the next one listens for."""
    workflow = {}
    for i in range(length):
        emit = f"S{i + 1}" if i + 1 < length else "DONE"
        workflow[f"N{i}"] = {"node_type": "router", "event_triggers": [f"S{i}"],
                             "event_emissions": [{"signal_name": emit}]}
    return {"chain": workflow}


def counter_loop() -> dict[str, Any]:
    """A tool increments a counter; a router with Jinja conditions loops until a target."""
    return {"loop": {
        "Count": {"node_type": "tool", "tool_name": "inc", "event_triggers": ["START", "AGAIN"],
                  "parameters": {"n": "{{ context.n }}"}, "output_field": "n",
                  "event_emissions": [{"signal_name": "CHECK"}]},
        "Check": {"node_type": "router", "event_triggers": ["CHECK"], "event_emissions": [
            {"signal_name": "AGAIN", "condition": "{{ context.n | int < context.target }}"},
            {"signal_name": "DONE", "condition": "{{ context.n | int >= context.target }}"}]},
    }}


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=True)))
