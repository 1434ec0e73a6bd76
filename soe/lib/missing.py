"""The sentinel a journal lookup returns when nothing was recorded (SPEC §15 "Durability").

It lives below both the engine and the storage backends: a durable store
returns it from ``journal_get`` and the runner compares against it, so neither
has to import the other.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MISSING"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
