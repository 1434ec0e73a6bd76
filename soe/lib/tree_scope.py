"""Whether built-in tools may reach executions outside their own tree.

SPEC keeps ``soe_copy_context`` and ``soe_list_contexts`` store-wide. A
service that runs many users' trees in one store turns confinement on, with
``create_all_nodes(..., confine_builtin_tools=True)`` or the ``limits`` key
``confine_builtin_tools``; both set this flag for the calls they cover.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["builtins_confined", "confine_builtins"]

_CONFINED: ContextVar[bool] = ContextVar("soe_builtins_confined", default=False)


@contextmanager
def confine_builtins(enabled: bool = True) -> Iterator[None]:
    """Within the block, built-ins see only their own execution tree (when ``enabled``)."""
    if not enabled:
        yield
        return
    token = _CONFINED.set(True)
    try:
        yield
    finally:
        _CONFINED.reset(token)


def builtins_confined() -> bool:
    """Whether the running built-in must stay within its own execution tree."""
    return _CONFINED.get()
