"""LoomApp: the console. Built by `make_app` from a pod path and a config so
tests can fix the clock, time zone, theme and data.

Global bindings: ? help, ctrl+p command palette, T cycle theme, q quit; n the next
agent that needs a human; i, b, m, L the top-level views (each opens over the fleet,
never over another view, so esc from any of them is the fleet again).

Screens change the pod through one handle, `app.actions` (loomtui/tui/pod.py, the
plain commands in loomtui/actions.py); widgets post messages to their screen, and the
app opens screens on the cross-cutting ones (loomtui/tui/messages.py).

The console reads the store, never the agents' terminals: a worker checks
`PRAGMA data_version` up to 4 times a second and, when another process has
committed, reads the fleet off the event loop and publishes a `PodState` that
the screens render by keyed cell updates. Ages tick once a second without
reading the store.

A live console announces itself (loomtui/store/presence.py): its supervisor and
what it looks at, every few seconds and whenever that changes; the headers show
who else is online. A gate that leaves the inbox because someone else decided it
(another console, `loomtui approve`, the demo's sam) is told in a short notice,
and `gates_closed_signal` tells open gate dialogs at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import NamedTuple

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from loomtui.actions import PodActions
from loomtui.config import Config
from loomtui.store import presence
from loomtui.store.agents import Agent
from loomtui.store.aio import AsyncStore
from loomtui.store.db import StoreError, db_path, describe_error
from loomtui.store.gates import Gate, who_decided
from loomtui.supervisors import Decider, current_decider
from loomtui.tui import model
from loomtui.tui.commands import FleetCommands
from loomtui.tui.messages import AgentSelected, FleetFilterChosen, FleetSortChosen, WorkerFailed
from loomtui.tui.model import PodState
from loomtui.tui.pod import ConsolePod
from loomtui.tui.screens.agent import AgentScreen
from loomtui.tui.screens.fleet import FleetScreen
from loomtui.tui.screens.help import HelpScreen
from loomtui.tui.themes import APP_VARIABLES, DEFAULT_THEME, load_themes

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0  # how often ages ("3m ago") move on without new data
STOP_WAIT = 10.0  # seconds a background service gets to let go of its lease at exit
# New gates on a busy pod (200 agents make one a second) must not bury the fleet under
# pop-ups or ring without pause: at most POPUP_MAX pop-ups per POPUP_WINDOW seconds, then
# one line saying how many more came (the header and the inbox count them all), and the
# bell at most once per BELL_GAP seconds.
POPUP_WINDOW = 10.0
POPUP_MAX = 3
BELL_GAP = 3.0


class Service(NamedTuple):
    """A background service in a thread worker: `stop` asks it to end; `started` is set
    once its thread runs and `done` once it has ended (its lease given up)."""

    name: str
    group: str
    stop: threading.Event
    started: threading.Event
    done: threading.Event


class LoomApp(App[None]):
    """The LoomTUI console. ? help, ctrl+p palette, T theme, q quit."""

    TITLE = "LoomTUI"
    COMMANDS = App.COMMANDS | {FleetCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("i", "approvals", "Inbox", id="approvals"),
        Binding("b", "budgets", "Budgets", id="budgets"),
        Binding("m", "memory", "Memory", id="memory"),
        Binding("L", "audit", "Audit log", show=False, id="audit"),
        Binding("n", "next_need", "Needs you", id="next_need"),
        Binding("T", "cycle_theme", "Theme", show=False, id="cycle_theme"),
        Binding("o", "reach_agent", "Agent's pane", show=False, id="reach_agent"),
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
        ingest: bool | None = None,
        environ: Mapping[str, str] | None = None,
        decider: Decider | None = None,
    ) -> None:
        super().__init__()
        self.pod = pod
        self.pod_name = pod.name
        self.config = config
        self.clock = clock
        self.tz = tz
        self.live = live
        # Every live console runs an ingester; the store's lease lets one of them work.
        self.ingest = live if ingest is None else ingest
        self.ingest_environ = environ
        self.differ = None  # the DiffService, when this console runs one
        self.services: list[Service] = []
        self._marks: tuple = ()
        # Decisions are recorded as this process's OS account; `supervisor` (else
        # $LOOM_USER) is only the name shown beside it.
        decider = decider or current_decider()
        self.decider = decider._replace(display=supervisor) if supervisor else decider
        self.supervisor = self.decider.display
        self.actions = ConsolePod(PodActions(pod, config, self.decider, clock=clock, tz=tz),
                                  report=self._store_failed, after_write=self.refresh_state)
        self.requested_theme = theme or config.console.theme
        self.store: AsyncStore
        self.pod_state: PodState | None = None
        self.pod_changed_signal: Signal[PodState] = Signal(self, "pod-changed")
        # Gates that left the inbox (decided here or elsewhere, expired, cancelled), as they
        # are now: open gate dialogs close their deciding at once.
        self.gates_closed_signal: Signal[tuple[Gate, ...]] = Signal(self, "gates-closed")
        self._presence: tuple[presence.Presence, ...] = ()
        self._closed_told: set[int] = set()  # gates whose leaving the inbox was published
        self._announced: tuple[str, str] | None = None  # what the last heartbeat said we look at
        self._last_beat = 0.0  # time.monotonic() of the last heartbeat
        self._beating = False  # a heartbeat is on its way to the store
        self.loom_themes: tuple[str, ...] = ()
        self._last_gate_seen = 0  # highest gate id announced, so none rings twice
        self._popups: list[float] = []  # monotonic times of the gate pop-ups shown lately
        self._held_popups = 0  # new gates not popped up in the current window
        self._held_said = float("-inf")  # when "N more new gates" was last said
        self._last_bell = float("-inf")
        self._ungoverned_told: set[tuple[int, float]] = set()  # (agent, marked at) rung for

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(APP_VARIABLES)

    async def on_mount(self) -> None:
        # Thread workers and `asyncio.to_thread` share the loop's default executor, whose
        # size follows the CPU count (6 threads on 2 cores); the ingester, the diff service
        # and the idle watcher hold one each for the console's life. Give the short store
        # commands room beside them, whatever the machine.
        from concurrent.futures import ThreadPoolExecutor

        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=16, thread_name_prefix="loomtui"))
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
        if self.pod_state is not None and self.pod_state.gates:
            self._last_gate_seen = max(g.id for g in self.pod_state.gates)  # no bell for old ones
        if self.pod_state is not None:  # nor for agents marked ungoverned before we started
            self._ungoverned_told = {(a.id, a.ungoverned_at) for a in self.pod_state.agents
                                     if a.ungoverned_at is not None}
        await self.push_screen(FleetScreen())
        if self.ingest:
            self._start_ingest()
            self._start_diffs()
        if self.live:
            await self._heartbeat()
            self.set_interval(1.0, self._presence_tick)
            self.watch_store()

    # -- background services ------------------------------------------------------------

    def _start_ingest(self) -> None:
        from loomtui.ingest.pricing import PriceError
        from loomtui.ingest.service import IngestService

        try:
            ingester = IngestService(self.pod, self.config, role="console", tz=self.tz,
                                     environ=self.ingest_environ)
        except PriceError as exc:  # a bad prices.json override: say so, run without ingest
            self.notify(f"Token ingest is off: {exc}", title="Prices", severity="error", timeout=15)
            return
        self._run_service(ingester.run, "Token ingest", "ingest")

    def _start_diffs(self) -> None:
        """The diff service in two workers: its lease and discovery in a thread, its
        watcher (watchfiles.awatch) on the event loop."""
        from loomtui.git.service import DiffService
        from loomtui.hooks.fingerprint import recompute
        from loomtui.ingest.service import holder_name

        git = self.config.git
        self.differ = DiffService(self.pod, bases=dict(git.bases), repos=git.repos,
                                  holder=holder_name("console"), on_config=recompute)
        self._run_service(self.differ.run, "Diff watching", "diffs")
        self.run_worker(self.differ.watcher.run(), name="Diff watching", group="diffs",
                        exit_on_error=False)

    def _run_service(self, run: Callable[[threading.Event], None], name: str, group: str) -> None:
        """`run(stop)` in a thread worker until `stop` is set; its failure reaches
        on_worker_state_changed like any worker's."""
        service = Service(name, group, threading.Event(), threading.Event(), threading.Event())
        self.services.append(service)

        def serve() -> None:
            service.started.set()
            try:
                run(service.stop)
            finally:
                service.done.set()

        self.run_worker(serve, name=name, group=group, thread=True, exit_on_error=False)

    def _stop_services(self, group: str | None = None) -> list[Service]:
        """Ask the services (of `group`, else all) to stop; the ones asked."""
        asked = [s for s in self.services if group is None or s.group == group]
        for service in asked:
            service.stop.set()
        if self.differ is not None and group in (None, "diffs"):
            self.differ.watcher.stop()
        return asked

    async def on_unmount(self) -> None:
        # Workers are cancelled by now, but a thread runs on until asked: ask, and give
        # each the time to let go of its lease so another console takes over at once. (A
        # worker cancelled before its thread started never runs: nothing to wait for.)
        for service in self._stop_services():
            if service.started.is_set():
                await asyncio.to_thread(service.done.wait, STOP_WAIT)
        if self._announced is not None:  # gone from the others' headers; our claims lapse now
            try:
                await asyncio.to_thread(self.actions.actions.leave)
            except (StoreError, sqlite3.Error) as exc:  # the row goes stale instead
                log.warning("could not remove this console's presence: %s", exc)
        if hasattr(self, "store"):
            await self.store.close()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.worker_failed(event.worker)

    def on_worker_failed(self, event: WorkerFailed) -> None:
        self.worker_failed(event.worker)  # a screen's (LoomScreen sends them here)

    def worker_failed(self, worker: Worker) -> None:
        """Worker failures are handled here, in one place: a background service that
        stops says so once (the console goes on, but tokens and budget enforcement, or
        diffs, are no longer live) and takes its partner worker down with it, so its
        lease goes to another console; any other worker's failure is reported."""
        error = worker.error
        if worker.group in ("ingest", "diffs"):
            log.error("%s stopped", worker.name, exc_info=error)
            self._stop_services(worker.group)
            self.notify(f"{worker.name} stopped: {error}. Restart the console, or run "
                        "`loomtui ingest` to see the error.", title=worker.name, severity="error",
                        timeout=20)
            return
        self.notify(f"{worker.name or 'background work'} failed: {error}",
                    title="Error", severity="error", timeout=15, markup=False)

    # -- the live loop -------------------------------------------------------

    async def refresh_state(self) -> None:
        """Read the fleet and the inbox from the store and publish them."""
        agents = tuple(await self.store.fetch_agents())
        gates = tuple(await self.store.fetch_pending_gates(self.clock()))
        # Budgets and diffs change far less often than agents: read them again only when
        # their tables say so (a max() over a small table costs less than the reads).
        marks = await self.store.change_marks()
        self._presence = tuple(await self.store.fetch_presence(self.clock()))
        previous = self.pod_state
        if previous is not None:
            await self._closed_gates(previous.gates, gates)
        if previous is None or marks != self._marks:
            self._marks = marks
            budgets = tuple(await self.store.fetch_budget_states())
            worktrees = tuple(await self.store.fetch_worktrees())
            collisions = tuple(await self.store.fetch_collisions()) if worktrees else ()
            forecasts = tuple(await self.store.fetch_forecasts()) if worktrees else ()
            self._publish(agents, gates, budgets, (worktrees, collisions, forecasts))
        else:
            self._publish(agents, gates)

    def _publish(self, agents: tuple[Agent, ...], gates: tuple[Gate, ...], budgets=None,
                 diffs: tuple[tuple, tuple, tuple] | None = None) -> None:
        previous = self.pod_state
        if budgets is None:
            budgets = previous.budgets if previous is not None else ()
        if diffs is None:
            diffs = ((previous.worktrees, previous.collisions, previous.forecasts) if previous is not None
                     else ((), (), ()))
        self.pod_state = PodState(agents, self.clock(), self.config.console.stall_after, gates,
                                  budgets, *diffs, presence=self._presence, pinned=self.config.baseline)
        if previous is not None:
            self._announce_new_gates(previous, self.pod_state)
            self._announce_ungoverned(self.pod_state)
            if budgets is not previous.budgets:
                self._announce_budgets(previous, self.pod_state)
        self.pod_changed_signal.publish(self.pod_state)

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification, ours and Textual's, with control characters escaped: many
        quote agents' names, commands and titles. Those also pass markup=False, so an
        agent's `[...]` is never read as markup."""
        from loomtui.text import printable

        kwargs = {} if timeout is None else {"timeout": timeout}
        super().notify(printable(message, multiline=True), title=printable(title), severity=severity,
                       markup=markup, **kwargs)

    def _announce_new_gates(self, before: PodState, now: PodState) -> None:
        """A new gate rings the terminal bell and shows a notification, as `[notify]`
        says: which risks (budget gates: `over_budget`), `bell`, `popup`."""
        known = {gate.id for gate in before.gates}
        fresh = [gate for gate in now.gates if gate.id not in known and gate.id > self._last_gate_seen]
        if not fresh:
            return
        self._last_gate_seen = max(gate.id for gate in fresh)
        wanted = self.config.notify
        fresh = [gate for gate in fresh
                 if (wanted.over_budget if gate.risk == "budget" else gate.risk in wanted.gate_risks)]
        if not fresh:
            return
        moment = time.monotonic()
        if wanted.bell and moment - self._last_bell >= BELL_GAP:
            self._last_bell = moment
            self.bell()
        if not wanted.popup:
            return
        self._popups = [t for t in self._popups if moment - t < POPUP_WINDOW]
        for gate in fresh:
            if len(self._popups) >= POPUP_MAX:
                self._held_popups += 1
                continue
            self._popups.append(moment)
            self.notify(f"{gate.agent_name or 'an agent'}: {gate.summary}  (i opens the inbox)",
                        title=f"Approval needed · {gate.risk}", severity="warning", timeout=8, markup=False)
        if self._held_popups and moment - self._held_said >= POPUP_WINDOW:
            plural = "s" if self._held_popups != 1 else ""
            self.notify(f"and {self._held_popups} more new gate{plural} waiting in the inbox (i)",
                        title="Approvals", severity="warning", timeout=8)
            self._held_said, self._held_popups = moment, 0

    def _announce_ungoverned(self, now: PodState) -> None:
        """An agent newly marked ungoverned by evidence (calls its hooks never reported)
        rings the bell once per marking (within BELL_GAP, like gates) and says so, as
        `[notify]` ungoverned, bell and popup say."""
        fresh = [a for a in now.agents if a.ungoverned_at is not None and a.status != "done"
                 and (a.id, a.ungoverned_at) not in self._ungoverned_told]
        if not fresh:
            return
        self._ungoverned_told.update((a.id, a.ungoverned_at) for a in fresh)
        wanted = self.config.notify
        if not wanted.ungoverned:
            return
        moment = time.monotonic()
        if wanted.bell and moment - self._last_bell >= BELL_GAP:
            self._last_bell = moment
            self.bell()
        if wanted.popup:
            for agent in fresh[:POPUP_MAX]:
                self.notify(f"{agent.name}: {model.unreported(agent)}  (n goes there)",
                            title="Ungoverned agent", severity="error", timeout=10, markup=False)

    async def _closed_gates(self, before: tuple[Gate, ...], now: tuple[Gate, ...]) -> None:
        """Gates that left the inbox since the last reading: read as they are now, sent to
        the open dialogs, and those decided by someone else told in a short notice."""
        # Two readings can overlap (the live loop's and one after a write): each gate once.
        gone = sorted({g.id for g in before} - {g.id for g in now} - self._closed_told)
        if not gone:
            return
        self._closed_told.update(gone)
        closed = tuple(await self.store.fetch_gates(gone))
        self.gates_closed_signal.publish(closed)
        elsewhere = [g for g in closed if g.status in ("approved", "rejected")
                     and g.id not in self.actions.actions.decided_here]
        for gate in elsewhere[:3]:
            because = f" ({gate.reason})" if gate.reason else ""
            self.notify(f"{who_decided(gate)} {gate.status} gate {gate.id} · {gate.agent_name or 'an agent'}: "
                        f"{gate.summary}{because}", title="Decided elsewhere", timeout=6, markup=False)
        if len(elsewhere) > 3:
            self.notify(f"and {len(elsewhere) - 3} more gates decided elsewhere", title="Decided elsewhere",
                        timeout=6)

    # -- presence --------------------------------------------------------------------------

    @property
    def presence_id(self) -> str:
        """This console's presence id (its claims name it)."""
        return self.actions.actions.presence_id

    def others_online(self) -> list[presence.Presence]:
        """The other live consoles, as last read."""
        state = self.pod_state
        return presence.others(state.presence if state is not None else (), self.presence_id)

    def claim_of(self, gate: Gate) -> presence.Claim | None:
        """The gate's claim if it holds (its console is live; this one always is), else None."""
        live = self.pod_state.live_consoles if self.pod_state is not None else frozenset()
        return presence.live_claim(gate, live | {self.presence_id})

    def holds(self, claim: presence.Claim) -> bool:
        """Is `claim` this supervisor's own?"""
        return self.actions.actions.holds(claim)

    def looking_at(self) -> tuple[str, str]:
        """(screen, subject) this console shows, for the others' headers: ("inbox", ""),
        ("agent", "auth-1"), ("gate", "12"). A modal that names nothing (help, a reason)
        counts as the screen under it."""
        for screen in reversed(self.screen_stack):
            kind = type(screen).__name__
            if kind == "GateScreen":
                return "gate", str(screen.gate.id)
            if kind == "AgentScreen":
                agent = self.pod_state.agent(screen.agent_id) if self.pod_state else None
                return "agent", agent.name if agent else str(screen.agent_id)
            if kind in SCREEN_NAMES:
                return SCREEN_NAMES[kind], ""
        return "", ""

    def _presence_tick(self) -> None:
        """Once a second: a heartbeat when what we look at changed or one is due (never
        two at once: a slow store delays the next)."""
        if self._beating:
            return
        if self._announced != self.looking_at() or time.monotonic() - self._last_beat >= presence.HEARTBEAT:
            self._beating = True
            self.run_worker(self._heartbeat(), group="presence", exit_on_error=False)

    async def _heartbeat(self) -> None:
        """Announce this console. A failing store is not reported here: the live loop
        says so once, and the next heartbeat tries again."""
        looking = self.looking_at()
        self._last_beat = time.monotonic()
        try:
            await asyncio.to_thread(self.actions.actions.announce, *looking)
            self._announced = looking
        except (StoreError, sqlite3.Error) as exc:
            log.warning("presence heartbeat failed: %s", exc)
        finally:
            self._beating = False

    async def action_reach_agent(self) -> None:
        """Switch this supervisor's tmux client to the pane of the agent in view (the
        screen's `agent_in_view()`), or say why it cannot (loomtui/tmux.py)."""
        from loomtui.tmux import reach

        in_view = getattr(self.screen, "agent_in_view", None)
        agent_id = in_view() if callable(in_view) else None
        agent = self.pod_state.agent(agent_id) if self.pod_state is not None and agent_id is not None else None
        if agent is None:
            self.notify("No agent here: choose one in the fleet or the inbox, then o.", timeout=4)
            return
        found = await asyncio.to_thread(reach, agent.name, agent.tmux_pane, agent.tmux_socket, os.environ)
        self.notify(found.message, title="" if found.ok else "Agent's pane",
                    severity="information" if found.ok else "warning", timeout=4 if found.ok else 10,
                    markup=False)

    def _announce_budgets(self, before: PodState, now: PodState) -> None:
        """A budget crossing the warning level (80 % by default), or its limit, notifies."""
        warn_at = self.config.budgets.warn_at
        names = {str(a.id): a.name for a in now.agents}
        for b in now.budgets:
            if not b.limited:
                continue
            old = before.budget(b.scope, b.scope_ref, b.period)
            was = old.fraction if old is not None and old.limited else 0.0
            who = {"pod": "the pod", "repo": b.scope_ref.rsplit("/", 1)[-1]}.get(
                b.scope, names.get(b.scope_ref, f"agent {b.scope_ref}"))
            if b.fraction >= 1.0 > was:
                if self.config.notify.popup and self.config.notify.over_budget:  # [notify]
                    self.notify(f"{who}: {b.describe()}. Its tool calls now wait for approval; "
                                "b opens Budgets to raise it.", title="Over budget", severity="error",
                                timeout=10, markup=False)
            elif b.fraction >= warn_at > was:
                self.notify(f"{who}: {b.describe()}", title="Budget warning", severity="warning",
                            timeout=6, markup=False)

    @work(exclusive=True, group="store-watch", exit_on_error=False)
    async def watch_store(self) -> None:
        interval = 1.0 / self.config.console.refresh_hz
        seen: int | None = None
        last_publish = last_sweep = self.clock()
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
                    live = tuple(g for g in self.pod_state.gates if g.expires_at > self.clock())
                    self._publish(self.pod_state.agents, live, self.pod_state.budgets)
                    last_publish = self.clock()
                if self.clock() - last_sweep >= TICK_SECONDS:
                    last_sweep = self.clock()
                    await self._cancel_orphans()
                if failing:
                    failing = ""
                    self.notify("The pod store answers again; live updates resumed.", timeout=5)
            except Exception as exc:
                # A locked or vanished store (or anything else): say so once,
                # keep the last picture, retry. The live view never just freezes.
                text = describe_error(self.store.path, exc) if isinstance(exc, sqlite3.Error) else \
                    f"{type(exc).__name__}: {exc}"
                if text != failing:
                    failing = text
                    self.notify(f"Live updates paused: {text}", title="Pod store",
                                severity="error", timeout=15, markup=False)
                await asyncio.sleep(1.0)

    async def _cancel_orphans(self) -> None:
        """Cancel the gates whose waiting hook on this host is gone, about once a second
        while gates wait (see PodActions.cancel_orphans)."""
        waiting = [g for g in self.pod_state.gates if g.waiter_pid is not None] if self.pod_state else []
        if waiting:
            await self.actions.cancel_orphans(waiting)

    def _store_failed(self, text: str) -> None:
        """A pod command met a failing store (locked past the busy timeout, gone,
        corrupt): said, and the console stays up."""
        self.notify(text, title="Pod store", severity="error", timeout=10, markup=False)

    # -- navigation and actions -------------------------------------------

    def action_approvals(self) -> None:
        from loomtui.tui.screens.approvals import ApprovalsScreen

        self._open_view(ApprovalsScreen)

    def action_memory(self) -> None:
        from loomtui.tui.screens.memory import MemoryScreen

        self._open_view(MemoryScreen)

    def action_budgets(self) -> None:
        from loomtui.tui.screens.budgets import BudgetsScreen

        self._open_view(BudgetsScreen)

    def action_audit(self) -> None:
        from loomtui.tui.screens.audit import AuditScreen

        self._open_view(AuditScreen)

    def _open_view(self, view: type) -> None:
        """A top-level view opens right over the fleet: what was above the fleet goes, so
        views never stack and esc from any of them is the fleet."""
        if isinstance(self.screen, view):
            return
        self._back_to_fleet()
        self.push_screen(view())

    def _back_to_fleet(self) -> FleetScreen | None:
        """Close every screen above the fleet (the stack changes at once; their removal
        follows in order)."""
        fleet = self._fleet()
        if fleet is not None:
            while self.screen is not fleet and len(self.screen_stack) > 1:
                self.pop_screen()
        return fleet

    def action_next_need(self) -> None:
        """The next agent that needs a human, in triage order after the one in view (the
        first when that one needs nobody): on the Agent screen it opens in its place;
        anywhere else the fleet comes back with the cursor on it."""
        state = self.pod_state
        needing = [a.id for a in state.needing()] if state is not None else []
        if not needing:
            self.notify("Nobody needs a human right now.", timeout=3)
            return
        screen = self.screen
        if isinstance(screen, AgentScreen):
            current = screen.agent_id
        else:
            fleet = self._fleet()
            current = fleet.query_one("#fleet").cursor_id if fleet is not None and fleet is screen else None
        after = needing[(needing.index(current) + 1) % len(needing)] if current in needing else needing[0]
        if isinstance(screen, AgentScreen):
            self.switch_screen(AgentScreen(after))
            return
        fleet = self._back_to_fleet()
        if fleet is not None:
            fleet.select_agent(after)

    def open_agent(self, agent_id: int) -> None:
        """The Agent screen of `agent_id` (while the pod has that agent)."""
        if self.pod_state is not None and self.pod_state.agent(agent_id) is not None:
            self.push_screen(AgentScreen(agent_id))

    def on_agent_selected(self, event: AgentSelected) -> None:
        self.open_agent(event.agent_id)

    def _fleet(self) -> FleetScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, FleetScreen)), None)

    def on_fleet_sort_chosen(self, event: FleetSortChosen) -> None:
        if fleet := self._fleet():
            if event.mode == "reverse":
                fleet.action_reverse_sort()
            else:
                fleet.set_sort(event.mode)

    def on_fleet_filter_chosen(self, event: FleetFilterChosen) -> None:
        if fleet := self._fleet():
            fleet.set_filter(event.query)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        own, movement = screen_keys(self)
        self.push_screen(HelpScreen(self._screen_title(), own, movement,
                                    notes=getattr(self.screen, "HELP_NOTES", "")))

    def _screen_title(self) -> str:
        return f"Keys: {type(self.screen).__name__.removesuffix('Screen')}"

    def action_cycle_theme(self) -> None:
        names = self.loom_themes or (DEFAULT_THEME,)
        index = names.index(self.theme) + 1 if self.theme in names else 0
        self.theme = names[index % len(names)]
        self.notify(f"Theme: {self.theme}", timeout=2)


# What the others' headers call each screen (GateScreen and AgentScreen name their subject).
SCREEN_NAMES = {"FleetScreen": "fleet", "ApprovalsScreen": "inbox", "BudgetsScreen": "budgets",
                "MemoryScreen": "memory", "AuditScreen": "audit"}


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
