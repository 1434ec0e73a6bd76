"""The engine's one template environment: sandboxed, cached, loud.

Every template SOE renders (conditions, prompts, tool parameters) goes through
this module so that one policy holds everywhere: untrusted text (an LLM can
inject nodes) never reaches Python internals, a template is compiled once per
process, and a failure is an error naming the node and field instead of a
silently unrendered string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import Template, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from soe._errors import TemplateRenderError, TemplateSecurityError
from soe.lib.history import HistoryPrefix

__all__ = [
    "SoeSandboxedEnvironment",
    "ENVIRONMENT",
    "compile_template",
    "has_template_syntax",
    "is_jinja_condition",
    "referenced_fields",
    "render_template",
]

_JINJA_CONDITION = re.compile(r"\{\{.*\}\}")

# The accumulated filter searches the full (wrapped) context; the render call
# hands it over through this variable so templates get no extra globals.
_FULL_CONTEXT: ContextVar[Mapping[str, Any] | None] = ContextVar("soe_full_context", default=None)


@pass_context  # never constant-folded at compile time: the answer depends on the render's context
def accumulated(_render_context: Any, value: Any) -> list[Any]:
    """``value | accumulated``: the history of the first field whose last value equals ``value``."""
    full = _FULL_CONTEXT.get() or {}
    for key, history in full.items():
        if key.startswith("__") or not isinstance(history, (list, HistoryPrefix)) or not history:
            continue
        if history[-1] == value:
            if len(history) == 1 and isinstance(history[0], list):
                return list(history[0])
            return list(history)
    return [] if value is None else [value]


class SoeSandboxedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, except that unsafe access raises at once.

    The stock sandbox returns an undefined for an unsafe attribute, which
    prints as ``''``: a probe like ``{{ ''.__class__ }}`` would go unnoticed.
    Raising makes every attempt visible as a ``TemplateSecurityError``.
    """

    def __init__(self) -> None:
        super().__init__(autoescape=False)
        self.filters["accumulated"] = accumulated

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )


ENVIRONMENT = SoeSandboxedEnvironment()


@lru_cache(maxsize=8192)
def compile_template(source: str) -> Template:
    """Compile ``source`` once per process; Jinja's syntax errors propagate unchanged.

    The template's globals become one plain dict (Jinja layers them as a
    ``ChainMap`` over the environment's, which every render merges again);
    the environment's globals never change after it is built.
    """
    template = ENVIRONMENT.from_string(source)
    template.globals = dict(template.globals)
    return template


def has_template_syntax(text: str) -> bool:
    """True when ``text`` contains ``{{`` or ``{%`` and so must be rendered."""
    return "{{" in text or "{%" in text


def is_jinja_condition(condition: str) -> bool:
    """SPEC §6.1: a condition is Jinja iff ``{{ ... }}`` appears on one line."""
    return bool(_JINJA_CONDITION.search(condition))


@lru_cache(maxsize=8192)
def referenced_fields(source: str) -> tuple[str, ...]:
    """Context fields a template reads, from its AST (``context.x`` and ``context['x']``)."""
    found: dict[str, None] = {}
    for node in ENVIRONMENT.parse(source).find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == "context"):
            continue
        if isinstance(node, nodes.Getattr):
            found.setdefault(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.setdefault(node.arg.value)
    return tuple(found)


def render_template(
    source: str,
    variables: Mapping[str, Any],
    *,
    full_context: Mapping[str, Any] | None = None,
    node_name: str = "unknown",
    field: str = "template",
) -> str:
    """Render ``source`` in the sandbox.

    Raises:
        TemplateSecurityError: the template reached for something unsafe.
        TemplateRenderError: anything else went wrong (syntax, undefined access, ...).
    """
    # only the accumulated filter reads it: other renders skip the variable
    token = _FULL_CONTEXT.set(full_context) if "accumulated" in source else None
    try:
        return compile_template(source).render(variables)
    except SecurityError as exc:
        raise TemplateSecurityError(
            f"Unsafe template in node '{node_name}', {field}: {exc}",
            node_name=node_name, field=field, template=source,
        ) from exc
    except Exception as exc:
        raise TemplateRenderError(
            f"Template error in node '{node_name}', {field}: {exc}",
            node_name=node_name, field=field, template=source,
        ) from exc
    finally:
        if token is not None:
            _FULL_CONTEXT.reset(token)
