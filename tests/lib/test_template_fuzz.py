"""Template fuzz corpus: no template escapes, hangs or exhausts memory (issue 13, acceptance).

Every case runs in a forked child of one driver process with a 400 MB address
space cap, a CPU cap and a wall-clock cap (``template_fuzz_driver.py``). A case
passes when it renders or fails with ``TemplateRenderError`` /
``TemplateSecurityError``; being killed, crashing, running out of memory or
raising anything else fails it. Fixed classes from the issue plus generated
combinations of the same building blocks.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("template_fuzz_driver.py")

CORPUS: dict[str, list[str]] = {
    "attribute walks": [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.system('id') }}",
        "{{ joiner.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ context.user.__class__ }}",
        "{{ context.__class__.__base__.__subclasses__() }}",
        "{{ (context|attr('__class__')) }}",
        "{{ self.__init__.__globals__ }}",
        "{{ context.items.__class__ }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ context['__class__'] }}",
        "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    ],
    "format strings": [
        "{{ '{0.__class__}'.format(1) }}",
        "{{ '{0.__class__.__init__.__globals__}'.format(context) }}",
        "{{ '%s' % context.__class__ }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '{:{w}}'.format(1, w=999999999) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '%*d' % (999999999, 1) }}",
        "{{ '%0999999999d' | format(1) }}",
        "{{ '{0:,}'.format(10 ** 4000) }}",
        "{{ '{x.__class__}'.format_map({'x': 1}) }}",
    ],
    "numeric blow-ups": [
        "{{ 9 ** 9 ** 9 }}",
        "{{ 9 ** (9 ** 9) }}",
        "{{ (10 ** 4000) * (10 ** 4000) }}",
        "{{ 2 ** 100000 }}",
        "{{ 99999999999 ** 99999999 }}",
        "{{ (2 ** 10000) // 3 }}",
        "{{ range(10 ** 12) | list }}",
        "{{ range(100000) | sum }}",
        "{{ (10 ** 4300) | string }}",
        "{{ 1.5 ** 1e10 }}",
    ],
    "string blow-ups": [
        "{{ 'a' * 10 ** 9 }}",
        "{{ [0] * 10 ** 9 }}",
        "{{ ('a' * 99999) * 99999 }}",
        "{{ 'a' | center(10 ** 9) }}",
        "{{ 'a' | indent(10 ** 9, true) }}",
        "{{ 'x'.ljust(10 ** 9) }}",
        "{{ 'x'.zfill(10 ** 9) }}",
        "{{ 'a\\tb'.expandtabs(10 ** 9) }}",
        "{{ ('a' * 1000) | replace('a', 'a' * 1000) | replace('a', 'a' * 1000) }}",
        "{{ 'abc'.replace('', 'x' * 99999) }}",
        "{{ lipsum(n=10 ** 7) }}",
        "{{ lipsum(n=1000, max=10 ** 6) }}",
        "{{ ('ab' * 50000) | wordwrap(1) }}",
        "{{ range(100000) | join(',' * 1000) }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{% set ns = namespace(l=[1]) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
        "{{ range(100000) | batch(10 ** 9) | list }}",
        "{{ range(1000) | slice(10 ** 9) | list }}",
        "{{ context | tojson(indent=10 ** 9) }}",
    ],
    "nested loops": [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{{ range(100000) | list | length }}{% endfor %}",
        "{% for x in context.items recursive %}{{ loop([x]) }}{% endfor %}",
        "{% for i in range(99999) %}{% for j in range(99999) if j is divisibleby 99999999 %}{% endfor %}"
        "{% endfor %}",
    ],
    "macros": [
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
        "{% macro f() %}{{ caller() }}{{ caller() }}{% endmacro %}"
        "{% call f() %}{% call f() %}{% call f() %}x{% endcall %}{% endcall %}{% endcall %}",
        "{% macro big() %}{{ 'a' * 99999 }}{% endmacro %}{% for i in range(100000) %}{{ big() }}{% endfor %}",
    ],
    "filters": [
        "{{ context | attr('__dict__') }}",
        "{{ context | map(attribute='__class__') | list }}",
        "{{ context.items | map('attr', '__class__') | list }}",
        "{{ context.items | selectattr('__class__') | list }}",
        "{{ context | dictsort | first | attr('__class__') }}",
        "{{ 'x' | format(context.__class__) }}",
        "{{ context.text | truncate(10 ** 9) }}",
        "{{ context.items | sort(attribute='__class__') }}",
        "{{ [context] | map(attribute='__init__') | list }}",
        "{{ context.user | wordcount }}{{ context | pprint }}",
    ],
    "nesting": [
        "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
        "{{ " + "[" * 5000 + "]" * 5000 + " }}",
        "{% if true %}" * 500 + "x" + "{% endif %}" * 500,
        "{{ " + "-" * 100000 + "1 }}",
    ],
}

BLOCKS = ["'a' * 99999", "10 ** 4000", "range(100000)", "context.items", "lipsum(5)", "'{:>99}'.format(1)",
          "context.__class__", "[1] * 99999", "(9 ** 99)"]
FILTERS = ["list", "join", "string", "length", "center(99999)", "replace('a', 'aa')", "tojson", "reverse",
           "batch(3) | list", "unique | list", "sum"]


def generated(count: int, seed: int = 13) -> list[str]:
    """Combinations of the blocks above, the shapes the fixed classes take."""
    rng = random.Random(seed)
    shapes = [
        "{{{{ {a} | {f} }}}}",
        "{{{{ ({a}) * ({b}) }}}}",
        "{{{{ ({a}) ~ ({b}) | {f} }}}}",
        "{{% for i in {a} %}}{{% for j in {b} %}}{{{{ i }}}}{{% endfor %}}{{% endfor %}}",
        "{{% set x = {a} %}}{{{{ (x ~ x) | {f} }}}}",
    ]
    return [rng.choice(shapes).format(a=rng.choice(BLOCKS), b=rng.choice(BLOCKS), f=rng.choice(FILTERS))
            for _ in range(count)]


def _cases() -> list[dict[str, str]]:
    cases = [{"id": f"{kind} #{i}", "template": t} for kind, templates in CORPUS.items()
             for i, t in enumerate(templates)]
    cases += [{"id": f"generated #{i}", "template": t} for i, t in enumerate(generated(40))]
    return cases


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict]:
    cases = _cases()
    done = subprocess.run([sys.executable, str(DRIVER)], input=json.dumps(cases), capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    results = {o["id"]: {**o, "template": c["template"]} for o, c in zip(json.loads(done.stdout), cases,
                                                                         strict=True)}
    return results


def test_the_corpus_covers_every_class():
    assert {"attribute walks", "format strings", "numeric blow-ups", "string blow-ups", "nested loops", "macros",
            "filters"} <= set(CORPUS)
    assert len(_cases()) >= 100


@pytest.mark.slow
def test_no_case_escapes_hangs_or_exhausts_memory(outcomes):
    bad = {case_id: o for case_id, o in outcomes.items()
           if o["kind"] not in ("ok", "render_error", "security_error")
           or "out of memory" in str(o.get("detail"))}
    assert bad == {}


def test_attribute_walks_are_security_errors(outcomes):
    walks = {i: o for i, o in outcomes.items() if i.startswith("attribute walks")}
    assert {i: o["kind"] for i, o in walks.items()} == dict.fromkeys(walks, "security_error")


def test_blow_ups_name_the_limit_they_hit(outcomes):
    blow_ups = {i: o for i, o in outcomes.items() if i.startswith(("numeric blow-ups", "string blow-ups",
                                                                   "nested loops"))}
    limited = {i: o["limit"] for i, o in blow_ups.items() if o["kind"] == "render_error" and o.get("limit")}
    assert len(limited) >= len(blow_ups) * 3 // 4, {i: o["detail"] for i, o in blow_ups.items() if i not in limited}
    assert set(limited.values()) <= {"max_template_output", "max_template_ms", "max_template_digits"}
