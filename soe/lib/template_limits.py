"""Resource bounds on templates: limits per tree, checks before Python computes, a deadline per render.

``**`` and ``*`` operands are checked before Python computes the result (at
compile time too, where Jinja folds constants), count arguments of filters and
string methods are bounded, every loop, call and output chunk checks the
render's deadline, and the rendered text, strings and lists a render builds stay
under ``max_template_output`` characters. :mod:`soe.lib.templating` wires these
checks into its sandbox.
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
from functools import update_wrapper
from typing import Any

from jinja2 import Template
from jinja2.utils import generate_lorem_ipsum

__all__ = [
    "BINOP_CHECKS",
    "DEFAULT_TEMPLATE_LIMITS",
    "MAX_TEMPLATE_DIGITS",
    "TemplateLimitExceeded",
    "TemplateLimits",
    "bounded_filter",
    "bounded_lipsum",
    "bounded_render",
    "check_brace_format",
    "check_call",
    "check_deadline",
    "check_size",
    "guard_iter",
    "template_limits",
]

# Python refuses to print an int of more than 4,300 digits; computing one far
# larger first (``9**(9**9)``) would take minutes, so results are bounded before.
MAX_TEMPLATE_DIGITS = 4300
_MAX_INT_BITS = MAX_TEMPLATE_DIGITS * math.log2(10)


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


def check_deadline() -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        ms = _LIMITS.get().max_template_ms
        raise TemplateLimitExceeded("max_template_ms", f"the render took longer than {ms} ms")


def check_size(value: Any) -> Any:
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


def check_brace_format(fmt: str) -> None:
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


BINOP_CHECKS: dict[str, Callable[[Any, Any], None]] = {
    "**": _check_power,
    "*": _check_product,
    "%": lambda left, _right: _check_percent_format(left),
}
# string methods and filters whose integer arguments are sizes of what they build
_COUNT_CALLS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "indent", "wordwrap",
                          "truncate", "batch", "slice", "tojson"})


def check_call(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
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


def bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the deadline and its arguments before running and its result after."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        check_deadline()
        check_call(name, args, kwargs)
        return check_size(function(*args, **kwargs))

    return update_wrapper(bounded, function)  # keeps Jinja's pass_context/eval_context marks


def guard_iter(iterable: Any) -> Iterator[Any]:
    """Every loop iteration checks the deadline, so nested loops end on time."""
    for item in iterable:
        check_deadline()
        yield item


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    """Jinja's ``lipsum`` with its paragraph and word counts bounded by ``max_template_output``."""
    words = max if _is_int(max) else 100
    _check_count(n * abs(words) * 12 if _is_int(n) else 0, "lipsum would build about")
    return generate_lorem_ipsum(n, html, min, max)


def bounded_render(template: Template, variables: Mapping[str, Any]) -> str:
    """Render chunk by chunk, stopping at the output cap or the deadline.

    The render's deadline (``max_template_ms`` from now) is set here, where the
    render starts, and checked by every loop, call and chunk until it ends.
    """
    limits = _LIMITS.get()
    cap = limits.max_template_output
    token = _DEADLINE.set(time.monotonic() + limits.max_template_ms / 1000)
    try:
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > cap:
                raise TemplateLimitExceeded("max_template_output", f"the output is longer than {cap} characters")
            check_deadline()
            chunks.append(chunk)
        return "".join(chunks)
    finally:
        _DEADLINE.reset(token)
