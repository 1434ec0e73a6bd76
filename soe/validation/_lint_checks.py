"""The lint checks behind ``soe.validation.lint`` (one function per concern).

Each check takes the ``Model`` of a config that already passed §13 validation
and yields ``Finding``s; none of them stops at the first problem. Signals are
scoped per workflow, as at run time: an execution only runs its own
workflow's listeners, children start with ``child_initial_signals`` and send
back only ``signals_to_parent`` (§4.2, §4.3).
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from soe.lib.recent import RecentMap
from soe.validation.graph import emissions_of, is_signal, listeners, unconditional
from soe.validation.yaml_nodes import node_position, value_at, walk_path

__all__ = [
    "CODES",
    "Finding",
    "Model",
    "Severity",
    "Site",
    "check_children",
    "check_loops",
    "check_unheard_signals",
    "check_unreachable_triggers",
    "check_yaml_booleans",
    "suggest",
]

Severity = Literal["error", "warning", "info"]
Site = tuple[Any, ...]

CODES = {
    "SOE001": "invalid config (fails §13 validation; no other check runs)",
    "SOE002": "signal emitted but no node listens for it",
    "SOE003": "trigger that nothing emits and that is not an initial signal",
    "SOE004": "child workflow that does not exist",
    "SOE005": "signals_to_parent signal the parent workflow never listens to",
    "SOE006": "unguarded loop: a signal cycle nothing can stop",
    "SOE007": "YAML 1.1 boolean used as a signal name",
    "SOE008": "child node event_emissions (never emitted, Q9)",
    "SOE009": "template reads a context field nothing writes",
    "SOE010": "condition template that does not compile (the emission never fires)",
    "SOE011": "condition with template syntax that is not Jinja per §6.1 (read as plain text)",
    "SOE012": "unknown key (a node, emission or top-level key nothing reads; often a misspelling)",
}

_TERMINAL = frozenset({"DONE", "COMPLETE", "COMPLETED", "FINISHED", "END", "SUCCESS", "FAILED",
                       "ERROR"})
_TERMINAL_PARTS = ("DONE", "COMPLETE", "FINISH", "FAIL")
_REGISTRY_TOOLS = frozenset({"soe_inject_workflow", "soe_inject_node", "soe_add_signal",
                             "soe_remove_node", "soe_remove_workflow"})


@dataclass(frozen=True)
class Finding:
    """One lint result; ``line``/``column`` are 1-based, ``None`` when there is no YAML text."""

    code: str
    severity: Severity
    workflow: str | None
    node: str | None
    message: str
    hint: str
    line: int | None = None
    column: int | None = None

    def format(self, filename: str = "<config>") -> str:
        """``<file>:<line>:<col>: <severity> <code> [<workflow>/<node>] <message> (fix: <hint>)``."""
        place = f"{filename}:{self.line}:{self.column}" if self.line is not None else filename
        scope = "/".join(str(part) for part in (self.workflow, self.node) if part is not None)
        scope = f" [{scope}]" if scope else ""
        return f"{place}: {self.severity} {self.code}{scope} {self.message} (fix: {self.hint})"

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class Model:
    """A valid config's workflows plus how it is started and where its YAML nodes are."""

    workflows: Mapping[Any, Mapping[Any, Any]]
    initial_signals: tuple[Any, ...]
    initial_fields: frozenset[str]
    root: Any = None
    prefix: tuple[Any, ...] = ()
    top_level_keys: tuple[Any, ...] = ()
    external_signals: frozenset[str] = frozenset()  # declared in the config: sent from outside

    def nodes(self, workflow: Any = None) -> Iterator[tuple[Any, Any, Mapping[str, Any]]]:
        """``(workflow, node name, node)`` for mapping nodes (one workflow, or all)."""
        for wf, nodes_ in self.workflows.items():
            if workflow is None or wf == workflow:
                yield from ((wf, n, c) for n, c in nodes_.items() if isinstance(c, Mapping))

    def children(self) -> Iterator[tuple[Any, Any, Mapping[str, Any]]]:
        """``(workflow, node name, node)`` of every child node."""
        return ((wf, n, c) for wf, n, c in self.nodes() if c.get("node_type") == "child")

    def starters(self, workflow: Any) -> list[tuple[Any, Any, Mapping[str, Any]]]:
        """Child nodes (anywhere) that start ``workflow`` (indexed once: checks ask per node and signal)."""
        cache = self.__dict__.get("_starters_cache")
        if cache is None:
            cache = self.__dict__["_starters_cache"] = {}
            for child in self.children():
                target = child[2].get("child_workflow_name")
                if isinstance(target, Hashable):
                    cache.setdefault(target, []).append(child)
        return list(cache.get(workflow, [])) if isinstance(workflow, Hashable) else []

    def listeners(self, workflow: Any, signal: Any) -> list[Any]:
        """Node names in workflow order whose ``event_triggers`` contain ``signal`` (indexed per workflow)."""
        cache = self.__dict__.setdefault("_listeners_cache", {})
        index: dict[Any, list[Any]] | None = cache.get(workflow)
        if index is None:
            index = {}
            cache[workflow] = index
            for _, name, node in self.nodes(workflow):
                for trigger in dict.fromkeys(s for s in _list(node.get("event_triggers")) if is_signal(s)):
                    index.setdefault(trigger, []).append(name)
        return list(index.get(signal, [])) if is_signal(signal) else listeners(self.workflows[workflow], signal)

    def uses_tools(self, workflow: Any, names: frozenset[str]) -> bool:
        """Whether a tool node or agent in ``workflow`` may call one of ``names``.

        Built-ins that rewrite the registry or the context defeat static analysis.
        """
        return not names.isdisjoint(self._tools_of(workflow))

    def _tools_of(self, workflow: Any) -> frozenset[str]:
        """Every tool name ``workflow``'s nodes may call (computed once: checks ask per node)."""
        cache: dict[Any, frozenset[str]] = self.__dict__.setdefault("_tools_cache", {})
        if workflow not in cache:
            cache[workflow] = frozenset(
                t for _, _, node in self.nodes(workflow)
                for t in [node.get("tool_name"), *_list(node.get("tools"))] if isinstance(t, str))
        return cache[workflow]

    def heard(self, workflow: Any) -> frozenset[Any]:
        """The signals some node of ``workflow`` listens for (computed once per workflow)."""
        cache: dict[Any, frozenset[Any]] = self.__dict__.setdefault("_heard_cache", {})
        if workflow not in cache:
            cache[workflow] = frozenset(s for _, _, n in self.nodes(workflow)
                                        for s in _list(n.get("event_triggers")) if is_signal(s))
        return cache[workflow]

    def finding(self, code: str, severity: Severity, site: Site, message: str,
                hint: str, *, at_value: bool = False) -> Finding:
        """A finding at ``site`` = ``(workflow, node, key, ...)``, located in the YAML text.

        A key is pointed at by its key node unless ``at_value`` asks for the value.
        """
        line = column = None
        path = [*self.prefix, *site]
        target = (value_at if at_value else walk_path)(self.root, path) if self.root is not None else None
        if target is not None:
            line, column = node_position(target)
        node = str(site[1]) if len(site) > 1 else None
        return Finding(code, severity, str(site[0]), node, message, hint, line, column)


# (name, id of the candidates) -> (the candidates, the suggestion); holding them keeps the id theirs
_SUGGESTED: RecentMap[tuple[str, int], tuple[Any, str]] = RecentMap(10_000)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def suggest(name: Any, candidates: Iterable[Any]) -> str:
    """`` (did you mean 'X'?)`` for a close spelling, else nothing.

    Comparing a name with every candidate is slow, and a large config asks
    again and again about the same name (a field read by a thousand prompts)
    against the same candidates, so answers are remembered per candidate object.
    """
    key = (str(name), id(candidates))
    known = _SUGGESTED.get(key)
    if known is not None and known[0] is candidates:
        return known[1]
    close = difflib.get_close_matches(key[0], [str(c) for c in candidates], n=1)
    text = f" (did you mean '{close[0]}'?)" if close else ""
    _SUGGESTED.put(key, (candidates, text))
    return text


def _terminal(signal: Any) -> bool:
    name = str(signal).upper()
    return name in _TERMINAL or any(part in name for part in _TERMINAL_PARTS)


def _emission_site(wf: Any, name: Any, emission: Any) -> Site:
    if emission.index is None:
        return (wf, name, "llm_failure_signal")
    return (wf, name, "event_emissions", emission.index, "signal_name")


# --------------------------------------------------------------------------- signals


def check_unheard_signals(model: Model) -> Iterator[Finding]:
    """SOE002: an emitted signal no listener hears is dead wiring, or a typo of one that is."""
    for wf, name, node in model.nodes():
        dynamic = model.uses_tools(wf, _REGISTRY_TOOLS)
        for emission in emissions_of(node):
            signal = emission.signal
            if not is_signal(signal) or signal in model.heard(wf):
                continue
            parents = [p for p, _, c in model.starters(wf) if signal in _list(c.get("signals_to_parent"))]
            if any(signal in model.heard(p) for p in parents):
                continue
            quiet = bool(parents) or _terminal(signal) or dynamic
            hint = ("nothing needed if it only marks the end; otherwise add a listener"
                    if quiet else f"add a node with event_triggers: [{signal}]"
                    + suggest(signal, model.heard(wf)))
            yield model.finding("SOE002", "info" if quiet else "warning",
                                _emission_site(wf, name, emission),
                                f"signal '{signal}' is emitted but no node in workflow '{wf}' "
                                "listens for it", hint, at_value=True)


def _reachable(model: Model, wf: Any) -> set[Any]:
    """Signals that can be broadcast in ``wf``: emissions, children's, initial, child-start and
    declared external ones."""
    found = [e.signal for _, _, n in model.nodes(wf) for e in emissions_of(n)]
    found += [s for _, _, n in model.nodes(wf) if n.get("node_type") == "child"
              for s in _list(n.get("signals_to_parent"))]
    found += list(model.initial_signals)
    found += list(model.external_signals)
    found += [s for _, _, c in model.starters(wf) for s in _list(c.get("child_initial_signals"))]
    return {s for s in found if is_signal(s)}


def check_unreachable_triggers(model: Model) -> Iterator[Finding]:
    """SOE003: a trigger nothing emits never fires; if all are dead the node never runs."""
    for wf in model.workflows:
        reachable = _reachable(model, wf)
        dynamic = model.uses_tools(wf, _REGISTRY_TOOLS)
        for _, name, node in model.nodes(wf):
            triggers = _list(node.get("event_triggers"))
            dead = [i for i, s in enumerate(triggers) if is_signal(s) and s not in reachable]
            for index in dead:
                yield _dead_trigger(model, (wf, name, "event_triggers", index), triggers[index],
                                    len(dead) == len(triggers), reachable, dynamic)


def _dead_trigger(model: Model, site: Site, signal: Any, node_dead: bool,
                  reachable: set[Any], dynamic: bool) -> Finding:
    failure = "FAIL" in str(signal).upper()
    message = f"trigger '{signal}' is never emitted in workflow '{site[0]}'"
    if failure:
        message += " by a node (a tool's failure_signal may emit it; not known statically)"
    elif node_dead:
        message += f"; node '{site[1]}' can never run"
    hint = (f"emit '{signal}' from a node or pass it as an initial signal"
            + suggest(signal, reachable))
    return model.finding("SOE003", "info" if failure or dynamic else "warning", site, message, hint)


# --------------------------------------------------------------------------- children


def check_children(model: Model) -> Iterator[Finding]:
    """SOE004/SOE005/SOE008: child wiring the engine accepts but that cannot work as written."""
    for wf, name, node in model.children():
        target = node.get("child_workflow_name")
        if target not in model.workflows:
            yield model.finding("SOE004", "error", (wf, name, "child_workflow_name"),
                                f"child workflow '{target}' does not exist",
                                f"define workflow '{target}' or use one of "
                                f"{[str(w) for w in model.workflows]}" + suggest(target, model.workflows),
                                at_value=True)
        for index, signal in enumerate(_list(node.get("signals_to_parent"))):
            if is_signal(signal) and not model.listeners(wf, signal):
                yield model.finding("SOE005", "warning", (wf, name, "signals_to_parent", index),
                                    f"signal '{signal}' is sent to parent workflow '{wf}', "
                                    "which never listens for it",
                                    f"add a node in '{wf}' with event_triggers: [{signal}], "
                                    "or drop it from signals_to_parent")
        if node.get("event_emissions"):
            yield model.finding("SOE008", "warning", (wf, name, "event_emissions"),
                                "child node event_emissions are validated but never emitted (Q9)",
                                "list the child's signals in signals_to_parent and listen "
                                "for them in this workflow")


# --------------------------------------------------------------------------- loops


def _loop_edges(model: Model, wf: Any) -> dict[Any, list[tuple[Any, Any]]]:
    """``node -> [(listener, signal)]`` over emissions that always fire (see ``unconditional``)."""
    edges: dict[Any, list[tuple[Any, Any]]] = {}
    for _, name, node in model.nodes(wf):
        for emission in emissions_of(node):
            if is_signal(emission.signal) and unconditional(node, emission):
                for target in model.listeners(wf, emission.signal):
                    edges.setdefault(name, []).append((target, emission.signal))
    return edges


def _cycle_from(start: Any, edges: dict[Any, list[tuple[Any, Any]]]) -> list[tuple[Any, Any]] | None:
    """The shortest cycle through ``start`` as ``[(node, signal it emits), ...]`` (BFS)."""
    queue: list[tuple[Any, list[tuple[Any, Any]]]] = [(start, [])]
    seen = {start}
    while queue:
        current, path = queue.pop(0)
        for target, signal in edges.get(current, []):
            step = [*path, (current, signal)]
            if target == start:
                return step
            if target not in seen:
                seen.add(target)
                queue.append((target, step))
    return None


def check_loops(model: Model) -> Iterator[Finding]:
    """SOE006: a cycle of always-fired emissions runs until the step budget stops it (§15)."""
    for wf in model.workflows:
        edges = _loop_edges(model, wf)
        reported: set[Any] = set()
        for name in model.workflows[wf]:
            if name in reported:
                continue
            cycle = _cycle_from(name, edges)
            if cycle is None:
                continue
            reported.update(node for node, _ in cycle)
            text = " -> ".join(f"{node} ({signal})" for node, signal in cycle) + f" -> {name}"
            yield model.finding("SOE006", "warning", (wf, name),
                                f"unguarded loop: {text}; every emission on it always fires",
                                "add a Jinja condition that can turn false on one emission, or "
                                "let an LLM/agent choose among several signals")


# --------------------------------------------------------------------------- YAML booleans


def _signal_sites(wf: Any, name: Any, node: Mapping[str, Any]) -> Iterator[tuple[Site, Any]]:
    """Every place in a node that holds a signal name, with its parsed value."""
    for key in ("event_triggers", "child_initial_signals", "signals_to_parent"):
        for index, value in enumerate(_list(node.get(key))):
            yield (wf, name, key, index), value
    for index, item in enumerate(_list(node.get("event_emissions"))):
        if isinstance(item, Mapping) and "signal_name" in item:
            yield (wf, name, "event_emissions", index, "signal_name"), item["signal_name"]
    if "llm_failure_signal" in node:
        yield (wf, name, "llm_failure_signal"), node["llm_failure_signal"]


def check_yaml_booleans(model: Model) -> Iterator[Finding]:
    """SOE007: ``NO``/``YES``/``ON``/``OFF`` unquoted are booleans in YAML 1.1 (Q1)."""
    for wf, name, node in model.nodes():
        for site, value in _signal_sites(wf, name, node):
            if isinstance(value, bool):
                scalar = value_at(model.root, [*model.prefix, *site])
                token = scalar.value if scalar is not None else str(value)
                yield model.finding("SOE007", "warning", site,
                                    f"signal name {token} is read as the boolean {value} (YAML 1.1)",
                                    f"quote it: \"{token}\"", at_value=True)
