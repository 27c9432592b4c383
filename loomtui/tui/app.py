"""LoomApp: the console. Built by `make_app` from a pod path and a config so
tests can fix the clock, time zone, theme and data.

Global bindings: ? help, ctrl+p command palette, T cycle theme, q quit.

The console reads the store, never the agents' terminals: a worker checks
`PRAGMA data_version` up to 4 times a second and, when another process has
committed, reads the fleet off the event loop and publishes a `PodState` that
the screens render by keyed cell updates. Ages tick once a second without
reading the store.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from loomtui.config import Config, supervisor_name
from loomtui.store.aio import AsyncStore
from loomtui.store.agents import Agent
from loomtui.store.db import db_path, describe_error
from loomtui.tui.commands import FleetCommands
from loomtui.tui.model import PodState
from loomtui.tui.screens.agent import AgentScreen
from loomtui.tui.screens.fleet import FleetScreen
from loomtui.tui.screens.help import HelpScreen
from loomtui.tui.themes import APP_VARIABLES, DEFAULT_THEME, load_themes

TICK_SECONDS = 1.0  # how often ages ("3m ago") move on without new data


class LoomApp(App[None]):
    """The LoomTUI console. ? help, ctrl+p palette, T theme, q quit."""

    TITLE = "LoomTUI"
    COMMANDS = App.COMMANDS | {FleetCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("T", "cycle_theme", "Theme", show=False, id="cycle_theme"),
    ]
    CSS = """
    Screen { background: $background; }
    DataTable > .datatable--header { text-style: bold; }
    """

    def __init__(
        self,
        pod: Path,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
        live: bool = True,
        theme: str | None = None,
        supervisor: str | None = None,
    ) -> None:
        super().__init__()
        self.pod = pod
        self.pod_name = pod.name
        self.config = config
        self.clock = clock
        self.tz = tz
        self.live = live
        self.supervisor = supervisor or supervisor_name()
        self.requested_theme = theme or config.console.theme
        self.store: AsyncStore
        self.pod_state: PodState | None = None
        self.pod_changed_signal: Signal[PodState] = Signal(self, "pod-changed")
        self.loom_themes: tuple[str, ...] = ()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLES)

    async def on_mount(self) -> None:
        loaded = load_themes(self.pod / "themes")
        for theme in loaded.themes:
            self.register_theme(theme)
        self.loom_themes = loaded.names
        problems = list(loaded.problems) + list(self.config.warnings)
        if self.requested_theme in self.available_themes:
            self.theme = self.requested_theme
        else:
            problems.append(f"unknown theme {self.requested_theme!r}; using {DEFAULT_THEME}")
            self.theme = DEFAULT_THEME
        if self.config.keymap:
            self.set_keymap(dict(self.config.keymap))
        for problem in problems:  # reported once, at start
            self.notify(problem, severity="warning", timeout=10)
        self.store = await AsyncStore.open(db_path(self.pod))
        await self.refresh_state()
        await self.push_screen(FleetScreen())
        if self.live:
            self.watch_store()

    async def on_unmount(self) -> None:
        if hasattr(self, "store"):
            await self.store.close()

    # -- the live loop -------------------------------------------------------

    async def refresh_state(self) -> None:
        """Read the fleet from the store and publish it."""
        self._publish(tuple(await self.store.fetch_agents()))

    def _publish(self, agents: tuple[Agent, ...]) -> None:
        self.pod_state = PodState(agents, self.clock(), self.config.console.stall_after)
        self.pod_changed_signal.publish(self.pod_state)

    @work(exclusive=True, group="store-watch", exit_on_error=False)
    async def watch_store(self) -> None:
        interval = 1.0 / self.config.console.refresh_hz
        seen: int | None = None
        last_publish = self.clock()
        failing = ""
        while True:
            await asyncio.sleep(interval)
            try:
                version = await self.store.data_version()
                if version != seen:
                    seen = version
                    await self.refresh_state()
                    last_publish = self.clock()
                elif self.pod_state is not None and self.clock() - last_publish >= TICK_SECONDS:
                    self._publish(self.pod_state.agents)
                    last_publish = self.clock()
                if failing:
                    failing = ""
                    self.notify("The pod store answers again; live updates resumed.", timeout=5)
            except sqlite3.Error as exc:
                # A locked or vanished store: say so once, keep the last picture, retry.
                if str(exc) != failing:
                    failing = str(exc)
                    self.notify(f"Live updates paused: {describe_error(self.store.path, exc)}",
                                title="Pod store", severity="error", timeout=15)
                await asyncio.sleep(1.0)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Worker failures are handled here, in one place."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(f"{event.worker.name or 'background work'} failed: {error}",
                        title="Error", severity="error", timeout=15)

    # -- navigation and actions -------------------------------------------

    def open_agent(self, agent_id: int) -> None:
        if self.pod_state is not None and self.pod_state.agent(agent_id) is not None:
            self.push_screen(AgentScreen(agent_id))

    def _fleet(self) -> FleetScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, FleetScreen)), None)

    def fleet_sort(self, mode: str) -> None:
        if fleet := self._fleet():
            fleet.set_sort(mode)

    def fleet_filter(self, query: str) -> None:
        if fleet := self._fleet():
            fleet.set_filter(query)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        own, movement = screen_keys(self)
        self.push_screen(HelpScreen(self._screen_title(), own, movement))

    def _screen_title(self) -> str:
        return f"Keys: {type(self.screen).__name__.removesuffix('Screen')}"

    def action_cycle_theme(self) -> None:
        names = self.loom_themes or (DEFAULT_THEME,)
        index = names.index(self.theme) + 1 if self.theme in names else 0
        self.theme = names[index % len(names)]
        self.notify(f"Theme: {self.theme}", timeout=2)


def screen_keys(app: App) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(key, description, binding id) for every key active on the current
    screen: its own and the app's first, then the focused widget's movement keys."""
    own: list[tuple[str, str, str]] = []
    movement: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for active in app.screen.active_bindings.values():
        binding = active.binding
        label = app.get_key_display(binding)
        if (label, binding.action) in seen:
            continue
        seen.add((label, binding.action))
        entry = (label, binding.description or binding.action, binding.id or "")
        (own if binding.id or binding.show else movement).append(entry)
    own.append(("ctrl+p", "Command palette", ""))
    return own, movement


def make_app(pod: Path, config: Config, **options) -> LoomApp:
    """The console for the pod at `pod`; see LoomApp for the options."""
    return LoomApp(pod, config, **options)
