"""SOE012: keys the engine ignores, which are almost always misspellings of keys it reads.

SPEC §2.3 ignores unknown node keys and §2.2 ignores unknown top-level keys of
the combined shape, so ``outputfield:`` silently discards an answer and
``identites:`` silently drops every identity. The config is valid; only a
look at the keys each node type reads can tell. A close spelling is suggested.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from soe.validation._lint_checks import Finding, Model, suggest
from soe.validation.yaml_nodes import node_position, walk_path

__all__ = ["NODE_KEYS", "TOP_LEVEL_KEYS", "check_unknown_keys"]

_COMMON = ("node_type", "event_triggers", "event_emissions", "name")
_LLM = ("prompt", "output_field", "identity", "retries", "llm_failure_signal", "exclusive_signals",
        "llm_options", "model", "temperature", "max_tokens", "top_p", "seed", "stop", "timeout")

NODE_KEYS: dict[str, frozenset[str]] = {
    "router": frozenset(_COMMON),
    "llm": frozenset(_COMMON + _LLM),
    "agent": frozenset(_COMMON + _LLM + ("tools", "max_iterations")),
    "tool": frozenset(_COMMON + ("tool_name", "parameters", "context_parameter_field", "output_field",
                                 "timeout")),
    "child": frozenset(_COMMON + ("child_workflow_name", "child_initial_signals", "input_fields",
                                  "signals_to_parent", "context_updates_to_parent", "fan_out_field",
                                  "child_input_field", "spawn_interval")),
}
"""The keys each node type reads (SPEC §5); ``name`` is the one the engine sets itself."""

TOP_LEVEL_KEYS = frozenset({"workflows", "context_schema", "identities", "limits", "external_signals"})
"""The top-level keys of the combined shape (§2.2); any other is ignored."""

_EMISSION_KEYS = frozenset({"signal_name", "condition"})
_MODEL_NODES = frozenset({"llm", "agent"})


def _node_finding(model: Model, site: tuple[Any, ...], key: Any, known: frozenset[str],
                  node_type: Any) -> Finding:
    # A legacy-form call_llm sees LLM and agent node keys (§2.3), so a key with no close
    # spelling may be meant for it: information, not a warning.
    quiet = node_type in _MODEL_NODES and not suggest(key, known)
    hint = suggest(key, known).strip(" ()") or (
        "remove it, unless your call_llm reads it" if quiet else "remove it") + \
        f"; {node_type} nodes read {', '.join(sorted(known - {'name'}))}"
    return model.finding("SOE012", "info" if quiet else "warning", site,
                         f"unknown key '{key}' is ignored by {node_type} nodes", hint)


def _emission_findings(model: Model, wf: Any, name: Any, node: Mapping[str, Any]) -> Iterator[Finding]:
    emissions = node.get("event_emissions")
    for index, item in enumerate(emissions if isinstance(emissions, list) else []):
        for key in item if isinstance(item, Mapping) else ():
            if key not in _EMISSION_KEYS:
                yield model.finding("SOE012", "warning", (wf, name, "event_emissions", index, key),
                                    f"unknown key '{key}' in an event emission is ignored, so the "
                                    "emission always fires",
                                    suggest(key, _EMISSION_KEYS).strip(" ()") or "use condition: "
                                    "\"{{ ... }}\" for a conditional emission")


def _top_level_findings(model: Model) -> Iterator[Finding]:
    for key in model.top_level_keys:
        if key in TOP_LEVEL_KEYS:
            continue
        target = walk_path(model.root, [key]) if model.root is not None else None
        line, column = node_position(target) if target is not None else (None, None)
        yield Finding("SOE012", "warning", None, None,
                      f"unknown top-level key '{key}' is ignored (the combined shape reads "
                      f"{', '.join(sorted(TOP_LEVEL_KEYS))})",
                      suggest(key, TOP_LEVEL_KEYS).strip(" ()") or "remove it, or move it under workflows",
                      line, column)


def check_unknown_keys(model: Model) -> Iterator[Finding]:
    """SOE012: node, emission and top-level keys nothing reads."""
    yield from _top_level_findings(model)
    for wf, name, node in model.nodes():
        node_type = node.get("node_type")
        known = NODE_KEYS.get(node_type) if isinstance(node_type, str) else None
        if known is None:  # a custom ``_`` type reads what it likes
            continue
        for key in node:
            if key not in known:
                yield _node_finding(model, (wf, name, key), key, known, node_type)
        yield from _emission_findings(model, wf, name, node)
