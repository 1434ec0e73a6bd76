"""Tools for the worker tests: each call appends a line to ``$SOE_TEST_SIDE_EFFECTS`` (its side effect)."""

from __future__ import annotations

import os
import time


def step(tag: str, n: int = 0, pause: float = 0.0) -> dict:
    """Record ``tag n`` in the side-effect file, then answer the next step's arguments."""
    time.sleep(pause)
    with open(os.environ["SOE_TEST_SIDE_EFFECTS"], "a", encoding="utf-8") as log:
        log.write(f"{tag} {n}\n")
    return {"tag": tag, "n": n + 1, "pause": pause}


TOOLS = {"step": step}


def chain(steps: int) -> str:
    """A workflow of ``steps`` tool nodes, each feeding the next its arguments."""
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
