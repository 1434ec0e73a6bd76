"""Config text to Python data, with YAML 1.1 semantics (SPEC §2.1)."""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["parse_yaml"]


def parse_yaml(data: Any) -> Any:
    """Parse a YAML string with ``yaml.safe_load``; any other value is returned as is.

    Raises:
        ValueError: ``Invalid YAML configuration: <yaml error>``.
    """
    if not isinstance(data, str):
        return data
    try:
        return yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ValueError(f"Invalid YAML configuration: {exc}") from exc
