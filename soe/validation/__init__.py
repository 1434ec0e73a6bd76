"""Validation of configs, ``orchestrate`` parameters and runtime state (SPEC §13).

``operational`` is imported first: node factories import it while this package
may still be initialising (config validation imports the node packages).
"""

from __future__ import annotations

from soe.validation.operational import OperationalValidationError, validate_operational

# isort: split
from soe.validation.config import (
    validate_config,
    validate_initial_workflow,
    validate_orchestrate_params,
    validate_workflow,
)

__all__ = [
    "OperationalValidationError",
    "validate_config",
    "validate_initial_workflow",
    "validate_operational",
    "validate_orchestrate_params",
    "validate_workflow",
]
