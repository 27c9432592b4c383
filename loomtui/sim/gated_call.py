"""A gated hook call, run in a worker thread in lockstep with the simulation.

A PreToolUse hook that the policy gates waits (polling its gate) until a
supervisor decides or the gate expires; the simulated agent must not block the
whole pod meanwhile. `HookCall` runs that hook in a daemon thread that moves
only when the engine's `step()` lets it: from its start to its first nap, then
from one poll of its gate to the next. So its reads of the clock and its writes
fall at the same points of a run every time, on a fake clock as on the wall
clock, and a seed replays the same pod.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from loomtui.hooks.dispatch import Hook
from loomtui.hooks.protocol import Answer
from loomtui.hooks.signals import HookInterrupted

CALL_TIMEOUT = 30.0  # seconds step() waits for a hook worker before moving on


@dataclass
class HookCall:
    """One hook call in a daemon thread that runs only when `resume()` lets it:
    from its start to its first nap, then from one nap (a poll of its gate) to
    the next, until it returns. `stop()` makes its next nap raise
    HookInterrupted, so the hook cancels its gate and answers deny."""

    hook: Hook
    raw: bytes
    answer: Answer | None = None
    gate_id: int | None = None
    looked: bool = False  # the sim has looked for the gate it created
    extra: bool = False  # one of the demo pusher's own pushes (engine._push)
    done: bool = False
    _turn: threading.Event = field(default_factory=threading.Event)
    _parked: threading.Event = field(default_factory=threading.Event)
    _stopping: bool = False
    thread: threading.Thread | None = None

    def start(self, name: str) -> None:
        self.hook.sleep = self._nap
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        self._turn.wait()
        self._turn.clear()
        try:
            self.answer = self.hook.run(self.raw)  # never raises
        finally:
            self.done = True
            self._parked.set()

    def _nap(self, _seconds: float) -> None:
        self._parked.set()
        self._turn.wait()
        self._turn.clear()
        if self._stopping:
            raise HookInterrupted("the simulation is stopping")

    def resume(self, timeout: float = CALL_TIMEOUT) -> bool:
        """Let the worker run until it naps again or returns; whether it has returned."""
        if not self.done:
            self._parked.clear()
            self._turn.set()
            self._parked.wait(timeout)
        return self.done

    def stop(self) -> None:
        self._stopping = True
        self._turn.set()
