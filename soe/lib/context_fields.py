"""History lists: every non-``__`` context field keeps all values ever written.

Reading a field means reading its last value; ``__``-prefixed keys hold raw
values. These helpers are the one definition of that model (SPEC §3.1).
"""

from __future__ import annotations

from typing import Any

__all__ = ["get_accumulated", "get_field", "is_internal", "set_field", "unwrapped_view", "wrap_context"]


def is_internal(field: str) -> bool:
    """``__``-prefixed keys are engine state, stored raw and never wrapped."""
    return field.startswith("__")


def set_field(ctx: dict[str, Any], field: str, value: Any) -> None:
    """Append ``value`` to ``field``'s history (or set a ``__`` key); mutates ``ctx``."""
    if is_internal(field):
        ctx[field] = value
        return
    history = ctx.get(field)
    if isinstance(history, list):
        history.append(value)
    else:
        ctx[field] = [value]


def get_field(ctx: dict[str, Any], field: str) -> Any:
    """The current (last) value of ``field``, or ``None``."""
    if is_internal(field):
        return ctx.get(field)
    history = ctx.get(field)
    if history is None:
        return None
    return history[-1] if history else None


def get_accumulated(ctx: dict[str, Any], field: str) -> list[Any]:
    """All values of ``field``; a single list entry is unpacked (SPEC §3.1)."""
    history = ctx.get(field)
    if not history:
        return []
    if len(history) == 1 and isinstance(history[0], list):
        return list(history[0])
    return list(history)


def unwrapped_view(ctx: dict[str, Any]) -> dict[str, Any]:
    """What templates see as ``context``: last values, and ``__`` keys raw."""
    return {key: (value if is_internal(key) else get_field(ctx, key)) for key, value in ctx.items()}


def wrap_context(initial: dict[str, Any]) -> dict[str, Any]:
    """Turn an initial context into stored form: each plain field becomes ``[value]``."""
    return {key: (value if is_internal(key) else [value]) for key, value in initial.items()}
