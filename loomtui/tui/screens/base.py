"""LoomScreen: the base of the console's screens.

It types `self.app` as the LoomApp (its pod state, clock, time zone and store) and
offers `self.actions`, the one handle through which a screen changes the pod
(loomtui/tui/pod.py). Widgets post messages to their screen; a screen never calls
another screen. A screen's failed worker goes to the app's one handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen, ScreenResultType
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from loomtui.tui.messages import WorkerFailed

if TYPE_CHECKING:
    from loomtui.tui.app import LoomApp
    from loomtui.tui.model import PodState
    from loomtui.tui.pod import ConsolePod
    from loomtui.tui.widgets.keyed_table import Column, KeyedTable


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


class LiveTableScreen(LoomScreen[None]):
    """A top-level view of one KeyedTable that follows the pod (Budgets, Grants): its
    columns chosen by width (`WIDE_COLUMNS` from `WIDE_FROM` columns, else
    `NARROW_COLUMNS`), redrawn on each pod state while it is the current screen and once
    when it comes back after being hidden. Subclasses set `TABLE` and write `redraw()`."""

    TABLE: type[KeyedTable]
    WIDE_COLUMNS: tuple[Column, ...]
    NARROW_COLUMNS: tuple[Column, ...]
    WIDE_FROM = 120

    _stale = False

    def on_mount(self) -> None:
        self._layout()
        self.app.pod_changed_signal.subscribe(self, self.show_state)
        self.redraw()

    def on_resize(self) -> None:
        self._layout()
        self.redraw()

    def on_screen_resume(self) -> None:
        if self._stale:
            self.redraw()

    def _layout(self) -> None:
        from loomtui.tui.widgets.keyed_table import KeyedTable

        width = self.size.width or self.app.size.width
        columns = self.WIDE_COLUMNS if width >= self.WIDE_FROM else self.NARROW_COLUMNS
        self.query_one(self.TABLE).set_columns(columns, KeyedTable.flex_width(width, columns))

    def show_state(self, state: PodState) -> None:
        if not self.is_current:
            self._stale = True  # skip rendering what is hidden
            return
        self.redraw()

    def redraw(self) -> None:
        raise NotImplementedError

    # -- the filter: an Input `#{FILTER_ID}` in a bar `#{FILTER_ID}-bar`, shown by `/` --

    FILTER_ID: str
    query_text = ""

    def action_filter(self) -> None:
        self.query_one(f"#{self.FILTER_ID}-bar").add_class("-active")
        self.query_one(f"#{self.FILTER_ID}").focus()

    def action_back(self) -> None:
        """esc: clear the filter first, then leave."""
        field = self.query_one(f"#{self.FILTER_ID}", Input)
        bar = self.query_one(f"#{self.FILTER_ID}-bar")
        if field.value or bar.has_class("-active"):
            field.value = ""
            bar.remove_class("-active")
            self.query_one(self.TABLE).focus()
            return
        self.app.pop_screen()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == self.FILTER_ID:
            self.query_text = event.value
            self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == self.FILTER_ID:
            if not event.value:
                self.query_one(f"#{self.FILTER_ID}-bar").remove_class("-active")
            self.query_one(self.TABLE).focus()
