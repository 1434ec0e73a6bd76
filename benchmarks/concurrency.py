"""Fan-out of K LLM calls that each take 0.1 s, with max_concurrency = K.

Prints wall time / 0.1 s (1.0 would be perfect overlap).
Usage: .venv/bin/python benchmarks/concurrency.py [K ...]
"""

from __future__ import annotations

import statistics
import sys
import time

from _common import print_table, timed

from soe import create_all_nodes, orchestrate
from soe.local_backends import create_in_memory_backends

LATENCY = 0.1
CONFIG = {
    "parent": {"Fan": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "ask",
                       "child_initial_signals": ["START"], "fan_out_field": "questions",
                       "child_input_field": "question", "context_updates_to_parent": ["answer"]}},
    "ask": {"Ask": {"node_type": "llm", "event_triggers": ["START"], "prompt": "Answer {{ context.question }}",
                    "output_field": "answer"}},
}


def slow_llm(messages: list[dict], response_model: type) -> str:
    time.sleep(LATENCY)
    return '{"answer": "42"}'


def run(k: int) -> float:
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, call_llm=slow_llm)
    seconds = timed(lambda: orchestrate(CONFIG, "parent", ["START"], {"questions": list(range(k))}, backends,
                                        broadcast, max_concurrency=k, execution_id="fan"))
    assert len(backends.context.get_context("fan")["answer"]) == k
    return seconds


def main() -> None:
    sizes = [int(x) for x in sys.argv[1:]] or [4, 16, 64]
    rows = []
    for k in sizes:
        samples = [run(k) for _ in range(5)]
        best, median = min(samples), statistics.median(samples)
        rows.append([k, f"{median:.3f}", f"{median / LATENCY:.2f}", f"{best / LATENCY:.2f}"])
    print_table("SOE concurrent fan-out (K LLM calls of 0.1 s, max_concurrency = K, in-memory; 5 runs)",
                ["K", "median wall s", "median wall/latency", "best wall/latency"], rows)


if __name__ == "__main__":
    main()
