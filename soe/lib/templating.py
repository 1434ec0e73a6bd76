"""The engine's one template environment: sandboxed, cached, loud, bounded.

Every template SOE renders (conditions, prompts, tool parameters) goes through
this module so that one policy holds everywhere: untrusted text (an LLM can
inject nodes) never reaches Python internals, a template is compiled once per
process, a failure is an error naming the node and field instead of a
silently unrendered string, and no template can exhaust memory or time.

Resource bounds (the "Limits and safety" guide lists them): ``**`` and ``*``
operands are checked before Python computes the result (at compile time too,
where Jinja folds constants), count arguments of filters and string methods are
bounded, every loop, call and output chunk checks the render's deadline, and
the rendered text, strings and lists a render builds stay under
``max_template_output`` characters.
"""

from __future__ import annotations

import math
import re
import string
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache, update_wrapper
from typing import Any

from jinja2 import Template, TemplateSyntaxError, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

from soe._errors import TemplateRenderError, TemplateSecurityError
from soe.lib.history import HistoryPrefix

__all__ = [
    "DEFAULT_TEMPLATE_LIMITS",
    "MAX_TEMPLATE_DIGITS",
    "SoeSandboxedEnvironment",
    "ENVIRONMENT",
    "TemplateLimitExceeded",
    "TemplateLimits",
    "compile_template",
    "has_template_syntax",
    "is_jinja_condition",
    "referenced_fields",
    "render_template",
    "template_limits",
]

_JINJA_CONDITION = re.compile(r"\{\{.*\}\}")

# Python refuses to print an int of more than 4,300 digits; computing one far
# larger first (``9**(9**9)``) would take minutes, so results are bounded before.
MAX_TEMPLATE_DIGITS = 4300
_MAX_INT_BITS = MAX_TEMPLATE_DIGITS * math.log2(10)

# The accumulated filter searches the full (wrapped) context; the render call
# hands it over through this variable so templates get no extra globals.
_FULL_CONTEXT: ContextVar[Mapping[str, Any] | None] = ContextVar("soe_full_context", default=None)


@dataclass(frozen=True)
class TemplateLimits:
    """How large a rendered template and its values may grow, and how long one render may run."""

    max_template_output: int = 1_000_000  # characters (or list items)
    max_template_ms: int = 2_000


DEFAULT_TEMPLATE_LIMITS = TemplateLimits()
_LIMITS: ContextVar[TemplateLimits] = ContextVar("soe_template_limits", default=DEFAULT_TEMPLATE_LIMITS)
_DEADLINE: ContextVar[float | None] = ContextVar("soe_template_deadline", default=None)


class TemplateLimitExceeded(Exception):
    """A template hit a resource limit; ``limit`` names the ``limits`` key (or the fixed bound)."""

    def __init__(self, limit: str, detail: str) -> None:
        self.limit = limit
        super().__init__(f"template limit {limit} exceeded: {detail}")


@contextmanager
def template_limits(limits: TemplateLimits) -> Iterator[None]:
    """Render templates under ``limits`` within the block (the engine sets a tree's limits)."""
    token = _LIMITS.set(limits)
    try:
        yield
    finally:
        _LIMITS.reset(token)


def _check_deadline() -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        ms = _LIMITS.get().max_template_ms
        raise TemplateLimitExceeded("max_template_ms", f"the render took longer than {ms} ms")


def _check_size(value: Any) -> Any:
    """Refuse a string or list longer than ``max_template_output``; pass anything else through."""
    cap = _LIMITS.get().max_template_output
    if isinstance(value, (str, list, tuple)) and len(value) > cap:
        raise TemplateLimitExceeded("max_template_output",
                                    f"a value of {len(value)} characters or items (at most {cap})")
    return value


def _check_count(count: Any, what: str) -> None:
    cap = _LIMITS.get().max_template_output
    if isinstance(count, int) and not isinstance(count, bool) and abs(count) > cap:
        raise TemplateLimitExceeded("max_template_output", f"{what} {count} is larger than {cap}")


def _check_int_bits(bits: float) -> None:
    if bits > _MAX_INT_BITS:
        digits = int(bits / math.log2(10))
        raise TemplateLimitExceeded("max_template_digits", f"the result would have about {digits} digits "
                                                   f"(at most {MAX_TEMPLATE_DIGITS})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_power(base: Any, exponent: Any) -> None:
    if _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
        _check_int_bits(exponent * math.log2(abs(base)))


def _check_product(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        _check_int_bits(left.bit_length() + right.bit_length())
        return
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and _is_int(times):
            _check_count(len(seq) * times, "a repetition of")


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBERS = re.compile(r"\d+")


def _check_percent_format(fmt: Any) -> None:
    """``'%0999999999d' % 1`` allocates before returning: widths are bounded, ``*`` is refused."""
    if not isinstance(fmt, str):
        return
    for match in _PERCENT_SPEC.finditer(fmt):
        for group in match.groups():
            if group == "*":
                raise TemplateLimitExceeded("max_template_output", "a '*' width in a % format")
            if group:
                _check_count(int(group), "a format width of")


def _check_brace_format(fmt: str) -> None:
    """``'{:>999999999}'.format(1)``: the same bound for ``str.format`` widths."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    for _literal, _field, spec, _conversion in parsed:
        if spec and "{" in spec:
            raise TemplateLimitExceeded("max_template_output", "a format width taken from an argument")
        for number in _NUMBERS.findall(spec or ""):
            _check_count(int(number), "a format width of")


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = len(text) + 1 if old == "" else text.count(old)
        if _is_int(count) and count >= 0:
            hits = min(hits, count)
        _check_count(len(text) + hits * len(new), "a replacement producing")


_BINOP_CHECKS: dict[str, Callable[[Any, Any], None]] = {
    "**": _check_power,
    "*": _check_product,
    "%": lambda left, _right: _check_percent_format(left),
}
# string methods and filters whose integer arguments are sizes of what they build
_COUNT_CALLS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "indent", "wordwrap",
                          "truncate", "batch", "slice", "tojson"})


def _check_call(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Bound what a filter or method call would build, before it runs."""
    if name in _COUNT_CALLS:
        for value in (*args, *kwargs.values()):
            _check_count(value, f"'{name}' argument")
    elif name == "replace":
        strings = [a for a in args if isinstance(a, str)]
        counts = [a for a in args if _is_int(a)]
        if len(strings) >= 3:
            _check_replace(*strings[-3:], *counts[-1:])
    elif name == "format":
        _check_percent_format(next((a for a in args if isinstance(a, str)), None))


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the deadline and its arguments before running and its result after."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        _check_call(name, args, kwargs)
        return _check_size(function(*args, **kwargs))

    return update_wrapper(bounded, function)  # keeps Jinja's pass_context/eval_context marks


def _guard_iter(iterable: Any) -> Iterator[Any]:
    """Every loop iteration checks the deadline, so nested loops end on time."""
    for item in iterable:
        _check_deadline()
        yield item


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    """Jinja's ``lipsum`` with its paragraph and word counts bounded by ``max_template_output``."""
    words = max if _is_int(max) else 100
    _check_count(n * abs(words) * 12 if _is_int(n) else 0, "lipsum would build about")
    return generate_lorem_ipsum(n, html, min, max)


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
        self.filters = {name: _bounded_filter(name, function) for name, function in self.filters.items()}
        self.filters["soe_guard_iter"] = _guard_iter
        self.filters["soe_guard_size"] = _check_size
        self.globals["lipsum"] = bounded_lipsum

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_deadline()
        check = _BINOP_CHECKS.get(operator)
        if check is not None:
            check(left, right)
        return _check_size(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check_deadline()
        if isinstance(getattr(__obj, "__self__", None), str):
            _check_call(getattr(__obj, "__name__", ""), (__obj.__self__, *args), kwargs)
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:
            _check_brace_format(value.__self__)
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


def _bounded_render(template: Template, variables: Mapping[str, Any]) -> str:
    """Render chunk by chunk, stopping at the output cap or the deadline."""
    cap = _LIMITS.get().max_template_output
    chunks: list[str] = []
    size = 0
    for chunk in template.generate(variables):
        size += len(chunk)
        if size > cap:
            raise TemplateLimitExceeded("max_template_output", f"the output is longer than {cap} characters")
        _check_deadline()
        chunks.append(chunk)
    return "".join(chunks)


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
    deadline = _DEADLINE.set(time.monotonic() + _LIMITS.get().max_template_ms / 1000)
    try:
        return _bounded_render(compile_template(source), variables)
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
        _DEADLINE.reset(deadline)
        if token is not None:
            _FULL_CONTEXT.reset(token)
