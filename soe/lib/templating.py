"""The engine's one template environment: sandboxed, cached, loud, bounded.

Every template SOE renders (conditions, prompts, tool parameters) goes through
this module so that one policy holds everywhere: untrusted text (an LLM can
inject nodes) never reaches Python internals, a template is compiled once per
process, a failure is an error naming the node and field instead of a
silently unrendered string, and no template can exhaust memory or time.

Resource bounds (the "Limits and safety" guide lists them) live in
:mod:`soe.lib.template_limits`; the sandbox below applies them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import Template, TemplateSyntaxError, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from soe._errors import TemplateRenderError, TemplateSecurityError
from soe.lib.history import HistoryPrefix
from soe.lib.template_limits import (
    BINOP_CHECKS,
    TemplateLimitExceeded,
    bounded_filter,
    bounded_lipsum,
    bounded_render,
    check_brace_format,
    check_call,
    check_deadline,
    check_size,
    guard_iter,
)

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
    """Jinja's immutable sandbox, except that unsafe access raises at once and resources are bounded.

    The stock sandbox returns an undefined for an unsafe attribute, which
    prints as ``''``: a probe like ``{{ ''.__class__ }}`` would go unnoticed.
    Raising makes every attempt visible as a ``TemplateSecurityError``.
    Intercepting ``**``, ``*`` and ``%`` also stops Jinja from folding them at
    compile time, so validation never computes ``9**(9**9)``.
    """

    intercepted_binops = frozenset({"**", "*", "%", "+"})

    def __init__(self) -> None:
        super().__init__(autoescape=False)
        self.filters["accumulated"] = accumulated
        self.filters = {name: bounded_filter(name, function) for name, function in self.filters.items()}
        self.filters["soe_guard_iter"] = guard_iter
        self.filters["soe_guard_size"] = check_size
        self.globals["lipsum"] = bounded_lipsum

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_deadline()
        check = BINOP_CHECKS.get(operator)
        if check is not None:
            check(left, right)
        return check_size(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        check_deadline()
        if isinstance(getattr(__obj, "__self__", None), str):
            check_call(getattr(__obj, "__name__", ""), (__obj.__self__, *args), kwargs)
        return check_size(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:
            check_brace_format(value.__self__)
        return wrapper


ENVIRONMENT = SoeSandboxedEnvironment()


def _guarded(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


def _guard(tree: nodes.Template) -> nodes.Template:
    """Wrap every loop's iterable and every ``~`` concatenation in the guard filters."""
    for loop in list(tree.find_all(nodes.For)):
        loop.iter = _guarded(loop.iter, "soe_guard_iter")
    for parent in [tree, *tree.find_all(nodes.Node)]:  # collected first: wrapping adds nodes
        for name in parent.fields:
            child = getattr(parent, name, None)
            if isinstance(child, nodes.Concat):
                setattr(parent, name, _guarded(child, "soe_guard_size"))
            elif isinstance(child, list):
                child[:] = [_guarded(c, "soe_guard_size") if isinstance(c, nodes.Concat) else c
                            for c in child]
    return tree


@contextmanager
def _nesting_is_a_syntax_error() -> Iterator[None]:
    """Nesting deep enough to exhaust Python's stack while parsing or compiling is a syntax error."""
    try:
        yield
    except RecursionError:
        raise TemplateSyntaxError("expression or block nested too deeply", 1) from None


def _parse(source: str) -> nodes.Template:
    with _nesting_is_a_syntax_error():
        return ENVIRONMENT.parse(source)


@lru_cache(maxsize=8192)
def compile_template(source: str) -> Template:
    """Compile ``source`` once per process; Jinja's syntax errors propagate unchanged.

    Compiling runs no unbounded work: folding constants goes through the same
    checks as rendering (an over-limit value is simply left for the render).
    The template's globals become one plain dict (Jinja layers them as a
    ``ChainMap`` over the environment's, which every render merges again);
    the environment's globals never change after it is built.
    """
    tree = _guard(_parse(source))
    with _nesting_is_a_syntax_error():
        template = ENVIRONMENT.from_string(tree)
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
    for node in _parse(source).find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, (nodes.Getattr, nodes.Getitem))  # what find_all yields, for the type checker
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == "context"):
            continue
        if isinstance(node, nodes.Getattr):
            found.setdefault(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.setdefault(node.arg.value)
    return tuple(found)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "out of memory (the template builds too large a value)"
    if isinstance(exc, RecursionError):
        return "recursion too deep (a macro or loop calls itself without end)"
    return str(exc) or type(exc).__name__


def render_template(
    source: str,
    variables: Mapping[str, Any],
    *,
    full_context: Mapping[str, Any] | None = None,
    node_name: str = "unknown",
    field: str = "template",
) -> str:
    """Render ``source`` in the sandbox, within the current :class:`TemplateLimits`.

    Raises:
        TemplateSecurityError: the template reached for something unsafe.
        TemplateRenderError: anything else went wrong (syntax, undefined access,
            a limit, named in the message and in ``.limit``).
    """
    # only the accumulated filter reads it: other renders skip the variable
    token = _FULL_CONTEXT.set(full_context) if "accumulated" in source else None
    try:
        return bounded_render(compile_template(source), variables)
    except SecurityError as exc:
        raise TemplateSecurityError(
            f"Unsafe template in node '{node_name}', {field}: {exc}",
            node_name=node_name, field=field, template=source,
        ) from exc
    except Exception as exc:
        raise TemplateRenderError(
            f"Template error in node '{node_name}', {field}: {_reason(exc)}",
            node_name=node_name, field=field, template=source,
            limit=exc.limit if isinstance(exc, TemplateLimitExceeded) else None,
        ) from exc
    finally:
        if token is not None:
            _FULL_CONTEXT.reset(token)
