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
from collections.abc import Callable, Mapping
from typing import TypeVar
from datetime import tzinfo
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from loomtui.config import Config
from loomtui.store.aio import AsyncStore
from loomtui.store.agents import Agent
from loomtui.store.gates import Gate
from loomtui.store.db import db_path, describe_error
from loomtui.supervisors import Decider, current_decider
from loomtui.tui.commands import FleetCommands
from loomtui.tui.model import PodState
from loomtui.tui.screens.agent import AgentScreen
from loomtui.tui.screens.fleet import FleetScreen
from loomtui.tui.screens.help import HelpScreen
from loomtui.tui.themes import APP_VARIABLES, DEFAULT_THEME, load_themes

T = TypeVar("T")
TICK_SECONDS = 1.0  # how often ages ("3m ago") move on without new data


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
        self.ingester = None
        self.differ = None
        self._marks: tuple = ()
        # Decisions are recorded as this process's OS account; `supervisor` (else
        # $LOOM_USER) is only the name shown beside it.
        decider = decider or current_decider()
        self.decider = decider._replace(display=supervisor) if supervisor else decider
        self.supervisor = self.decider.display
        self.requested_theme = theme or config.console.theme
        self.store: AsyncStore
        self.pod_state: PodState | None = None
        self.pod_changed_signal: Signal[PodState] = Signal(self, "pod-changed")
        self.loom_themes: tuple[str, ...] = ()
        self._last_gate_seen = 0  # highest gate id announced, so none rings twice

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
        if self.pod_state is not None and self.pod_state.gates:
            self._last_gate_seen = max(g.id for g in self.pod_state.gates)  # no bell for old ones
        await self.push_screen(FleetScreen())
        if self.ingest:
            self._start_ingest()
            self._start_diffs()
        if self.live:
            self.watch_store()

    def _start_ingest(self) -> None:
        from loomtui.ingest.pricing import PriceError
        from loomtui.ingest.service import IngestService

        try:
            self.ingester = IngestService(self.pod, self.config, role="console", tz=self.tz,
                                          environ=self.ingest_environ)
            self.ingester.start()
        except PriceError as exc:  # a bad prices.json override: say so, run without ingest
            self.notify(f"Token ingest is off: {exc}", title="Prices", severity="error", timeout=15)

    def _start_diffs(self) -> None:
        from loomtui.git.service import DiffService
        from loomtui.ingest.service import holder_name

        git = self.config.git
        self.differ = DiffService(self.pod, bases=dict(git.bases), repos=git.repos,
                                  holder=holder_name("console"))
        self.differ.start()

    async def on_unmount(self) -> None:
        if self.differ is not None:
            await asyncio.to_thread(self.differ.stop)
        if self.ingester is not None:
            await asyncio.to_thread(self.ingester.stop)
        if hasattr(self, "store"):
            await self.store.close()

    # -- the live loop -------------------------------------------------------

    async def refresh_state(self) -> None:
        """Read the fleet and the inbox from the store and publish them."""
        agents = tuple(await self.store.fetch_agents())
        gates = tuple(await self.store.fetch_pending_gates(self.clock()))
        # Budgets and diffs change far less often than agents: read them again only when
        # their tables say so (a max() over a small table costs less than the reads).
        marks = await self.store.change_marks()
        previous = self.pod_state
        if previous is None or marks != self._marks:
            self._marks = marks
            budgets = tuple(await self.store.fetch_budget_states())
            worktrees = tuple(await self.store.fetch_worktrees())
            collisions = tuple(await self.store.fetch_collisions()) if worktrees else ()
            self._publish(agents, gates, budgets, (worktrees, collisions))
        else:
            self._publish(agents, gates)

    def _publish(self, agents: tuple[Agent, ...], gates: tuple[Gate, ...], budgets=None,
                 diffs: tuple[tuple, tuple] | None = None) -> None:
        previous = self.pod_state
        if budgets is None:
            budgets = previous.budgets if previous is not None else ()
        if diffs is None:
            diffs = (previous.worktrees, previous.collisions) if previous is not None else ((), ())
        self.pod_state = PodState(agents, self.clock(), self.config.console.stall_after, gates,
                                  budgets, *diffs)
        if previous is not None:
            self._announce_new_gates(previous, self.pod_state)
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
        """A new gate rings the terminal bell and shows a notification."""
        known = {gate.id for gate in before.gates}
        fresh = [gate for gate in now.gates if gate.id not in known and gate.id > self._last_gate_seen]
        if not fresh:
            return
        self._last_gate_seen = max(gate.id for gate in fresh)
        self.bell()
        for gate in fresh[:3]:
            self.notify(f"{gate.agent_name or 'an agent'}: {gate.summary}  (i opens the inbox)",
                        title=f"Approval needed · {gate.risk}", severity="warning", timeout=8, markup=False)
        if len(fresh) > 3:
            self.notify(f"and {len(fresh) - 3} more waiting in the inbox", severity="warning")

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
                self._report_workers()
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
        """Cancel the gates whose waiting hook on this host is gone (killed, even with
        SIGKILL): nobody would act on a decision. Runs about once a second while
        gates wait; reads /proc in a thread and writes only when one is dead."""
        from loomtui.store.gates import cancel_orphans, waiter_gone

        waiting = [g for g in self.pod_state.gates if g.waiter_pid is not None] if self.pod_state else []
        if not waiting or not any(await asyncio.to_thread(lambda: [waiter_gone(g) for g in waiting])):
            return
        await self.in_store(lambda conn: cancel_orphans(conn, now=self.clock()))

    def _report_workers(self) -> None:
        """Say once when the ingester or the diff watcher has stopped with an error: the
        console goes on, but tokens (and budget enforcement) or diffs are no longer live."""
        for service, what in ((self.ingester, "Token ingest"), (self.differ, "Diff watching")):
            state = getattr(service, "state", "")
            if state.startswith("error") and getattr(service, "_reported", "") != state:
                service._reported = state
                self.notify(f"{what} stopped: {state[6:].strip()}. Restart the console, or run "
                            "`loomtui ingest` to see the error.", title=what, severity="error",
                            timeout=20)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Worker failures are handled here, in one place."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(f"{event.worker.name or 'background work'} failed: {error}",
                        title="Error", severity="error", timeout=15, markup=False)

    # -- navigation and actions -------------------------------------------

    def action_approvals(self) -> None:
        from loomtui.tui.screens.approvals import ApprovalsScreen

        if not isinstance(self.screen, ApprovalsScreen):
            self.push_screen(ApprovalsScreen())

    def action_memory(self) -> None:
        from loomtui.tui.screens.memory import MemoryScreen

        if not isinstance(self.screen, MemoryScreen):
            self.push_screen(MemoryScreen())

    def action_budgets(self) -> None:
        from loomtui.tui.screens.budgets import BudgetsScreen

        if not isinstance(self.screen, BudgetsScreen):
            self.push_screen(BudgetsScreen())

    async def set_budget(self, state, max_tokens: int | None, max_usd: float | None) -> None:
        """Change one budget's limit as this supervisor (audited), then recompute the
        budget state at once so the hook gates, or stops gating, from now on."""
        from loomtui.store import budgets

        if problem := await asyncio.to_thread(self.refusal):
            self.notify(problem, title="Not allowed", severity="error", timeout=10)
            return

        def work(conn: sqlite3.Connection) -> None:
            now = self.clock()
            budgets.set_limit(conn, scope=state.scope, scope_ref=state.scope_ref, period=state.period,
                              max_tokens=max_tokens, max_usd=max_usd, actor=self.decider.account, now=now)
            limits = self.config.budgets
            budgets.refresh(conn, limits.limits, now, self.tz, limits.week_starts)

        await self.in_store(work)
        await self.refresh_state()
        unit = " · ".join(x for x in (f"${max_usd:g}" if max_usd is not None else "",
                                      f"{max_tokens:,} tokens" if max_tokens is not None else "") if x)
        self.notify(f"{state.scope} {state.period} budget set to {unit or 'no limit'}", timeout=4)

    def action_audit(self) -> None:
        from loomtui.tui.screens.audit import AuditScreen

        if not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen())

    async def in_store(self, work: Callable[[sqlite3.Connection], T]) -> T | None:
        """Run `work(conn)` on a short-lived store connection in a thread: the
        same functions the CLI uses. A store that fails (locked past the busy
        timeout, gone, corrupt) is reported and gives None; the console stays up."""
        from loomtui.store.db import StoreError, connect

        def run() -> T:
            conn = connect(db_path(self.pod), create=False)
            try:
                return work(conn)
            finally:
                conn.close()

        try:
            return await asyncio.to_thread(run)
        except (StoreError, sqlite3.Error) as exc:
            text = str(exc) if isinstance(exc, StoreError) else describe_error(db_path(self.pod), exc)
            self.notify(text, title="Pod store", severity="error", timeout=10, markup=False)
            return None

    def refusal(self, gate: Gate | None = None) -> str | None:
        """Why this console may not decide (on `gate`), or None; see
        loomtui.supervisors.authorize. Reads /proc and the pod: call it off the loop."""
        from loomtui.supervisors import NotAllowed, authorize

        try:
            authorize(self.pod, self.config, self.decider, gate)
        except NotAllowed as exc:
            return str(exc)
        return None

    async def decide_gates(self, gates: list[Gate], *, approve: bool, reason: str) -> None:
        """Approve or reject gates as this supervisor. Conflicts (another
        supervisor was faster, the gate expired) and refusals (not an approver,
        an agent's own gate) are reported, never raised."""
        from loomtui.store.gates import GateError, decide

        def work(conn: sqlite3.Connection) -> list[tuple[bool, str]]:
            messages = []
            for gate in gates:
                if problem := self.refusal(gate):
                    messages.append((False, problem))
                    continue
                try:
                    # The approval records the content the supervisor saw on
                    # screen; if the action changed since, the hook voids it.
                    decide(conn, gate.id, approve=approve, actor=self.decider.account,
                           display=self.decider.display, reason=reason, now=self.clock(),
                           seen_hash=gate.content_hash)
                    verb = "Approved" if approve else "Rejected"
                    messages.append((True, f"{verb} gate {gate.id}: {gate.summary}"))
                except GateError as exc:
                    messages.append((False, str(exc)))
            return messages

        for ok, message in await self.in_store(work) or []:
            self.notify(message, severity="information" if ok else "error", timeout=3 if ok else 8,
                        markup=False)  # quotes the gate's summary
        await self.refresh_state()

    async def claim_gate(self, gate_id: int) -> None:
        from loomtui.store.gates import GateError, claim, get_gate

        def work(conn: sqlite3.Connection) -> str:
            try:
                if problem := self.refusal(get_gate(conn, gate_id)):
                    return problem
                claim(conn, gate_id, actor=self.decider.account, display=self.decider.display,
                      now=self.clock())
                return ""
            except GateError as exc:
                return str(exc)

        if problem := await self.in_store(work):
            self.notify(problem, severity="error", markup=False)
        await self.refresh_state()

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
