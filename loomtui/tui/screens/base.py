"""LoomScreen: the base of the console's screens.

It types `self.app` as the LoomApp (its pod state, clock, time zone and store) and
offers `self.actions`, the one handle through which a screen changes the pod
(loomtui/tui/pod.py). Widgets post messages to their screen; a screen never calls
another screen. A screen's failed worker goes to the app's one handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen, ScreenResultType
from textual.worker import Worker, WorkerState

from loomtui.tui.messages import WorkerFailed

if TYPE_CHECKING:
    from loomtui.tui.app import LoomApp
    from loomtui.tui.pod import ConsolePod


class LoomScreen(Screen[ScreenResultType]):
    """A console screen: `self.app` is the LoomApp, `self.actions` its pod handle."""

    if TYPE_CHECKING:
        @property
        def app(self) -> LoomApp: ...

    @property
    def actions(self) -> ConsolePod:
        """The pod's commands, run off the event loop (see loomtui/tui/pod.py)."""
        return self.app.actions

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.post_message(WorkerFailed(event.worker))
