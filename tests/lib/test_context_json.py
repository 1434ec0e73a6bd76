"""The prompt's context string is exactly ``json.dumps(fields, indent=2)`` (SPEC §7.2)."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest

from soe.lib.history import HistoryPrefix
from soe.lib.jinja_render import context_json


class _Text(str):
    pass


CASES: list[dict[str, Any]] = [
    {},
    {"empty_list": [], "empty_dict": {}},
    {"ticket": ["outage in region 1"]},
    {"x": [{"a": 1, "b": [1, 2.5, None, True, {}]}, 'é\n"q', -0.0, 1e300, 10**30, float("inf"), float("nan")]},
    {"int_keys": {1: "one", "b": (1, 2)}, "nested": {"deep": {"d": [[], [{}]]}}},
    {"escapes": "\u2028 \x00 \t", "subclass": _Text("x"), "flag": False},
]


@pytest.mark.parametrize("fields", CASES)
def test_same_text_as_the_standard_encoder(fields: dict[str, Any]) -> None:
    assert context_json(fields) == json.dumps(fields, indent=2)


def test_a_snapshot_history_is_written_as_the_list_it_shows() -> None:
    fields = {"h": HistoryPrefix([1, 2, 3], 2), "inner": {"h": HistoryPrefix(["a"], 1)}}
    assert context_json(fields) == json.dumps({"h": [1, 2], "inner": {"h": ["a"]}}, indent=2)


def test_an_unserializable_value_raises_as_json_does() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        context_json({"o": object()})


def test_leaves_no_reference_cycles() -> None:
    """The standard encoder with an indent builds closures that only the GC frees."""
    gc.collect()
    gc.disable()
    try:
        context_json({"ticket": ["a", {"b": [1, 2.5]}]})
        assert gc.collect() == 0
    finally:
        gc.enable()
