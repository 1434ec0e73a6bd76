"""How values become the JSON text stored in SQLite, and back.

JSON data (dicts with string keys, lists, strings, numbers, booleans, ``None``)
round-trips exactly. Anything else is stored through ``default=str`` — the file
backends' rule — so a stray object never aborts a run, but it comes back as its
string (tuples come back as lists and non-string dict keys as strings, as with
any JSON store). Text is compact and UTF-8 (``ensure_ascii=False``) to keep the
file small; a string holding a lone surrogate, which UTF-8 cannot carry, falls
back to ASCII escapes so it still round-trips.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

__all__ = ["decode", "decode_many", "encode"]

_SEPARATORS = (",", ":")


def encode(value: Any) -> str:
    """JSON text for ``value``: exact for JSON data, ``str()`` for anything else."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=_SEPARATORS)
    except TypeError:
        text = json.dumps(value, ensure_ascii=False, separators=_SEPARATORS, default=str)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(value, separators=_SEPARATORS, default=str)
    return text


def decode(text: str) -> Any:
    """The value stored as ``text``; always a fresh object."""
    return json.loads(text)


def decode_many(texts: Iterable[str]) -> list[Any]:
    """Decode a run of stored values with one parser call (a 10,000-entry history is one parse)."""
    return cast("list[Any]", json.loads("[" + ",".join(texts) + "]"))
