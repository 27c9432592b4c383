"""The Budgets view at 80x24 and 160x48: one row per budget (a period with a limit),
over-budget first, sorted by keys and header clicks, filtered with `/`, columns that fit,
rows updated by key without the cursor or the scroll jumping; and a limit raised there
releases the budget gates it caused, as `loomtui budget set` does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loomtui.config import BudgetConfig, Config, ConsoleConfig
from loomtui.store import audit
from loomtui.store.budgets import refresh, set_limit
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate, get_gate
from loomtui.supervisors import account_name
from loomtui.tui.screens.budgets import BudgetsScreen, BudgetTable, LimitModal
from loomtui.tui.screens.fleet import FleetScreen
from loomtui.tui.widgets.fleet_table import FleetTable
from loomtui.tui.widgets.keyed_table import PADDING
from tests.conftest import build_app
from tests.pods import LIMITS, NOW, make_pod
from tests.waiting import until

SIZES = [(80, 24), (160, 48)]


def config() -> Config:
    return Config(console=ConsoleConfig(stall_after=600), budgets=BudgetConfig(limits=LIMITS))


@pytest.fixture
def big_pod(tmp_path: Path) -> Path:
    """60 agents (more rows than a 48-line terminal shows), spending $0.10 to $6.00 of
    their $5 session budget: ten of them over it."""
    fleet = [(f"agent-{n:02d}", "claude", "shop", f"b{n}", "working", "", 5, ("Read", "x.py"))
             for n in range(60)]
    return make_pod(tmp_path, fleet=fleet, spend=[0.1 * (n + 1) for n in range(60)])


async def open_budgets(pilot) -> BudgetsScreen:
    await pilot.press("b")
    screen = await until(pilot, lambda: isinstance(pilot.app.screen, BudgetsScreen) and pilot.app.screen,
                         "the Budgets view")
    await until(pilot, lambda: screen.query_one(BudgetTable).row_count, "its rows")
    return screen


def names(screen: BudgetsScreen) -> list[str]:
    agents = {str(a.id): a.name for a in screen.app.pod_state.agents}
    return [agents.get(b.scope_ref, b.scope) + "/" + b.period for b in screen.shown()]


@pytest.mark.parametrize("size", SIZES)
async def test_one_row_per_budget_over_first_and_columns_that_fit(pod: Path, size) -> None:
    app = build_app(pod, config=config())
    async with app.run_test(size=size) as pilot:
        screen = await open_budgets(pilot)
        shown = screen.shown()
        # a budget is a period with a limit: each agent's session ($5) and the pod's block ($40)
        spenders = sum(1 for s in (4.6, 2.1, 0.3, 5.4, 1.0, None, 3.2, 0.8, 4.1, 2.7) if s is not None)
        assert len(shown) == spenders + 1 and all(b.limited for b in shown)
        assert names(screen)[0] == "db-orders/session" and shown[0].over  # $5.40 of $5: first
        fractions = [b.fraction for b in shown]
        assert fractions == sorted(fractions, reverse=True)
        head = str(screen.query_one("#budgets-head").render())
        assert "1 over" in head and "without a limit (a)" in head
        table = screen.query_one(BudgetTable)
        assert table.virtual_size.width <= table.size.width  # nothing to scroll sideways
        await pilot.press("a")  # every period, limits or not
        await pilot.pause()
        assert len(screen.shown()) == len(app.pod_state.budgets) > len(shown)
        assert screen.shown()[0].over


@pytest.mark.parametrize("width", [120, 140])
async def test_wide_columns_fit_from_120(pod: Path, width: int) -> None:
    app = build_app(pod, config=config())
    async with app.run_test(size=(width, 30)) as pilot:
        screen = await open_budgets(pilot)
        table = screen.query_one(BudgetTable)
        assert [c.key for c in table.column_layout][:3] == ["scope", "who", "period"]
        assert table.virtual_size.width <= table.size.width
        who = dict(zip([c.key for c in table.column_layout], table._widths, strict=True))["who"]
        assert who >= len("search-index")  # names are not cut at 120


def header_x(table: BudgetTable, key: str) -> int:
    """The x of a column's header label."""
    x = 0
    for column, width in zip(table.column_layout, table._widths, strict=True):
        if column.key == key:
            return x + PADDING
        x += width + 2 * PADDING
    raise AssertionError(key)


@pytest.mark.parametrize("size", SIZES)
async def test_sort_by_keys_and_header_clicks(pod: Path, size) -> None:
    app = build_app(pod, config=config())
    async with app.run_test(size=size) as pilot:
        screen = await open_budgets(pilot)
        await pilot.press("s")  # % of limit -> dollars used
        await pilot.pause()
        used = [b.used_usd for b in screen.shown()]
        assert used == sorted(used, reverse=True) and "sorted by dollars used ↓" in str(
            screen.query_one("#budgets-head").render())
        await pilot.press("r")
        await pilot.pause()
        assert [b.used_usd for b in screen.shown()] == sorted(used)
        table = screen.query_one(BudgetTable)
        await pilot.click(BudgetTable, offset=(header_x(table, "who"), 0))  # by name
        await pilot.pause()
        assert screen.sort_mode == "name" and not screen.reverse
        order = names(screen)
        assert order[0] == "pod/block" and order[1:] == sorted(order[1:])
        await pilot.click(BudgetTable, offset=(header_x(table, "who"), 0))  # again: reversed
        await pilot.pause()
        assert names(screen) == order[::-1]
        await pilot.click(BudgetTable, offset=(header_x(table, "gauge"), 0))  # back to % of limit
        await pilot.pause()
        assert screen.sort_mode == "share" and names(screen)[0] == "db-orders/session"


@pytest.mark.parametrize("size", SIZES)
async def test_filter_then_esc_clears_it_then_goes_back(pod: Path, size) -> None:
    app = build_app(pod, config=config())
    async with app.run_test(size=size) as pilot:
        screen = await open_budgets(pilot)
        everything = names(screen)
        await pilot.press("slash", *"billing")
        await pilot.pause()
        assert names(screen) == ["billing-vat/session"]
        screen.query_one("#budgets-filter").value = "over"
        await pilot.pause()
        assert names(screen) == ["db-orders/session"]
        screen.query_one("#budgets-filter").value = "shop session"  # every word must match
        await pilot.pause()
        assert names(screen) and all(n.endswith("/session") for n in names(screen))
        await pilot.press("escape")
        await pilot.pause()
        assert names(screen) == everything and app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, BudgetsScreen)


@pytest.mark.parametrize("size", SIZES)
async def test_a_refresh_keeps_the_cursor_and_the_scroll(big_pod: Path, size) -> None:
    app = build_app(big_pod, config=config())
    async with app.run_test(size=size) as pilot:
        screen = await open_budgets(pilot)
        table = screen.query_one(BudgetTable)
        assert table.row_count == 61 > table.visible_lines  # the pod's block and 60 sessions
        for _ in range(2):
            await pilot.press("pagedown")
        await pilot.press("k")
        await pilot.pause()
        top, cursor, order = table.scroll_offset.y, table.cursor_id, table.ordered_ids
        assert top > 0 and cursor is not None
        chosen = screen.selected()
        conn = connect(db_path(big_pod))
        try:  # the block (over, on top) gets a lower limit: its figures change, nobody's order
            set_limit(conn, scope="pod", scope_ref="", period="block", max_tokens=None, max_usd=35.0,
                      actor="ana", now=NOW)
            refresh(conn, LIMITS, NOW, None)
        finally:
            conn.close()
        await app.refresh_state()
        await until(pilot, lambda: any(b.scope == "pod" and b.max_usd == 35.0 for b in screen.shown()),
                    "the new limit on screen")
        assert table.ordered_ids == order
        assert (table.scroll_offset.y, table.scroll_offset.x, table.cursor_id) == (top, 0, cursor)
        assert screen.selected() == chosen


async def test_raising_a_limit_in_the_console_releases_its_budget_gate(pod: Path) -> None:
    conn = connect(db_path(pod))
    try:
        db_orders = conn.execute("SELECT id FROM agents WHERE name = 'db-orders'").fetchone()[0]
        gate = create_gate(conn, agent_id=db_orders, tool="Bash", action={"command": "pytest -q"},
                           summary="session budget: $5.40 of $5.00 (108 %) · pytest -q",
                           rule="budget:agent/session", risk="budget", now=NOW, expires_at=NOW + 600)
    finally:
        conn.close()
    app = build_app(pod, config=config())
    async with app.run_test(size=(120, 30)) as pilot:
        fleet = await until(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen, "the fleet")
        await until(pilot, lambda: fleet.query_one(FleetTable).row_count, "the fleet's rows")
        assert fleet.query_one(FleetTable).cell(db_orders, "budget").text.strip() == "108%"
        screen = await open_budgets(pilot)
        assert screen.select_budget("agent", str(db_orders), "session")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, LimitModal), "the limit dialog")
        app.screen.query_one("#limit-usd").value = ""
        await pilot.press(*"8.50", "enter")
        await until(pilot, lambda: not app.pod_state.budget("agent", str(db_orders), "session").over,
                    "the budget no longer over")
        assert app.pod_state.budget("agent", str(db_orders), "session").fraction == pytest.approx(5.4 / 8.5)
        assert any(f"released 1 waiting call (gate {gate.id})" in n.message for n in app._notifications)
        await pilot.press("escape")  # the fleet: db-orders' row no longer says 108 %
        await until(pilot, lambda: app.screen is fleet, "the fleet")
        table = fleet.query_one(FleetTable)
        await until(pilot, lambda: table.cell(db_orders, "budget").text.strip() == "64%",
                    "db-orders' budget cell at 64 %")
    conn = connect(db_path(pod))
    try:
        decided = get_gate(conn, gate.id)
        me = account_name(os.geteuid())
        assert (decided.status, decided.decided_by, decided.reason) == (
            "approved", me, "session budget raised to $8.50")
        entries = [e for e in audit.export(conn) if e["subject"] == f"gate:{gate.id}"]
        assert [e["action"] for e in entries] == ["gate.created", "gate.approved"]
    finally:
        conn.close()



async def test_x_puts_back_the_configs_limit(pod: Path) -> None:
    conn = connect(db_path(pod))
    try:
        db_orders = conn.execute("SELECT id FROM agents WHERE name = 'db-orders'").fetchone()[0]
        set_limit(conn, scope="agent", scope_ref=str(db_orders), period="session", max_tokens=None,
                  max_usd=50.0, actor="ana", now=NOW)
        refresh(conn, LIMITS, NOW, None)
    finally:
        conn.close()
    app = build_app(pod, config=config())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_budgets(pilot)
        assert app.pod_state.budget("agent", str(db_orders), "session").max_usd == 50.0
        assert screen.select_budget("agent", str(db_orders), "session")
        await pilot.press("x")
        await until(pilot, lambda: app.pod_state.budget("agent", str(db_orders), "session").max_usd == 5.0,
                    "the config's $5 back")
        assert any("back to the config's: $5" in n.message for n in app._notifications)
    conn = connect(db_path(pod))
    try:
        assert conn.execute("SELECT count(*) FROM budgets").fetchone()[0] == 0
        assert audit.export(conn)[-1]["detail"]["unset"] is True
    finally:
        conn.close()
