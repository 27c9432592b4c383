"""Budgets: billing blocks as ccusage computes them, the state the
ingester keeps, and enforcement through the real hook: an agent over its budget has its
next tool call gated with risk `budget` until a supervisor approves it or raises the
budget (audited)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loomtui.store import audit
from loomtui.store.agents import upsert_agent
from loomtui.store.budgets import (
    BudgetState,
    active_block,
    billing_blocks,
    compute,
    day_start,
    over_budget,
    read_states,
    refresh,
    set_limit,
    week_start,
)
from loomtui.store.db import connect, db_path, transaction
from loomtui.store.gates import get_gate, list_gates
from tests import hook_fixtures
from tests.test_hook import SESSION, bash, decide_when_ready, finish, hook, pre_tool_use, start

pod, repo = hook_fixtures.pod, hook_fixtures.repo  # the bare pod and repository fixtures

H = 3600.0
UTC = UTC


def t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_blocks_start_on_the_hour_and_split_on_five_hours_or_a_gap() -> None:
    times = [t("2026-11-20T09:14:00"), t("2026-11-20T10:00:00"), t("2026-11-20T13:59:00"),
             t("2026-11-20T14:01:00"),  # past 09:00 + 5 h: a new block from 14:00
             t("2026-11-20T15:00:00"),
             t("2026-11-20T20:30:00")]  # more than 5 h after the last entry
    blocks = billing_blocks(times)
    assert [(b.start, b.end) for b in blocks] == [
        (t("2026-11-20T09:00:00"), t("2026-11-20T14:00:00")),
        (t("2026-11-20T14:00:00"), t("2026-11-20T19:00:00")),
        (t("2026-11-20T20:00:00"), t("2026-11-21T01:00:00"))]
    assert blocks[0].last == t("2026-11-20T13:59:00")
    assert active_block(blocks, t("2026-11-20T21:00:00")) == blocks[2]
    assert active_block(blocks, t("2026-11-21T01:00:00")) is None  # the block has ended
    assert active_block(billing_blocks([]), 0) is None


def test_day_and_week_start_at_local_midnight() -> None:
    now = t("2026-11-25T13:20:00")  # a Wednesday
    assert day_start(now, UTC) == t("2026-11-25T00:00:00")
    assert week_start(now, UTC) == t("2026-11-23T00:00:00")  # Monday
    assert week_start(now, UTC, first_weekday=6) == t("2026-11-22T00:00:00")  # Sunday


def add_usage(conn, agent_id, ts, tokens=0, usd=0.0, key=None, session="s") -> None:
    with transaction(conn):
        conn.execute(
            "INSERT INTO usage (agent_id, session_id, ts, model, input_tokens, cost_usd, cost_source, "
            "dedupe_key, kind) VALUES (?, ?, ?, 'm', ?, ?, 'table', ?, 'claude')",
            (agent_id, session, ts, tokens, usd, key or f"k{ts}-{tokens}-{agent_id}"))


@pytest.fixture
def conn(tmp_path: Path):
    c = connect(tmp_path / "pod" / "loom.db")
    yield c
    c.close()


def by(states: list[BudgetState], scope: str, period: str, ref: str | None = None) -> BudgetState:
    return next(s for s in states if s.scope == scope and s.period == period
                and (ref is None or s.scope_ref == ref))


def test_state_used_burn_and_projection(conn) -> None:
    now = t("2026-11-25T12:00:00")
    a = upsert_agent(conn, kind="claude", now=now, session_id="s1", repo="/srv/shop")
    add_usage(conn, a, t("2026-11-24T22:00:00"), tokens=1000, usd=1.0)  # yesterday
    add_usage(conn, a, now - 1200, tokens=500, usd=0.5)  # 20 minutes ago: outside the burn window
    add_usage(conn, a, now - 300, tokens=600, usd=1.2)  # inside it
    limits = {("agent", "day"): (None, 4.0), ("agent", "session"): (10_000, None),
              ("pod", "block"): (None, 10.0)}
    states = compute(conn, limits, now, UTC)
    day = by(states, "agent", "day", str(a))
    assert (day.used_tokens, round(day.used_usd, 6)) == (1100, 1.7)
    assert day.fraction == pytest.approx(1.7 / 4.0)
    assert day.burn_tokens_min == pytest.approx(60.0)  # 600 tokens over 10 minutes
    assert day.burn_usd_hour == pytest.approx(7.2)
    assert day.exhausts_at == pytest.approx(now + (4.0 - 1.7) / 7.2 * 3600)
    assert day.resets_at == t("2026-11-26T00:00:00")
    session = by(states, "agent", "session", str(a))
    assert session.used_tokens == 2100 and session.fraction == pytest.approx(0.21)
    assert session.resets_at is None
    repo = by(states, "repo", "day", "/srv/shop")
    assert repo.used_tokens == 1100 and not repo.limited
    block = by(states, "pod", "block")
    assert block.starts_at == t("2026-11-25T11:00:00") and block.resets_at == t("2026-11-25T16:00:00")
    assert block.used_tokens == 1100 and block.fraction == pytest.approx(0.17)
    week = by(states, "pod", "week")
    assert week.used_tokens == 2100 and week.starts_at == t("2026-11-23T00:00:00")


def test_store_limits_override_config_and_are_audited(conn) -> None:
    now = t("2026-11-25T12:00:00")
    a = upsert_agent(conn, kind="claude", now=now, session_id="s1")
    b = upsert_agent(conn, kind="claude", now=now, session_id="s2")
    add_usage(conn, a, now - 60, usd=5.0)
    add_usage(conn, b, now - 60, usd=5.0)
    limits = {("agent", "day"): (None, 4.0)}
    assert {s.scope_ref for s in refresh(conn, limits, now, UTC) if s.over} == {str(a), str(b)}
    set_limit(conn, scope="agent", scope_ref=str(a), period="day", max_tokens=None, max_usd=8.0,
              actor="ana", now=now)
    states = refresh(conn, limits, now, UTC)
    assert {s.scope_ref for s in states if s.over} == {str(b)}
    assert by(states, "agent", "day", str(a)).max_usd == 8.0
    entry = audit.export(conn)[-1]
    assert (entry["actor"], entry["action"], entry["subject"]) == ("ana", "budget.set", f"agent:{a}:day")
    assert entry["detail"] == {"max_tokens": None, "max_usd": 8.0, "before": None}
    assert audit.verify(conn) == []
    assert over_budget(conn, b, None, now)[0].describe() == "day budget: $5.00 of $4.00 (125 %)"
    assert over_budget(conn, a, None, now) == []
    # a day that has rolled over no longer gates, even before the ingester refreshes
    assert over_budget(conn, b, None, t("2026-11-26T00:00:01")) == []
    assert [s.scope for s in read_states(conn)].count("pod") == 2


# -------------------------------------------------------------------- through the real hook

@pytest.mark.usefixtures("hook_route")  # direct and served
def test_crossing_the_budget_gates_the_next_tool_call_until_raised(pod: Path, repo: Path) -> None:
    # the agent registers through the hook and works normally
    code, out, _ = hook(pod, bash("ls", repo))
    assert (code, out) == (0, "")
    conn = connect(db_path(pod))
    try:
        agent = conn.execute("SELECT id FROM agents WHERE session_id = ?", (SESSION,)).fetchone()[0]
        now = time.time()
        add_usage(conn, agent, now - 30, tokens=9_000, usd=0.9, session=SESSION)
        limits = {("agent", "session"): (10_000, None)}
        refresh(conn, limits, now)
        assert (hook(pod, bash("ls", repo))[:2]) == (0, "")  # 90 %: a warning, not a gate
        add_usage(conn, agent, now - 20, tokens=2_000, usd=0.2, session=SESSION)
        refresh(conn, limits, now)

        # over 100 %: the next call waits in the inbox with risk "budget"; approved alone
        proc = start(pod, bash("ls", repo))
        decider = decide_when_ready(pod, approve=True, reason="finish the test run")
        code, out, _ = finish(proc)
        decider.join()
        assert code == 0 and json.loads(out) == pre_tool_use("allow", "Approved by ana: finish the test run")
        gate = get_gate(conn, max(g.id for g in list_gates(conn, include_all=True)))
        assert (gate.risk, gate.rule) == ("budget", "budget:agent/session")
        assert gate.summary == "session budget: 11,000 of 10,000 tokens (110 %) · ls"

        # and the next call is gated again: approvals go one call at a time
        proc = start(pod, bash("ls", repo))
        decider = decide_when_ready(pod, approve=False, reason="stop and write the handoff")
        code, out, _ = finish(proc)
        decider.join()
        assert json.loads(out) == pre_tool_use("deny", "Rejected by ana: stop and write the handoff")

        # a supervisor raises the budget: calls flow again
        set_limit(conn, scope="agent", scope_ref=str(agent), period="session", max_tokens=50_000,
                  max_usd=None, actor="ana", now=now)
        refresh(conn, limits, now)
        assert hook(pod, bash("ls", repo))[:2] == (0, "")
    finally:
        conn.close()


@pytest.mark.usefixtures("hook_route")  # direct and served
def test_a_risky_call_over_budget_keeps_its_own_risk(pod: Path, repo: Path) -> None:
    """Policy gates stay what they are (a push is still `high`), budget or not."""
    hook(pod, bash("ls", repo))
    conn = connect(db_path(pod))
    try:
        agent = conn.execute("SELECT id FROM agents").fetchone()[0]
        add_usage(conn, agent, time.time() - 5, tokens=50, session=SESSION)
        refresh(conn, {("agent", "session"): (10, None)}, time.time())
        proc = start(pod, bash("git push origin auth", repo))
        decide_when_ready(pod, approve=False, reason="no").join()
        finish(proc)
        gate = list_gates(conn, include_all=True)[-1]
        assert gate.risk != "budget" and gate.rule != "budget:agent/session"
    finally:
        conn.close()
