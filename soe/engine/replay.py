"""Replaying an item after a crash: its code runs again, fed what its earlier waits returned.

A durable tree saves each in-flight item with the number of waits it
reached. ``resume`` runs the item's code again from the start (inside a
transaction the runner rolls back, so nothing it wrote before the crash is
written twice), answering each earlier wait from the journal, until it
reaches the wait that was in flight (SPEC §15).
"""

from __future__ import annotations

from soe.engine.calls import START, Outcome, Raised, Result, advance
from soe.engine.queue_rows import Perform, Task
from soe.lib.effects import Wait
from soe.lib.missing import MISSING

__all__ = ["ReachedWait", "replay_steps", "replayed_outcome"]

class ReachedWait(Exception):
    """The replayed item reached the wait that was in flight: roll its transaction back."""

    def __init__(self, wait: Wait) -> None:
        super().__init__("replay reached the wait in flight")
        self.wait = wait


def replay_steps(task: Task, perform: Perform) -> None:
    """Run ``task``'s steps from the start until they end early (returns) or reach the wait in flight.

    Reaching it raises ``ReachedWait``, so that the caller rolls back what the
    replay wrote; each earlier wait gets ``replayed_outcome``.
    """
    assert task.steps is not None
    outcome: Outcome = START
    while True:
        wait = task.context.run(advance, task.steps, outcome)
        if wait is None:  # diverged and ended early: keep what it did
            return
        task.waits += 1
        if task.waits >= task.replay_until:
            raise ReachedWait(wait)
        outcome = replayed_outcome(task, wait, perform)


def replayed_outcome(task: Task, wait: Wait, perform: Perform) -> Outcome:
    """An earlier wait's result during a replay: journaled, else made again (not journal-able)."""
    key = task.journal_key(wait)
    if key is not None:
        assert task.journal is not None
        recorded = task.journal.recorded(key, wait)
        if recorded is not MISSING:
            return Result(recorded)
        raised = task.journal.raised(key)
        if raised is not None:
            return Raised(raised)
    return task.context.copy().run(perform, task, wait, key)
