"""Tools for the worker tests: each call marks its start and end in ``$SOE_TEST_SIDE_EFFECTS`` (its side effect)."""

from __future__ import annotations

import os
import time


def _mark(line: str) -> None:
    with open(os.environ["SOE_TEST_SIDE_EFFECTS"], "a", encoding="utf-8") as log:
        log.write(line + "\n")


def step(tag: str, n: int = 0, pause: float = 0.0) -> dict:
    """Mark ``start tag n PID``, pause, mark ``end tag n PID`` (the side effect), answer the next arguments.

    The start mark without its end shows an attempt that was cut off (its
    process killed); the process id says which worker made the attempt.
    """
    _mark(f"start {tag} {n} {os.getpid()}")
    time.sleep(pause)
    _mark(f"end {tag} {n} {os.getpid()}")
    return {"tag": tag, "n": n + 1, "pause": pause}


def attempts(path: str) -> dict[tuple[str, int], list[tuple[str, int]]]:
    """``(tag, n)`` -> its marks in order: ``("start" | "end", pid)``."""
    found: dict[tuple[str, int], list[tuple[str, int]]] = {}
    with open(path, encoding="utf-8") as log:
        for line in log.read().splitlines():
            mark, tag, n, pid = line.split()
            found.setdefault((tag, int(n)), []).append((mark, int(pid)))
    return found


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
