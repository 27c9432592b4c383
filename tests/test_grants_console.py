"""Grants in the console (issue 14), driven through Pilot on a real pod store: `g` in the
inbox approves a gate and grants calls like it (the pattern edited in the dialog), refused
for a critical gate; a grant suggested by the record is marked; the Grants view lists the
grants (flagged first), `x` and `R` revoke them (audited), and it fits an 80x24 pane."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loomtui.store import audit
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate, decide, get_gate
from loomtui.store.grants import create_grant, flag_grants, get_grant, list_grants, revoke_grant
from loomtui.supervisors import account_name
from loomtui.tui.screens.approvals import ApprovalsScreen, GateScreen, InboxTable
from loomtui.tui.screens.fleet import FleetScreen
from loomtui.tui.screens.grants import REVOKED_AT_THE_CONSOLE, GrantModal, GrantsScreen, GrantTable
from loomtui.tui.screens.reason import ReasonModal
from tests.conftest import build_app
from tests.pods import NOW
from tests.test_approvals import add_gates, open_inbox, settle
from tests.waiting import until

ME = account_name(os.geteuid())


def store(pod: Path):
    return connect(db_path(pod))


def agent_id(pod: Path, name: str) -> int:
    conn = store(pod)
    try:
        return conn.execute("SELECT id FROM agents WHERE name = ?", (name,)).fetchone()[0]
    finally:
        conn.close()


def audit_actions(pod: Path) -> list[dict]:
    conn = store(pod)
    try:
        return audit.export(conn)
    finally:
        conn.close()


def push_gate(conn, agent: int, command: str = "git push origin auth", *, now: float = NOW,
              rule: str = "approval-push", risk: str = "high"):
    return create_gate(conn, agent_id=agent, tool="Bash", action={"command": command}, summary=command,
                       rule=rule, risk=risk, now=now, expires_at=now + 600)


async def put_cursor_on(pilot, app, gate_id: int) -> None:
    table = app.screen.query_one(InboxTable)
    table.cursor = table.ordered_ids.index(gate_id)
    await pilot.pause()


@pytest.fixture
def gated(pod: Path) -> tuple[Path, dict[str, int]]:
    return pod, add_gates(pod)


# -- granting from the inbox -------------------------------------------------------------


async def test_g_approves_the_gate_and_grants_the_edited_pattern(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_inbox(pilot)
        await put_cursor_on(pilot, app, ids["auth-api"])
        await pilot.press("g")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, GrantModal)
        pattern = modal.query_one("#grant-pattern")
        assert pattern.value == "git push origin *"  # the gate's shape, prefilled
        assert modal.focused.id == "reason"  # g, a reason and enter grant the shape
        pattern.focus()
        pattern.value = ""
        await pilot.press(*"git push origin auth")  # the supervisor narrows it
        await pilot.press("enter")  # no reason yet: refused, the reason field takes the focus
        await pilot.pause()
        assert app.screen is modal and modal.focused.id == "reason"
        duration = modal.query_one("#grant-duration")
        duration.value = "2x"
        await pilot.press(*"own branch, pushes are fine", "enter")
        await pilot.pause()
        assert app.screen is modal  # a duration it cannot read: said, and it stays open
        assert any("2x" in n.message for n in app._notifications)
        duration.value = "2h"
        modal.query_one("#reason").focus()
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, ApprovalsScreen)

        conn = store(pod)
        try:
            gate = get_gate(conn, ids["auth-api"])
            grants = list_grants(conn, now=NOW, active_only=False)
        finally:
            conn.close()
        assert (gate.status, gate.decided_by) == ("approved", ME)
        assert len(grants) == 1
        grant = grants[0]
        assert (grant.scope, grant.agent_id, grant.rule, grant.pattern, grant.gate_id, grant.granted_by,
                grant.reason) == ("agent", gate.agent_id, "test", "git push origin auth", gate.id, ME,
                                  "own branch, pushes are fine")
        assert grant.expires_at == pytest.approx(NOW + 7200)
        assert "grant.created" in [e["action"] for e in audit_actions(pod)]
        # The Grants view shows it, with the console's own reading of the pod.
        await pilot.press("G")
        await pilot.pause()
        assert isinstance(app.screen, GrantsScreen)
        table = app.screen.query_one(GrantTable)
        assert table.ordered_ids == [grant.id]
        assert table.cell(grant.id, "pattern").text == "git push origin auth"
        assert table.cell(grant.id, "who").text == "auth-api"
        assert table.cell(grant.id, "expires").text == "2h"


async def test_repo_scope_is_one_toggle_away(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_inbox(pilot)
        await put_cursor_on(pilot, app, ids["db-orders"])
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GrantModal)
        await pilot.click("#scope-repo")
        modal = app.screen
        modal.query_one("#reason").focus()
        await pilot.press(*"migrations reviewed this week", "enter")
        await settle(pilot, app)
        conn = store(pod)
        try:
            (grant,) = list_grants(conn, now=NOW, active_only=False)
        finally:
            conn.close()
        assert (grant.scope, grant.repo, grant.pattern) == ("repo", "/srv/shop", "alembic upgrade *")
        assert grant.expires_at == pytest.approx(NOW + 3600)  # the default: an hour


async def test_g_on_a_critical_gate_says_why_and_grants_nothing(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_inbox(pilot)
        await put_cursor_on(pilot, app, ids["ui-cart"])  # git push --force: critical
        await pilot.press("g")
        await settle(pilot, app)
        assert isinstance(app.screen, ApprovalsScreen)  # no dialog
        refusal = [n.message for n in app._notifications if "No grant from gate" in n.message]
        assert refusal and "critical" in refusal[0], [n.message for n in app._notifications]
        await pilot.press("enter")  # the same from the gate's dialog: said there, and it stays open
        await settle(pilot, app)
        assert isinstance(app.screen, GateScreen)
        await pilot.press("g")
        await settle(pilot, app)
        assert isinstance(app.screen, GateScreen)
        assert len([n for n in app._notifications if "No grant from gate" in n.message]) == 2
        conn = store(pod)
        try:
            assert get_gate(conn, ids["ui-cart"]).status == "pending"
            assert list_grants(conn, now=NOW, active_only=False) == []
        finally:
            conn.close()


async def test_esc_in_the_grant_dialog_decides_nothing(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_inbox(pilot)
        await put_cursor_on(pilot, app, ids["auth-api"])
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GrantModal)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, ApprovalsScreen)
        assert gate_status(pod, ids["auth-api"]) == "pending"


async def test_g_from_the_gate_dialog(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_inbox(pilot)
        await put_cursor_on(pilot, app, ids["auth-api"])
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, GateScreen)
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GrantModal)
        app.screen.query_one("#reason").focus()
        await pilot.press(*"fine", "enter")
        await settle(pilot, app)
        assert gate_status(pod, ids["auth-api"]) == "approved"


async def test_the_grant_dialog_says_when_someone_else_decided_the_gate(gated) -> None:
    pod, ids = gated
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_inbox(pilot)
        await put_cursor_on(pilot, app, ids["auth-api"])
        await pilot.press("g")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, GrantModal)
        conn = store(pod)
        decide(conn, ids["auth-api"], approve=False, actor="bob", reason="not today", now=NOW)
        conn.close()
        await app.refresh_state()
        await pilot.pause()
        (notice,) = modal.query(".reason-closed")  # said once
        closed = str(notice.render())
        assert "was rejected by bob" in closed and "not today" in closed
        assert all(field.disabled for field in modal.query("Input"))  # nothing left to grant from
        await pilot.press("escape")
        await settle(pilot, app)
        conn = store(pod)
        try:
            assert list_grants(conn, now=NOW, active_only=False) == []
        finally:
            conn.close()


def gate_status(pod: Path, gate_id: int) -> str:
    conn = store(pod)
    try:
        return get_gate(conn, gate_id).status
    finally:
        conn.close()


# -- suggestions -----------------------------------------------------------------------------


async def test_a_grant_is_suggested_after_five_approvals_in_a_row(pod: Path) -> None:
    auth = agent_id(pod, "auth-api")
    conn = store(pod)
    try:
        for n in range(5):  # five pushes approved in a row, one a minute
            gate = push_gate(conn, auth, now=NOW - 600 + 60 * n)
            decide(conn, gate.id, approve=True, actor="bob", reason="", now=NOW - 590 + 60 * n)
        waiting = push_gate(conn, auth, now=NOW - 30)
        other = push_gate(conn, agent_id(pod, "ui-cart"), "git push origin cart", now=NOW - 20)
        # The same agent and rule, but critical: no grant may come from it, none is suggested.
        forced = push_gate(conn, auth, "git push --force origin auth", now=NOW - 10, risk="critical")
    finally:
        conn.close()
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_inbox(pilot)
        table = app.screen.query_one(InboxTable)
        assert table.cell(waiting.id, "mark").text == "★"
        assert table.cell(other.id, "mark").text == ""  # ui-cart has no such record
        assert table.cell(forced.id, "mark").text == ""
        assert "1 grant suggested" in str(app.screen.query_one("#inbox-header").render())
        await put_cursor_on(pilot, app, waiting.id)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, GateScreen)
        said = str(app.screen.query_one("#gate-suggestion").render())
        assert "suggest: allow calls like this" in said and "5 approvals" in said and "g" in said
        # It only suggests: nothing was granted, the gate still waits.
        assert gate_status(pod, waiting.id) == "pending"
        conn = store(pod)
        try:
            assert list_grants(conn, now=NOW, active_only=False) == []
        finally:
            conn.close()


# -- the Grants view ------------------------------------------------------------------------


def make_grants(pod: Path) -> dict[str, int]:
    """Three active grants (one flagged), one revoked, one expired."""
    conn = store(pod)
    ids = {}
    try:
        specs = [("auth-api", "git push origin auth", "git push origin auth", "agent", 3600, "own branch"),
                 ("db-orders", "alembic upgrade head", "alembic upgrade *", "repo", 7200, "migrations reviewed"),
                 ("billing-vat", "git push origin billing", "git push origin *", "agent", 1800, "small fixes"),
                 ("ui-cart", "git push origin cart", "git push origin cart", "agent", 3600, "hotfix"),
                 ("search-index", "git push origin search", "git push origin search", "agent", 600,
                  "until the demo")]
        for n, (name, command, pattern, scope, duration, reason) in enumerate(specs):
            rule = "migrations" if name == "db-orders" else "approval-push"
            gate = push_gate(conn, agent_id(pod, name), command, now=NOW - 4000 + n, rule=rule)
            decide(conn, gate.id, approve=True, actor="bob", reason=reason, now=NOW - 4000 + n)
            gate = get_gate(conn, gate.id)
            when = NOW - 900 if name == "search-index" else NOW - 60
            grant = create_grant(conn, gate=gate, scope=scope, pattern=pattern, duration=duration,
                                 actor="bob", display="Bob", reason=reason, now=when)
            ids[name] = grant.id
        revoke_grant(conn, ids["ui-cart"], actor="bob", display="Bob", reason="done", now=NOW - 30)
        flag_grants(conn, agent_id=agent_id(pod, "billing-vat"), rule="approval-push",
                    reason="a test run failed after the grant", now=NOW - 10)
    finally:
        conn.close()
    return ids


async def open_grants(pilot) -> GrantsScreen:
    await pilot.pause()
    await pilot.press("G")
    await pilot.pause()
    assert isinstance(pilot.app.screen, GrantsScreen)
    return pilot.app.screen


async def test_grants_view_lists_flagged_first_then_by_expiry(pod: Path) -> None:
    ids = make_grants(pod)
    app = build_app(pod)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_grants(pilot)
        table = screen.query_one(GrantTable)
        # flagged billing-vat first, then auth-api (1h left), then db-orders' repo (2h)
        assert table.ordered_ids == [ids["billing-vat"], ids["auth-api"], ids["db-orders"]]
        assert table.cell(ids["billing-vat"], "flagged").text == "a test run failed after the grant"
        assert "risk-high" in table.cell(ids["billing-vat"], "flagged").style
        assert table.cell(ids["db-orders"], "who").text == "repo shop"
        assert table.cell(ids["auth-api"], "by").text == "Bob"
        head = str(screen.query_one("#grants-head").render())
        assert "3 active" in head and "1 flagged" in head and "2 ended" in head
        detail = str(screen.query_one("#grants-detail").render())
        assert "flagged: a test run failed after the grant" in detail
        await pilot.press("a")  # the ended ones too, dimmed, latest ended first
        await pilot.pause()
        assert table.ordered_ids[3:] == [ids["ui-cart"], ids["search-index"]]
        assert table.cell(ids["ui-cart"], "expires").text == "revoked"
        assert table.cell(ids["search-index"], "expires").text == "expired"
        assert table.cell(ids["ui-cart"], "pattern").style == "dim"
        await pilot.press("escape")  # back to the fleet
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)


async def test_x_revokes_at_once_and_is_audited(pod: Path) -> None:
    ids = make_grants(pod)
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_grants(pilot)
        table = screen.query_one(GrantTable)
        assert table.cursor_id == ids["billing-vat"]  # the flagged one, on top
        await pilot.press("x")
        await settle(pilot, app)
        conn = store(pod)
        try:
            grant = get_grant(conn, ids["billing-vat"])
        finally:
            conn.close()
        assert (grant.status, grant.revoked_by, grant.revoke_reason) == ("revoked", ME, REVOKED_AT_THE_CONSOLE)
        entry = [e for e in audit_actions(pod) if e["action"] == "grant.revoked"][-1]
        assert (entry["actor"], entry["subject"]) == (ME, f"grant:{grant.id}")
        assert ids["billing-vat"] not in table.ordered_ids  # the view follows the pod
        assert "2 active" in str(screen.query_one("#grants-head").render())


async def test_grants_view_follows_the_pod_live(pod: Path) -> None:
    """Another process revokes one grant and flags another: the open view shows both."""
    ids = make_grants(pod)
    app = build_app(pod, live=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_grants(pilot)
        table = screen.query_one(GrantTable)
        conn = store(pod)
        try:
            revoke_grant(conn, ids["auth-api"], actor="bob", display="Bob", reason="merged", now=NOW)
            flag_grants(conn, agent_id=agent_id(pod, "db-orders"), rule="migrations",
                        reason="a call was rejected after the grant", now=NOW)
        finally:
            conn.close()
        await until(pilot, lambda: ids["auth-api"] not in table.ordered_ids, "the revoked grant to leave")
        await until(pilot, lambda: table.ordered_ids[:2] == [ids["db-orders"], ids["billing-vat"]],
                    "the newly flagged grant first")
        assert "2 flagged" in str(screen.query_one("#grants-head").render())


async def test_R_revokes_with_a_typed_reason(pod: Path) -> None:
    ids = make_grants(pod)
    app = build_app(pod)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_grants(pilot)
        await pilot.press("down", "R")
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        await pilot.press("enter")  # empty: refused
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        await pilot.press(*"branch merged", "enter")
        await settle(pilot, app)
        conn = store(pod)
        try:
            grant = get_grant(conn, ids["auth-api"])
        finally:
            conn.close()
        assert (grant.status, grant.revoke_reason) == ("revoked", "branch merged")


async def test_grants_view_fits_80x24(pod: Path) -> None:
    ids = make_grants(pod)
    app = build_app(pod)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_grants(pilot)
        table = screen.query_one(GrantTable)
        widths = {c.key: w for c, w in zip(table.column_layout, table._widths, strict=True)}
        assert set(widths) == {"id", "who", "rule", "pattern", "expires", "uses"}
        for row_id in table.ordered_ids:
            for key in ("id", "who", "rule", "expires", "uses"):  # never cut
                assert len(table.cell(row_id, key).text) <= widths[key], (key, table.cell(row_id, key))
        assert widths["pattern"] >= len("git push origin auth")
        assert table.cell(ids["billing-vat"], "id").text.startswith("⚑")  # the flag leads the id
        assert screen.query_one("#grants-detail").region.bottom <= 23  # above the footer


async def test_grants_view_filter(pod: Path) -> None:
    ids = make_grants(pod)
    app = build_app(pod)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_grants(pilot)
        await pilot.press("slash", *"alembic")
        await pilot.pause()
        assert screen.query_one(GrantTable).ordered_ids == [ids["db-orders"]]
        await pilot.press("escape")
        await pilot.pause()
        assert len(screen.query_one(GrantTable).ordered_ids) == 3


def test_grants_view_snapshot(snap_compare, pod: Path) -> None:
    make_grants(pod)
    assert snap_compare(build_app(pod), terminal_size=(120, 24), press=["G", "a"])
