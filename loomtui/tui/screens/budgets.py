"""BudgetsScreen: every budget of the pod, one row each, how much of it is used, how fast,
and when it runs out; `e` changes a limit (audited; the hook sees it at once, and the
budget gates it lifted are released).

Rows come from the `budget_state` table the ingester keeps: the pod's 5-hour block and
week, each repository's day, and each agent's session and day. A budget is a period with
a limit; periods without one are hidden until `a` shows them (their figures say what a
sensible limit would be). Over-budget first by default; `s` and header clicks sort, `/`
filters. Rows are updated by key: the cursor and the scroll stay where they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from loomtui.store.budgets import BudgetState
from loomtui.text import printable
from loomtui.tui import model
from loomtui.tui.screens.base import LiveTableScreen
from loomtui.tui.widgets.cells import Cell
from loomtui.tui.widgets.keyed_table import PADDING, Column, KeyedTable

SCOPE_ORDER = {"pod": 0, "repo": 1, "agent": 2}
PERIOD_ORDER = {"block": 0, "week": 1, "session": 2, "day": 3}
# From 120 columns: every figure; "For" takes what is left (18 cells at 120).
WIDE_COLUMNS = (
    Column("scope", "Scope", 5), Column("who", "For", 0), Column("period", "Period", 7),
    Column("used", "Used", 13, "right"), Column("limit", "Limit", 12, "right"),
    Column("gauge", "Of limit", 11), Column("burn", "Burn", 16, "right"),
    Column("out", "Runs out", 9, "right"), Column("resets", "Resets", 9, "right"))
# An 80-column pane keeps who, what is used, of which limit, and when it runs out.
NARROW_COLUMNS = (
    Column("who", "For", 0), Column("period", "Period", 7), Column("used", "Used", 15, "right"),
    Column("limit", "Limit", 10, "right"), Column("gauge", "%", 5, "right"),
    Column("out", "Runs out", 8, "right"))
WIDE_FROM = 120


def _share(b: BudgetState) -> float:
    return b.fraction if b.limited else -1.0


# Sort modes: label, key (ascending), and whether the natural order is descending.
SORTS: dict[str, tuple[str, Callable[[BudgetState, str], tuple], bool]] = {
    "share": ("% of limit", lambda b, who: (_share(b),), True),  # over-budget first
    "spend": ("dollars used", lambda b, who: (b.used_usd, b.used_tokens), True),
    "burn": ("burn rate", lambda b, who: (b.burn_usd_hour, b.burn_tokens_min), True),
    "out": ("runs out", lambda b, who: (b.exhausts_at is None and not b.over,
                                        -1.0 if b.over else (b.exhausts_at or 0.0)), False),
    "limit": ("limit", lambda b, who: (b.max_usd is None, b.max_usd or 0.0, b.max_tokens or 0), False),
    "name": ("name", lambda b, who: (SCOPE_ORDER.get(b.scope, 9), who.lower(),
                                     PERIOD_ORDER.get(b.period, 9)), False),
}
SORT_CYCLE = ("share", "spend", "burn", "out", "name")
# What a click on a column's header sorts by.
COLUMN_SORTS = {"scope": "name", "who": "name", "period": "name", "used": "spend", "limit": "limit",
                "gauge": "share", "burn": "burn", "out": "out", "resets": "out"}


def ordered(budgets: list[BudgetState], who: Callable[[BudgetState], str], sort: str,
            reverse: bool = False) -> list[BudgetState]:
    """`budgets` in `sort` order (its natural direction, flipped by `reverse`); ties by name."""
    _label, key, descending = SORTS[sort]
    name = SORTS["name"][1]
    by_name = sorted(budgets, key=lambda b: name(b, who(b)))
    return sorted(by_name, key=lambda b: key(b, who(b)), reverse=descending != reverse)


def matches(words: list[str], b: BudgetState, who: str, where: str = "") -> bool:
    """Every word of the filter is in the budget's scope, name, period, its state (`over`,
    `limited`, `unlimited`) or `where` (an agent's repository and branch)."""
    state = "over" if b.over else ("limited" if b.limited else "unlimited")
    text = f"{b.scope} {who} {b.period} {state} {b.scope_ref} {where}".lower()
    return all(word in text for word in words)


class BudgetTable(KeyedTable):
    """The budgets, one row each, keyed by a number per budget. KeyedTable's keys; a
    click on a column's header posts `HeaderClicked`."""

    class HeaderClicked(Message):
        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            super().on_click(event)
            return
        x = 0
        for column, width in zip(self.column_layout, self._widths, strict=False):
            x += width + 2 * PADDING
            if event.x < x:
                self.post_message(self.HeaderClicked(column.key))
                return


class LimitModal(ModalScreen[tuple[int | None, float | None] | None]):
    """Asks for a budget's new limits. enter saves, esc cancels. An empty field means no
    limit in that unit."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel_limit")]
    DEFAULT_CSS = """
    LimitModal { align: center middle; }
    LimitModal > Vertical {
        width: 64; max-width: 95%; height: auto; border: round $primary;
        background: $surface; padding: 0 1;
    }
    LimitModal Label { width: 100%; }
    LimitModal .hint { color: $text-muted; }
    """

    def __init__(self, what: str, state: BudgetState) -> None:
        super().__init__()
        self.what = what
        self.state = state

    def compose(self) -> ComposeResult:
        s = self.state
        with Vertical():
            yield Label(Text.assemble(("Budget for ", "bold"), self.what))
            yield Label(f"used {s.used_tokens:,} tokens, {model.money(s.used_usd)}; "
                        "leave a field empty for no limit", classes="hint")
            yield Input(value="" if s.max_usd is None else f"{s.max_usd:g}",
                        placeholder="USD limit", id="limit-usd")
            yield Input(value="" if s.max_tokens is None else str(s.max_tokens),
                        placeholder="token limit", id="limit-tokens")

    @on(Input.Submitted)
    def _submitted(self) -> None:
        usd_text = self.query_one("#limit-usd", Input).value.strip().lstrip("$").replace(",", "")
        tok_text = self.query_one("#limit-tokens", Input).value.strip().replace(",", "").replace("_", "")
        try:
            usd = float(usd_text) if usd_text else None
            tokens = int(float(tok_text)) if tok_text else None
            if usd is not None and not math.isfinite(usd):
                raise ValueError(usd_text)
        except (ValueError, OverflowError):
            self.notify("Limits are numbers: dollars (e.g. 25 or 12.50) and tokens (e.g. 2000000).",
                        severity="warning")
            return
        if (usd is not None and usd <= 0) or (tokens is not None and tokens <= 0):
            self.notify("A limit must be above zero (leave it empty for no limit).", severity="warning")
            return
        self.dismiss((tokens, usd))

    def action_cancel(self) -> None:
        self.dismiss(None)


class BudgetsScreen(LiveTableScreen):
    """All budgets. j/k move, e (or enter) edits the selected limit, x puts back the
    config's limit (removes the one set here), s sorts (r reverses;
    a header click sorts by that column), / filters, a shows periods without a limit,
    esc clears the filter, then goes back."""

    TABLE = BudgetTable
    FILTER_ID = "budgets-filter"
    WIDE_COLUMNS, NARROW_COLUMNS, WIDE_FROM = WIDE_COLUMNS, NARROW_COLUMNS, WIDE_FROM

    AUTO_FOCUS = "#budgets"
    BINDINGS = [
        Binding("escape", "back", "Back", id="back_budgets"),
        Binding("e", "edit", "Edit limit", id="edit_budget"),
        Binding("x", "unset", "Config's limit", show=False, id="unset_budget"),
        Binding("s", "cycle_sort", "Sort", id="sort_budgets"),
        Binding("r", "reverse_sort", "Reverse", id="reverse_budgets"),
        Binding("slash", "filter", "Filter", id="filter_budgets"),
        Binding("a", "toggle_unlimited", "All periods", id="all_budgets"),
    ]
    DEFAULT_CSS = """
    BudgetsScreen { layout: vertical; }
    #budgets-head { height: 1; padding: 0 1; background: $panel; }
    #budgets-filter-bar { height: auto; display: none; }
    #budgets-filter-bar.-active { display: block; }
    #budgets-filter-bar Input { border: none; height: 1; padding: 0 1; background: $surface; }
    BudgetTable { height: 1fr; }
    #budgets-empty { height: 1fr; content-align: center middle; color: $text-muted; display: none; }
    BudgetsScreen.-empty #budgets-empty { display: block; }
    BudgetsScreen.-empty BudgetTable { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.sort_mode = "share"
        self.reverse = False
        self.query_text = ""
        self.show_unlimited = False
        self._rows: dict[int, BudgetState] = {}
        self._row_ids: dict[tuple[str, str, str], int] = {}  # a stable number per budget
        self._stale = False

    def compose(self) -> ComposeResult:
        yield Static(id="budgets-head")
        with Horizontal(id="budgets-filter-bar"):
            yield Input(placeholder="filter: agent, repository, period, over", id="budgets-filter")
        yield BudgetTable(id="budgets")
        yield Static("No budget has a limit. a shows every period; e on one sets a limit.", id="budgets-empty")
        yield Footer()

    def redraw(self) -> None:
        state = self.app.pod_state
        if state is None:
            return
        self._stale = False
        names = {str(a.id): a.name for a in state.agents}
        where = {str(a.id): f"{a.repo or ''} {a.branch or ''}" for a in state.agents}
        table = self.query_one(BudgetTable)
        columns = table.column_layout
        words = self.query_text.lower().split()
        every = list(state.budgets)
        shown = [b for b in every if (self.show_unlimited or b.limited)
                 and (not words or matches(words, b, self._who(b, names), where.get(b.scope_ref, "") if b.scope == "agent" else ""))]
        shown = ordered(shown, lambda b: self._who(b, names), self.sort_mode, self.reverse)
        rows = []
        self._rows = {}
        for b in shown:
            row_id = self._row_ids.setdefault((b.scope, b.scope_ref, b.period), len(self._row_ids) + 1)
            self._rows[row_id] = b
            rows.append((row_id, self._cells(b, names, state.now, columns)))
        table.show(rows)
        self.set_class(not rows, "-empty")
        over = sum(b.over for b in every)
        hidden = sum(not b.limited for b in every) if not self.show_unlimited else 0
        label = SORTS[self.sort_mode][0] + (" ↑" if SORTS[self.sort_mode][2] == self.reverse else " ↓")
        head = Content.assemble(
            ("Budgets ", "bold"), f"{len(rows)} shown",
            (f" · {over} over", "bold $budget-critical") if over else "",
            (f" · sorted by {label}", "dim"),
            (f" · filter: {self.query_text}", "dim") if self.query_text else "",
            (f" · {hidden} without a limit (a)", "dim") if hidden else "",
            (" · e edits · changes are audited", "dim"))
        self.query_one("#budgets-head", Static).update(head, layout=False)

    @staticmethod
    def _who(b: BudgetState, names: dict[str, str]) -> str:
        """The pod, a repository's or an agent's name (escaped: agents chose them)."""
        if b.scope == "pod":
            return "the pod"
        if b.scope == "repo":
            return printable(b.scope_ref.rstrip("/").rsplit("/", 1)[-1] or b.scope_ref)
        return printable(names.get(b.scope_ref, f"agent {b.scope_ref}"))

    def _time(self, ts: float | None, now: float) -> str:
        if ts is None:
            return ""
        when = datetime.fromtimestamp(ts, tz=self.app.tz)
        today = datetime.fromtimestamp(now, tz=self.app.tz).date()
        return when.strftime("%H:%M") if when.date() == today else when.strftime("%a %H:%M")

    def _cells(self, b: BudgetState, names: dict[str, str], now: float,
               columns: tuple[Column, ...]) -> tuple[Cell, ...]:
        limit = " · ".join(x for x in (
            model.money(b.max_usd) if b.max_usd is not None else "",
            f"{model.tokens(b.max_tokens)} tok" if b.max_tokens is not None else "") if x) or "none"
        if b.limited:
            style = "$" + model.budget_level(b.fraction)
            width = next(c.width for c in columns if c.key == "gauge")
            gauge = Cell(model.gauge(b.fraction, width), ("bold " + style) if b.over else style)
        else:
            gauge = Cell("—", "dim")
        burn = (f"{model.tokens(int(b.burn_tokens_min))}/m {model.money(b.burn_usd_hour)}/h"
                if b.burn_tokens_min >= 1 else "")
        out = Cell("over", "bold $budget-critical") if b.over else Cell(self._time(b.exhausts_at, now))
        values = {"scope": Cell(b.scope), "who": Cell(self._who(b, names), "bold" if b.over else ""),
                  "period": Cell(b.period),
                  "used": Cell(f"{model.tokens(b.used_tokens)} {model.money(b.used_usd)}"),
                  "limit": Cell(limit, "" if b.limited else "dim"), "gauge": gauge, "burn": Cell(burn),
                  "out": out, "resets": Cell(self._time(b.resets_at, now))}
        return tuple(values[c.key] for c in columns)

    # -- keys ------------------------------------------------------------------

    @on(KeyedTable.RowChosen, "#budgets")
    def _row_chosen(self, event: KeyedTable.RowChosen) -> None:
        event.stop()
        self.action_edit()

    @on(BudgetTable.HeaderClicked)
    def _header_clicked(self, event: BudgetTable.HeaderClicked) -> None:
        sort = COLUMN_SORTS.get(event.column, "share")
        if sort == self.sort_mode:
            self.reverse = not self.reverse
        else:
            self.sort_mode, self.reverse = sort, False
        self.redraw()

    def action_cycle_sort(self) -> None:
        index = SORT_CYCLE.index(self.sort_mode) if self.sort_mode in SORT_CYCLE else -1
        self.sort_mode, self.reverse = SORT_CYCLE[(index + 1) % len(SORT_CYCLE)], False
        self.redraw()

    def action_reverse_sort(self) -> None:
        self.reverse = not self.reverse
        self.redraw()

    def action_toggle_unlimited(self) -> None:
        self.show_unlimited = not self.show_unlimited
        self.redraw()


    def shown(self) -> list[BudgetState]:
        """The budgets on screen, in their order."""
        return [self._rows[row_id] for row_id in self.query_one(BudgetTable).ordered_ids]

    def select_budget(self, scope: str, scope_ref: str, period: str) -> bool:
        """Put the cursor on that budget's row; False when it is not shown."""
        table = self.query_one(BudgetTable)
        row_id = self._row_ids.get((scope, scope_ref, period))
        if row_id not in table.ordered_ids:
            return False
        table.cursor = table.ordered_ids.index(row_id)
        return True

    def selected(self) -> BudgetState | None:
        row_id = self.query_one(BudgetTable).cursor_id
        return None if row_id is None else self._rows.get(row_id)

    def agent_in_view(self) -> int | None:
        """The agent of the budget under the cursor (the app's `o` reaches its tmux pane)."""
        budget = self.selected()
        if budget is None or budget.scope != "agent" or not budget.scope_ref.isdigit():
            return None
        return int(budget.scope_ref)

    def action_edit(self) -> None:
        state = self.selected()
        if state is None:
            return
        names = {str(a.id): a.name for a in self.app.pod_state.agents} if self.app.pod_state else {}
        what = f"{self._who(state, names)} ({state.period})"

        def done(result: tuple[int | None, float | None] | None) -> None:
            if result is not None:
                self.app.run_worker(self._set_budget(state, *result), exit_on_error=False)

        self.app.push_screen(LimitModal(what, state), done)

    def action_unset(self) -> None:
        state = self.selected()
        if state is not None:
            self.app.run_worker(self._set_budget(state, None, None, unset=True), exit_on_error=False)

    async def _set_budget(self, state: BudgetState, max_tokens: int | None, max_usd: float | None, *,
                          unset: bool = False) -> None:
        if unset:
            outcome = await self.actions.unset_budget(state)
        else:
            outcome = await self.actions.set_budget(state, max_tokens, max_usd)
        if outcome is None:
            return  # the store failed, and said so
        if outcome.ok:
            self.notify(outcome.message, timeout=4)
        else:
            self.notify(outcome.message, title="Not allowed", severity="error", timeout=10)
