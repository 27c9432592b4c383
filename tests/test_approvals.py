"""The Approvals inbox driven through Pilot: approve, reject with a reason,
batch, claim, conflicts, and a new gate ringing the bell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loomtui.store.agents import record_event
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate, decide, get_gate
from loomtui.supervisors import account_name
from loomtui.tui.screens.approvals import ApprovalsScreen, BatchConfirm, GateScreen, InboxTable
from loomtui.tui.screens.reason import ReasonModal
from loomtui.tui.widgets.keyed_table import KeyedTable
from tests.conftest import build_app
from tests.pods import NOW
from tests.waiting import until

ME = account_name(os.geteuid())  # decisions are recorded as the OS account; "ana" is its display name

GATES = [  # agent name, tool, input, summary, risk, minutes ago
    ("auth-api", "Bash", {"command": "git push origin auth"}, "git push origin auth", "high", 3),
    ("db-orders", "Bash", {"command": "alembic upgrade head"}, "alembic upgrade head", "medium", 9),
    ("ui-cart", "Bash", {"command": "git push --force origin cart"}, "git push --force origin cart",
     "critical", 1),
    ("billing-vat", "Edit", {"file_path": "/srv/shop/wt/billing-vat/migrations/0002.sql",
                             "old_string": "", "new_string": "ALTER TABLE invoices ADD vat REAL;"},
     "migrations/0002.sql", "high", 6),
]


def add_gates(pod: Path, now: float = NOW) -> dict[str, int]:
    conn = connect(db_path(pod))
    ids = {}
    try:
        for name, tool, action, summary, risk, ago in GATES:
            agent_id = conn.execute("SELECT id FROM agents WHERE name = ?", (name,)).fetchone()[0]
            gate = create_gate(conn, agent_id=agent_id, tool=tool, action=action, summary=summary,
                               rule="test", risk=risk, now=now - 60 * ago, expires_at=now + 600)
            ids[name] = gate.id
    finally:
        conn.close()
    return ids


@pytest.fixture
def gated(pod: Path) -> tuple[Path, dict[str, int]]:
    return pod, add_gates(pod)


def gate_status(pod: Path, gate_id: int):
    conn = connect(db_path(pod))
    try:
        return get_gate(conn, gate_id)
    finally:
        conn.close()


def inbox_order(app) -> list[str]:
    table = app.screen.query_one(InboxTable)
    return [table.cell(i, "agent").text for i in table.ordered_ids]


async def open_inbox(pilot) -> None:
    await pilot.pause()
    await pilot.press("i")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ApprovalsScreen)


async def settle(pilot, app) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_inbox_ranks_by_risk_then_age(gated) -> None:
    pod, _ = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_inbox(pilot)
        # critical first; then the two highs, oldest first; then medium
        assert inbox_order(app) == ["ui-cart", "billing-vat", "auth-api", "db-orders"]
        table = app.screen.query_one(InboxTable)
        assert table.cell(table.ordered_ids[0], "expires").text == "10m00s"
        header = str(app.screen.query_one("#inbox-header").render())
        assert "4 pending" in header


async def test_fleet_header_counts_pending_approvals(gated) -> None:
    pod, _ = gated
    app = build_app(pod)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        assert "⚑ 4 to approve" in str(app.screen.query_one("#pod-header").render())


async def test_approve_decides_in_the_store_as_this_supervisor(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_inbox(pilot)
        await pilot.press("a")  # the cursor is on the top row: ui-cart
        await settle(pilot, app)
        gate = gate_status(pod, ids["ui-cart"])
        assert (gate.status, gate.decided_by, gate.decided_name) == ("approved", ME, "ana")
        assert gate.approved_hash == gate.content_hash
        assert "ui-cart" not in inbox_order(app)


async def test_reject_asks_for_a_reason_and_refuses_an_empty_one(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_inbox(pilot)
        await pilot.press("j", "r")
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        await pilot.press("enter")  # empty: refused, the modal stays
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        await pilot.press(*"wait for the schema review", "enter")
        await settle(pilot, app)
        gate = gate_status(pod, ids["billing-vat"])
        assert (gate.status, gate.decided_by, gate.decided_name, gate.reason) == (
            "rejected", ME, "ana", "wait for the schema review")


async def test_escape_in_the_reject_modal_decides_nothing(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_inbox(pilot)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, ApprovalsScreen)
        assert gate_status(pod, ids["ui-cart"]).status == "pending"


async def test_space_selects_a_batch(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_inbox(pilot)
        await pilot.press("space", "j", "j", "space")  # ui-cart and auth-api (billing-vat skipped)
        await pilot.pause()
        assert "2 selected" in str(app.screen.query_one("#inbox-header").render())
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, BatchConfirm)  # two gates: asks first
        await pilot.press("enter")
        await settle(pilot, app)
        assert gate_status(pod, ids["ui-cart"]).status == "approved"
        assert gate_status(pod, ids["auth-api"]).status == "approved"
        assert gate_status(pod, ids["billing-vat"]).status == "pending"
        assert gate_status(pod, ids["db-orders"]).status == "pending"


async def test_claim_shows_who_is_on_it(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_inbox(pilot)
        await pilot.press("c")
        await settle(pilot, app)
        assert gate_status(pod, ids["ui-cart"]).claimed_by == ME
        table = app.screen.query_one(InboxTable)
        assert table.cell(ids["ui-cart"], "claimed").text == "you 0s"
        await pilot.press("c")  # c again gives the claim up (audited too)
        await settle(pilot, app)
        assert gate_status(pod, ids["ui-cart"]).claimed_by is None
        assert table.cell(ids["ui-cart"], "claimed").text == ""


async def test_losing_a_race_says_who_decided(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_inbox(pilot)
        conn = connect(db_path(pod))
        decide(conn, ids["ui-cart"], approve=False, actor="bob", reason="no force pushes", now=NOW)
        conn.close()
        await pilot.press("a")  # the screen still shows it: ana is too late
        await settle(pilot, app)
        assert (gate_status(pod, ids["ui-cart"]).decided_by) == "bob"
        messages = [n.message for n in app._notifications]
        assert any("bob" in m for m in messages), messages


async def test_enter_shows_the_whole_action_and_edits_as_a_diff(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_inbox(pilot)
        await pilot.press("j", "enter")  # billing-vat's Edit
        await settle(pilot, app)
        assert isinstance(app.screen, GateScreen)
        detail = str(app.screen.query_one("#gate-detail").render())
        assert "+ ALTER TABLE invoices ADD vat REAL;" in detail
        assert "The agent's last events" in detail
        await pilot.press("a")
        await settle(pilot, app)
        assert gate_status(pod, ids["billing-vat"]).status == "approved"


async def test_a_new_gate_rings_the_bell_and_notifies(pod: Path) -> None:
    clock = [NOW]
    app = build_app(pod, live=True, clock=lambda: clock[0])
    rang = []
    async with app.run_test(size=(120, 30)) as pilot:
        app.bell = lambda: rang.append(True)  # the terminal bell, counted
        await pilot.pause()
        add_gates(pod)
        await until(pilot, lambda: rang, "the bell for the new gates")
        assert rang == [True]  # one ring for the batch that arrived together
        messages = [n.message for n in app._notifications]
        assert any("git push --force origin cart" in m for m in messages)
        # Later refreshes do not ring again for the same gates: one the live loop makes
        # when the store changes, and one more by hand.
        before = app.pod_state
        writer = connect(db_path(pod))
        agent_id = writer.execute("SELECT id FROM agents WHERE name = 'auth-api'").fetchone()[0]
        record_event(writer, agent_id, kind="tool", now=NOW, tool="Read", summary="README.md")
        writer.close()
        await until(pilot, lambda: app.pod_state is not before, "a live refresh after the store changed")
        await app.refresh_state()
        await pilot.pause()
        assert rang == [True]


def test_inbox_snapshot(snap_compare, gated) -> None:
    pod, _ = gated
    assert snap_compare(build_app(pod), terminal_size=(120, 24), press=["i", "x"])


def test_reject_modal_snapshot(snap_compare, gated) -> None:
    pod, _ = gated

    async def reject(pilot) -> None:
        await pilot.press("i", "r", *"after the review")
        await pilot.pause()

    assert snap_compare(build_app(pod), terminal_size=(100, 24), run_before=reject)


async def test_audit_screen_shows_the_decisions_and_an_intact_chain(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(140, 30)) as pilot:
        await open_inbox(pilot)
        await pilot.press("a")
        await settle(pilot, app)
        await pilot.press("L")
        await settle(pilot, app)
        header = str(app.screen.query_one("#audit-header").render())
        assert "✓ intact" in header
        table = app.screen.query_one(KeyedTable)
        actions = [table.cell(i, "action").text for i in table.ordered_ids]
        assert actions[0] == "gate.approved" and actions.count("gate.created") == len(GATES)
        assert table.cell(table.ordered_ids[0], "actor").text == ME


async def test_a_locked_store_is_reported_and_the_console_stays_up(gated) -> None:
    """Another process holds the write lock past the busy timeout: the decision
    fails with a message, the gate stays pending, nothing crashes."""
    import sqlite3

    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_inbox(pilot)
        locker = sqlite3.connect(db_path(pod), isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            await pilot.press("a")
            await settle(pilot, app)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert app.is_running and isinstance(app.screen, ApprovalsScreen)
        assert any("locked" in n.message for n in app._notifications)
        assert gate_status(pod, ids["ui-cart"]).status == "pending"


async def test_a_gate_nobody_waits_for_any_more_leaves_the_fleet_row(pod: Path) -> None:
    """A gate past its expiry (its hook was killed) is not counted anywhere."""
    conn = connect(db_path(pod))
    agent_id = conn.execute("SELECT id FROM agents WHERE name = 'auth-api'").fetchone()[0]
    create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": "git push"}, summary="git push",
                rule="t", risk="high", now=NOW - 900, expires_at=NOW - 300)
    conn.close()
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(KeyedTable)
        assert table.cell(agent_id, "gates").text == ""
        assert app.pod_state.pending_gates == 0
