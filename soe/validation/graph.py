"""The signal graph of a config, and its Mermaid and Graphviz (DOT) renderings.

A SOE workflow is wired by signal names, not by edges, so who runs after whom
is only visible by cross-referencing every ``event_emissions`` with every
``event_triggers``. This module does that cross-reference once (the model the
linter also uses) and draws it: nodes labelled with name and type, signals as
labelled edges, a start point per workflow, each workflow as a subgraph, child
nodes pointing into their child workflow, ``signals_to_parent`` going back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from soe.lib.emissions import emission_mode, is_jinja
from soe.lib.yaml_parser import parse_yaml
from soe.validation.config import RESERVED_KEYS

__all__ = [
    "Edge",
    "Emission",
    "SignalGraph",
    "abbreviate",
    "build_graph",
    "child_nodes",
    "emissions_of",
    "extract_workflows",
    "is_signal",
    "listened_signals",
    "listeners",
    "root_workflows",
    "to_dot",
    "to_mermaid",
    "unconditional",
]

_LABEL_WIDTH = 30
_FAILURE = "failure"
_EMISSION = "emission"


@dataclass(frozen=True)
class Emission:
    """A signal a node can emit: from ``event_emissions`` (with its index) or its failure signal."""

    signal: Any
    condition: Any = None
    kind: str = _EMISSION
    index: int | None = None


@dataclass(frozen=True)
class Edge:
    """One drawn arrow between graph ids; ``dashed`` marks child and failure paths."""

    source: str
    target: str
    label: str
    dashed: bool = False


@dataclass
class SignalGraph:
    """Renderer-neutral drawing: workflow id -> ``(node id, label, node type)``, plus every edge."""

    workflows: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add_edge(self, edge: Edge) -> None:
        """Keep one arrow per (source, target, label, style): duplicates add nothing."""
        if edge not in self.edges:
            self.edges.append(edge)


# --------------------------------------------------------------------------- model


def extract_workflows(config: Any) -> dict[Any, Any]:
    """The workflow mapping of a config in either shape (§2.2); ``{}`` for anything else."""
    parsed = parse_yaml(config)
    if not isinstance(parsed, Mapping):
        return {}
    if "workflows" in parsed:
        workflows = parsed["workflows"]
        return dict(workflows) if isinstance(workflows, Mapping) else {}
    return {k: v for k, v in parsed.items() if k not in RESERVED_KEYS}


def is_signal(value: Any) -> bool:
    """A usable signal name: hashable and not a YAML 1.1 boolean (those are linted, Q1)."""
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def emissions_of(node: Mapping[str, Any]) -> list[Emission]:
    """What a node can emit: its emissions (never a child's, Q9) and ``llm_failure_signal``."""
    if node.get("node_type") == "child":
        return []
    found = [Emission(item.get("signal_name"), item.get("condition"), _EMISSION, index)
             for index, item in enumerate(_list(node.get("event_emissions")))
             if isinstance(item, Mapping)]
    failure = node.get("llm_failure_signal")
    if failure is not None:
        found.append(Emission(failure, None, _FAILURE))
    return found


def unconditional(node: Mapping[str, Any], emission: Emission) -> bool:
    """True when the node emits this signal every time it succeeds (§6.3).

    Routers and tools emit every non-Jinja emission; LLM/agent nodes do the
    same in Jinja mode and with a single emission, but in selection mode the
    model may pick nothing. Failure signals and custom node types can stop.
    """
    node_type = node.get("node_type")
    if emission.kind != _EMISSION or is_jinja(emission.condition):
        return False
    if node_type in ("router", "tool"):
        return True
    if node_type in ("llm", "agent"):
        items = [i for i in _list(node.get("event_emissions")) if isinstance(i, Mapping)]
        return emission_mode(items) in ("jinja", "single")
    return False


def listeners(workflow: Mapping[Any, Any], signal: Any) -> list[Any]:
    """Node names in workflow order whose ``event_triggers`` contain ``signal``."""
    return [name for name, node in workflow.items()
            if isinstance(node, Mapping) and signal in _list(node.get("event_triggers"))]


def listened_signals(workflow: Mapping[Any, Any] | None) -> list[Any]:
    """Every signal some node of ``workflow`` has in its ``event_triggers``, in workflow order."""
    found = [signal for node in (workflow or {}).values() if isinstance(node, Mapping)
             for signal in _list(node.get("event_triggers")) if is_signal(signal)]
    return list(dict.fromkeys(found))


def child_nodes(workflows: Mapping[Any, Any]) -> Iterator[tuple[Any, Any, Mapping[str, Any]]]:
    """``(workflow, node name, node config)`` of every child node."""
    for wf_name, workflow in workflows.items():
        if not isinstance(workflow, Mapping):
            continue
        for name, node in workflow.items():
            if isinstance(node, Mapping) and node.get("node_type") == "child":
                yield wf_name, name, node


def root_workflows(workflows: Mapping[Any, Any]) -> list[Any]:
    """Workflows no child node starts (entry points); the first workflow if every one is a child."""
    started = {node.get("child_workflow_name") for _, _, node in child_nodes(workflows)}
    roots = [name for name in workflows if name not in started]
    return roots or list(workflows)[:1]


# --------------------------------------------------------------------------- drawing


def abbreviate(text: str, width: int = _LABEL_WIDTH) -> str:
    """Whitespace collapsed, cut to ``width`` characters with an ellipsis."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= width else flat[:width] + "…"


def _edge_label(emission: Emission) -> str:
    """Signal name, plus its condition (abbreviated) or a failure marker."""
    label = str(emission.signal)
    if emission.kind == _FAILURE:
        return f"{label} (on failure)"
    if isinstance(emission.condition, str) and emission.condition.strip():
        return f"{label} if {abbreviate(emission.condition)}"
    return label


class _Ids:
    """Stable, syntax-safe ids (``w0``, ``w0_n1``): user names only ever appear in labels."""

    def __init__(self, workflows: Mapping[Any, Any]) -> None:
        self.workflow = {name: f"w{i}" for i, name in enumerate(workflows)}
        self.node = {(wf, name): f"w{i}_n{j}"
                     for i, (wf, workflow) in enumerate(workflows.items())
                     if isinstance(workflow, Mapping)
                     for j, name in enumerate(workflow)}

    def start(self, workflow: Any) -> str:
        return f"{self.workflow[workflow]}_start"

    def end(self, workflow: Any) -> str:
        return f"{self.workflow[workflow]}_end"


def _forwarded(workflows: Mapping[Any, Any], workflow: Any) -> list[tuple[Any, Any, Mapping[str, Any]]]:
    """``(parent workflow, child node name, child node)`` for child nodes that start ``workflow``."""
    return [(wf, name, node) for wf, name, node in child_nodes(workflows)
            if node.get("child_workflow_name") == workflow]


def _draw_emission(graph: SignalGraph, ids: _Ids, workflows: Mapping[Any, Any],
                   wf: Any, name: Any, emission: Emission) -> None:
    """Edges to local listeners, up to parent listeners, or to the workflow's end point."""
    source = ids.node[(wf, name)]
    label = _edge_label(emission)
    dashed = emission.kind == _FAILURE
    edges = [Edge(source, ids.node[(wf, n)], label, dashed)
             for n in listeners(workflows[wf], emission.signal)]
    for parent_wf, _, child in _forwarded(workflows, wf):
        if emission.signal in _list(child.get("signals_to_parent")):
            edges.extend(Edge(source, ids.node[(parent_wf, n)], f"{label} (to parent)", True)
                         for n in listeners(workflows[parent_wf], emission.signal))
    for edge in edges or [Edge(source, ids.end(wf), label, dashed)]:
        graph.add_edge(edge)


def _draw_starts(graph: SignalGraph, ids: _Ids, workflows: Mapping[Any, Any],
                 initial_signals: Iterable[Any]) -> None:
    """Start point -> listeners of the initial signals; child node -> the child's start point."""
    roots = root_workflows(workflows)
    for wf, workflow in workflows.items():
        starts = list(initial_signals) if wf in roots else []
        for parent_wf, name, child in _forwarded(workflows, wf):
            signals = [str(s) for s in _list(child.get("child_initial_signals"))]
            graph.add_edge(Edge(ids.node[(parent_wf, name)], ids.start(wf),
                                f"child: {', '.join(signals)}", True))
            starts.extend(_list(child.get("child_initial_signals")))
        for signal in dict.fromkeys(s for s in starts if is_signal(s)):
            for n in listeners(workflow, signal):
                graph.add_edge(Edge(ids.start(wf), ids.node[(wf, n)], str(signal)))


def build_graph(config: Any, initial_signals: Iterable[Any] = ("START",)) -> SignalGraph:
    """The drawable graph of a config (text or parsed), whatever its validity: draw what is there."""
    workflows = {k: v for k, v in extract_workflows(config).items() if isinstance(v, Mapping)}
    ids = _Ids(workflows)
    graph = SignalGraph()
    for wf, workflow in workflows.items():
        graph.titles[ids.workflow[wf]] = str(wf)
        graph.workflows[ids.workflow[wf]] = [
            (ids.node[(wf, name)], f"{name}\n({_type_of(node)})", _type_of(node))
            for name, node in workflow.items()]
        for name, node in workflow.items():
            if isinstance(node, Mapping):
                for emission in emissions_of(node):
                    if is_signal(emission.signal):
                        _draw_emission(graph, ids, workflows, wf, name, emission)
    _draw_starts(graph, ids, workflows, initial_signals)
    return graph


def _type_of(node: Any) -> str:
    node_type = node.get("node_type") if isinstance(node, Mapping) else None
    return str(node_type) if node_type else "?"


def _used(graph: SignalGraph, graph_id: str) -> bool:
    return any(graph_id in (e.source, e.target) for e in graph.edges)


# --------------------------------------------------------------------------- Mermaid

_MERMAID_SHAPES = {"router": ('{"', '"}'), "llm": ('("', '")'), "agent": ('(["', '"])'),
                   "child": ('[["', '"]]')}


def _mermaid_text(text: str) -> str:
    """Mermaid entity codes for characters that would end or confuse a quoted label."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#60;"), (">", "#62;")):
        text = text.replace(char, code)
    return text.replace("\n", "<br/>")


def _mermaid_node(graph_id: str, label: str, node_type: str) -> str:
    left, right = _MERMAID_SHAPES.get(node_type, ('["', '"]'))
    return f"{graph_id}{left}{_mermaid_text(label)}{right}"


def to_mermaid(config: Any, initial_signals: Iterable[Any] = ("START",)) -> str:
    """A Mermaid ``flowchart TD``: one subgraph per workflow, signals as labelled arrows."""
    graph = build_graph(config, initial_signals)
    lines = ["flowchart TD"]
    for wf_id, nodes in graph.workflows.items():
        lines.append(f'    subgraph {wf_id}["{_mermaid_text(graph.titles[wf_id])}"]')
        if _used(graph, f"{wf_id}_start"):
            lines.append(f'        {wf_id}_start(("start"))')
        lines.extend(f"        {_mermaid_node(*node)}" for node in nodes)
        if _used(graph, f"{wf_id}_end"):
            lines.append(f'        {wf_id}_end(["end"])')
        lines.append("    end")
    for edge in graph.edges:
        arrow = "-.->" if edge.dashed else "-->"
        lines.append(f'    {edge.source} {arrow}|"{_mermaid_text(edge.label)}"| {edge.target}')
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- DOT

_DOT_SHAPES = {"router": "diamond", "llm": "ellipse", "agent": "octagon", "tool": "box",
               "child": "component"}


def _dot_text(text: str) -> str:
    """A DOT double-quoted string body: backslashes and quotes escaped, newlines as ``\\n``."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _dot_cluster(graph: SignalGraph, wf_id: str, nodes: list[tuple[str, str, str]]) -> list[str]:
    lines = [f'    subgraph "cluster_{wf_id}" {{', f'        label="{_dot_text(graph.titles[wf_id])}";']
    if _used(graph, f"{wf_id}_start"):
        lines.append(f'        "{wf_id}_start" [label="start", shape=circle];')
    for gid, label, node_type in nodes:
        shape = _DOT_SHAPES.get(node_type, "box")
        lines.append(f'        "{gid}" [label="{_dot_text(label)}", shape={shape}];')
    if _used(graph, f"{wf_id}_end"):
        lines.append(f'        "{wf_id}_end" [label="end", shape=doublecircle];')
    lines.append("    }")
    return lines


def to_dot(config: Any, initial_signals: Iterable[Any] = ("START",)) -> str:
    """A Graphviz ``digraph``: one ``cluster_`` subgraph per workflow, signals as edge labels."""
    graph = build_graph(config, initial_signals)
    lines = ["digraph soe {", "    compound=true;", "    rankdir=TB;"]
    for wf_id, nodes in graph.workflows.items():
        lines.extend(_dot_cluster(graph, wf_id, nodes))
    for edge in graph.edges:
        style = ", style=dashed" if edge.dashed else ""
        lines.append(f'    "{edge.source}" -> "{edge.target}" [label="{_dot_text(edge.label)}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
