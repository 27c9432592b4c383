"""Waiting on conditions in tests, never on fixed sleeps.

A test that needs something to have happened (a gate to appear, a watcher to
catch up, a row to reach the store) polls for exactly that, with a generous
timeout, and fails saying what never happened. The timeout only bounds a
failure: a passing test waits as long as the condition takes and no longer.

`wait_for` is for plain threads and subprocesses; `until` is its twin for
Textual's `run_test`, where the event loop must keep running while we wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT = 30.0  # seconds: far above what a loaded 2-core CI box needs, far below a hang


def wait_for(condition: Callable[[], T], what: str, *, timeout: float = TIMEOUT,
             interval: float = 0.02) -> T:
    """Call `condition` until it returns something true, and return that.

    Raises AssertionError("timed out after Ns waiting for <what>") otherwise;
    `what` names the thing that should have happened, e.g. "a pending gate".
    The condition is checked once more after the deadline, so a slow last poll
    is not mistaken for a failure.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


async def until(pilot, condition: Callable[[], T], what: str, *, timeout: float = TIMEOUT,
                interval: float = 0.02) -> T:
    """`wait_for` inside a Textual `run_test`: between checks the app runs
    (`pilot.pause`), so its timers, workers and messages make progress."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(interval)
