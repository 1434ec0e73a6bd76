"""Templates cannot exhaust time or memory; the error names the limit (issue 13, item 3)."""

from __future__ import annotations

import pytest
from conftest import run

from soe import TemplateRenderError
from soe.lib.template_limits import MAX_TEMPLATE_DIGITS, TemplateLimits, template_limits
from soe.lib.templating import compile_template, render_template
from soe.validation import validate_config


def router(condition: str, limits: dict | None = None) -> dict:
    config: dict = {"wf": {"Gate": {"node_type": "router", "event_triggers": ["START"],
                                    "event_emissions": [{"signal_name": "GO", "condition": condition}]}}}
    if limits:
        config["limits"] = limits
    return config


def render_error(source: str, limits: TemplateLimits | None = None) -> TemplateRenderError:
    with template_limits(limits or TemplateLimits()), pytest.raises(TemplateRenderError) as info:
        render_template(source, {}, node_name="N", field="prompt")
    return info.value


def test_constant_power_is_not_folded_at_compile_time():
    """``9**(9**9)`` would take minutes to fold: validation compiles it without computing it."""
    validate_config(router("{{ 9**(9**9) }}"))
    compile_template("{{ 9**(9**9) > 1 }}")
    error = render_error("{{ 9**(9**9) }}")
    assert error.limit == "max_template_digits"
    assert str(error) == ("Template error in node 'N', prompt: template limit max_template_digits exceeded: "
                          f"the result would have about 369693099 digits (at most {MAX_TEMPLATE_DIGITS})")


@pytest.mark.parametrize("source", [
    "{{ 'a' * 10**9 }}",
    "{{ [0] * 10**8 }}",
    "{{ 'a' | center(10**9) }}",
    "{{ 'x'.zfill(10**9) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '%0999999999d' | format(1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ lipsum(n=10**7) }}",
    "{% set ns = namespace(x='ab') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
    "{% set ns = namespace(x=[1]) %}{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}",
    "{{ 'a' | replace('a', 'aaaaaaaaaa') | replace('a', 'aaaaaaaaaa') | replace('a', 'aaaaaaaaaa')"
    " | replace('a', 'aaaaaaaaaa') | replace('a', 'aaaaaaaaaa') | replace('a', 'aaaaaaaaaa') }}",
])
def test_blow_ups_are_refused_before_they_allocate(source):
    error = render_error(source, TemplateLimits(max_template_output=100_000))
    assert error.limit == "max_template_output"
    assert "template limit max_template_output exceeded" in str(error)


def test_output_cap_counts_the_rendered_text():
    error = render_error("{% for i in range(200) %}x{% endfor %}", TemplateLimits(max_template_output=100))
    assert error.limit == "max_template_output"
    assert str(error).endswith("the output is longer than 100 characters")
    assert render_template("{% for i in range(100) %}x{% endfor %}", {}) == "x" * 100


@pytest.mark.parametrize("source", [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
])
def test_render_time_is_capped(source):
    error = render_error(source, TemplateLimits(max_template_ms=50))
    assert error.limit == "max_template_ms"
    assert str(error).endswith("template limit max_template_ms exceeded: the render took longer than 50 ms")


def test_deep_nesting_is_a_syntax_error_not_a_recursion_error():
    source = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    error = render_error(source)
    assert error.limit is None
    assert "nested too deeply" in str(error)
    with pytest.raises(Exception, match="nested too deeply") as info:
        validate_config(router(source))
    assert not isinstance(info.value, RecursionError)


def tool_node(template: str, limits: dict | None = None) -> dict:
    config: dict = {"wf": {"Use": {"node_type": "tool", "event_triggers": ["START"], "tool_name": "echo",
                                   "output_field": "out", "parameters": {"q": template}}}}
    if limits:
        config["limits"] = limits
    return config


def echo(q: str) -> str:
    return q


def test_config_limits_apply_to_the_run(backends):
    with pytest.raises(TemplateRenderError) as info:
        run(tool_node("{{ 'x' * 500 }}", {"max_template_output": 100}), backends, tools={"echo": echo})
    assert info.value.limit == "max_template_output"
    assert info.value.node_name == "Use"
    eid = run(tool_node("{{ 'x' * 500 }}"), backends, tools={"echo": echo})  # the default cap is far higher
    assert backends.context.get_context(eid)["out"] == ["x" * 500]


def test_ordinary_templates_are_unchanged():
    assert render_template("{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ '%05d' % 42 }} {{ '{:>4}'.format(7) }} "
                           "{{ [1, 2] + [3] }} {{ 'a' ~ 'b' }} {{ 'x' | center(5) }}", {}) == (
        "1024 ababab 00042    7 [1, 2, 3] ab   x  ")
