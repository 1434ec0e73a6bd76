"""Usage reporting (SPEC §16.2)."""

from __future__ import annotations

import threading

import soe.llm
from soe.llm import ProviderError, report_usage
from soe.llm.usage import collect_usage
from soe.types import SoeError


def test_exports() -> None:
    assert {"report_usage", "ProviderError"} <= set(soe.llm.__all__)
    assert issubclass(ProviderError, SoeError)


def test_report_outside_invocation_is_noop() -> None:
    report_usage(10, 5)
    with collect_usage() as usage:
        pass
    assert not usage.reported
    assert (usage.prompt_tokens, usage.completion_tokens) == (0, 0)


def test_reports_add_up() -> None:
    with collect_usage() as usage:
        report_usage(10, 5)
        report_usage(3, 2)
    assert usage.reported
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (13, 7, 20)


def test_zero_report_counts_as_reported() -> None:
    with collect_usage() as usage:
        report_usage(0, 0)
    assert usage.reported


def test_accumulator_unbound_after_invocation() -> None:
    with collect_usage() as usage:
        report_usage(1, 1)
    report_usage(100, 100)
    assert usage.prompt_tokens == 1


def test_nested_invocations_are_separate() -> None:
    with collect_usage() as outer:
        report_usage(1, 0)
        with collect_usage() as inner:
            report_usage(5, 5)
        report_usage(1, 0)
    assert (outer.prompt_tokens, inner.prompt_tokens) == (2, 5)


def test_other_threads_do_not_see_the_accumulator() -> None:
    with collect_usage() as usage:
        worker = threading.Thread(target=report_usage, args=(50, 50))
        worker.start()
        worker.join()
    assert not usage.reported
