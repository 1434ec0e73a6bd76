"""Render fuzz-corpus templates, each in a forked child with a memory and CPU cap.

usage: template_fuzz_driver.py < cases.json > outcomes.json

Reads ``[{"id": ..., "template": ...}, ...]`` and writes one outcome per case:
``{"id", "kind", "detail"}`` where ``kind`` is ``ok``, ``render_error`` (with the
limit named, if any), ``security_error``, ``other_error``, ``killed`` (over the
wall-clock cap) or ``crashed`` (the child died: out of memory, a signal...).
Forking after the import keeps each case cheap and each cap per case.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys
import time

from soe import TemplateRenderError, TemplateSecurityError
from soe.lib.template_limits import TemplateLimits, template_limits
from soe.lib.templating import render_template

MEMORY_CAP = 400 * 1024 * 1024  # bytes of address space per case, on top of nothing: set in the child
CPU_SECONDS = 5
WALL_SECONDS = 8
LIMITS = TemplateLimits(max_template_output=100_000, max_template_ms=500)
CONTEXT = {"context": {"user": "ana", "items": list(range(50)), "nested": {"a": {"b": [1, 2, 3]}},
                       "text": "hello world " * 10}}


def _child(template: str, write_fd: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    try:
        with template_limits(LIMITS):
            text = render_template(template, CONTEXT, node_name="Fuzz", field="prompt")
        outcome = {"kind": "ok", "detail": len(text)}
    except TemplateSecurityError as exc:
        outcome = {"kind": "security_error", "detail": str(exc)[:300]}
    except TemplateRenderError as exc:
        outcome = {"kind": "render_error", "detail": str(exc)[:300], "limit": exc.limit}
    except BaseException as exc:  # noqa: BLE001 - reported, the test decides
        outcome = {"kind": "other_error", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    os.write(write_fd, json.dumps(outcome).encode())
    os._exit(0)


def run_case(template: str) -> dict:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(template, write_fd)
    os.close(write_fd)
    deadline = time.monotonic() + WALL_SECONDS
    chunks = []
    while True:
        ready, _, _ = select.select([read_fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_fd)
            return {"kind": "killed", "detail": f"still running after {WALL_SECONDS} s"}
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        return {"kind": "crashed", "detail": f"wait status {status}"}
    return json.loads(b"".join(chunks))


def main() -> None:
    cases = json.load(sys.stdin)
    outcomes = [{"id": case["id"], **run_case(case["template"])} for case in cases]
    json.dump(outcomes, sys.stdout)


if __name__ == "__main__":
    main()
