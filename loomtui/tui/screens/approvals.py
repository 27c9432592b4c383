"""ApprovalsScreen: the fleet-wide inbox of gated actions, ranked by risk, then age.

Bindings: j/k move, a approve, r reject (asks for a reason), g approve and allow calls
like this for a while (the grant dialog, loomtui/tui/screens/grants.py), space marks the
row for a batch decision (x marks and moves down), / filters, v groups alike gates (by
rule and command shape), enter shows the whole action (on a group: opens or closes it),
c claims ("I'm on it") or gives one's own claim up, esc clears the filter, then goes back. A click on a column's
header sorts by it; a second click reverses.

A gate whose agent and rule have earned a grant by their record (so many approvals in a
row, no rejection, tests passing: loomtui/store/record.py) is marked ★ and its details
say why; the inbox only suggests, a person grants.

Deciding more than one gate (the marked ones, or a group under the cursor) asks to
confirm first, naming how many and what. Each decision is one conditional update in
the store: if another supervisor was faster, the notification says who decided and
when; in a batch such a gate is counted as skipped.

Deciding (or claiming) a gate someone else claims asks first; an open gate dialog
closes its deciding at once when someone else decides the gate.
"""

from __future__ import annotations

import json

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from loomtui.store.gates import Gate, who_decided
from loomtui.store.presence import Claim
from loomtui.text import printable
from loomtui.tui import model
from loomtui.tui.inbox import (
    SORTABLE,
    GateFilter,
    Group,
    budget_note,
    call_summary,
    describe_batch,
    group_gates,
    sort_key,
)
from loomtui.tui.model import PodState
from loomtui.tui.online import claim_label, with_online
from loomtui.tui.screens.base import LoomScreen
from loomtui.tui.screens.claims import ClaimConfirm, claimed_question
from loomtui.tui.screens.confirm import Confirm
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
NARROW_DROP = {"place", "claimed"}  # under 110 columns (a claim then leads the Action cell)


class InboxTable(KeyedTable):
    """Pending gates (and, grouped, a row per group). j/k move, space marks in place,
    x marks and moves down, enter shows the action."""

    BINDINGS = [
        Binding("space", "toggle_mark", "Mark", id="select"),
        Binding("x", "toggle_mark(True)", "Mark, next", show=False, id="select_next"),
    ]

    class MarksChanged(Message):
        """The gates selected for a batch decision changed (`marked`)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.marked: set[int] = set()
        self.groups: dict[int, tuple[int, ...]] = {}  # a group row's id -> its gates' ids

    def action_toggle_mark(self, move: bool = False) -> None:
        """Mark the gate under the cursor (a group row: all its gates), or unmark it;
        the cursor stays unless `move`."""
        if (row_id := self.cursor_id) is not None:
            ids = set(self.groups.get(row_id, (row_id,)))
            self.marked = self.marked - ids if ids <= self.marked else self.marked | ids
            self.post_message(self.MarksChanged())
            if move:
                self.action_cursor_down()


class BatchConfirm(Confirm):
    """Asks before a decision on more than one gate: says how many and what."""


class GateScreen(ModalScreen[bool | str | None]):
    """The whole action of one gate: command or change, rule, and the agent's
    last events. a approves, r rejects, g approves and grants (the grant dialog), o goes
    to the agent's tmux pane, esc closes. Dismissed with the decision: True approve,
    False reject, "grant", None none."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="close_gate"),
        Binding("a", "approve", "Approve", id="approve_one"),
        Binding("r", "reject", "Reject", id="reject_one"),
        Binding("g", "grant", "Grant", id="grant_one"),
        # A modal screen hides the app's keys: the app's o, here too.
        Binding("o", "app.reach_agent", "Agent's pane", show=False, id="reach_agent_gate"),
    ]
    DEFAULT_CSS = """
    GateScreen { align: center middle; }
    GateScreen > VerticalScroll {
        width: 90%; height: 80%; border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, gate: Gate, suggestion: str | None = None) -> None:
        super().__init__()
        self.gate = gate
        self.suggestion = suggestion  # why the record suggests a grant, if it does
        self.closed: Gate | None = None  # the gate as it left the inbox, when it did

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="gate-status")
            yield Static(id="gate-suggestion")
            yield Static(describe(self.gate), id="gate-detail")

    async def on_mount(self) -> None:
        self.app.gates_closed_signal.subscribe(self, self._gates_closed)
        self.app.pod_changed_signal.subscribe(self, self._pod_changed)
        self._show_status()
        if self.suggestion:
            self.query_one("#gate-suggestion", Static).update(suggestion_text(self.suggestion))
        else:
            self.query_one("#gate-suggestion", Static).display = False
        if self.gate.agent_id is not None:
            events = await self.app.store.fetch_events(self.gate.agent_id, 8)
            text = Content.assemble(
                describe(self.gate), ("\nThe agent's last events\n", "bold"),
                *(printable(f"  {event.kind:<14} {event.tool:<8} {event.summary}") + "\n" for event in events))
            self.query_one("#gate-detail", Static).update(text)

    def _pod_changed(self, state: PodState) -> None:
        fresh = next((g for g in state.gates if g.id == self.gate.id), None)
        if fresh is not None and self.closed is None:
            self.gate = fresh  # a claim taken or given up meanwhile
        elif fresh is None and self.closed is None and self.gate.expires_at <= state.now:
            self._gates_closed((self.gate,))  # its time ran out (read as "expired")
            return
        self._show_status()

    def _gates_closed(self, gates: tuple[Gate, ...]) -> None:
        """Someone (maybe elsewhere) decided the gate, or it expired or was cancelled:
        said at once, and deciding here is off."""
        closed = next((g for g in gates if g.id == self.gate.id), None)
        if closed is not None and self.closed is None:
            self.closed = closed
            self._show_status()
            self.refresh_bindings()

    def _show_status(self) -> None:
        self.query_one("#gate-status", Static).update(status_line(self.app, self.gate, self.closed))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve", "reject", "grant") and self.closed is not None:
            return None  # shown, disabled: nothing is left to decide
        return True

    def agent_in_view(self) -> int | None:
        """The gate's agent (the app's `o` reaches its tmux pane)."""
        return self.gate.agent_id

    def action_approve(self) -> None:
        self.dismiss(True)

    def action_reject(self) -> None:
        self.dismiss(False)

    def action_grant(self) -> None:
        """g: the grant dialog, in this one's place; a gate no grant may come from says why
        and stays open."""
        from loomtui.store.grants import grantable

        if why := grantable(self.gate):
            self.notify(f"No grant from gate {self.gate.id}: {why}. a approves this call alone.",
                        title="Not grantable", severity="warning", timeout=8, markup=False)
            return
        self.dismiss("grant")


def suggestion_text(why: str) -> Content:
    """The gate dialog's line for a suggested grant."""
    return Content.assemble(("★ suggest: allow calls like this ", "bold $accent"),
                            printable(f"({why})"), (" — g\n", "bold $accent"))


class GateReasonModal(ReasonModal):
    """The reason for rejecting `gates`: when one of them is decided elsewhere while it is
    open, it says so at once; a single gate's reason can then no longer be given."""

    def __init__(self, gates: list[Gate], *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gates = gates

    def on_mount(self) -> None:
        self.app.gates_closed_signal.subscribe(self, self._gates_closed)

    def _gates_closed(self, closed: tuple[Gate, ...]) -> None:
        ours = {g.id for g in self.gates}
        for gate in (g for g in closed if g.id in ours):
            self.query_one(Vertical).mount(
                Label(Content.styled(closed_text(gate), "bold $warning"), classes="reason-closed"),
                before=self.query_one(Vertical).children[1])
            if len(self.gates) == 1:
                for field in self.query(Input):  # the reason, and a grant dialog's fields
                    field.disabled = True


def closed_text(gate: Gate) -> str:
    """Why a gate left the inbox: "approved by sam (simulated)", "expired", ..."""
    if gate.status in ("approved", "rejected"):
        because = f": {gate.reason}" if gate.reason else ""
        return printable(f"Gate {gate.id} was {gate.status} by {who_decided(gate)}{because}")
    if gate.status == "pending":
        return f"Gate {gate.id} expired"
    return f"Gate {gate.id} was {gate.status}"


def status_line(app, gate: Gate, closed: Gate | None) -> Content:
    """The gate dialog's first line: who decided it elsewhere (nothing left to decide),
    else who claims it and since when, else nothing."""
    if closed is not None:
        return Content.styled(closed_text(closed) + " — nothing left to decide here (esc closes)",
                              "bold $warning")
    claim = app.claim_of(gate)
    if claim is None:
        return Content("")
    who = "you" if app.holds(claim) else printable(claim.who)
    return Content.styled(f"Claimed by {who} {model.age(app.clock() - claim.since)} ago "
                          "(c in the inbox claims or gives it up)", "italic")


def describe(gate: Gate) -> Content:
    """The gate as a person reads it: what, who, why, and the exact input. Everything
    the agent wrote is shown with its control characters escaped (`printable`). Content,
    not Rich Text: its "$risk-..." styles take the theme's colours when drawn."""
    parts: list[str | tuple[str, str]] = []
    parts.append((f"Gate {gate.id}  ", "bold"))
    parts.append((f"{gate.risk}", _risk_style(gate.risk)))
    parts.append(printable(f"  rule {gate.rule or '-'}  agent {gate.agent_name or '?'}") + "\n\n")
    if note := budget_note(gate):
        parts.append((printable(f"Over budget, this call waits: {note}; approve it or raise "
                                "the budget") + "\n\n", "$budget-critical"))
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
    return Content.assemble(*parts)


def _claimed_first(claimed: str, summary: Cell) -> Cell:
    """At 80 columns the Claimed column is gone: the claim leads the Action cell
    ("@alice 3m  git push ...")."""
    mark = f"@{claimed}  "
    spans = tuple((start + len(mark), end + len(mark), style) for start, end, style in summary.spans)
    return Cell(mark + summary.text, summary.style, spans=((0, len(mark) - 2, "italic $accent"), *spans))


def _risk_style(risk: str) -> str:
    """A risk level's style: bold, in the theme's colour for it."""
    return f"bold $risk-{risk}" if risk in ("low", "medium", "high", "critical") else "bold $risk-high"


def _summary_cell(gate: Gate) -> Cell:
    """The action, after the gate's governance note when its agent ran ungoverned
    ("⚠ no sandbox · bypassPermissions  git push ..."): first, so a long command
    cannot push it out of sight. A budget gate shows the call that waits, then the
    budget it is over, dim."""
    call = call_summary(gate)
    parts: list[tuple[str, str]] = []
    if gate.governance:
        parts.append(("⚠ " + printable(gate.governance), "bold $risk-high"))
    parts.append((printable(call if gate.tool == "Bash" else f"{gate.tool} {call}"), ""))
    if note := budget_note(gate):
        parts.append(("· " + printable(note), "dim"))
    text, spans, at = "", [], 0
    for part, style in parts:
        if text:
            text += "  "
            at += 2
        text += part
        if style:
            spans.append((at, at + len(part), style))
        at += len(part)
    return Cell(text, spans=tuple(spans))


def _group_cells(group: Group, gates_marked: set[int], expanded: bool,
                 place: dict[int, str], now: float) -> dict[str, Cell]:
    """A group's row: how many gates of which shape and rule, the worst risk, the
    oldest age and the soonest expiry; marked ● when all its gates are, ◐ when some."""
    ids = {g.id for g in group.gates}
    mark = "●" if ids <= gates_marked else "◐" if ids & gates_marked else ""
    agents = {g.agent_name or "?" for g in group.gates}
    places = {place.get(g.id, "") for g in group.gates}
    count = f"{len(group.gates)}×"
    opener = "▾" if expanded else "▸"
    text = f"{opener} {count} {group.shape}  · rule {group.rule or '-'}"
    return {
        "mark": Cell(mark, "bold"),
        "risk": Cell(group.risk, _risk_style(group.risk)),
        "agent": Cell(agents.pop() if len(agents) == 1 else f"{len(agents)} agents", "bold"),
        "place": Cell(places.pop() if len(places) == 1 else f"{len(places)} places"),
        "summary": Cell(text, "bold", spans=((2, 2 + len(count), "$agent-waiting"),)),
        "age": Cell(model.age(now - min(g.created_at for g in group.gates)), justify="right"),
        "expires": Cell(model.countdown(min(g.expires_at for g in group.gates) - now), justify="right"),
        "claimed": Cell(""),
    }


class ApprovalsScreen(LoomScreen[None]):
    """The inbox. a approve, r reject, space mark, x mark and move, / filter, v group,
    enter details, c claim, esc back."""

    AUTO_FOCUS = "#inbox"
    BINDINGS = [
        Binding("a", "approve", "Approve", id="approve"),
        Binding("r", "reject", "Reject", id="reject"),
        Binding("g", "grant", "Grant", id="grant"),
        Binding("c", "claim", "Claim", id="claim"),
        Binding("slash", "filter", "Filter", id="inbox_filter"),
        Binding("v", "toggle_groups", "Group", id="inbox_group"),
        Binding("escape", "back", "Back", id="back_from_inbox"),
    ]
    DEFAULT_CSS = """
    #inbox-header { height: 1; padding: 0 1; background: $panel; }
    #inbox-filter-bar { height: auto; display: none; }
    #inbox-filter-bar.-active { display: block; }
    #inbox-filter-bar Input { border: none; height: 1; padding: 0 1; background: $surface; }
    InboxTable { height: 1fr; }
    #inbox-empty { height: 1fr; content-align: center middle; color: $text-muted; display: none; }
    ApprovalsScreen.-empty #inbox-empty { display: block; }
    ApprovalsScreen.-empty InboxTable { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.gate_filter = GateFilter()
        self.grouped = False
        self.expanded: set[tuple[str, str]] = set()  # groups shown with their gates
        self.sort_column: str | None = None  # None: the inbox's order (risk, then age)
        self.sort_reverse = False
        self._group_ids: dict[tuple[str, str], int] = {}  # group key -> its row id (< 0, stable)
        self._groups: dict[int, Group] = {}  # group row id -> the group, as last drawn
        self._shown: dict[int, Gate] = {}  # the gates drawn, by id

    def compose(self) -> ComposeResult:
        yield Static(id="inbox-header")
        with Horizontal(id="inbox-filter-bar"):
            yield Input(placeholder="filter: words, or agent: repo: rule: risk: tool: command:",
                        id="inbox-filter")
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
        if self.sort_column is not None:  # the sorted column's header says which way
            arrow = " ↓" if self.sort_reverse else " ↑"
            columns = [Column(c.key, c.label + arrow, c.width, c.justify) if c.key == self.sort_column
                       else c for c in columns]
        self.query_one(InboxTable).set_columns(columns, KeyedTable.flex_width(width, columns))

    def show_state(self, state: PodState) -> None:
        if self.is_current:
            self.redraw()

    @on(InboxTable.MarksChanged)
    def _marks_changed(self) -> None:
        self.redraw()

    def _visible(self, state: PodState) -> tuple[list[Gate], dict[int, str]]:
        """The gates the filter lets through, in the chosen order, and each one's place."""
        places = {}
        for gate in state.gates:
            agent = state.agent(gate.agent_id) if gate.agent_id is not None else None
            places[gate.id] = model.place(agent) if agent else ""
        gates = [g for g in state.gates if self.gate_filter.matches(g, places[g.id])]
        if self.sort_column is not None:
            gates.sort(key=sort_key(self.sort_column, lambda g: places[g.id]), reverse=self.sort_reverse)
        return gates, places

    def _group_id(self, key: tuple[str, str]) -> int:
        if key not in self._group_ids:
            self._group_ids[key] = -1 - len(self._group_ids)
        return self._group_ids[key]

    def redraw(self) -> None:
        state = self.app.pod_state
        if state is None:
            return
        table = self.query_one(InboxTable)
        gates, places = self._visible(state)
        self._shown = {g.id: g for g in gates}
        table.marked &= self._shown.keys()  # marks are on what is shown: what a batch decides
        keys = [c.key for c in table.column_layout]
        narrow = "claimed" not in keys
        rows = []

        def gate_row(gate: Gate) -> tuple[int, tuple[Cell, ...]]:
            claim = self.app.claim_of(gate)
            claimed = claim_label(claim, state.now, mine=claim is not None and self.app.holds(claim))
            values = {
                "mark": Cell("●", "bold", row_id=gate.id) if gate.id in table.marked
                else Cell("★", "bold $accent", row_id=gate.id) if state.suggestion_for(gate)
                else Cell("", row_id=gate.id),
                "risk": Cell(gate.risk, _risk_style(gate.risk)),
                "agent": Cell(gate.agent_name or "?"),
                "place": Cell(places[gate.id]),
                "summary": _claimed_first(claimed, _summary_cell(gate)) if narrow and claimed
                else _summary_cell(gate),
                "age": Cell(model.age(state.now - gate.created_at), justify="right"),
                "expires": Cell(model.countdown(gate.expires_at - state.now), justify="right"),
                "claimed": Cell(claimed, "italic"),
            }
            return gate.id, tuple(values[k] for k in keys)

        self._groups = {}
        groups = group_gates(gates) if self.grouped else []
        if self.grouped:
            for group in groups:
                row_id = self._group_id(group.key)
                self._groups[row_id] = group
                expanded = group.key in self.expanded
                values = _group_cells(group, table.marked, expanded, places, state.now)
                rows.append((row_id, tuple(values[k] for k in keys)))
                if expanded:
                    rows += [gate_row(g) for g in group.gates]
        else:
            rows = [gate_row(g) for g in gates]
        table.groups = {row_id: tuple(g.id for g in group.gates) for row_id, group in self._groups.items()}
        table.show(rows)
        self.set_class(not rows, "-empty")
        empty = ("No pending gate matches the filter; esc clears it." if state.gates else
                 "Nothing waits for a decision. New gates ring the bell and show here.")
        self.query_one("#inbox-empty", Static).update(empty)
        shown = f"{len(gates)} of {len(state.gates)} pending" if self.gate_filter else \
            f"{len(state.gates)} pending"
        suggested = sum(1 for g in gates if state.suggestion_for(g))
        header = Content.assemble(
            ("Approvals ", "bold"), (shown, "$agent-waiting"),
            (f"  ★ {suggested} grant{'s' if suggested != 1 else ''} suggested (g)", "$accent")
            if suggested else "",
            (f"  {len(groups)} kinds", "bold") if self.grouped else "",
            (f"  {len(table.marked)} selected", "bold") if table.marked else "",
            (f"   · {self.app.supervisor}", "bold"))
        header = with_online(header, self.app.others_online(), (self.size.width or self.app.size.width) - 2)
        self.query_one("#inbox-header", Static).update(header, layout=False)

    # -- filtering, grouping, sorting ------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#inbox-filter-bar").add_class("-active")
        self.query_one("#inbox-filter", Input).focus()

    def action_back(self) -> None:
        """esc: clears the filter when there is one, else goes back."""
        bar = self.query_one("#inbox-filter-bar")
        field = self.query_one("#inbox-filter", Input)
        if field.value or bar.has_class("-active"):
            field.value = ""  # the Changed handler redraws
            bar.remove_class("-active")
            self.query_one(InboxTable).focus()
            return
        self.app.pop_screen()

    @on(Input.Changed, "#inbox-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.gate_filter = GateFilter.parse(event.value)
        self.redraw()

    @on(Input.Submitted, "#inbox-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            self.query_one("#inbox-filter-bar").remove_class("-active")
        self.query_one(InboxTable).focus()

    def action_toggle_groups(self) -> None:
        self.grouped = not self.grouped
        self.redraw()
        self.notify("Grouped by rule and command shape" if self.grouped else "One row per gate",
                    timeout=2)

    @on(KeyedTable.HeaderClicked, "#inbox")
    def _header_clicked(self, event: KeyedTable.HeaderClicked) -> None:
        event.stop()
        if event.column_key not in SORTABLE:
            return
        if event.column_key == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = event.column_key, False
        self._layout()
        self.redraw()

    # -- deciding ------------------------------------------------------------

    def agent_in_view(self) -> int | None:
        """The agent of the gate under the cursor (the app's `o` reaches its tmux pane)."""
        gate_id = self.query_one(InboxTable).cursor_id
        state = self.app.pod_state
        gate = next((g for g in state.gates if g.id == gate_id), None) if state is not None else None
        return gate.agent_id if gate is not None else None

    def _chosen(self) -> list[Gate]:
        """The marked gates, else the group under the cursor, else its gate."""
        table = self.query_one(InboxTable)
        if table.marked:
            return [g for g in self._shown.values() if g.id in table.marked]
        row_id = table.cursor_id
        if row_id in self._groups:
            return list(self._groups[row_id].gates)
        gate = self._shown.get(row_id) if row_id is not None else None
        return [gate] if gate is not None else []

    def action_approve(self) -> None:
        self.decide(self._chosen(), approve=True)

    def action_reject(self) -> None:
        self.decide(self._chosen(), approve=False)

    def _claimed_by_others(self, gates: list[Gate]) -> list[tuple[Gate, Claim]]:
        """The gates someone else claims (a live claim), with their claim."""
        claims = [(g, self.app.claim_of(g)) for g in gates]
        return [(g, c) for g, c in claims if c is not None and not self.app.holds(c)]

    def decide(self, gates: list[Gate], *, approve: bool) -> None:
        """Decide `gates`; when someone else claims any of them, ask first; more than
        one is confirmed first (a rejection's reason modal is its confirmation), naming
        how many and what."""
        if not gates:
            return
        if claimed := self._claimed_by_others(gates):
            question = claimed_question(claimed, self.app.clock(), "approve" if approve else "reject")

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._decide_confirmed(gates, approve=approve)

            self.app.push_screen(ClaimConfirm(question), confirmed)
        else:
            self._decide_confirmed(gates, approve=approve, override=False)

    def _decide_confirmed(self, gates: list[Gate], *, approve: bool, override: bool = True) -> None:
        table = self.query_one(InboxTable)

        def done(answer: str | bool | None = None) -> None:
            """The confirmation's answer: a reason (rejecting), True (approving a
            batch), None (approving one gate, or a cancelled reason), False (no)."""
            reason = answer if isinstance(answer, str) else ""
            if answer is False or (not approve and not reason):
                return  # cancelled
            table.marked -= {g.id for g in gates}
            self.run_worker(self._decide(gates, approve=approve, reason=reason, override=override),
                            group="decide", exit_on_error=False)

        what = call_summary(gates[0]) if len(gates) == 1 else describe_batch(gates)
        if approve and len(gates) == 1:
            done()
        elif approve:
            self.app.push_screen(BatchConfirm(f"Approve {what}?"), done)
        else:
            hint = "The agent sees this reason and can adapt."
            if len(gates) > 1:
                hint = f"Every one of the {len(gates)} agents' calls is rejected with this reason."
            self.app.push_screen(GateReasonModal(gates, "Reject", what, hint=hint), done)

    async def _decide(self, gates: list[Gate], *, approve: bool, reason: str, override: bool = False) -> None:
        outcomes = await self.actions.decide_gates(gates, approve=approve, reason=reason,
                                                   override_claims=override)
        if len(gates) == 1:
            for outcome in outcomes:
                severity = "information" if outcome.ok else "warning" if outcome.skipped else "error"
                self.notify(outcome.message, severity=severity, timeout=3 if outcome.ok else 8,
                            markup=False)  # quotes the gate's summary
            return
        if not outcomes:
            return  # the store failed: reported by the pod handle
        done = sum(1 for o in outcomes if o.ok)
        skipped = [o.message for o in outcomes if o.skipped]
        verb = "Approved" if approve else "Rejected"
        text = f"{verb} {done} of {len(gates)} gates"
        if skipped:  # decided elsewhere meanwhile (or expired): news, not a failure
            text += f"; skipped {len(skipped)} no longer pending: " + "; ".join(skipped[:3])
            if len(skipped) > 3:
                text += f"; and {len(skipped) - 3} more"
        self.notify(text, severity="information" if done or not skipped else "warning",
                    timeout=4 if not skipped else 8, markup=False)
        for outcome in outcomes:
            if not outcome.ok and not outcome.skipped:
                self.notify(outcome.message, severity="error", timeout=8, markup=False)

    def action_claim(self) -> None:
        """c: claim the chosen gates, or give up one's own claims on them; taking over
        someone else's claim asks first."""
        gates = self._chosen()
        claimed = self._claimed_by_others(gates)

        def go(take_over: bool | None = False) -> None:
            taken = {g.id for g, _ in claimed}
            for gate in gates:
                if gate.id in taken and not take_over:
                    continue
                self.run_worker(self._claim(gate.id, take_over=bool(take_over)), group="claim",
                                exit_on_error=False)

        if claimed:
            self.app.push_screen(ClaimConfirm(claimed_question(claimed, self.app.clock(), "take over")), go)
        else:
            go()

    async def _claim(self, gate_id: int, *, take_over: bool) -> None:
        outcome = await self.actions.toggle_claim(gate_id, take_over=take_over)
        if outcome is not None:
            self.notify(outcome.message, severity="information" if outcome.ok else "error",
                        timeout=3 if outcome.ok else 8, markup=False)

    @on(KeyedTable.RowChosen, "#inbox")
    def _chosen_row(self, event: KeyedTable.RowChosen) -> None:
        event.stop()
        if (group := self._groups.get(event.row_id)) is not None:
            self.expanded ^= {group.key}  # enter on a group opens or closes it
            self.redraw()
            return
        gate = self._shown.get(event.row_id)
        if gate is not None:
            suggestion = self.app.pod_state.suggestion_for(gate) if self.app.pod_state else None
            self.app.push_screen(GateScreen(gate, suggestion), lambda approve: self._gate_closed(gate, approve))

    def _gate_closed(self, gate: Gate, approve: bool | str | None) -> None:
        """The gate's details were closed, with a decision or without."""
        if approve == "grant":
            self.grant(gate)
        elif approve is not None:
            self.decide([gate], approve=bool(approve))

    # -- granting ----------------------------------------------------------------

    def action_grant(self) -> None:
        """g: approve the gate under the cursor and allow calls like it for a while."""
        table = self.query_one(InboxTable)
        row_id = table.cursor_id
        if row_id in self._groups or (table.marked and table.marked != {row_id}):
            self.notify("g grants from one gate: put the cursor on a gate (not a group or a batch).",
                        severity="warning", timeout=5)
            return
        gate = self._shown.get(row_id) if row_id is not None else None
        if gate is not None:
            self.grant(gate)

    def grant(self, gate: Gate) -> None:
        """The grant dialog for `gate`, or why no grant may come from it; when someone else
        claims the gate, ask first."""
        from loomtui.store.grants import grantable

        if why := grantable(gate):
            self.notify(f"No grant from gate {gate.id}: {why}. a approves this call alone.",
                        title="Not grantable", severity="warning", timeout=8, markup=False)
            return
        if claimed := self._claimed_by_others([gate]):
            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._grant_dialog(gate, override=True)

            self.app.push_screen(ClaimConfirm(claimed_question(claimed, self.app.clock(), "approve")),
                                 confirmed)
        else:
            self._grant_dialog(gate)

    def _grant_dialog(self, gate: Gate, *, override: bool = False) -> None:
        from loomtui.tui.inbox import shape
        from loomtui.tui.screens.grants import GrantModal, GrantRequest

        state = self.app.pod_state
        agent = state.agent(gate.agent_id) if state is not None and gate.agent_id is not None else None
        suggestion = state.suggestion_for(gate) if state is not None else None
        scope, pattern = (state.suggested_grant(gate) if state is not None else None) or ("agent", "")

        def done(request: GrantRequest | None) -> None:
            if request is not None:
                self.query_one(InboxTable).marked -= {gate.id}
                self.run_worker(self._grant(gate, request, override), group="decide", exit_on_error=False)

        self.app.push_screen(GrantModal(gate, pattern or shape(gate), agent, suggestion=suggestion, scope=scope),
                             done)

    async def _grant(self, gate: Gate, request, override: bool) -> None:
        outcome = await self.actions.grant(gate, scope=request.scope, pattern=request.pattern,
                                           duration=request.duration, reason=request.reason,
                                           override_claims=override)
        if outcome is None:
            return  # the store failed, and said so
        self.notify(outcome.message, title="" if outcome.ok else "Not granted",
                    severity="information" if outcome.ok else "warning" if outcome.skipped else "error",
                    timeout=5 if outcome.ok else 10, markup=False)
