"""From a config (YAML text or mapping) to validated, immutable sections (SPEC §2).

A config text is parsed and validated once per process: repeated
``orchestrate`` calls with the same YAML reuse the frozen result, and so do
child starts, which pass the parent's read-only registry snapshot.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from soe.lib.snapshot import FrozenDict, fast_copy, freeze
from soe.lib.yaml_parser import parse_yaml
from soe.validation.config import (
    RESERVED_KEYS,
    parse_external_signals,
    parse_limits,
    validate_config,
)

__all__ = ["LoadedConfig", "load_config"]


@dataclass(frozen=True)
class LoadedConfig:
    """The sections of a validated config; ``workflows`` is a read-only snapshot."""

    workflows: FrozenDict
    context_schema: Any = None
    identities: Any = None
    limits: dict[str, int] = field(default_factory=dict)
    external_signals: list[list[str]] = field(default_factory=list)

    def fresh_schema(self) -> Any:
        return fast_copy(self.context_schema)

    def fresh_identities(self) -> Any:
        return fast_copy(self.identities)


def _sections(parsed: Mapping[str, Any]) -> LoadedConfig:
    validate_config(parsed)
    limits = parse_limits(parsed)
    external = parse_external_signals(parsed)
    if "workflows" in parsed:
        return LoadedConfig(freeze(parsed["workflows"]), parsed.get("context_schema"),
                            parsed.get("identities"), limits, external)
    workflows = {name: wf for name, wf in parsed.items() if name not in RESERVED_KEYS}
    return LoadedConfig(freeze(workflows), limits=limits, external_signals=external)


@lru_cache(maxsize=256)
def _load_text(text: str) -> LoadedConfig:
    return _sections(parse_yaml(text))


_SNAPSHOTS: OrderedDict[int, tuple[FrozenDict, LoadedConfig]] = OrderedDict()
_SNAPSHOTS_LOCK = threading.Lock()


def _load_snapshot(snapshot: FrozenDict) -> LoadedConfig:
    with _SNAPSHOTS_LOCK:
        cached = _SNAPSHOTS.get(id(snapshot))
    if cached is not None and cached[0] is snapshot:
        return cached[1]
    loaded = _sections(snapshot)
    with _SNAPSHOTS_LOCK:
        _SNAPSHOTS[id(snapshot)] = (snapshot, loaded)
        if len(_SNAPSHOTS) > 256:
            _SNAPSHOTS.popitem(last=False)
    return loaded


def load_config(config: Any) -> LoadedConfig:
    """Validate ``config`` and split it into its sections.

    Raises:
        ValueError: the YAML does not parse.
        WorkflowValidationError: the config breaks a rule of SPEC §13.2.
    """
    if isinstance(config, str):
        return _load_text(config)
    if isinstance(config, FrozenDict):
        return _load_snapshot(config)
    return _sections(config)
