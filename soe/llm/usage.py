"""Token usage reported by a ``call_llm`` while the engine invokes it (SPEC §16.2).

The accumulator is bound to a context variable only for the duration of one
invocation, so ``report_usage`` needs no handle passed through the user's
callable and is a harmless no-op anywhere else (tests, scripts, other threads).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["Usage", "collect_usage", "report_usage"]


@dataclass
class Usage:
    """What one ``call_llm`` invocation reported; several reports add up."""

    reported: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens, the quantity ``max_tokens`` limits."""
        return self.prompt_tokens + self.completion_tokens

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Add one report; locked because an adapter may report from worker threads."""
        with self._lock:
            self.reported = True
            self.prompt_tokens += int(prompt_tokens)
            self.completion_tokens += int(completion_tokens)


_current: ContextVar[Usage | None] = ContextVar("soe_llm_usage", default=None)


def report_usage(prompt_tokens: int, completion_tokens: int) -> None:
    """Record tokens spent by the current ``call_llm`` invocation (no-op outside one)."""
    usage = _current.get()
    if usage is not None:
        usage.add(prompt_tokens, completion_tokens)


@contextmanager
def collect_usage() -> Iterator[Usage]:
    """Bind a fresh accumulator around one ``call_llm`` invocation and yield it."""
    usage = Usage()
    token = _current.set(usage)
    try:
        yield usage
    finally:
        _current.reset(token)
