"""The router node (SPEC §5.1, §6.1-§6.4, §12.2, Q14, Q15)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import events, run

from soe import TemplateSecurityError, create_all_nodes, orchestrate


def router(*emissions: Any, triggers: list[str] | None = None) -> dict:
    """A router node; each emission is a signal name or a ``(signal, condition)`` pair."""
    items = [{"signal_name": e} if isinstance(e, str) else {"signal_name": e[0], "condition": e[1]}
             for e in emissions]
    return {"node_type": "router", "event_triggers": triggers or ["START"], "event_emissions": items}


def emitted(backends: Any, eid: str) -> list[str]:
    """The signals broadcast after the initial START."""
    signals = backends.context.get_context(eid)["__operational__"]["signals"]
    assert signals[0] == "START"
    return signals[1:]


def run_router(backends: Any, *emissions: Any, context: dict | None = None) -> list[str]:
    eid = run({"wf": {"R": router(*emissions)}}, backends, context=context)
    return emitted(backends, eid)


def with_history(backends: Any, first: dict, *later: dict, config: dict) -> str:
    """Run ``config`` on a context whose histories got ``first`` then each of ``later`` appended.

    Histories are built through context inheritance (§4.1 step 10): each later
    mapping is merged into a copy of the previous execution's context.
    """
    seed = {"seed": {"Idle": router("NOPE", triggers=["NEVER"])}}
    source = run(seed, backends, workflow="seed", signals=["NOTHING"], context=first)
    for extra in later[:-1]:
        source = run(seed, backends, workflow="seed", signals=["NOTHING"], context=extra,
                     inherit_context_from_id=source)
    last = later[-1] if later else {}
    _, broadcast = create_all_nodes(backends)
    return orchestrate(config, "wf", ["START"], last, backends, broadcast, inherit_context_from_id=source)


# --- emitting every passing emission ----------------------------------------------------------


def test_every_passing_emission_is_emitted_in_declaration_order_as_one_broadcast(backends):
    eid = run({"wf": {"R": router("A", ("B", "{{ false }}"), ("C", "{{ context.x == 1 }}"), "D",
                                  ("E", "{{ true }}"))}}, backends, context={"x": 1})
    assert emitted(backends, eid) == ["A", "C", "D", "E"]
    broadcasts = [e["context"]["signals"] for e in events(backends, eid, "signals_broadcast")]
    assert broadcasts == [["START"], ["A", "C", "D", "E"]]


def test_duplicate_signal_names_are_kept(backends):
    assert run_router(backends, "X", ("X", "{{ 1 }}"), "Y", "X") == ["X", "X", "Y", "X"]


def test_no_passing_emission_broadcasts_nothing(backends):
    eid = run({"wf": {"R": router(("A", "{{ false }}"), ("B", "{{ 0 }}"))}}, backends)
    assert emitted(backends, eid) == []
    assert [e["context"]["signals"] for e in events(backends, eid, "signals_broadcast")] == [["START"]]


def test_passing_signals_trigger_listeners(backends):
    config = {"wf": {
        "R": router(("LEFT", "{{ context.side == 'left' }}"), ("RIGHT", "{{ context.side == 'right' }}")),
        "Left": router("LEFT_DONE", triggers=["LEFT"]),
        "Right": router("RIGHT_DONE", triggers=["RIGHT"]),
    }}
    eid = run(config, backends, context={"side": "right"})
    assert emitted(backends, eid) == ["RIGHT", "RIGHT_DONE"]
    assert backends.context.get_context(eid)["__operational__"]["nodes"] == {"R": 1, "Right": 1}


# --- Jinja detection (§6.1) --------------------------------------------------------------------


@pytest.mark.parametrize("condition", [
    "The user seems happy",             # plain text
    "{% if false %}x{% endif %}",       # {% %}-only is plain text
    "{% if context.missing %}{% endif %}",
    "{{ false\n}}",                     # {{ and }} on different lines: plain text (Q14)
    "{{\nnone }}",
    "",                                 # empty condition is "none"
])
def test_non_jinja_conditions_are_emitted_unconditionally(backends, condition):
    assert run_router(backends, ("SIG", condition)) == ["SIG"]


def test_condition_key_other_than_condition_is_ignored(backends):
    eid = run({"wf": {"R": {"node_type": "router", "event_triggers": ["START"],
                            "event_emissions": [{"signal_name": "A", "when": "{{ false }}"}]}}}, backends)
    assert emitted(backends, eid) == ["A"]


def test_the_whole_rendered_line_is_tested(backends):
    # Text around {{ }} is part of the rendering; several expressions join up.
    signals = run_router(backends, ("TEXT", "prefix {{ '' }}"), ("JOINED", "{{ 'fal' }}{{ 'se' }}"),
                         ("PADDED", "   {{ 'x' }}   "), ("BLANK", "  {{ '' }}  "))
    assert signals == ["TEXT", "PADDED"]


# --- truthiness of rendered conditions (Q14) --------------------------------------------------


@pytest.mark.parametrize("condition", [
    "{{ false }}", "{{ False }}", "{{ 'FALSE' }}", "{{ '  false  ' }}",
    "{{ 0 }}", "{{ '0' }}", "{{ ' 0 ' }}",
    "{{ none }}", "{{ None }}", "{{ 'NoNe' }}",
    "{{ '' }}", "{{ '   ' }}", "{{ context.missing }}", "{{ 1 > 2 }}",
])
def test_falsy_renderings_fail(backends, condition):
    assert run_router(backends, ("SIG", condition)) == []


@pytest.mark.parametrize("condition", [
    "{{ [] }}", "{{ {} }}", "{{ 'no' }}", "{{ 'off' }}", "{{ 0.0 }}", "{{ '00' }}",
    "{{ 'falsey' }}", "{{ true }}", "{{ 1 }}", "{{ -1 }}", "{{ 'anything' }}", "{{ 2 > 1 }}",
])
def test_other_renderings_pass(backends, condition):
    assert run_router(backends, ("SIG", condition)) == ["SIG"]


@pytest.mark.parametrize("broken", [
    "{{ 1 / 0 }}",                       # ZeroDivisionError
    "{{ context.missing.attr }}",        # UndefinedError
    "{{ context.text > 3 }}",            # TypeError (str > int)
    "{{ context.text | int(base=2) + [] }}",
])
def test_a_condition_that_fails_to_render_fails_only_its_own_emission(backends, broken):
    eid = run({"wf": {"R": router("BEFORE", ("BROKEN", broken), ("AFTER", "{{ true }}"))}}, backends,
              context={"text": "abc"})
    assert emitted(backends, eid) == ["BEFORE", "AFTER"]
    assert events(backends, eid, "node_error") == []
    assert backends.context.get_context(eid)["__operational__"]["errors"] == 0


def test_sandbox_violation_in_a_condition_raises(backends):
    config = {"wf": {"R": router("A", ("B", "{{ ''.__class__ }}"))}}
    with pytest.raises(TemplateSecurityError) as caught:
        run(config, backends)
    assert caught.value.node_name == "R"
    assert caught.value.field == "event_emissions[1].condition"
    assert str(caught.value).startswith("Unsafe template in node 'R', event_emissions[1].condition: ")


# --- the context seen by conditions (§3.1, §6.2) ---------------------------------------------


def test_conditions_see_the_last_value_of_each_history(backends):
    config = {"wf": {"R": router(("LAST", "{{ context.x == 'second' }}"), ("FIRST", "{{ context.x == 'first' }}"),
                                 ("LIST", "{{ context.items_ == [1, 2] }}"))}}
    eid = with_history(backends, {"x": "first", "items_": [1, 2]}, {"x": "second"}, config=config)
    assert emitted(backends, eid) == ["LAST", "LIST"]


def test_context_items_is_the_dict_method_and_subscript_reads_the_field(backends):
    signals = run_router(backends,
                         ("ATTR_IS_LIST", "{{ context.items == [1, 2] }}"),
                         ("ATTR_IS_METHOD", "{{ context.items is callable }}"),
                         ("SUBSCRIPT", "{{ context['items'] == [1, 2] }}"),
                         ("GET", "{{ context.get('items') == [1, 2] }}"),
                         context={"items": [1, 2]})
    assert signals == ["ATTR_IS_METHOD", "SUBSCRIPT", "GET"]


def test_operational_is_reachable_from_conditions(backends):
    signals = run_router(backends,
                         ("COUNTED", "{{ context.__operational__.nodes.R == 1 }}"),
                         ("SIGNALS", "{{ context.__operational__.signals == ['START'] }}"),
                         ("RAW", "{{ context.__meta == {'k': 1} }}"),
                         context={"__meta": {"k": 1}})
    assert signals == ["COUNTED", "SIGNALS", "RAW"]


def test_router_never_writes_the_context(backends):
    class Spy:
        def __init__(self, inner):
            self.inner = inner
            self.writes: list[tuple[str, Any]] = []

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def save_context(self, execution_id, context):
            self.writes.append(("save_context", {k: v for k, v in context.items() if k != "__operational__"}))
            self.inner.save_context(execution_id, context)

        def append_to_field(self, execution_id, field, value):
            self.writes.append(("append_to_field", field))
            self.inner.append_to_field(execution_id, field, value)

    spy = Spy(backends.context)
    backends.context = spy
    config = {"wf": {"R1": router("NEXT", ("ALSO", "{{ true }}")), "R2": router("END", triggers=["NEXT"])}}
    eid = run(config, backends, context={"user": "ana", "__meta": 1})
    assert spy.writes[0] == ("save_context", {"user": ["ana"], "__meta": 1})
    assert all(write == spy.writes[0] for write in spy.writes if write[0] == "save_context")
    assert not [w for w in spy.writes if w[0] == "append_to_field"]
    stored = spy.inner.get_context(eid)
    assert {k: v for k, v in stored.items() if k != "__operational__"} == {"user": ["ana"], "__meta": 1}


# --- the accumulated filter (§6.4, Q15) --------------------------------------------------------


def test_accumulated_single_list_entry_is_unpacked(backends):
    signals = run_router(backends,
                         ("THREE", "{{ context.results | accumulated | length >= 3 }}"),
                         ("EXACT", "{{ (context.results | accumulated) == [1, 2, 3] }}"),
                         context={"results": [1, 2, 3]})
    assert signals == ["THREE", "EXACT"]


def test_accumulated_returns_the_whole_history(backends):
    config = {"wf": {"R": router(
        ("WHOLE", "{{ (context.draft | accumulated) == ['a', 'b', 'c'] }}"),
        ("LISTS", "{{ (context.batch | accumulated) == [[1], [2, 3]] }}"),
        ("SCALAR", "{{ (context.once | accumulated) == ['only'] }}"),
        ("JOIN", "{{ (context.draft | accumulated | join(',')) == 'a,b,c' }}"),
    )}}
    eid = with_history(backends, {"draft": "a", "batch": [1], "once": "only"}, {"draft": "b", "batch": [2, 3]},
                       {"draft": "c"}, config=config)
    assert emitted(backends, eid) == ["WHOLE", "LISTS", "SCALAR", "JOIN"]


def test_accumulated_matches_by_value_first_field_wins(backends):
    # a's history is ['x', 'same'], b's is ['same']: b | accumulated finds a first (Q15).
    config = {"wf": {"R": router(
        ("A_HISTORY", "{{ (context.b | accumulated) == ['x', 'same'] }}"),
        ("B_HISTORY", "{{ (context.b | accumulated) == ['same'] }}"),
    )}}
    eid = with_history(backends, {"a": "x"}, {"a": "same", "b": "same"}, config=config)
    assert backends.context.get_context(eid)["a"] == ["x", "same"]
    assert backends.context.get_context(eid)["b"] == ["same"]
    assert emitted(backends, eid) == ["A_HISTORY"]


def test_accumulated_of_a_literal_searches_the_context(backends):
    # A literal is a value like any other: it must not be constant-folded at compile time.
    config = {"wf": {"R": router(("LITERAL", "{{ ('lit_same' | accumulated) == ['x', 'lit_same'] }}"))}}
    eid = with_history(backends, {"a": "x"}, {"a": "lit_same"}, config=config)
    assert emitted(backends, eid) == ["LITERAL"]


def test_accumulated_matches_only_the_last_value(backends):
    config = {"wf": {"R": router(("OLD", "{{ ('x' | accumulated) == ['x'] }}"))}}
    eid = with_history(backends, {"a": "x"}, {"a": "y"}, config=config)
    # 'x' is in a's history but not its last value: not found, so [value]
    assert emitted(backends, eid) == ["OLD"]


def test_accumulated_skips_double_underscore_keys(backends):
    signals = run_router(backends,
                         ("FIELD", "{{ ('v' | accumulated) == ['w', 'v'] }}"),
                         context={"__raw": ["w", "v"], "other": "z"})
    assert signals == []  # __raw is skipped; no field ends with 'v' -> ['v']
    signals = run_router(backends, ("FALLBACK", "{{ ('v' | accumulated) == ['v'] }}"),
                         context={"__raw": ["w", "v"]})
    assert signals == ["FALLBACK"]


def test_accumulated_fallbacks(backends):
    signals = run_router(backends,
                         ("VALUE", "{{ ('zzz' | accumulated) == ['zzz'] }}"),
                         ("NONE", "{{ (none | accumulated) == [] }}"),
                         ("NUMBER", "{{ (7 | accumulated) == [7] }}"),
                         ("UNKNOWN", "{{ ((context.x ~ '!') | accumulated) == ['present!'] }}"),
                         context={"x": "present"})
    assert signals == ["VALUE", "NONE", "NUMBER", "UNKNOWN"]


def test_accumulated_of_none_finds_a_field_whose_last_value_is_none(backends):
    signals = run_router(backends,
                         ("FOUND", "{{ (context.empty | accumulated) == [None] }}"),
                         ("MISSING", "{{ (context.missing | accumulated) == [] }}"),
                         context={"x": "present", "empty": None})
    # context.missing is Undefined (not None): not found -> [Undefined], which is not []
    assert signals == ["FOUND"]


# --- telemetry (§12.2) ------------------------------------------------------------------------


def test_router_telemetry_sequence(backends):
    eid = run({"wf": {"R": router("A", ("B", "{{ false }}"), "C")}}, backends)
    sequence = [(e["event_type"], e["context"]) for e in events(backends, eid)]
    assert sequence == [
        ("orchestration_start", {"workflow_name": "wf"}),
        ("signals_broadcast", {"signals": ["START"]}),
        ("node_execution", {"node_name": "R", "node_type": "router"}),
        ("node_execution", {"node_type": "router"}),
        ("signals_broadcast", {"signals": ["A", "C"]}),
    ]
    assert all(e["timestamp"].endswith("Z") for e in events(backends, eid))
    op = backends.context.get_context(eid)["__operational__"]
    assert op == {"signals": ["START", "A", "C"], "nodes": {"R": 1}, "llm_calls": 0, "tool_calls": 0,
                  "errors": 0, "main_execution_id": eid}


def test_router_called_directly_without_name(backends):
    nodes, broadcast = create_all_nodes(backends)
    eid = run({"wf": {"Idle": router("NOPE", triggers=["NEVER"])}}, backends, signals=["NOTHING"])
    nodes["router"](eid, {"node_type": "router", "event_triggers": ["X"],
                          "event_emissions": [{"signal_name": "DIRECT"}]})
    assert backends.context.get_context(eid)["__operational__"]["signals"] == ["NOTHING", "DIRECT"]
    tail = [(e["event_type"], e["context"]) for e in events(backends, eid)][-2:]
    assert tail == [("node_execution", {"node_type": "router"}), ("signals_broadcast", {"signals": ["DIRECT"]})]
