"""AgentScreen: one agent in detail. The Activity tab is its timeline, newest
first; the Usage tab its tokens per minute, per model, its context fill and budgets;
the Record tab how its gated calls were decided (per policy rule, with the streaks),
its test runs, reverts and budget overruns, and a grant suggestion when it earned one.

Bindings: esc back, 1 Activity, 2 Usage, 3 Diff (see diff_tab.py), 4 Memory (what the
agent wrote to the shared memory), 5 Record, j/k move.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Footer, Sparkline, Static, TabbedContent, TabPane
from textual.widgets.data_table import ColumnKey

from loomtui.store.agents import STATUS_SYMBOLS, Agent, Event
from loomtui.text import printable
from loomtui.tui import model
from loomtui.tui.model import PodState
from loomtui.tui.screens.base import LoomScreen
from loomtui.tui.screens.diff_tab import DiffTab
from loomtui.tui.widgets.cells import Cell

TIMELINE_LIMIT = 500


class AgentSummary(Static):
    """Who the agent is, where it works and what state it is in."""


class Timeline(DataTable[Cell]):
    """The agent's events, newest first. j/k move."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="timeline_down"),
        Binding("k", "cursor_up", "Up", show=False, id="timeline_up"),
    ]


class AgentScreen(LoomScreen[None]):
    """One agent: summary on top, tabs below. esc goes back to the fleet."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("1", "tab('activity')", "Activity", id="tab_activity"),
        Binding("2", "tab('usage')", "Usage", id="tab_usage"),
        Binding("3", "tab('diff')", "Diff", id="tab_diff"),
        Binding("4", "tab('agent-memory')", "Memory", id="tab_memory"),
        Binding("5", "tab('record')", "Record", id="tab_record"),
    ]

    DEFAULT_CSS = """
    AgentScreen { layout: vertical; overflow: hidden; }
    AgentSummary { height: auto; padding: 0 1; background: $panel; }
    #agent-tabs { height: 1fr; }
    #agent-tabs ContentSwitcher { height: 1fr; }
    #agent-tabs TabPane { height: 1fr; padding: 0; }
    Timeline { height: 1fr; }
    #usage-pane { padding: 0 1; }
    #usage-summary { height: auto; }
    #usage-spark { height: 4; margin: 1 0 0 0; }
    #usage-spark-label { height: 1; color: $text-muted; }
    #usage-models { height: auto; max-height: 12; margin: 1 0 0 0; }
    #record-pane { padding: 0 1; }
    #record-head { height: auto; }
    #record-rules { height: auto; max-height: 14; margin: 1 0 0 0; }
    #record-work { height: auto; margin: 1 0 0 0; }
    """

    def __init__(self, agent_id: int) -> None:
        super().__init__()
        self.agent_id = agent_id
        self._events_for: float | None = None  # last_activity_at the timeline shows
        self._usage_for: object = ()  # the usage figures the Usage tab shows
        self._record_for: object = ()  # what the Record tab was loaded for

    def compose(self) -> ComposeResult:
        yield AgentSummary(id="agent-summary")
        with TabbedContent(id="agent-tabs"):
            with TabPane("Activity", id="activity"):
                yield Timeline(id="timeline", cursor_type="row", zebra_stripes=True)
            with TabPane("Usage", id="usage"), VerticalScroll(id="usage-pane"):
                yield Static(id="usage-summary")
                yield Sparkline([], id="usage-spark")
                yield Static(id="usage-spark-label")
                yield DataTable(id="usage-models", cursor_type="none", show_cursor=False)
            with TabPane("Diff", id="diff"):
                yield DiffTab(self.agent_id)
            with TabPane("Memory", id="agent-memory"):
                yield Static(id="agent-memory-head")
                yield DataTable(id="agent-memory-list", cursor_type="row", zebra_stripes=True)
            with TabPane("Record", id="record"), VerticalScroll(id="record-pane"):
                yield Static(id="record-head")
                yield DataTable(id="record-rules", cursor_type="none", show_cursor=False)
                yield Static(id="record-work")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(Timeline)
        table.add_column("Time", key="time", width=8)
        table.add_column("Event", key="kind", width=16)
        table.add_column("Tool", key="tool", width=10)
        table.add_column("Summary", key="summary", width=self._summary_width())
        models = self.query_one("#usage-models", DataTable)
        for label, key in (("Model", "model"), ("Input", "in"), ("Output", "out"),
                           ("Cache write", "cw"), ("Cache read", "cr"), ("Cost", "cost")):
            models.add_column(label, key=key)
        rules = self.query_one("#record-rules", DataTable)
        for label, key in (("Rule", "rule"), ("Gated", "gated"), ("Appr.", "approved"),
                           ("Rej.", "rejected"), ("Denied", "denied"), ("Exp.", "expired"),
                           ("Granted", "granted"), ("Streak", "streak")):
            rules.add_column(label, key=key)
        rules.display = False  # until the record is read: no empty header on its own
        self.app.pod_changed_signal.subscribe(self, self.show_state)
        if self.app.pod_state is not None:
            self.render_state(self.app.pod_state)
        table.focus()

    def _summary_width(self) -> int:
        """The Summary column takes the rest of the row (fixed widths, so a summary is
        cut at the screen's edge, whatever order rows and layout arrive in)."""
        width = self.size.width or self.app.size.width
        return max(20, width - 8 - 16 - 10 - 3 * 2 - 2 - 2)

    def on_resize(self) -> None:
        table = self.query_one(Timeline)
        column = table.columns.get(ColumnKey("summary"))
        if column is not None and column.width != self._summary_width():
            column.width = self._summary_width()
            table.refresh()

    def agent_in_view(self) -> int | None:
        """This screen's agent (the app's `o` reaches its tmux pane)."""
        return self.agent_id

    def action_tab(self, tab: str) -> None:
        tabs = self.query_one("#agent-tabs", TabbedContent)
        # Focus leaves the old tab first: TabbedContent shows the pane of whatever holds
        # focus, so a focused widget left in the Diff tab (its file list) took the view
        # straight back there, and `2` seemed to do nothing.
        self.set_focus(None)
        tabs.active = tab
        if tab == "activity":
            self.query_one(Timeline).focus()
            return
        pane = tabs.get_pane(tab)
        focusable = next((w for w in pane.query("*") if w.focusable), None)
        if focusable is not None:
            focusable.focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "diff":
            self.query_one(DiffTab).activated()
        elif event.pane.id == "agent-memory":
            self.run_worker(self._load_memory(), group="agent-memory", exclusive=True,
                            exit_on_error=False)
        elif event.pane.id == "record":
            self._record_for = ()  # read it afresh whenever the tab is opened
            if self.app.pod_state is not None:
                self._refresh_record(self.app.pod_state)

    async def _load_memory(self) -> None:
        """What this agent wrote to the shared memory, newest first (enter opens it in
        the Memory screen)."""
        found = await self.actions.agent_memory(self.agent_id)
        if found is None:
            return
        table = self.query_one("#agent-memory-list", DataTable)
        if not table.columns:
            for label, key in (("Kind", "kind"), ("Title", "title"), ("Status", "status"), ("Age", "age")):
                table.add_column(label, key=key)
        table.clear()
        now = self.app.clock()
        for e in found:
            # A str cell is markup to DataTable: the agent's title goes in as plain, escaped Text.
            table.add_row(e.kind, Text(printable(e.title)), e.status, model.age(now - e.updated_at),
                          key=str(e.id))
        proposed = sum(e.status == "proposed" for e in found)
        self.query_one("#agent-memory-head", Static).update(
            Text(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'} written by this agent"
                 + (f", {proposed} waiting for review" if proposed else "")
                 + ("; enter opens them in Memory" if found else ""), style="dim"))
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "agent-memory-list":
            from loomtui.tui.screens.memory import MemoryScreen

            self.app.push_screen(MemoryScreen(view="all", agent_id=self.agent_id))

    def on_screen_resume(self) -> None:
        if self.app.pod_state is not None:
            self.render_state(self.app.pod_state)

    def show_state(self, state: PodState) -> None:
        if self.is_current:  # skip rendering what is hidden
            self.render_state(state)

    def render_state(self, state: PodState) -> None:
        agent = state.agent(self.agent_id)
        if agent is None:
            return
        self.query_one(AgentSummary).update(self._summary(agent, state))
        if agent.last_activity_at != self._events_for:
            self._events_for = agent.last_activity_at
            self.load_events()
        self.query_one(DiffTab).show_state(state)
        self._refresh_record(state)
        usage = state.usage_of(agent.id)
        key = (usage.used_tokens, usage.used_usd) if usage else None
        if key != self._usage_for:
            self._usage_for = key
            self.run_worker(self._load_usage(state), exclusive=True, group="usage", exit_on_error=False)

    def _refresh_record(self, state: PodState) -> None:
        """Read the Record tab again when it shows and the agent moved (every gate,
        decision, test run or revert comes with an event); hidden, it waits."""
        if self.query_one("#agent-tabs", TabbedContent).active != "record":
            return
        agent = state.agent(self.agent_id)
        key = (agent.last_activity_at, agent.pending_gates) if agent is not None else None
        if key != self._record_for:
            self._record_for = key
            self.run_worker(self._load_record(), exclusive=True, group="record", exit_on_error=False)

    async def _load_record(self) -> None:
        now = self.app.clock()
        found, covered = await self.app.store.fetch_record(self.agent_id, now)
        self._show_record(found, covered, now)

    def _show_record(self, found, covered: set[str], now: float) -> None:
        from loomtui.store.record import suggest_text

        head = self.query_one("#record-head", Static)
        rules = self.query_one("#record-rules", DataTable)
        work = self.query_one("#record-work", Static)
        rules.clear()
        if found is None:
            head.update(Content.assemble(
                ("Nothing recorded for this agent yet.\n", "dim"),
                ("Its gated calls and how they were decided, the test runs and reverts seen in its "
                 "Bash calls and its budget overruns are counted here as they happen.", "dim")))
            rules.display = False
            work.update("")
            return
        rules.display = bool(found.rules)
        streak = self.app.config.record.suggest_after
        parts: list[str | tuple[str, str]] = [
            ("Gated calls ", "bold"),
            f"{found.gated} · approved {found.approved} · rejected {found.rejected} · "
            f"denied by policy {found.denied} · expired {found.expired} · allowed by a grant {found.granted}"]
        if found.budget_overruns:
            when = (f", last {model.age(now - found.last_overrun_at)} ago"
                    if found.last_overrun_at is not None else "")
            parts.append(("\n" + f"Budget overruns {found.budget_overruns}{when}", "$budget-critical"))
        for rule in found.rules:
            text = suggest_text(found, rule.rule, streak=streak, now=now, covered=rule.rule in covered)
            if text:
                parts.append(("\nSuggested grant ", "bold $success"))
                parts.append(printable(f"for {rule.rule}: {text}"))
                parts.append(("; g in the inbox approves its next gate and grants", "dim"))
        head.update(Content.assemble(*parts))
        for rule in found.rules:
            rules.add_row(Text(printable(rule.rule or "(no rule)")), str(rule.gated), str(rule.approved),
                          str(rule.rejected), str(rule.denied), str(rule.expired), str(rule.granted),
                          str(rule.streak))
        lines: list[str | tuple[str, str]] = [("Test runs ", "bold")]
        if not found.test_runs:
            lines.append(("none seen in its Bash calls", "dim"))
        else:
            lines.append(f"{found.test_runs} · passed {found.tests_passed} · failed {found.tests_failed}"
                         + (f" · outcome unknown {found.tests_unknown}" if found.tests_unknown else ""))
            for run in found.tests:
                mark, style = {"passed": ("✓ passed", "$success"), "failed": ("✗ failed", "$error")}.get(
                    run.outcome, ("? unknown", "dim"))
                lines.append(("\n  " + mark.ljust(9), style))
                lines.append((f" {model.age(now - run.at):>4} ago  ", "dim"))
                lines.append(printable(run.command))
        lines.append(("\nReverts ", "bold"))
        if not found.reverts:
            lines.append(("none", "dim"))
        else:
            lines.append(str(found.reverts))
            for revert in found.recent_reverts:
                lines.append(("\n  ↺ revert ".ljust(12), "$warning"))
                lines.append((f" {model.age(now - revert.at):>4} ago  ", "dim"))
                lines.append(printable(revert.command))
        work.update(Content.assemble(*lines))

    async def _load_usage(self, state: PodState) -> None:
        store = self.app.store
        minutes = await store.fetch_usage_minutes(self.agent_id)
        by_model = await store.fetch_usage_by_model(self.agent_id)
        context = await store.fetch_last_context(self.agent_id)
        self._show_usage(state, minutes, by_model, context)

    def _show_usage(self, state: PodState, minutes, by_model, context) -> None:
        usage = state.usage_of(self.agent_id)
        parts: list[str | tuple[str, str]] = []  # Content: "$budget-..." drawn in the theme's colours
        if usage is None:
            parts.append(("No token usage ingested for this agent yet.\n", "dim"))
            parts.append(("Usage comes from its transcript (Claude Code, Codex) while a console or "
                          "`loomtui ingest` runs.", "dim"))
        else:
            parts.append((f"{usage.used_tokens:,} tokens", "bold"))
            parts.append(f"  {model.money(usage.used_usd)}")
            if usage.burn_tokens_min >= 1:
                parts.append((f"   burn {model.tokens(int(usage.burn_tokens_min))}/min "
                              f"{model.money(usage.burn_usd_hour)}/h (last 10 min)", "dim"))
            if context is not None:
                window = _context_window(self.app.pod, *context)
                if window and context[1] <= window:
                    fill = context[1] / window
                    parts.append((f"\ncontext {model.tokens(context[1])} of {model.tokens(window)} "
                                  f"({fill * 100:.0f}%)", "$" + model.budget_level(fill)))
                elif window:  # the price table is behind: never a fill above 100 %
                    parts.append((f"\ncontext {model.tokens(context[1])} tokens (more than the "
                                  f"{model.tokens(window)} window the price table gives "
                                  f"{printable(context[0])})", "dim"))
                else:
                    parts.append((f"\ncontext {model.tokens(context[1])} tokens (window unknown)", "dim"))
            for period in ("session", "day"):
                b = state.budget("agent", str(self.agent_id), period)
                if b is None or not b.limited:
                    continue
                style = "$" + model.budget_level(b.fraction)
                parts.append((f"\n{b.describe()}", ("bold " + style) if b.over else style))
                if b.over:
                    parts.append(("  tool calls wait for approval; b opens Budgets", "dim"))
                elif b.exhausts_at is not None:
                    when = datetime.fromtimestamp(b.exhausts_at, tz=self.app.tz).strftime("%H:%M")
                    parts.append((f"  runs out about {when} at this rate", "dim"))
        self.query_one("#usage-summary", Static).update(Content.assemble(*parts))
        spark = self.query_one("#usage-spark", Sparkline)
        series = _per_minute(minutes)
        spark.data = series
        label = self.query_one("#usage-spark-label", Static)
        if series:
            label.update(f"tokens per minute over the session ({len(series)} min, "
                         f"peak {model.tokens(max(series))}/min)")
        else:
            label.update("")
        table = self.query_one("#usage-models", DataTable)
        table.clear()
        for name, inp, out, cw, cr, cost, unpriced in by_model:
            table.add_row(Text(printable(name or "(unknown)")), f"{inp:,}", f"{out:,}", f"{cw:,}", f"{cr:,}",
                          "unpriced" if cost is None else model.money(cost) + (" *" if unpriced else ""))

    def load_events(self) -> None:
        self.run_worker(self._load_events(), exclusive=True, group="timeline", exit_on_error=False)

    async def _load_events(self) -> None:
        events = await self.app.store.fetch_events(self.agent_id, TIMELINE_LIMIT)
        self._show_events(events)

    def _show_events(self, events: list[Event]) -> None:
        """Add the events not on screen yet; newest stays on top, the cursor
        stays on the event it was on."""
        table = self.query_one(Timeline)
        fresh = [e for e in events if str(e.id) not in table.rows]
        if not fresh:
            return
        cursor = None
        if table.row_count:
            cursor = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        for event in fresh:
            table.add_row(*self._event_cells(event), key=str(event.id))
        # The time cell carries the event id: newest (largest id) first.
        table.sort("time", key=lambda cell: -cell.row_id)
        if cursor is not None and cursor in table.rows:
            table.move_cursor(row=table.get_row_index(cursor), animate=False)

    def _event_cells(self, event: Event) -> tuple[Cell, ...]:
        when = datetime.fromtimestamp(event.ts, tz=self.app.tz).strftime("%H:%M:%S")
        return (
            Cell(when, "dim", row_id=event.id),
            Cell(event.kind),
            Cell(event.tool, "bold"),
            Cell(event.summary),
        )

    def _summary(self, agent: Agent, state: PodState) -> Content:
        status = state.status_of(agent)
        colour = f"$agent-{status}"  # Content: drawn in the theme's colour for the status
        parts: list[str | tuple[str, str]] = []
        parts.append((printable(agent.name), "bold"))
        parts.append((f"  {printable(agent.kind)}  ", "dim"))
        parts.append((f"{STATUS_SYMBOLS[status]} {status}", colour))
        if agent.status_reason:
            parts.append((f" · {printable(agent.status_reason)}", colour))
        parts.append("\n")
        where = model.place(agent) or "no repository"
        parts.append((f"{where}   {printable(agent.worktree or agent.cwd or '')}\n", ""))
        started = datetime.fromtimestamp(agent.started_at, tz=self.app.tz).strftime("%Y-%m-%d %H:%M")
        parts.append((printable(
            f"started {started} · last activity {model.age(state.now - agent.last_activity_at)} ago"
            f" · model {agent.model or '?'} · session {agent.session_id or '-'}"),
            "dim",
        ))
        self._governance(parts, agent)
        self._drift(parts, agent, state)
        return Content.assemble(*parts)

    @staticmethod
    def _drift(parts: list, agent: Agent, state: PodState) -> None:
        """The fields where the agent's configuration differs from the pod's baseline (the
        fleet's `≠` mark): its value, then the pod's."""
        details = state.drift_details(agent)
        if details:
            shown = " · ".join(f"{field} {mine} (pod: {pod})" for field, mine, pod in details)
            parts.append((f"\n≠ drift: {shown}", "bold $risk-medium"))

    def _governance(self, parts: list, agent: Agent) -> None:
        """A line on the agent's governance once something is known: which part is off
        (as the fleet's `!` mark says), else what holds; first, when its transcript shows
        calls its hooks never reported, that."""
        if agent.ungoverned_at is not None:
            parts.append((f"\n! ungoverned: {model.unreported(agent)}", "bold $agent-ungoverned"))
        if model.ungoverned(agent):
            style = "bold $risk-high"
            parts.append((f"\n! governance: {model.governance(agent)}", style))
        elif agent.sandbox or agent.hooks or agent.permission_mode:
            known = [f"sandbox {agent.sandbox}" if agent.sandbox else "",
                     f"hooks {agent.hooks}" if agent.hooks else "",
                     f"mode {agent.permission_mode}" if agent.permission_mode else ""]
            parts.append(("\ngovernance: " + printable(" · ".join(k for k in known if k)), "dim"))


def _per_minute(minutes: list[tuple[float, int]], limit: int = 240) -> list[int]:
    """Tokens per minute with the silent minutes as zeros (the last `limit` minutes)."""
    if not minutes:
        return []
    start, end = minutes[0][0], minutes[-1][0]
    start = max(start, end - 60 * (limit - 1))
    series = [0] * (int((end - start) // 60) + 1)
    for minute, tokens in minutes:
        if minute >= start:
            series[int((minute - start) // 60)] += tokens
    return series


def _context_window(pod, model_name: str, used: int) -> int | None:
    """The window a context of `used` tokens of `model_name` sits in (see
    `PriceTable.context_window`: Sonnet's 200k, or its 1M once a context is longer)."""
    from loomtui.ingest.pricing import PriceError, PriceTable

    try:
        return PriceTable.load(pod).context_window(model_name, used)
    except PriceError:
        return None
