"""An inbox that scales (issue 13, item 2), driven through Pilot at 80x24 and 160x48:
the filter, groups by rule and command shape, batch decisions with a confirmation,
a gate decided elsewhere in the middle of one, marks that stay in place, budget gates
that show the call that waits, and sorting by a click on a column's header."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from loomtui.hooks.gatekeeper import Action, gatekeep
from loomtui.store.db import connect, db_path
from loomtui.store.gates import Gate, create_gate, decide, get_gate, list_gates
from loomtui.tui.inbox import GateFilter, describe_batch, shape
from loomtui.tui.screens.approvals import ApprovalsScreen, BatchConfirm, GateScreen, InboxTable
from loomtui.tui.screens.reason import ReasonModal
from tests.conftest import build_app
from tests.pods import NOW
from tests.test_approvals import ME, settle
from tests.waiting import until, wait_for

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])

GATES = [  # agent, command, rule, risk, minutes ago
    ("auth-api", "git push origin auth", "approval-push", "high", 8),
    ("search-index", "git push origin search", "approval-push", "high", 7),
    ("perf-cache", "git push origin cache", "approval-push", "high", 6),
    ("api-pages", "git push origin pages", "approval-push", "high", 5),
    ("ui-cart", "git push --force origin cart", "approval-force-push", "critical", 4),
    ("db-orders", "alembic upgrade head", "migrations", "medium", 3),
    ("infra-tf", "terraform apply -auto-approve", "infra-apply", "high", 2),
]
PUSHES = ["auth-api", "search-index", "perf-cache", "api-pages"]


@pytest.fixture
def inbox(pod: Path) -> tuple[Path, dict[str, int]]:
    conn = connect(db_path(pod))
    ids = {}
    try:
        for name, command, rule, risk, ago in GATES:
            agent_id = conn.execute("SELECT id FROM agents WHERE name = ?", (name,)).fetchone()[0]
            ids[name] = create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": command},
                                    summary=command, rule=rule, risk=risk, now=NOW - 60 * ago,
                                    expires_at=NOW + 600).id
    finally:
        conn.close()
    return pod, ids


def status(pod: Path, gate_id: int):
    conn = connect(db_path(pod))
    try:
        return get_gate(conn, gate_id)
    finally:
        conn.close()


def table(app) -> InboxTable:
    return app.screen.query_one(InboxTable)


def agents_shown(app) -> list[str]:
    t = table(app)
    return [t.cell(i, "agent").text for i in t.ordered_ids]


def header(app) -> str:
    return str(app.screen.query_one("#inbox-header").render())


async def open_inbox(pilot) -> None:
    await pilot.pause()
    await pilot.press("i")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ApprovalsScreen)


async def to_row(pilot, row_id: int) -> None:
    """Move the cursor to a row with j, as a person would."""
    t = table(pilot.app)
    for _ in range(t.ordered_ids.index(row_id) - t.cursor):
        await pilot.press("j")
    await pilot.pause()
    assert t.cursor_id == row_id


def group_row(app, text: str) -> int:
    t = table(app)
    return next(i for i in t.ordered_ids if i < 0 and text in t.cell(i, "summary").text)


# -- the rules, on their own ------------------------------------------------------------


def test_shape_keeps_what_decides_alike_and_stars_the_rest() -> None:
    def gate(command: str) -> Gate:
        return Gate(id=1, agent_id=None, agent_name="a", created_at=0.0, expires_at=1.0,
                    status="pending", tool="Bash", action={"command": command}, summary=command,
                    rule="r", risk="high", content_hash="", approved_hash=None, claimed_by=None,
                    claimed_at=None, decided_by=None, decided_at=None, reason=None, waiter_pid=None)

    assert shape(gate("git push origin auth")) == "git push origin *"
    assert shape(gate("git -C /srv/shop push --force origin cart")) == "git push --force origin *"
    assert shape(gate("alembic upgrade head")) == "alembic upgrade *"
    assert shape(gate("rm -rf build dist")) == "rm -rf *"
    assert shape(gate("cd /srv && git push origin $BRANCH")) == "cd * ; git push origin *"
    assert shape(gate('echo "unclosed')) == 'echo "unclosed'  # unreadable: its own shape
    assert describe_batch([gate("git push origin a"), gate("git push origin b")]) == \
        "2 gates: git push origin * (rule r)"


def test_filter_terms_and_words() -> None:
    f = GateFilter.parse("rule:push risk:high origin")
    assert f.terms == (("rule", "push"), ("risk", "high")) and f.words == ("origin",)
    assert not GateFilter.parse("  ") and not GateFilter.parse("rule:")  # being typed


# -- the console ------------------------------------------------------------------------


@SIZES
async def test_filter_by_words_and_terms_and_esc_clears(inbox, size) -> None:
    pod, _ = inbox
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        await open_inbox(pilot)
        await pilot.press("slash", *"push")  # command text
        await pilot.pause()
        assert sorted(agents_shown(app)) == sorted(PUSHES + ["ui-cart"])
        assert "5 of 7 pending" in header(app)
        await pilot.press(*" rule:approval-push")  # and a rule
        await pilot.pause()
        assert sorted(agents_shown(app)) == sorted(PUSHES)
        await pilot.press("enter")  # back to the table, the filter stays
        await pilot.pause()
        assert isinstance(app.focused, InboxTable) and len(agents_shown(app)) == 4
        await pilot.press("escape")  # clears the filter, stays in the inbox
        await pilot.pause()
        assert isinstance(app.screen, ApprovalsScreen) and len(agents_shown(app)) == 7
        for query, expected in (("risk:critical", ["ui-cart"]), ("infra", ["infra-tf"]),
                                ("repo:infra", ["infra-tf"]), ("agent:db", ["db-orders"]),
                                ("alembic", ["db-orders"]), ("risk:low", [])):
            await pilot.press("slash", *query)
            await pilot.pause()
            assert agents_shown(app) == expected, query
            await pilot.press("escape")
            await pilot.pause()
        assert not app.screen.has_class("-empty")
        await pilot.press("escape")  # no filter: back to the fleet
        await pilot.pause()
        assert not isinstance(app.screen, ApprovalsScreen)


@SIZES
async def test_an_empty_filter_result_says_so(inbox, size) -> None:
    pod, _ = inbox
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        await open_inbox(pilot)
        await pilot.press("slash", *"nothing-like-this", "enter")
        await pilot.pause()
        assert app.screen.has_class("-empty")
        assert "No pending gate matches" in str(app.screen.query_one("#inbox-empty").render())


@SIZES
async def test_grouping_by_rule_and_shape_with_counts(inbox, size) -> None:
    pod, ids = inbox
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        await open_inbox(pilot)
        await pilot.press("v")
        await pilot.pause()
        t = table(app)
        assert all(i < 0 for i in t.ordered_ids) and len(t.ordered_ids) == 4  # groups only
        assert "4 kinds" in header(app)
        texts = [t.cell(i, "summary").text for i in t.ordered_ids]
        # the inbox's order carries over: the critical force push first
        assert texts[0].startswith("▸ 1× git push --force origin *")
        push = group_row(app, "git push origin *")
        assert t.cell(push, "summary").text == "▸ 4× git push origin *  · rule approval-push"
        assert t.cell(push, "agent").text == "4 agents" and t.cell(push, "risk").text == "high"
        assert t.cell(push, "age").text == "8m"  # its oldest gate
        await to_row(pilot, push)
        await pilot.press("enter")  # opens the group: its gates under it
        await pilot.pause()
        index = t.ordered_ids.index(push)
        assert t.ordered_ids[index + 1:index + 5] == [ids[n] for n in PUSHES]
        assert t.cell(push, "summary").text.startswith("▾ 4×")
        await pilot.press("enter")  # closes it again
        await pilot.pause()
        assert len(t.ordered_ids) == 4
        await pilot.press("v")  # one row per gate again
        await pilot.pause()
        assert len(t.ordered_ids) == 7 and all(i > 0 for i in t.ordered_ids)


@SIZES
async def test_approving_a_group_confirms_how_many_and_what(inbox, size) -> None:
    pod, ids = inbox
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        await open_inbox(pilot)
        await pilot.press("v")
        await pilot.pause()
        await to_row(pilot, group_row(app, "git push origin *"))
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, BatchConfirm)
        question = str(app.screen.query_one("#confirm-question").render())
        assert question == "Approve 4 gates: git push origin * (rule approval-push)?"
        await pilot.press("escape")  # cancel: nothing decided
        await settle(pilot, app)
        assert isinstance(app.screen, ApprovalsScreen)
        assert all(status(pod, ids[n]).status == "pending" for n in PUSHES)
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, app)
        for name in PUSHES:  # each through the normal path: as this supervisor, on record
            gate = status(pod, ids[name])
            assert (gate.status, gate.decided_by, gate.approved_hash) == ("approved", ME, gate.content_hash)
        others = set(ids) - set(PUSHES)
        assert all(status(pod, ids[n]).status == "pending" for n in others)
        conn = connect(db_path(pod))
        approved = conn.execute("SELECT count(*) FROM audit WHERE action = 'gate.approved'").fetchone()[0]
        conn.close()
        assert approved == 4
        assert any("Approved 4 of 4 gates" in n.message for n in app._notifications)
        assert group_row(app, "alembic")  # the rest stay grouped
        assert not any("git push origin *" in table(app).cell(i, "summary").text
                       for i in table(app).ordered_ids)


@SIZES
async def test_rejecting_marked_gates_needs_one_reason_and_can_be_cancelled(inbox, size) -> None:
    pod, ids = inbox
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        await open_inbox(pilot)
        await to_row(pilot, ids["auth-api"])
        await pilot.press("space")
        await to_row(pilot, ids["infra-tf"])
        await pilot.press("space")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        assert app.screen.what.startswith("2 gates of 2 kinds")
        await pilot.press("escape")  # cancelled: nothing decided, still marked
        await settle(pilot, app)
        assert status(pod, ids["auth-api"]).status == "pending"
        assert "2 selected" in header(app)
        await pilot.press("r", *"hold all pushes", "enter")
        await settle(pilot, app)
        for name in ("auth-api", "infra-tf"):
            gate = status(pod, ids[name])
            assert (gate.status, gate.decided_by, gate.reason) == ("rejected", ME, "hold all pushes")
        assert status(pod, ids["search-index"]).status == "pending"
        assert "selected" not in header(app)


@SIZES
async def test_a_gate_decided_elsewhere_during_a_batch_is_skipped_not_an_error(inbox, size) -> None:
    pod, ids = inbox
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        await open_inbox(pilot)
        await pilot.press("v")
        await pilot.pause()
        await to_row(pilot, group_row(app, "git push origin *"))
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, BatchConfirm)
        # while the question is open, bob (another console) rejects one of the four
        conn = connect(db_path(pod))
        decide(conn, ids["perf-cache"], approve=False, actor="bob", reason="cache is frozen", now=NOW)
        conn.close()
        await pilot.press("enter")
        await settle(pilot, app)
        assert (status(pod, ids["perf-cache"]).status, status(pod, ids["perf-cache"]).decided_by) == (
            "rejected", "bob")  # exactly once: bob's decision stands
        assert all(status(pod, ids[n]).status == "approved" for n in PUSHES if n != "perf-cache")
        summary = next(n for n in app._notifications if "Approved 3 of 4 gates" in n.message)
        assert "skipped 1" in summary.message and "bob" in summary.message
        assert summary.severity == "information"
        assert not [n for n in app._notifications if n.severity == "error"]


@SIZES
async def test_space_marks_in_place_and_x_marks_and_moves(inbox, size) -> None:
    pod, _ = inbox
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        await open_inbox(pilot)
        t = table(app)
        first, second = t.ordered_ids[:2]
        await pilot.press("space")
        await pilot.pause()
        assert t.cursor_id == first and t.marked == {first}
        assert t.cell(first, "mark").text == "●"
        await pilot.press("space")  # again: unmarked, still in place
        await pilot.pause()
        assert t.cursor_id == first and t.marked == set()
        await pilot.press("x")  # marks and moves down
        await pilot.pause()
        assert t.marked == {first} and t.cursor_id == second
        await pilot.press("v")  # a group row: space marks all its gates
        await pilot.pause()
        push = group_row(app, "git push origin *")
        await to_row(pilot, push)
        await pilot.press("space")
        await pilot.pause()
        assert len(t.marked) == 5 and t.cursor_id == push and t.cell(push, "mark").text == "●"


@SIZES
async def test_marks_and_filter_and_group_keys_are_in_the_help(inbox, size) -> None:
    pod, _ = inbox
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        await open_inbox(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        text = "\n".join(str(s.render()) for s in app.screen.query("Static"))
        for key, words in (("space", "Mark"), ("x", "Mark, next"), ("/", "Filter"), ("v", "Group")):
            assert any(line.strip().startswith(key) and words in line for line in text.splitlines()), key


@SIZES
async def test_a_budget_gate_shows_the_call_that_waits(pod: Path, size) -> None:
    """db-orders is over its session budget (tests/pods.py): a call it makes is held
    by the real gatekeeper; the inbox shows the call first, the budget after it."""
    conn = connect(db_path(pod))
    agent_id = conn.execute("SELECT id FROM agents WHERE name = 'db-orders'").fetchone()[0]
    conn.close()
    verdicts = []

    def agent_calls() -> None:
        own = connect(db_path(pod))
        try:
            action = Action(agent_id=agent_id, tool="Bash", tool_input={"command": "pytest -q tests/test_orders.py"},
                            summary="pytest -q tests/test_orders.py", cwd="/srv/shop/wt/db-orders",
                            repo="/srv/shop", agent_name="db-orders")
            verdicts.append(gatekeep(own, pod, action, clock=lambda: NOW, under_agent=False, environ={}))
        finally:
            own.close()

    waiter = threading.Thread(target=agent_calls)
    waiter.start()
    try:
        def pending():
            c = connect(db_path(pod))
            try:
                return list_gates(c, now=NOW)
            finally:
                c.close()

        gate = wait_for(pending, "the budget gate")[0]
        assert gate.risk == "budget"
        app = build_app(pod)
        async with app.run_test(size=size) as pilot:
            await open_inbox(pilot)
            cell = table(app).cell(gate.id, "summary")
            assert cell.text.startswith("pytest -q tests/test_orders.py")  # the call, first
            assert "session budget: $5.40 of $5.00 (108 %)" in cell.text
            await pilot.press("enter")
            await settle(pilot, app)
            assert isinstance(app.screen, GateScreen)
            detail = str(app.screen.query_one("#gate-detail").render())
            assert "$ pytest -q tests/test_orders.py" in detail and "Over budget, this call waits" in detail
            await pilot.press("a")
            await settle(pilot, app)
        waiter.join(timeout=30)
        assert verdicts and verdicts[0].action == "allow"
    finally:
        if waiter.is_alive():  # never leave the agent's call waiting
            c = connect(db_path(pod))
            decide(c, gate.id, approve=False, actor="test", reason="test over", now=NOW)
            c.close()
            waiter.join()


@SIZES
async def test_a_click_on_a_header_sorts_and_a_second_reverses(inbox, size) -> None:
    pod, _ = inbox
    app = build_app(pod)
    async with app.run_test(size=size) as pilot:
        await open_inbox(pilot)
        t = table(app)
        default = agents_shown(app)
        assert default[0] == "ui-cart"  # risk first
        x = next(x for x in range(size[0]) if t.column_at(x) == "agent")
        await pilot.click(InboxTable, offset=(x + 1, 0))
        await until(pilot, lambda: agents_shown(app) == sorted(default), "sorted by agent")
        assert "Agent ↑" in [c.label for c in t.column_layout]
        await pilot.click(InboxTable, offset=(x + 1, 0))
        await until(pilot, lambda: agents_shown(app) == sorted(default, reverse=True), "reversed")
        assert "Agent ↓" in [c.label for c in t.column_layout]
        x = next(x for x in range(size[0]) if t.column_at(x) == "age")
        await pilot.click(InboxTable, offset=(x + 1, 0))  # another column: ascending, oldest first
        await until(pilot, lambda: agents_shown(app)[0] == "auth-api", "sorted by age")
        assert agents_shown(app) == [name for name, *_ in GATES]
