"""One value model for every backend, checked before anything is written (issue 13, item 6)."""

from __future__ import annotations

import datetime
import enum
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest

from soe import create_all_nodes, get_execution_status, orchestrate
from soe.backends.sqlite import create_sqlite_backends
from soe.lib.values import MAX_VALUE_DEPTH, storable
from soe.local_backends import create_in_memory_backends, create_local_backends
from soe.types import StoreError


class Colour(enum.Enum):
    RED = "red"


@dataclass
class Point:
    x: int
    tags: frozenset


RICH = {"when": datetime.datetime(2024, 5, 1, 12, 30), "day": datetime.date(2024, 5, 1),
        "took": datetime.timedelta(seconds=90), "tags": {"b", "a"}, "pair": (1, 2), "price": Decimal("1.10"),
        "id": uuid.UUID(int=1), "colour": Colour.RED, "point": Point(3, frozenset({2, 1})), 7: "seven",
        None: "null key", "nested": [{"t": (True, None)}]}
STORED = {"when": "2024-05-01T12:30:00", "day": "2024-05-01", "took": 90.0, "tags": ["a", "b"], "pair": [1, 2],
          "price": "1.10", "id": "00000000-0000-0000-0000-000000000001", "colour": "red",
          "point": {"x": 3, "tags": [1, 2]}, "7": "seven", "null": "null key", "nested": [{"t": [True, None]}]}


def test_documented_conversions():
    assert storable(RICH) == STORED


def _cycle() -> list:
    loop: list = [1]
    loop.append(loop)
    return loop


@pytest.mark.parametrize("value, message", [
    (_cycle(), "Cannot store the result at [1]: the value contains itself (a reference cycle)"),
    ({(1, 2): "x"}, "Cannot store the result: a dict key of type 'tuple' ((1, 2)); keys must be text"),
    ({"n": 10 ** 5000}, "Cannot store the result at ['n']: an integer with more than 4300 digits"),
    ([object()], "Cannot store the result at [0]: a value of type 'object' has no stored form (use JSON data: "
                 "dicts, lists, text, numbers, booleans, None)"),
])
def test_unstorable_values_are_refused_with_their_path(value, message):
    with pytest.raises(StoreError) as info:
        storable(value, what="the result")
    assert str(info.value) == message


def test_depth_is_bounded_without_recursion_errors():
    deep: list = []
    for _ in range(MAX_VALUE_DEPTH + 10):
        deep = [deep]
    with pytest.raises(StoreError, match=f"nested more than {MAX_VALUE_DEPTH} levels deep"):
        storable(deep)


TOOL = {"wf": {"Make": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "make",
                        "output_field": "made", "event_emissions": [{"signal_name": "MADE"}]}}}


@pytest.fixture(params=["memory", "files", "sqlite"])
def any_backends(request, tmp_path):
    if request.param == "memory":
        return create_in_memory_backends()
    if request.param == "files":
        return create_local_backends(str(tmp_path / "files"))
    return create_sqlite_backends(tmp_path / "soe.db")


def _run(backends, make, context=None) -> str:
    _, broadcast = create_all_nodes(backends, tools_registry={"make": make})
    return orchestrate(config=TOOL, initial_workflow_name="wf", initial_signals=["START"],
                       initial_context=context or {}, backends=backends, broadcast_signals_caller=broadcast)


def test_every_backend_stores_the_same_converted_values(any_backends):
    eid = _run(any_backends, lambda: RICH, {"started": datetime.date(2024, 1, 2), "ids": {3, 1}})
    context = any_backends.context.get_context(eid)
    assert context["made"] == [STORED]
    assert context["started"] == ["2024-01-02"]
    assert context["ids"] == [[1, 3]]


def test_an_unstorable_tool_result_fails_the_run_before_anything_is_written(any_backends):
    calls = []

    def make():
        calls.append(1)
        return {"loop": _cycle()}

    _, broadcast = create_all_nodes(any_backends, tools_registry={"make": make})
    with pytest.raises(StoreError, match=r"Cannot store .* at \['loop'\]\[1\]: the value contains itself"):
        orchestrate(config=TOOL, initial_workflow_name="wf", initial_signals=["START"], initial_context={},
                    backends=any_backends, broadcast_signals_caller=broadcast, execution_id="e1")
    assert calls == [1]
    assert "made" not in any_backends.context.get_context("e1")
    status = get_execution_status("e1", any_backends)
    assert status is None or status["status"] == "failed"


def test_unstorable_initial_context_is_refused(any_backends):
    with pytest.raises(StoreError, match=r"Cannot store initial_context at \['x'\]: a value of type 'object'"):
        _run(any_backends, lambda: 1, {"x": object()})


@pytest.mark.slow
def test_size_is_bounded():
    from soe.lib.values import MAX_VALUE_ITEMS

    assert len(storable(list(range(MAX_VALUE_ITEMS - 1)))) == MAX_VALUE_ITEMS - 1
    with pytest.raises(StoreError, match=f"^Cannot store value: more than {MAX_VALUE_ITEMS} values in all$"):
        storable([list(range(1000))] * (MAX_VALUE_ITEMS // 1000))



class _Label(str):
    pass


def test_flat_values_are_stored_as_plain_copies():
    """Scalars and flat dicts of them skip the walk, yet come back as the walk would give them."""
    flat = {"ticket": "outage", "urgent": True, "score": 0.5, "note": None}
    stored = storable(flat)
    assert stored == flat and stored is not flat
    assert type(storable(_Label("x"))) is _Label  # a subclass of str is stored as it is (isinstance)
    assert storable({"label": _Label("x"), "n": 3, 1: "one"}) == {"label": "x", "n": 3, "1": "one"}
    with pytest.raises(StoreError, match="more than 4300 digits"):
        storable({"big": 10**5000})
