"""Refusing ids that would escape a backend's base folder (SPEC §11.4).

Execution ids and history keys become file names; one containing a separator,
``..`` or NUL could read or overwrite files elsewhere, and an empty or ``.`` id
names no file of its own, so such ids are rejected before any file is touched.
"""

from __future__ import annotations

import os

__all__ = ["check_id"]

_FORBIDDEN = tuple(sep for sep in {"/", "\\", os.sep, os.altsep, "..", "\0"} if sep)


def check_id(value: str) -> str:
    """Return ``value`` unchanged if it is safe as a file-name stem, else raise.

    Raises:
        TypeError: ``value`` is not a string.
        ValueError: empty, ``.``, or containing a path separator, ``..`` or NUL.
    """
    if not isinstance(value, str):
        raise TypeError(f"Invalid id {value!r}: ids must be strings, got {type(value).__name__}")
    if value.strip() in ("", "."):
        raise ValueError(f"Invalid id '{value}': must not be empty, blank or '.'")
    if any(part in value for part in _FORBIDDEN) or os.path.isabs(value):
        raise ValueError(f"Invalid id '{value}': must not contain path separators, '..', or NUL")
    return value
