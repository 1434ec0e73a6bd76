"""What the engine remembers in process about trees stays bounded."""

from __future__ import annotations

from soe.lib.recent import RecentMap


def test_oldest_entries_go_first_and_a_write_renews_an_entry():
    recent: RecentMap[str, int] = RecentMap(3)
    for key, value in [("a", 1), ("b", 2), ("c", 3)]:
        recent.put(key, value)
    recent.put("a", 10)  # a is now the newest
    recent.put("d", 4)
    assert recent.get("b") is None
    assert [recent.get(k) for k in "acd"] == [10, 3, 4]
    assert recent.values() == [3, 10, 4] and len(recent) == 3


def test_tree_limits_usage_and_statuses_are_bounded():
    from soe.engine import limits, status, usage

    for remembered in (limits._TREE_LIMITS, usage._USAGE, status._IN_PROCESS):
        assert isinstance(remembered, RecentMap) and remembered._capacity == 100_000
