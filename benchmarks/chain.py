"""Milliseconds per step for long chains and loops (issue: core engine figures).

Usage: .venv/bin/python benchmarks/chain.py [--quick]
"""

from __future__ import annotations

import sys
import tempfile

from _common import counter_loop, print_table, router_chain, timed

from soe import create_all_nodes, orchestrate
from soe.local_backends import create_in_memory_backends, create_local_backends


def run_chain(length: int, backends) -> float:
    _, broadcast = create_all_nodes(backends)
    config = router_chain(length)
    return timed(lambda: orchestrate(config, "chain", ["S0"], {}, backends, broadcast,
                                     max_steps=length + 1))


def run_loop(iterations: int, backends) -> float:
    _, broadcast = create_all_nodes(backends, tools_registry={"inc": lambda n: int(n) + 1})
    return timed(lambda: orchestrate(counter_loop(), "loop", ["START"], {"n": 0, "target": iterations},
                                     backends, broadcast, max_steps=2 * iterations + 1))


def main() -> None:
    quick = "--quick" in sys.argv
    chains = [200, 1_000, 10_000] if quick else [200, 1_000, 10_000, 100_000]
    loops = [100, 1_000] if quick else [100, 1_000, 20_000]
    rows = []
    base = None
    for n in chains:
        seconds = run_chain(n, create_in_memory_backends())
        per_step = seconds * 1000 / n
        base = base or per_step
        rows.append(["router chain", "memory", n, f"{seconds:.2f}", f"{per_step:.3f}", f"{per_step / base:.2f}"])
    loop_base = None
    for m in loops:
        seconds = run_loop(m, create_in_memory_backends())
        per_step = seconds * 1000 / (2 * m)
        loop_base = loop_base or per_step
        rows.append(["tool/router loop", "memory", m, f"{seconds:.2f}", f"{per_step:.3f}",
                     f"{per_step / loop_base:.2f}"])
    file_base = None
    for n in [200, 1_000]:
        with tempfile.TemporaryDirectory() as tmp:
            seconds = run_chain(n, create_local_backends(tmp))
        per_step = seconds * 1000 / n
        file_base = file_base or per_step
        rows.append(["router chain", "files", n, f"{seconds:.2f}", f"{per_step:.3f}", f"{per_step / file_base:.2f}"])
    print_table("SOE chain benchmark (ms per node run; ratio vs the smallest size of the same kind)",
                ["workload", "backend", "N", "total s", "ms/step", "ratio"], rows)


if __name__ == "__main__":
    main()
