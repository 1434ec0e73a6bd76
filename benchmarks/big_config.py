"""Validation and lint of very large configs (issue 13, item 12): seconds and peak memory per MB of YAML.

Generates a config of about SIZE megabytes (workflows of 1,000 nodes: router
chains with conditions, LLM nodes with prompts, tool nodes with templated
parameters, a child node linking each workflow to the next), then runs
``soe validate`` and ``soe lint`` on it, each in a fresh process that reports
its own wall time and peak RSS. Targets: at most 2 s and 200 MB per MB.

Usage: .venv/bin/python benchmarks/big_config.py [SIZE_MB ...]   (default 1 10)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from _common import print_table

NODES_PER_WORKFLOW = 1_000
_MEASURE = """
import json, resource, sys, time
from soe.cli.app import main
sys.argv = ["soe", sys.argv[1], sys.argv[2]]
start = time.perf_counter()
try:
    main()
except SystemExit as exit:
    code = exit.code
seconds = time.perf_counter() - start
print(json.dumps({"code": code, "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _node(workflow: int, i: int) -> dict[str, Any]:
    """Node ``i`` of a chain; a child node (no emissions, Q9) is a side branch the next node skips."""
    kind = i % 4
    trigger = f"S{i - 1}" if kind == 0 and i > 0 else f"S{i}"
    base: dict[str, Any] = {"event_triggers": [trigger]}
    emit = [{"signal_name": f"S{i + 1}"}]
    if kind == 0:
        return {**base, "node_type": "router",
                "event_emissions": [{"signal_name": f"S{i + 1}", "condition": "{{ context.text is defined }}"}]}
    if kind == 1:
        return {**base, "node_type": "llm", "prompt": f"Step {i}: summarise {{{{ context.text }}}}",
                "output_field": "text", "event_emissions": emit}
    if kind == 2:
        return {**base, "node_type": "tool", "tool_name": "fetch", "output_field": "url",
                "parameters": {"url": "{{ context.url }}", "page": i}, "event_emissions": emit}
    return {**base, "node_type": "child", "child_workflow_name": f"wf{workflow + 1}",
            "child_initial_signals": ["S0"]}


def generate(megabytes: float) -> str:
    """A config of about ``megabytes`` MB of YAML."""
    target = int(megabytes * 1_000_000)
    workflows: dict[str, Any] = {}
    size = 0
    while size < target:
        index = len(workflows)
        workflow = {f"N{i}": _node(index, i) for i in range(NODES_PER_WORKFLOW)}
        workflow["Last"] = {"node_type": "router", "event_triggers": [f"S{NODES_PER_WORKFLOW - 1}"],
                            "event_emissions": [{"signal_name": "DONE"}]}
        workflows[f"wf{index}"] = workflow
        size += len(yaml.safe_dump({f"wf{index}": workflow}, sort_keys=False))
    last = f"wf{len(workflows)}"
    workflows[last] = {"Only": {"node_type": "router", "event_triggers": ["S0"],
                                "event_emissions": [{"signal_name": "DONE"}]}}
    return yaml.safe_dump({"workflows": workflows}, sort_keys=False)


def measure(command: str, path: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _MEASURE, command, str(path)], capture_output=True, text=True,
                          check=False)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    sizes = [float(x) for x in sys.argv[1:]] or [1.0, 10.0]
    rows = []
    for megabytes in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "big.yaml"
            path.write_text(generate(megabytes), encoding="utf-8")
            actual = path.stat().st_size / 1_000_000
            nodes = sum(len(wf) for wf in yaml.load(path.read_text(), Loader=yaml.CSafeLoader)["workflows"].values())
            for command in ("validate", "lint"):
                result = measure(command, path)
                rows.append([f"{actual:.1f}", nodes, command, result["code"], f"{result['seconds']:.2f}",
                             f"{result['seconds'] / actual:.2f}", f"{result['peak_mb']:.0f}",
                             f"{result['peak_mb'] / actual:.0f}"])
    print_table("soe validate / soe lint on generated configs (fresh process each; peak RSS includes the "
                "interpreter)", ["MB", "nodes", "command", "exit", "s", "s/MB", "peak MB", "peak MB/MB"], rows)


if __name__ == "__main__":
    main()
