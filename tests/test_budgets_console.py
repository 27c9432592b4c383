"""The Budgets view: see every budget, change a limit from the keyboard;
the change is audited and the budget state recomputed at once (so the hook stops gating)."""

from __future__ import annotations

import os
from pathlib import Path

from textual.widgets import Input

from loomtui.config import BudgetConfig, Config, ConsoleConfig
from loomtui.store import audit
from loomtui.store.db import connect, db_path
from loomtui.supervisors import account_name
from loomtui.tui.screens.budgets import BudgetsScreen, LimitModal
from tests.conftest import build_app
from tests.pods import LIMITS


def config() -> Config:
    return Config(console=ConsoleConfig(stall_after=600), budgets=BudgetConfig(limits=LIMITS))


async def test_raising_an_over_budget_agent_is_audited_and_lifts_the_gate(pod: Path) -> None:
    app = build_app(pod, config=config())
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BudgetsScreen)
        db_orders = next(a for a in app.pod_state.agents if a.name == "db-orders")
        assert app.pod_state.budget("agent", str(db_orders.id), "session").over
        assert screen.select_budget("agent", str(db_orders.id), "session")
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, LimitModal)
        usd = app.screen.query_one("#limit-usd", Input)
        assert usd.value == "5"
        usd.value = ""
        await pilot.press(*"8.50", "enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, BudgetsScreen)
        after = app.pod_state.budget("agent", str(db_orders.id), "session")
        assert after.max_usd == 8.5 and not after.over
        # the others keep the config's limit
        others = [b for b in app.pod_state.budgets if b.scope == "agent" and b.period == "session"
                  and b.scope_ref != str(db_orders.id)]
        assert others and all(b.max_usd == 5.0 for b in others)
    conn = connect(db_path(pod))
    try:
        entry = audit.export(conn)[-1]
        # A budget change is a decision: audited as the console's OS account.
        assert (entry["actor"], entry["action"], entry["subject"]) == (
            account_name(os.geteuid()), "budget.set", f"agent:{db_orders.id}:session")
        assert entry["detail"]["max_usd"] == 8.5
        assert conn.execute("SELECT fraction < 1 FROM budget_state WHERE scope = 'agent' AND "
                            "scope_ref = ? AND period = 'session'", (str(db_orders.id),)).fetchone()[0]
    finally:
        conn.close()


async def test_a_bad_limit_is_refused_with_a_message(pod: Path) -> None:
    app = build_app(pod, config=config())
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.press("b", "e")
        await pilot.pause()
        assert isinstance(app.screen, LimitModal)
        for usd, tokens in (("lots", ""), ("nan", ""), ("", "inf"), ("inf", ""), ("-3", "")):
            app.screen.query_one("#limit-usd", Input).value = usd
            app.screen.query_one("#limit-tokens", Input).value = tokens
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, LimitModal), (usd, tokens)  # still asking
        messages = [n.message for n in app._notifications]
        assert sum("Limits are numbers" in m for m in messages) == 4
        assert any("above zero" in m for m in messages)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BudgetsScreen)
    conn = connect(db_path(pod))
    try:
        assert conn.execute("SELECT count(*) FROM budgets").fetchone()[0] == 0
    finally:
        conn.close()


async def test_crossing_the_warning_level_and_the_limit_notifies(pod: Path) -> None:
    from loomtui.store.budgets import refresh
    from tests.pods import NOW, add_usage

    app = build_app(pod, config=config())
    async with app.run_test(size=(140, 30)) as pilot:
        billing = next(a for a in app.pod_state.agents if a.name == "billing-vat")  # $2.10 of $5
        conn = connect(db_path(pod))
        try:
            add_usage(conn, billing.id, 50, 2.1, "claude", now=NOW + 1)  # $4.20: past 80 %
            refresh(conn, LIMITS, NOW, None)
            await app.refresh_state()
            await pilot.pause()
            last = list(app._notifications)[-1]
            assert last.title == "Budget warning"
            assert last.message == "billing-vat: session budget: $4.20 of $5.00 (84 %)"
            add_usage(conn, billing.id, 51, 1.2, "claude", now=NOW + 2)  # $5.40: over
            refresh(conn, LIMITS, NOW, None)
            await app.refresh_state()
            await pilot.pause()
            assert list(app._notifications)[-1].title == "Over budget"
            count = len(app._notifications)
            await app.refresh_state()  # still over: said once
            await pilot.pause()
            assert len(app._notifications) == count
        finally:
            conn.close()
