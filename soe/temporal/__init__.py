"""Running SOE on Temporal (extra ``temporal``): trees as workflows, calls as activities.

``Runner(client, task_queue=...)`` is what ``orchestrate``/``aorchestrate``
accept as ``runner=``; ``run_worker(...)`` serves a task queue. See the
"Scaling out" chapter of the guide (``soe/docs/guide_25_scaling_out.md``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Runner", "connect", "run_worker"]

_EXTRA = "The Temporal runner needs the temporal extra: pip install -e '.[temporal]'"


def __getattr__(name: str) -> Any:
    """Import Temporal only when asked for, with an install hint when it is missing."""
    if name not in __all__:
        raise AttributeError(f"module 'soe.temporal' has no attribute '{name}'")
    try:
        if name == "run_worker":
            from soe.temporal.worker import run_worker as value
        else:
            from soe.temporal import client

            value = getattr(client, name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("temporalio"):
            raise ModuleNotFoundError(_EXTRA, name=exc.name) from None
        raise
    return value
