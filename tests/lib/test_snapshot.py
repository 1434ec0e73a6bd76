"""Read-only registry snapshots and the fast JSON-like deep copy."""

from __future__ import annotations

import copy
import json
import pickle
import re

import pytest

from soe.lib.snapshot import FrozenDict, FrozenList, fast_copy, freeze, thaw

READ_ONLY = re.escape("registry snapshots are read-only; copy.deepcopy() one before changing it")
DATA = {"main": {"A": {"event_triggers": ["S"], "event_emissions": [{"signal_name": "D"}],
                       "pair": (1, [2])}},
        "n": 1, "f": 1.5, "b": True, "none": None}


def _all_plain(value) -> bool:
    if isinstance(value, dict):
        return type(value) is dict and all(_all_plain(v) for v in value.values())
    if isinstance(value, list):
        return type(value) is list and all(_all_plain(v) for v in value)
    if isinstance(value, tuple):
        return all(_all_plain(v) for v in value)
    return True


def _containers(value, found=None):
    found = set() if found is None else found
    if isinstance(value, (dict, list, tuple)):
        found.add(id(value))
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, found)
    return found


def test_freeze_converts_recursively_and_compares_equal():
    frozen = freeze(DATA)
    assert type(frozen) is FrozenDict
    assert type(frozen["main"]["A"]) is FrozenDict
    assert type(frozen["main"]["A"]["event_triggers"]) is FrozenList
    assert type(frozen["main"]["A"]["event_emissions"][0]) is FrozenDict
    assert type(frozen["main"]["A"]["pair"]) is tuple
    assert type(frozen["main"]["A"]["pair"][1]) is FrozenList
    assert frozen == DATA
    assert DATA == frozen
    assert frozen["main"]["A"]["event_triggers"] == ["S"]
    assert isinstance(frozen, dict) and isinstance(frozen["main"]["A"]["event_triggers"], list)


def test_freeze_of_frozen_is_identity_and_subtrees_are_reused():
    frozen = freeze(DATA)
    assert freeze(frozen) is frozen
    rebuilt = freeze({"main": frozen["main"], "other": []})
    assert rebuilt["main"] is frozen["main"]
    assert freeze(frozen["main"]["A"]["event_triggers"]) is frozen["main"]["A"]["event_triggers"]


def test_freeze_keeps_scalars():
    for value in ("s", 1, 1.5, True, None):
        assert freeze(value) is value


DICT_MUTATIONS = [
    lambda d: d.__setitem__("x", 1),
    lambda d: d.__delitem__("n"),
    lambda d: d.update({"x": 1}),
    lambda d: d.update(x=1),
    lambda d: d.pop("n"),
    lambda d: d.pop("missing", None),
    lambda d: d.popitem(),
    lambda d: d.clear(),
    lambda d: d.setdefault("x", 1),
    lambda d: d.__ior__({"x": 1}),
]


@pytest.mark.parametrize("mutate", DICT_MUTATIONS)
def test_every_dict_mutation_is_refused(mutate):
    frozen = freeze(DATA)
    with pytest.raises(TypeError, match=READ_ONLY):
        mutate(frozen)
    assert frozen == DATA


def test_dict_operators_are_refused():
    frozen = freeze(DATA)
    with pytest.raises(TypeError, match=READ_ONLY):
        frozen["x"] = 1
    with pytest.raises(TypeError, match=READ_ONLY):
        del frozen["n"]
    with pytest.raises(TypeError, match=READ_ONLY):
        frozen |= {"x": 1}
    assert frozen == DATA


LIST_MUTATIONS = [
    lambda items: items.append(1),
    lambda items: items.extend([1]),
    lambda items: items.insert(0, 1),
    lambda items: items.remove("a"),
    lambda items: items.pop(),
    lambda items: items.clear(),
    lambda items: items.sort(),
    lambda items: items.reverse(),
    lambda items: items.__setitem__(0, "z"),
    lambda items: items.__setitem__(slice(0, 1), ["z"]),
    lambda items: items.__delitem__(0),
    lambda items: items.__iadd__([1]),
    lambda items: items.__imul__(2),
]


@pytest.mark.parametrize("mutate", LIST_MUTATIONS)
def test_every_list_mutation_is_refused(mutate):
    frozen = freeze(["b", "a"])
    with pytest.raises(TypeError, match=READ_ONLY):
        mutate(frozen)
    assert frozen == ["b", "a"]


def test_list_operators_are_refused():
    frozen = freeze({"items": ["a"]})
    items = frozen["items"]
    with pytest.raises(TypeError, match=READ_ONLY):
        items += ["b"]
    with pytest.raises(TypeError, match=READ_ONLY):
        items *= 2
    with pytest.raises(TypeError, match=READ_ONLY):
        del items[0]
    assert frozen == {"items": ["a"]}


def test_non_mutating_operations_return_plain_values():
    frozen = freeze({"items": ["a"], "k": 1})
    assert type(frozen | {"x": 1}) is dict
    assert type(frozen.copy()) is dict
    assert type(frozen["items"] + ["b"]) is list
    assert frozen["items"][:] == ["a"]


def test_deepcopy_is_fully_plain_and_mutable():
    frozen = freeze(DATA)
    copied = copy.deepcopy(frozen)
    assert copied == DATA
    assert _all_plain(copied)
    copied["main"]["A"]["event_triggers"].append("T")
    assert frozen["main"]["A"]["event_triggers"] == ["S"]
    inside = copy.deepcopy({"registry": frozen})
    assert _all_plain(inside) and inside == {"registry": DATA}


def test_shallow_copy_is_a_plain_container_of_frozen_children():
    frozen = freeze(DATA)
    copied = copy.copy(frozen)
    assert type(copied) is dict
    copied["x"] = 1
    assert "x" not in frozen
    assert copied["main"] is frozen["main"]
    listed = copy.copy(frozen["main"]["A"]["event_triggers"])
    assert type(listed) is list and listed == ["S"]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trips_to_plain_data(protocol):
    frozen = freeze(DATA)
    loaded = pickle.loads(pickle.dumps(frozen, protocol=protocol))
    assert loaded == DATA
    assert _all_plain(loaded)


def test_json_dumps_matches_plain_data():
    data = {"main": {"A": {"event_triggers": ["S"]}}, "n": 1}
    assert json.dumps(freeze(data), indent=2) == json.dumps(data, indent=2)
    assert json.dumps(freeze(data)) == '{"main": {"A": {"event_triggers": ["S"]}}, "n": 1}'


def test_thaw_returns_a_plain_independent_copy():
    frozen = freeze(DATA)
    thawed = thaw(frozen)
    assert thawed == DATA and _all_plain(thawed)
    assert not _containers(thawed) & _containers(frozen)
    thawed["main"]["A"]["pair"][1].append(3)
    assert frozen["main"]["A"]["pair"] == (1, [2])


def test_fast_copy_shares_no_container():
    data = {"a": [1, {"b": [2, 3]}], "t": ([4],), "s": "x"}
    copied = fast_copy(data)
    assert copied == data
    assert not _containers(copied) & _containers(data)
    copied["a"][1]["b"].append(9)
    assert data == {"a": [1, {"b": [2, 3]}], "t": ([4],), "s": "x"}


class _Box:
    def __init__(self, items: list) -> None:
        self.items = items


def test_fast_copy_deep_copies_other_objects():
    box = _Box([1])
    copied = fast_copy({"box": box})
    assert copied["box"] is not box
    copied["box"].items.append(2)
    assert box.items == [1]


def test_fast_copy_keeps_dict_subclasses_through_deepcopy():
    from collections import OrderedDict

    ordered = OrderedDict(a=[1])
    copied = fast_copy(ordered)
    assert type(copied) is OrderedDict and copied == ordered
    copied["a"].append(2)
    assert ordered == OrderedDict(a=[1])
