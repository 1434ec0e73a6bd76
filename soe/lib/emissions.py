"""How a node's ``event_emissions`` are read (SPEC §6): shared by the node types and validation.

Whether a condition is a Jinja template, and which emission mode an LLM or
agent node is in, decide both what a node does at run time and what the
graph checks can know statically, so both read it from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from soe.lib.templating import is_jinja_condition

__all__ = ["EmissionMode", "condition_of", "emission_mode", "is_jinja"]

EmissionMode = Literal["jinja", "select", "single", "none"]


def condition_of(emission: Mapping[str, Any]) -> Any:
    """The emission's ``condition`` (absent is ``None``)."""
    return emission.get("condition")


def is_jinja(condition: Any) -> bool:
    """A string condition written as a Jinja template (the other strings are LLM-facing text)."""
    return isinstance(condition, str) and is_jinja_condition(condition)


def emission_mode(emissions: Sequence[Mapping[str, Any]] | None) -> EmissionMode:
    """How an LLM or agent node emits: Jinja conditions, LLM selection, one signal, or none."""
    if not emissions:
        return "none"
    if any(is_jinja(condition_of(e)) for e in emissions):
        return "jinja"
    return "select" if len(emissions) > 1 else "single"
