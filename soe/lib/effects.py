"""Effects: what node code asks its runner to wait for.

Node handlers that wait (LLM, agent and tool nodes, delayed child starts) are
generators. The code between two ``yield``\\ s is a *transition*: it reads and
writes state and must not block. A yielded :class:`Wait` is the only thing
that may take time; the runner decides where it runs (inline, on a worker
thread, as a Temporal activity), journals its result, and sends the result
back — or throws the exception the wait raised. Because waits are values, the
same handler runs sequentially, concurrently and durably without knowing which.

This module is deliberately tiny and pure: it imports nothing from SOE, so
the LLM layer, node types and engine can all depend on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

__all__ = ["Steps", "Wait", "journal_value", "run_inline"]

T = TypeVar("T")


def journal_value(value: Any) -> Any:
    """``value`` as JSON-able data, or raise ``TypeError``/``ValueError`` if it is not."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump(mode="json")
    json.dumps(value)
    return value


def _encode_plain(value: Any) -> dict[str, Any] | None:
    try:
        return {"value": journal_value(value)}
    except (TypeError, ValueError):
        return None  # not journaled: the call runs again if its activation is replayed


def _decode_plain(record: dict[str, Any]) -> Any:
    return record["value"]


@dataclass(frozen=True, eq=False)
class Wait:
    """Something slow to wait for, run outside every state transition.

    ``kind`` names the journal namespace (``"llm"``, ``"tool"``, ``"delay"``).
    ``encode`` turns a result into a JSON-able journal record (``None``: do not
    journal it); ``decode`` turns a record back into the result. A wait with
    ``journaled=False`` (a delay) is simply repeated on replay. ``attributes``
    describe the call to a tracer (``gen_ai.*`` names, see ``soe.otel``).
    """

    kind: str
    call: Callable[[], Any]
    journaled: bool = True
    encode: Callable[[Any], dict[str, Any] | None] = _encode_plain
    decode: Callable[[dict[str, Any]], Any] = _decode_plain
    attributes: Mapping[str, Any] = field(default_factory=dict)


Steps = Generator[Wait, Any, T]


def run_inline(steps: Steps[T]) -> T:
    """Drive ``steps`` with every wait performed at once in this thread.

    This is how a node caller behaves when called directly (outside a runner):
    exactly the upstream synchronous call.
    """
    try:
        wait = next(steps)
        while True:
            try:
                result = wait.call()
            except Exception as exc:  # handed to the node, as if the call had raised there
                wait = steps.throw(exc)
            else:
                wait = steps.send(result)
    except StopIteration as stop:
        return cast("T", stop.value)
