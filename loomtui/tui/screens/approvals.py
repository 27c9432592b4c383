"""ApprovalsScreen: the fleet-wide inbox of gated actions, ranked by risk, then age.

Bindings: j/k move, a approve, r reject (asks for a reason), space selects for
a batch decision, enter shows the whole action, c claims ("I'm on it"), esc back.
A decision is one conditional update in the store: if another supervisor was
faster, the notification says who decided and when.
"""

from __future__ import annotations

import json

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from loomtui.store.gates import Gate
from loomtui.text import printable
from loomtui.tui import model
from loomtui.tui.model import PodState
from loomtui.tui.screens.base import LoomScreen
from loomtui.tui.screens.reason import ReasonModal
from loomtui.tui.widgets.cells import Cell
from loomtui.tui.widgets.keyed_table import Column, KeyedTable

COLUMNS = (
    Column("mark", "", 1),
    Column("risk", "Risk", 8),
    Column("agent", "Agent", 16),
    Column("place", "Repo · branch", 20),
    Column("summary", "Action", 0),
    Column("age", "Age", 4, "right"),
    Column("expires", "Expires", 7, "right"),
    Column("claimed", "Claimed", 10),
)
NARROW_DROP = {"place", "claimed"}  # under 110 columns


class InboxTable(KeyedTable):
    """Pending gates. j/k move, space selects, enter shows the action."""

    BINDINGS = [Binding("space", "toggle_mark", "Select", id="select")]

    class MarksChanged(Message):
        """The gates selected for a batch decision changed (`marked`)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.marked: set[int] = set()

    def action_toggle_mark(self) -> None:
        if (gate_id := self.cursor_id) is not None:
            self.marked ^= {gate_id}
            self.post_message(self.MarksChanged())
            self.action_cursor_down()


class GateScreen(ModalScreen[bool | None]):
    """The whole action of one gate: command or change, rule, and the agent's
    last events. a approves, r rejects, o goes to the agent's tmux pane, esc closes.
    Dismissed with the decision: True approve, False reject, None none."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="close_gate"),
        Binding("a", "approve", "Approve", id="approve_one"),
        Binding("r", "reject", "Reject", id="reject_one"),
        # A modal screen hides the app's keys: the app's o, here too.
        Binding("o", "app.reach_agent", "Agent's pane", show=False, id="reach_agent_gate"),
    ]
    DEFAULT_CSS = """
    GateScreen { align: center middle; }
    GateScreen > VerticalScroll {
        width: 90%; height: 80%; border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(describe(self.gate), id="gate-detail")

    async def on_mount(self) -> None:
        if self.gate.agent_id is not None:
            events = await self.app.store.fetch_events(self.gate.agent_id, 8)
            text = Content.assemble(
                describe(self.gate), ("\nThe agent's last events\n", "bold"),
                *(printable(f"  {event.kind:<14} {event.tool:<8} {event.summary}") + "\n" for event in events))
            self.query_one("#gate-detail", Static).update(text)

    def agent_in_view(self) -> int | None:
        """The gate's agent (the app's `o` reaches its tmux pane)."""
        return self.gate.agent_id

    def action_approve(self) -> None:
        self.dismiss(True)

    def action_reject(self) -> None:
        self.dismiss(False)


def describe(gate: Gate) -> Content:
    """The gate as a person reads it: what, who, why, and the exact input. Everything
    the agent wrote is shown with its control characters escaped (`printable`). Content,
    not Rich Text: its "$risk-..." styles take the theme's colours when drawn."""
    parts: list[str | tuple[str, str]] = []
    parts.append((f"Gate {gate.id}  ", "bold"))
    parts.append((f"{gate.risk}", _risk_style(gate.risk)))
    parts.append(printable(f"  rule {gate.rule or '-'}  agent {gate.agent_name or '?'}") + "\n\n")
    action = gate.action or {}
    if gate.tool == "Bash" and isinstance(action.get("command"), str):
        parts.append(("$ ", "dim"))
        parts.append((printable(action["command"], multiline=True) + "\n", "bold"))
        if action.get("description"):
            parts.append((printable(f"  ({action['description']})") + "\n", "dim"))
    elif gate.tool in ("Edit", "MultiEdit", "Write") and isinstance(action.get("file_path"), str):
        parts.append((printable(f"{gate.tool} {action['file_path']}") + "\n", "bold"))
        added, removed = "$diff-added", "$diff-removed"
        edits = action.get("edits") if isinstance(action.get("edits"), list) else [action]
        for edit in edits:
            if not isinstance(edit, dict):
                continue
            old = edit.get("old_string")
            new = edit.get("new_string", edit.get("content"))
            if isinstance(old, str):
                for line in printable(old, multiline=True).splitlines():
                    parts.append((f"- {line}\n", removed))
            if isinstance(new, str):
                for line in printable(new, multiline=True).splitlines()[:400]:
                    parts.append((f"+ {line}\n", added))
    else:
        parts.append((printable(gate.tool) + "\n", "bold"))
        parts.append(printable(json.dumps(action, indent=2, ensure_ascii=False)[:8000], multiline=True) + "\n")
    if gate.governance:
        parts.append((f"\n⚠ the agent runs ungoverned: {printable(gate.governance)}\n",
                      "bold $risk-high"))
    if gate.claimed_by:
        parts.append((f"\nclaimed by {printable(gate.claimed_by)}\n", "italic"))
    return Content.assemble(*parts)


def _risk_style(risk: str) -> str:
    """A risk level's style: bold, in the theme's colour for it."""
    return f"bold $risk-{risk}" if risk in ("low", "medium", "high", "critical") else "bold $risk-high"


def _summary_cell(gate: Gate) -> Cell:
    """The action, after the gate's governance note when its agent ran ungoverned
    ("⚠ no sandbox · bypassPermissions  git push ..."): first, so a long command
    cannot push it out of sight."""
    summary = gate.summary if gate.tool == "Bash" else f"{gate.tool} {gate.summary}"
    if not gate.governance:
        return Cell(summary)
    note = "⚠ " + printable(gate.governance)
    return Cell(f"{note}  {printable(summary)}",
                spans=((0, len(note), "bold $risk-high"),))


class ApprovalsScreen(LoomScreen[None]):
    """The inbox. a approve, r reject, space select, enter details, c claim, esc back."""

    AUTO_FOCUS = "#inbox"
    BINDINGS = [
        Binding("a", "approve", "Approve", id="approve"),
        Binding("r", "reject", "Reject", id="reject"),
        Binding("c", "claim", "Claim", id="claim"),
        Binding("escape", "app.pop_screen", "Back", id="back_from_inbox"),
    ]
    DEFAULT_CSS = """
    #inbox-header { height: 1; padding: 0 1; background: $panel; }
    InboxTable { height: 1fr; }
    #inbox-empty { height: 1fr; content-align: center middle; color: $text-muted; display: none; }
    ApprovalsScreen.-empty #inbox-empty { display: block; }
    ApprovalsScreen.-empty InboxTable { display: none; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="inbox-header")
        yield InboxTable(id="inbox")
        yield Static("Nothing waits for a decision. New gates ring the bell and show here.",
                     id="inbox-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.app.pod_changed_signal.subscribe(self, self.show_state)
        self._layout()
        self.redraw()

    def on_resize(self) -> None:
        self._layout()
        self.redraw()

    def on_screen_resume(self) -> None:
        self.redraw()

    def _layout(self) -> None:
        width = self.size.width or self.app.size.width
        columns = [c for c in COLUMNS if width >= 110 or c.key not in NARROW_DROP]
        self.query_one(InboxTable).set_columns(columns, KeyedTable.flex_width(width, columns))

    def show_state(self, state: PodState) -> None:
        if self.is_current:
            self.redraw()

    @on(InboxTable.MarksChanged)
    def _marks_changed(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        state = self.app.pod_state
        if state is None:
            return
        table = self.query_one(InboxTable)
        table.marked &= {g.id for g in state.gates}
        keys = [c.key for c in table.column_layout]
        rows = []
        for gate in state.gates:
            agent = state.agent(gate.agent_id) if gate.agent_id is not None else None
            values = {
                "mark": Cell("●" if gate.id in table.marked else "", "bold", row_id=gate.id),
                "risk": Cell(gate.risk, _risk_style(gate.risk)),
                "agent": Cell(gate.agent_name or "?"),
                "place": Cell(model.place(agent) if agent else ""),
                "summary": _summary_cell(gate),
                "age": Cell(model.age(state.now - gate.created_at), justify="right"),
                "expires": Cell(model.countdown(gate.expires_at - state.now), justify="right"),
                "claimed": Cell(gate.claimed_by or "", "italic"),
            }
            rows.append((gate.id, tuple(values[k] for k in keys)))
        table.show(rows)
        self.set_class(not rows, "-empty")
        header = Content.assemble(
            ("Approvals ", "bold"), (f"{len(rows)} pending", "$agent-waiting"),
            (f"  {len(table.marked)} selected", "bold") if table.marked else "",
            (f"   · {self.app.supervisor}", "bold"))
        self.query_one("#inbox-header", Static).update(header, layout=False)

    # -- deciding ------------------------------------------------------------

    def agent_in_view(self) -> int | None:
        """The agent of the gate under the cursor (the app's `o` reaches its tmux pane)."""
        gate_id = self.query_one(InboxTable).cursor_id
        state = self.app.pod_state
        gate = next((g for g in state.gates if g.id == gate_id), None) if state is not None else None
        return gate.agent_id if gate is not None else None

    def _chosen(self) -> list[Gate]:
        """The marked gates, else the one under the cursor."""
        state = self.app.pod_state
        table = self.query_one(InboxTable)
        if state is None:
            return []
        ids = table.marked or ({table.cursor_id} if table.cursor_id is not None else set())
        return [g for g in state.gates if g.id in ids]

    def action_approve(self) -> None:
        self.decide(self._chosen(), approve=True)

    def action_reject(self) -> None:
        self.decide(self._chosen(), approve=False)

    def decide(self, gates: list[Gate], *, approve: bool) -> None:
        if not gates:
            return
        table = self.query_one(InboxTable)

        def done(reason: str | None = None) -> None:
            if not approve and not reason:
                return  # cancelled
            table.marked -= {g.id for g in gates}
            self.run_worker(self._decide(gates, approve=approve, reason=reason or ""),
                            group="decide", exit_on_error=False)

        if approve:
            done()
        else:
            what = gates[0].summary if len(gates) == 1 else f"{len(gates)} gated actions"
            hint = "The agent sees this reason and can adapt."
            self.app.push_screen(ReasonModal("Reject", what, hint=hint), done)

    async def _decide(self, gates: list[Gate], *, approve: bool, reason: str) -> None:
        for ok, message in await self.actions.decide_gates(gates, approve=approve, reason=reason):
            self.notify(message, severity="information" if ok else "error", timeout=3 if ok else 8,
                        markup=False)  # quotes the gate's summary

    def action_claim(self) -> None:
        for gate in self._chosen():
            self.run_worker(self._claim(gate.id), group="claim", exit_on_error=False)

    async def _claim(self, gate_id: int) -> None:
        if problem := await self.actions.claim_gate(gate_id):
            self.notify(problem, severity="error", markup=False)

    @on(KeyedTable.RowChosen, "#inbox")
    def _chosen_row(self, event: KeyedTable.RowChosen) -> None:
        event.stop()
        state = self.app.pod_state
        gate = next((g for g in state.gates if g.id == event.row_id), None) if state else None
        if gate is not None:
            self.app.push_screen(GateScreen(gate), lambda approve: self._gate_closed(gate, approve))

    def _gate_closed(self, gate: Gate, approve: bool | None) -> None:
        """The gate's details were closed, with a decision or without."""
        if approve is not None:
            self.decide([gate], approve=approve)
