"""Two plain Python tools for ``examples/agent_tools.yaml``: ``--tools examples/tools.py:TOOLS``.

An agent knows a tool by its function name and builds the arguments model from
its signature and docstring, so each tool has real type hints (no
``from __future__ import annotations``: the hints must be typing objects, not
strings) and a docstring the model reads.
"""

import re
from collections import Counter

__all__ = ["TOOLS", "count_words", "top_words"]

_WORD = re.compile(r"[A-Za-z']+")


def count_words(text: str) -> int:
    """How many words the text has."""
    return len(_WORD.findall(text))


def top_words(text: str, n: int = 3) -> list:
    """The n most frequent words of the text, most frequent first (ties in order of appearance)."""
    counts = Counter(word.lower() for word in _WORD.findall(text))
    return [word for word, _ in counts.most_common(int(n))]


TOOLS = {"count_words": count_words, "top_words": top_words}
