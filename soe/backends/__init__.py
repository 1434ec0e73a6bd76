"""Built-in storage backends: in-memory (tests, single process) and local files.

The public entry points live in :mod:`soe.local_backends`; this package holds
the implementations and the helpers they share (id checks, read-only snapshots).
"""

from __future__ import annotations

__all__: list[str] = []
