"""AgentScreen: one agent in detail. The Activity tab is its timeline, newest
first; the Diff and Usage tabs arrive with their issues.

Bindings: esc back, j/k move in the timeline.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from loomtui.store.agents import STATUS_SYMBOLS, Agent, Event
from loomtui.tui import model
from loomtui.tui.model import PodState
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


class AgentScreen(Screen[None]):
    """One agent: summary on top, tabs below. esc goes back to the fleet."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="back")]

    DEFAULT_CSS = """
    AgentScreen { layout: vertical; overflow: hidden; }
    AgentSummary { height: auto; padding: 0 1; background: $panel; }
    #agent-tabs { height: 1fr; }
    #agent-tabs ContentSwitcher { height: 1fr; }
    #agent-tabs TabPane { height: 1fr; padding: 0; }
    Timeline { height: 1fr; }
    """

    def __init__(self, agent_id: int) -> None:
        super().__init__()
        self.agent_id = agent_id
        self._events_for: float | None = None  # last_activity_at the timeline shows

    def compose(self) -> ComposeResult:
        yield AgentSummary(id="agent-summary")
        with TabbedContent(id="agent-tabs"):
            with TabPane("Activity", id="activity"):
                yield Timeline(id="timeline", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(Timeline)
        table.add_column("Time", key="time", width=8)
        table.add_column("Event", key="kind", width=16)
        table.add_column("Tool", key="tool", width=10)
        table.add_column("Summary", key="summary")
        self.app.pod_changed_signal.subscribe(self, self.show_state)
        if self.app.pod_state is not None:
            self.render_state(self.app.pod_state)
        table.focus()

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

    def _summary(self, agent: Agent, state: PodState) -> Text:
        status = state.status_of(agent)
        colour = self.app.theme_variables.get(f"agent-{status}", "")
        text = Text()
        text.append(agent.name, "bold")
        text.append(f"  {agent.kind}  ", "dim")
        text.append(f"{STATUS_SYMBOLS[status]} {status}", colour)
        if agent.status_reason:
            text.append(f" · {agent.status_reason}", colour)
        text.append("\n")
        where = model.place(agent) or "no repository"
        text.append(f"{where}   {agent.worktree or agent.cwd or ''}\n", "")
        started = datetime.fromtimestamp(agent.started_at, tz=self.app.tz).strftime("%Y-%m-%d %H:%M")
        text.append(
            f"started {started} · last activity {model.age(state.now - agent.last_activity_at)} ago"
            f" · model {agent.model or '?'} · session {agent.session_id or '-'}",
            "dim",
        )
        return text
