"""The console's side of grants (issue 14): the grant dialog the inbox opens with `g`
("approve and allow calls like this"), and the Grants view (`G` from anywhere).

A grant answers allow, for a while, to the calls of one agent (or of every agent in a
repository) that the same rule gates and that match its pattern (loomtui/store/grants.py
keeps them; the hook honours them). The Grants view lists them: flagged ones first (a
rejection or a failed test run since the grant: a person should look again), then the
active ones by soonest expiry; `a` shows the expired and revoked ones too, dimmed. `x`
revokes the grant under the cursor at once, `R` asks for the reason first. Every grant and
revocation passes authorize and is audited (loomtui/actions.py).
"""

from __future__ import annotations

import posixpath
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Footer, Input, Label, RadioButton, RadioSet, Static

from loomtui.store.gates import Gate
from loomtui.text import printable
from loomtui.tui import model
from loomtui.tui.screens.approvals import GateReasonModal
from loomtui.tui.screens.base import LiveTableScreen
from loomtui.tui.screens.reason import ReasonModal
from loomtui.tui.widgets.cells import Cell
from loomtui.tui.widgets.keyed_table import Column, KeyedTable

if TYPE_CHECKING:
    from loomtui.store.agents import Agent
    from loomtui.store.grants import Grant

DEFAULT_DURATION = "1h"
REVOKED_AT_THE_CONSOLE = "revoked at the console"  # the reason `x` gives


# -- the grant dialog ------------------------------------------------------------------


class GrantRequest(NamedTuple):
    """What the grant dialog asks for: who it covers, what calls, for how long, why."""

    scope: str  # "agent" or "repo"
    pattern: str
    duration: float  # seconds
    reason: str


class GrantModal(GateReasonModal):
    """Approve `gate` and allow calls like it: the pattern (the gate's shape, editable: a
    narrower pattern covers less), the scope (this agent, or every agent in its
    repository), the duration (1h; 30m, 2h, 1d...) and the reason (required). enter in
    any field grants, tab moves between fields, esc cancels. Dismissed with a
    GrantRequest, or None. It closes its granting when someone else decides the gate."""

    DEFAULT_CSS = """
    GrantModal > Vertical { width: 84; border: round $accent; }
    GrantModal .grant-row { height: auto; }
    GrantModal .grant-label { width: 9; padding: 1 0 0 0; color: $text-muted; }
    GrantModal #grant-pattern { width: 1fr; }
    GrantModal #grant-duration { width: 12; }
    GrantModal RadioSet { layout: horizontal; width: 1fr; border: none; padding: 1 0 0 1;
                          height: auto; background: $surface; }
    GrantModal RadioSet:focus { border: none; background: $boost; }
    GrantModal #reason { margin-left: 9; }
    GrantModal #grant-keys { padding-left: 9; }
    GrantModal RadioButton { width: auto; padding: 0 1 0 0; }
    GrantModal #grant-suggestion { color: $accent; }
    GrantModal #grant-keys { color: $text-muted; }
    """

    def __init__(self, gate: Gate, shape: str, agent: Agent | None, *, suggestion: str | None = None,
                 scope: str = "agent") -> None:
        where = f"{gate.agent_name or 'an agent'}: {gate.summary}"
        super().__init__([gate], "Approve and allow calls like this:", where,
                         hint=f"rule {gate.rule or '-'} · {gate.risk} · {gate.tool}",
                         placeholder="why (required; the audit log keeps it)")
        self.gate = gate
        self.shape = shape
        self.agent = agent
        self.suggestion = suggestion
        self.initial_scope = scope  # `repo` when the repository's record suggests the grant

    @property
    def repo(self) -> str:
        return self.agent.repo if self.agent is not None and self.agent.repo else ""

    def fields(self) -> ComposeResult:
        if self.suggestion:
            yield Label(f"★ the record suggests it: {printable(self.suggestion)}", id="grant-suggestion")
        with Horizontal(classes="grant-row"):
            yield Label("calls", classes="grant-label")
            yield Input(value=self.shape, id="grant-pattern",
                        tooltip="what a call must match: the gate's shape, or narrower")
        with Horizontal(classes="grant-row"):
            yield Label("for", classes="grant-label")
            yield Input(value=DEFAULT_DURATION, id="grant-duration", placeholder="30m 2h 1d")
            with RadioSet(id="grant-scope"):
                wide = self.initial_scope == "repo" and bool(self.repo)
                yield RadioButton(printable(f"agent {self.gate.agent_name or '?'}"), value=not wide,
                                  id="scope-agent")
                repo = posixpath.basename(self.repo.rstrip("/")) or self.repo
                yield RadioButton(printable(f"every agent in {repo}") if repo else "every agent in its repo",
                                  id="scope-repo", disabled=not repo, value=wide)

    def on_mount(self) -> None:
        # (Textual calls GateReasonModal's on_mount too: it listens for the gate's closing.)
        self.query_one(Vertical).mount(Label("enter grants · tab next field · esc cancels", id="grant-keys"),
                                       after="#reason")
        # The reason first: it is the one field without a default, so `g`, a reason and enter
        # grant the suggested pattern; typing into a prefilled pattern field replaced it
        # (seen in tmux). The pattern, duration and scope are a tab away.
        self.query_one("#reason", Input).focus()

    @property
    def scope(self) -> str:
        return "repo" if self.query_one("#scope-repo", RadioButton).value else "agent"

    def answer(self, reason: str) -> GrantRequest | None:
        from loomtui.store.grants import parse_duration

        pattern = self.query_one("#grant-pattern", Input).value.strip()
        if not pattern:
            self.notify("A grant needs a pattern: the gate's shape, or a narrower one.", severity="warning")
            self.query_one("#grant-pattern", Input).focus()
            return None
        try:
            duration = parse_duration(self.query_one("#grant-duration", Input).value.strip())
        except ValueError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            self.query_one("#grant-duration", Input).focus()
            return None
        return GrantRequest(self.scope, pattern, duration, reason)


# -- the Grants view ---------------------------------------------------------------------

# From 120 columns: every field; "Pattern" takes what is left.
WIDE_COLUMNS = (
    Column("id", "#", 5, "right"), Column("who", "For", 16), Column("rule", "Rule", 16),
    Column("pattern", "Pattern", 0), Column("by", "By", 10), Column("expires", "Expires", 8, "right"),
    Column("uses", "Uses", 4, "right"), Column("flagged", "Flagged", 18))
# An 80-column pane: who, which rule, what, until when, how often; a flag leads the id,
# and the line under the table says the rest of the grant under the cursor.
NARROW_COLUMNS = (
    Column("id", "#", 5, "right"), Column("who", "For", 12), Column("rule", "Rule", 15),
    Column("pattern", "Pattern", 0), Column("expires", "Expires", 7, "right"),
    Column("uses", "Uses", 4, "right"))
WIDE_FROM = 120


def ordered(grants: list[Grant], now: float, *, show_all: bool) -> list[Grant]:
    """Flagged active grants first (the latest flag first), then the active ones by
    soonest expiry; with `show_all`, the ended ones (expired, revoked) after them, the
    latest ended first."""
    active = [g for g in grants if g.active(now)]
    flagged = sorted((g for g in active if g.flagged), key=lambda g: (-(g.flagged_at or 0), g.id))
    rest = sorted((g for g in active if not g.flagged), key=lambda g: (g.expires_at, g.id))
    ended = []
    if show_all:
        ended = sorted((g for g in grants if not g.active(now)), key=lambda g: -ended_at(g))
    return flagged + rest + ended


def ended_at(grant: Grant) -> float:
    """When a grant stopped: revoked, else expired."""
    return grant.revoked_at if grant.status == "revoked" and grant.revoked_at else grant.expires_at


def covers(grant: Grant, names: dict[int, str] | None = None) -> str:
    """Whom a grant covers: the agent's name, or "repo NAME"."""
    if grant.scope == "repo":
        return f"repo {posixpath.basename(grant.repo.rstrip('/')) or grant.repo}"
    name = grant.agent_name or (names or {}).get(grant.agent_id or -1, "")
    return name or f"agent {grant.agent_id}"


def state_word(grant: Grant, now: float) -> str:
    """"revoked", "expired", or "" while it holds."""
    state = grant.state(now)
    return "" if state == "active" else state


def matches(words: list[str], grant: Grant, now: float) -> bool:
    """Every word is in the grant's id, whom it covers, its rule, pattern, granter,
    reason, flag or state (`active`, `expired`, `revoked`, `flagged`)."""
    state = state_word(grant, now) or "active"
    text = " ".join((str(grant.id), covers(grant), grant.repo, grant.rule, grant.pattern,
                     grant.granted_by, grant.granted_name or "", grant.reason, grant.flagged,
                     "flagged" if grant.flagged else "", state)).lower()
    return all(word in text for word in words)


class GrantTable(KeyedTable):
    """The grants, one row each, keyed by grant id. KeyedTable's keys; the screen is told
    when the cursor moves (to say the whole grant under it)."""

    BINDINGS = [Binding("enter", "select", "Open", show=False, id="open")]  # the line below says it all

    class CursorMoved(Message):
        """The cursor is on another row."""

    def watch_cursor(self, old: int, new: int) -> None:
        super().watch_cursor(old, new)
        self.post_message(self.CursorMoved())


class GrantsScreen(LiveTableScreen):
    """Every grant. j/k move, x revokes the one under the cursor at once, R revokes it
    with a reason, a shows the expired and revoked ones too, / filters, esc clears the
    filter, then goes back."""

    TABLE = GrantTable
    FILTER_ID = "grants-filter"
    WIDE_COLUMNS, NARROW_COLUMNS, WIDE_FROM = WIDE_COLUMNS, NARROW_COLUMNS, WIDE_FROM

    AUTO_FOCUS = "#grants"
    BINDINGS = [
        Binding("escape", "back", "Back", id="back_from_grants"),
        Binding("x", "revoke", "Revoke", id="revoke_grant"),
        Binding("R", "revoke_with_reason", "Revoke, why", id="revoke_grant_reason"),
        Binding("a", "toggle_all", "All", id="all_grants"),
        Binding("slash", "filter", "Filter", id="filter_grants"),
    ]
    DEFAULT_CSS = """
    GrantsScreen { layout: vertical; }
    #grants-head { height: 1; padding: 0 1; background: $panel; }
    #grants-filter-bar { height: auto; display: none; }
    #grants-filter-bar.-active { display: block; }
    #grants-filter-bar Input { border: none; height: 1; padding: 0 1; background: $surface; }
    GrantTable { height: 1fr; }
    #grants-detail { height: auto; max-height: 4; padding: 0 1; background: $panel; }
    #grants-empty { height: 1fr; content-align: center middle; color: $text-muted; display: none; }
    GrantsScreen.-empty #grants-empty { display: block; }
    GrantsScreen.-empty GrantTable { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.show_all = False
        self.query_text = ""
        self._rows: dict[int, Grant] = {}
        self._stale = False

    def compose(self) -> ComposeResult:
        yield Static(id="grants-head")
        with Horizontal(id="grants-filter-bar"):
            yield Input(placeholder="filter: agent, repo, rule, pattern, who granted, flagged", id="grants-filter")
        yield GrantTable(id="grants")
        yield Static(id="grants-empty")
        yield Static(id="grants-detail")
        yield Footer()

    def redraw(self) -> None:
        state = self.app.pod_state
        if state is None:
            return
        self._stale = False
        now = state.now
        every = list(state.grants)
        words = self.query_text.lower().split()
        shown = ordered([g for g in every if not words or matches(words, g, now)], now, show_all=self.show_all)
        table = self.query_one(GrantTable)
        keys = [c.key for c in table.column_layout]
        self._rows = {g.id: g for g in shown}
        table.show([(g.id, self._cells(g, now, keys)) for g in shown])
        self.set_class(not shown, "-empty")
        active = [g for g in every if g.active(now)]
        flagged = sum(1 for g in active if g.flagged)
        ended = len(every) - len(active)
        if not every:
            empty = ("No grant yet. In the inbox, g on a gate approves it and allows calls like it "
                     "for a while.")
        elif not shown:
            empty = ("No grant matches the filter; esc clears it." if words else
                     f"No active grant; a shows the {ended} ended.")
        else:
            empty = ""
        self.query_one("#grants-empty", Static).update(empty)
        head = Content.assemble(
            ("Grants ", "bold"), f"{len(active)} active ",
            (f"· {flagged} flagged ", "bold $risk-high") if flagged else "",
            (f"· {ended} ended" + ("" if self.show_all else " (a)") + " ", "dim") if ended else "",
            (f"· filter: {self.query_text} ", "dim") if self.query_text else "",
            ("· x revokes · audited", "dim"))
        self.query_one("#grants-head", Static).update(head, layout=False)
        self._show_detail()

    def _cells(self, g: Grant, now: float, keys: list[str]) -> tuple[Cell, ...]:
        ended = state_word(g, now)
        dim = "dim" if ended else ""
        flag = bool(g.flagged) and not ended
        hot = "bold $risk-high"
        narrow = "flagged" not in keys
        values = {
            "id": Cell(f"⚑ {g.id}" if flag and narrow else str(g.id), hot if flag else dim,
                       justify="right"),
            "who": Cell(covers(g), "bold" if flag else dim),
            "rule": Cell(g.rule, dim),
            "pattern": Cell(g.pattern, dim),
            "by": Cell(g.granted_name or g.granted_by, dim),
            "expires": Cell(ended or model.age(g.expires_at - now), dim, justify="right"),
            "uses": Cell(str(g.uses), dim, justify="right"),
            "flagged": Cell(g.flagged, hot if flag else dim),
        }
        return tuple(values[k] for k in keys)

    def _time(self, ts: float, now: float) -> str:
        when = datetime.fromtimestamp(ts, tz=self.app.tz)
        today = datetime.fromtimestamp(now, tz=self.app.tz).date()
        return when.strftime("%H:%M") if when.date() == today else when.strftime("%a %H:%M")

    def _show_detail(self) -> None:
        """The whole grant under the cursor, in words (the narrow table leaves some out)."""
        grant = self.selected()
        state = self.app.pod_state
        detail = self.query_one("#grants-detail", Static)
        if grant is None or state is None:
            detail.update("")
            detail.display = False
            return
        detail.display = True
        now = state.now
        by = grant.granter
        until = self._time(grant.expires_at, now)
        used = f"used {grant.uses}×" + (f", last {model.age(now - grant.last_used_at)} ago"
                                        if grant.last_used_at else "")
        gate = f" from gate {grant.gate_id}" if grant.gate_id else ""
        parts: list[str | tuple[str, str]] = [
            (f"grant {grant.id} ", "bold"),
            printable(f"· {covers(grant)} · rule {grant.rule} · {grant.pattern}") + "\n",
            printable(f"by {by} {self._time(grant.created_at, now)}{gate}, until {until} · {used} · "
                      f"why: {grant.reason}")]
        if grant.status == "revoked":
            who = grant.revoked_by or "?"
            parts.append(("\n" + printable(f"revoked by {who} {self._time(grant.revoked_at or now, now)}: "
                                           f"{grant.revoke_reason or ''}"), "dim"))
        elif not grant.active(now):
            parts.append(("\nexpired", "dim"))
        if grant.flagged:
            parts.append(("\n" + printable(f"⚑ flagged: {grant.flagged}") +
                          (" (x revokes it)" if grant.active(now) else ""), "bold $risk-high"))
        detail.update(Content.assemble(*parts))

    @on(GrantTable.CursorMoved)
    def _cursor_moved(self, event: GrantTable.CursorMoved) -> None:
        event.stop()
        self._show_detail()

    @on(KeyedTable.RowChosen, "#grants")
    def _row_chosen(self, event: KeyedTable.RowChosen) -> None:
        event.stop()  # enter: the detail line already says it all

    # -- keys ------------------------------------------------------------------

    def selected(self) -> Grant | None:
        row_id = self.query_one(GrantTable).cursor_id
        return None if row_id is None else self._rows.get(row_id)

    def shown(self) -> list[Grant]:
        """The grants on screen, in their order."""
        return [self._rows[row_id] for row_id in self.query_one(GrantTable).ordered_ids]

    def agent_in_view(self) -> int | None:
        """The agent of the grant under the cursor (the app's `o` reaches its tmux pane)."""
        grant = self.selected()
        return grant.agent_id if grant is not None and grant.scope == "agent" else None

    def _revocable(self) -> Grant | None:
        grant = self.selected()
        if grant is None:
            return None
        state = self.app.pod_state
        if state is not None and not grant.active(state.now):
            self.notify(f"Grant {grant.id} is already {state_word(grant, state.now)}.", timeout=3)
            return None
        return grant

    def action_revoke(self) -> None:
        """x: revoke at once, with the reason "revoked at the console"."""
        if (grant := self._revocable()) is not None:
            self.run_worker(self._revoke(grant, REVOKED_AT_THE_CONSOLE), group="revoke", exit_on_error=False)

    def action_revoke_with_reason(self) -> None:
        """R: revoke with a typed reason."""
        grant = self._revocable()
        if grant is None:
            return

        def done(reason: str | None) -> None:
            if reason:
                self.run_worker(self._revoke(grant, reason), group="revoke", exit_on_error=False)

        what = f"grant {grant.id}: {grant.pattern} for {covers(grant)} (rule {grant.rule})"
        self.app.push_screen(ReasonModal("Revoke", what, hint="Its calls are gated again at once."), done)

    async def _revoke(self, grant: Grant, reason: str) -> None:
        outcome = await self.actions.revoke_grant(grant.id, reason)
        if outcome is None:
            return  # the store failed, and said so
        self.notify(outcome.message, title="" if outcome.ok else "Not revoked",
                    severity="information" if outcome.ok else "error", timeout=4 if outcome.ok else 10,
                    markup=False)

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.redraw()


