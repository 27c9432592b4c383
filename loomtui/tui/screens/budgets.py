"""BudgetsScreen: every budget of the pod, how much of it is used, how fast, and when it
runs out; `e` changes a limit (audited, and the hook sees it at once).

Rows come from the `budget_state` table the ingester keeps: the pod's 5-hour block and
week, each repository's day, and each agent's session and day. Rows without a limit show
their figures so a supervisor can see what a sensible limit would be.
"""

from __future__ import annotations

import math
from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Label, Static

from loomtui.store.budgets import BudgetState
from loomtui.text import printable
from loomtui.tui import model
from loomtui.tui.model import PodState
from loomtui.tui.screens.base import LoomScreen
from loomtui.tui.widgets.cells import Cell
from loomtui.tui.widgets.table_rows import sync_rows

SCOPE_ORDER = {"pod": 0, "repo": 1, "agent": 2}
# (key, label, width); an 80-column pane keeps who, what is used, of which limit, and when
# it runs out
WIDE_COLUMNS = (("scope", "Scope", 6), ("who", "For", 22), ("period", "Period", 7), ("used", "Used", 18),
                ("limit", "Limit", 18), ("gauge", "Of limit", 12), ("burn", "Burn", 16),
                ("out", "Runs out", 9), ("resets", "Resets", 11))
NARROW_COLUMNS = (("who", "For", 14), ("period", "Period", 7), ("used", "Used", 16), ("limit", "Limit", 9),
                  ("gauge", "%", 5), ("out", "Runs out", 9))
PERIOD_ORDER = {"block": 0, "week": 1, "session": 2, "day": 3}


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


class BudgetsScreen(LoomScreen[None]):
    """All budgets. j/k move, e edits the selected limit, esc goes back."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="back_budgets"),
        Binding("e", "edit", "Edit limit", id="edit_budget"),
        Binding("j", "cursor_down", "Down", show=False, id="budgets_down"),
        Binding("k", "cursor_up", "Up", show=False, id="budgets_up"),
    ]
    DEFAULT_CSS = """
    BudgetsScreen { layout: vertical; }
    #budgets-head { height: 1; padding: 0 1; background: $panel; }
    #budgets { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[BudgetState, ...] | None = None
        self._rows: dict[str, BudgetState] = {}
        self._row_ids: dict[str, int] = {}  # a number per row key, to keep the rows in order

    def compose(self) -> ComposeResult:
        yield Static(id="budgets-head")
        yield DataTable(id="budgets", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        narrow = (self.size.width or self.app.size.width) < 120
        self._columns = NARROW_COLUMNS if narrow else WIDE_COLUMNS
        for key, label, width in self._columns:
            table.add_column(label, key=key, width=width)
        self.app.pod_changed_signal.subscribe(self, self.show_state)
        if self.app.pod_state is not None:
            self.show_state(self.app.pod_state)
        table.focus()

    def show_state(self, state: PodState) -> None:
        head = Text()
        head.append("Budgets  ", "bold")
        head.append("e edits a limit · limits from config.toml apply until changed here · "
                    "every change is audited", "dim")
        self.query_one("#budgets-head", Static).update(head)
        if state.budgets == self._shown:
            return
        self._shown = state.budgets
        names = {str(a.id): a.name for a in state.agents}
        ordered = sorted(state.budgets, key=lambda b: (SCOPE_ORDER[b.scope], self._who(b, names),
                                                       PERIOD_ORDER[b.period]))
        self._rows = {f"{b.scope}|{b.scope_ref}|{b.period}": b for b in ordered}
        rows = [(key, self._cells(b, names, state.now, self._row_ids.setdefault(key, len(self._row_ids))))
                for key, b in self._rows.items()]
        # Keyed: only the cells that changed are updated; the cursor stays on its budget.
        sync_rows(self.query_one(DataTable), rows, "period")

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

    def _cells(self, b: BudgetState, names: dict[str, str], now: float, row_id: int) -> tuple:
        limit = " · ".join(x for x in (
            model.money(b.max_usd) if b.max_usd is not None else "",
            f"{model.tokens(b.max_tokens)} tok" if b.max_tokens is not None else "") if x) or "none"
        # Cells: their "$budget-..." styles take the theme's colours each time the table draws.
        if b.limited:
            style = "$" + model.budget_level(b.fraction)
            width = next(w for k, _l, w in self._columns if k == "gauge")
            gauge = Cell(model.gauge(b.fraction, width), ("bold " + style) if b.over else style,
                         justify="default")
        else:
            gauge = Text("—", style="dim")
        burn = (f"{model.tokens(int(b.burn_tokens_min))}/m {model.money(b.burn_usd_hour)}/h"
                if b.burn_tokens_min >= 1 else "")
        out = Cell("over", "bold $budget-critical", justify="default") if b.over else \
            Text(self._time(b.exhausts_at, now))
        # "who" goes in as Text: a str cell is markup to DataTable, and names are agents' text.
        values = {"scope": b.scope, "who": Text(self._who(b, names)), "period": Cell(b.period, row_id=row_id),
                  "used": f"{model.tokens(b.used_tokens)} tok {model.money(b.used_usd)}", "limit": limit,
                  "gauge": gauge, "burn": burn, "out": out, "resets": self._time(b.resets_at, now)}
        return tuple(values[key] for key, _label, _width in self._columns)

    @on(DataTable.RowSelected, "#budgets")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit()

    def selected(self) -> BudgetState | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._rows.get(key)

    def agent_in_view(self) -> int | None:
        """The agent of the budget under the cursor (the app's `o` reaches its tmux pane)."""
        budget = self.selected()
        if budget is None or budget.scope != "agent" or not budget.scope_ref.isdigit():
            return None
        return int(budget.scope_ref)

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()

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

    async def _set_budget(self, state: BudgetState, max_tokens: int | None, max_usd: float | None) -> None:
        outcome = await self.actions.set_budget(state, max_tokens, max_usd)
        if outcome is None:
            return  # the store failed, and said so
        if outcome.ok:
            self.notify(outcome.message, timeout=4)
        else:
            self.notify(outcome.message, title="Not allowed", severity="error", timeout=10)
