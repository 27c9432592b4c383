"""Triage (issue 13 item 1): the fleet groups the agents that need a human by cause, the
longest wait first; the header counts each cause; `n` jumps to the next one from any
screen; the reason reads whole at 120 columns. And the fleet's defects found with it:
sort by cost, tokens and budget with a reverse, a filter that matches what agents do,
top-level views that do not stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from loomtui.store.agents import set_governance
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate
from loomtui.tui.screens.agent import AgentScreen
from loomtui.tui.screens.approvals import ApprovalsScreen
from loomtui.tui.screens.audit import AuditScreen
from loomtui.tui.screens.budgets import BudgetsScreen
from loomtui.tui.screens.fleet import FleetScreen
from loomtui.tui.screens.memory import MemoryScreen
from loomtui.tui.widgets.fleet_table import FleetTable
from tests.conftest import build_app
from tests.pods import FLEET, NOW, make_pod
from tests.test_approvals import add_gates
from tests.waiting import until

SIZES = [(80, 24), (160, 48)]
FORCE_PUSH = "git push --force origin agent/auth-1-128b"

# The expected triage order of the pod below: gates by risk (the longest wait first within
# a risk), the question, the budget gate, the stall, the ungoverned agent; then the rest.
TRIAGE = ["ui-cart",  # critical, 1 min
          "billing-vat", "auth-api",  # high, 6 and 3 min
          "db-orders",  # medium (it is in error too: its gate is the more pressing)
          "api-pages",  # a question
          "search-index",  # a budget gate: the call that waits
          "infra-tf",  # stalled
          "deps-bump"]  # sandbox off


@pytest.fixture
def triage_pod(tmp_path: Path) -> Path:
    """The usual fleet with the inbox's four gates, a budget gate and an agent whose
    sandbox is off."""
    pod = make_pod(tmp_path)
    add_gates(pod)
    conn = connect(db_path(pod))
    try:
        ids = dict(conn.execute("SELECT name, id FROM agents"))
        create_gate(conn, agent_id=ids["search-index"], tool="Bash", action={"command": "pytest -q"},
                    summary="pytest -q", rule="budget:agent/session", risk="budget", now=NOW - 120,
                    expires_at=NOW + 600)
        conn.execute("UPDATE agents SET status = 'waiting', status_reason = 'approval: pytest -q' "
                     "WHERE id = ?", (ids["search-index"],))
        set_governance(conn, ids["deps-bump"], permission_mode="default", sandbox="off", hooks="installed")
    finally:
        conn.close()
    return pod


def names(app) -> list[str]:
    table = app.screen.query_one(FleetTable)
    return [app.pod_state.agent(i).name for i in table.ordered_ids]


def cursor_name(app) -> str:
    return app.pod_state.agent(app.screen.query_one(FleetTable).cursor_agent_id).name


def header(app) -> str:
    return str(app.screen.query_one("#pod-header").render())


def row_text(app, name: str) -> str:
    """The agent's row as the table draws it."""
    table = app.screen.query_one(FleetTable)
    agent = next(a for a in app.pod_state.agents if a.name == name)
    return table.render_line(table.ordered_ids.index(agent.id) + 1).text


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_fleet_groups_who_needs_a_human_by_cause_longest_wait_first(triage_pod, size) -> None:
    app = build_app(triage_pod)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen) and app.screen.sort_mode == "triage"
        shown = names(app)
        assert shown[:len(TRIAGE)] == TRIAGE
        # then the others as the status sort has them: idle, done
        assert shown[len(TRIAGE):] == ["docs-setup", "perf-cache"]
        assert sorted(shown) == sorted(f[0] for f in FLEET)
        table = app.screen.query_one(FleetTable)
        ids = {a.name: a.id for a in app.pod_state.agents}
        assert table.cell(ids["ui-cart"], "status").text == "◆ critical"
        assert table.cell(ids["search-index"], "status").text == "◆ budget"
        assert table.cell(ids["search-index"], "doing").text == "pytest -q"  # the call that waits
        assert table.cell(ids["api-pages"], "status").text == "◆ question"
        assert table.cell(ids["db-orders"], "status").text == "◆ medium"  # its gate, before its error
        assert table.cell(ids["db-orders"], "doing").text == "alembic upgrade head"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_header_counts_each_cause(triage_pod, size) -> None:
    app = build_app(triage_pod)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        text = header(app)
        if size[0] >= 160:
            assert "needs you: 1 critical 2 high 1 medium 1 question 1 over budget 1 stalled " \
                   "1 ungoverned" in text
            assert "⚑ 5 " in text  # pending gates
        else:  # a narrow pane: a mark and a count per cause
            assert "⚑1c ⚑2h ⚑1m ?1 $1 ◌1 !1" in text
        assert "waiting" not in text  # counted by cause, not twice


async def test_the_reason_reads_whole_at_120_columns(tmp_path: Path) -> None:
    """A force push reads as a force push: the Doing column takes the usage columns'
    room when the agent waits."""
    pod = make_pod(tmp_path)
    conn = connect(db_path(pod))
    try:
        agent_id = conn.execute("SELECT id FROM agents WHERE name = 'auth-api'").fetchone()[0]
        create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": FORCE_PUSH},
                    summary=FORCE_PUSH, rule="git-force-push", risk="critical", now=NOW - 30,
                    expires_at=NOW + 600)
    finally:
        conn.close()
    app = build_app(pod)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        line = row_text(app, "auth-api")
        assert "◆ critical" in line
        assert "git push --force origin agen" in line
        assert "approval: gi…" not in line
        # a working agent keeps its usage columns
        assert "$3.20" in row_text(app, "ui-cart")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_n_jumps_to_the_next_agent_that_needs_a_human_from_any_screen(triage_pod, size) -> None:
    app = build_app(triage_pod)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert cursor_name(app) == TRIAGE[0]
        await pilot.press("n")
        assert cursor_name(app) == TRIAGE[1]
        await pilot.press("n", "n")
        assert cursor_name(app) == TRIAGE[3]
        # on the Agent screen: the next agent opens in its place (nothing stacks)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AgentScreen), "the Agent screen")
        depth = len(app.screen_stack)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, AgentScreen)
                    and app.pod_state.agent(app.screen.agent_id).name == TRIAGE[4], "the next agent opened")
        assert len(app.screen_stack) == depth
        # from the inbox: back to the fleet, the cursor on the first in triage order
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, ApprovalsScreen), "the inbox")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen), "the fleet again")
        assert cursor_name(app) == TRIAGE[0]
        assert len(app.screen_stack) == 2  # the default screen and the fleet
        # the last wraps round to the first
        app.screen.query_one(FleetTable).cursor = names(app).index(TRIAGE[-1])
        await pilot.press("n")
        assert cursor_name(app) == TRIAGE[0]


async def test_n_with_nobody_waiting_says_so(tmp_path: Path) -> None:
    working = [row for row in FLEET if row[4] in ("working", "idle", "done") and row[6] < 600]
    pod = make_pod(tmp_path, fleet=working, spend=None)
    app = build_app(pod)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        before = cursor_name(app)
        await pilot.press("n")
        await pilot.pause()
        assert cursor_name(app) == before
        assert any("Nobody needs a human" in n.message for n in app._notifications)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_sort_by_cost_tokens_budget_and_reverse(triage_pod, size) -> None:
    app = build_app(triage_pod)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        state = app.pod_state
        await pilot.press("s", "s", "s", "s")  # recent, name, repo, cost
        assert app.screen.sort_mode == "cost"
        costs = [state.usage_of(a.id).used_usd for a in state.agents if state.usage_of(a.id)]
        shown = names(app)
        assert shown[0] == "db-orders" and shown[-1] == "infra-tf"  # $5.40 first; no usage last
        spent = [state.usage_of(a).used_usd for a in app.screen.query_one(FleetTable).ordered_ids
                 if state.usage_of(a) is not None]
        assert spent == sorted(costs, reverse=True)
        await pilot.press("r")  # reversed: the cheapest (and those with no usage) first
        assert names(app) == list(reversed(shown))
        await pilot.press("S")  # S too: back again
        assert names(app) == shown
        await pilot.press("S")
        assert names(app) == list(reversed(shown))
        assert "cost ↑" in header(app)
        await pilot.press("s")  # the next sort starts unreversed
        assert app.screen.sort_mode == "tokens" and not app.screen.reverse
        tokens = [state.usage_of(i).used_tokens for i in app.screen.query_one(FleetTable).ordered_ids
                  if state.usage_of(i) is not None]
        assert tokens == sorted(tokens, reverse=True)
        await pilot.press("s")
        assert app.screen.sort_mode == "budget"
        fills = [state.tightest(i).fraction for i in app.screen.query_one(FleetTable).ordered_ids
                 if state.tightest(i) is not None]
        assert fills == sorted(fills, reverse=True) and names(app)[0] == "db-orders"  # 108 %


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_filter_matches_what_agents_do(triage_pod, size) -> None:
    app = build_app(triage_pod)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"push")
        await pilot.pause()
        assert names(app) == ["ui-cart", "auth-api"]  # the force push, then the push (triage order)
        await pilot.press("escape")
        await pilot.press("slash", *"tax.py")  # billing-vat's last edit
        await pilot.pause()
        assert names(app) == ["billing-vat"]
        await pilot.press("escape")
        await pilot.press("slash", *"over budget")  # a cause, in the header's words
        await pilot.pause()
        assert names(app) == ["search-index"]
        await pilot.press("escape")
        await pilot.press("slash", *"terraform")  # the stalled agent's last command
        await pilot.pause()
        assert names(app) == ["infra-tf"]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_top_level_views_do_not_stack(triage_pod, size) -> None:
    """i, b, m and L each open right over the fleet: esc from any is the fleet."""
    app = build_app(triage_pod)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        fleet = app.screen
        for key, view in (("i", ApprovalsScreen), ("b", BudgetsScreen), ("m", MemoryScreen),
                          ("L", AuditScreen), ("i", ApprovalsScreen)):
            await pilot.press(key)
            await until(pilot, lambda view=view: isinstance(app.screen, view), view.__name__)
            assert len(app.screen_stack) == 3, [type(s).__name__ for s in app.screen_stack]
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is fleet, "the fleet after one esc")
        # from an agent's screen too: a view replaces it, esc is the fleet
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AgentScreen), "the Agent screen")
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BudgetsScreen), "the budgets")
        assert len(app.screen_stack) == 3
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is fleet, "the fleet")
        assert len(app.screen_stack) == 2
