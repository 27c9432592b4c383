"""The console's async store (aiosqlite) answers exactly what the sync store
modules answer on the same database: it runs their SQL and row builders."""

from __future__ import annotations

from datetime import UTC

from loomtui.store import agents, budgets, gates, usage, worktrees
from loomtui.store.aio import AsyncStore
from loomtui.store.db import connect, db_path, transaction
from tests.pods import FLEET, LIMITS, NOW, make_pod


def _open_gate(conn, agent_id: int) -> None:
    for risk in ("low", "critical"):
        gates.create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": f"echo {risk}"},
                          summary=f"echo {risk}", rule="test", risk=risk, now=NOW - 5,
                          expires_at=NOW + 600)


async def test_every_read_matches_the_sync_store(tmp_path):
    pod = make_pod(tmp_path)
    conn = connect(db_path(pod))
    _open_gate(conn, 1)
    store = await AsyncStore.open(db_path(pod))
    try:
        assert await store.fetch_agents() == agents.fetch_agents(conn)
        assert await store.fetch_events(2, limit=3) == agents.fetch_events(conn, 2, limit=3)
        pending = await store.fetch_pending_gates(NOW)
        assert [g.risk for g in pending] == ["critical", "low"]
        assert pending == gates.list_gates(conn, now=NOW)
        assert await store.fetch_budget_states() == budgets.read_states(conn)
        assert await store.fetch_worktrees() == worktrees.fetch_worktrees(conn)
        assert await store.fetch_collisions() == worktrees.collisions(conn)
        files = await store.fetch_worktree_files("/srv/shop/wt/db-orders")
        assert files == worktrees.fetch_files(conn, "/srv/shop/wt/db-orders")
        assert len(files) == 3
        for agent_id in (1, 2, 6):  # agent 6 (infra-tf) has no usage
            assert await store.fetch_usage_minutes(agent_id) == usage.usage_minutes(conn, agent_id)
            assert await store.fetch_usage_by_model(agent_id) == usage.usage_by_model(conn, agent_id)
            assert await store.fetch_last_context(agent_id) == usage.last_context(conn, agent_id)
    finally:
        await store.close()
        conn.close()


def test_usage_of_one_agent(tmp_path):
    """tests/pods.py's agent index 1 (billing-vat): six responses five minutes apart."""
    conn = connect(db_path(make_pod(tmp_path)))
    try:
        minutes = usage.usage_minutes(conn, 2)
        per_response = 400 * 2 + 2500 + 100 + 1200 + 30_000 + 1000
        assert [t for _, t in minutes] == [per_response] * 6
        assert [b - a for (a, _), (b, _) in zip(minutes, minutes[1:], strict=False)] == [300.0] * 5
        (row,) = usage.usage_by_model(conn, 2)
        assert row.model == "claude-sonnet-4-5"
        assert (row.input_tokens, row.output_tokens, row.unpriced) == (6 * 800, 6 * 2600, 0)
        assert abs(row.cost_usd - 2.1) < 1e-9
        assert usage.last_context(conn, 2) == ("claude-sonnet-4-5", 800 + 1200 + 31_000)
        assert usage.usage_minutes(conn, 6) == [] and usage.last_context(conn, 6) is None
    finally:
        conn.close()


async def test_change_marks_move_with_the_budget_and_diff_tables(tmp_path):
    pod = make_pod(tmp_path)
    conn = connect(db_path(pod))
    store = await AsyncStore.open(db_path(pod))
    try:
        first = await store.change_marks()
        assert len(first) == 9  # budget_state 3, worktrees 4, merge_forecasts 2
        agents.record_event(conn, 1, kind="tool", now=NOW + 1, tool="Read", summary="x")
        assert await store.change_marks() == first  # agents' events are not in the fingerprint

        repo, branch = next((r[2], r[3]) for r in FLEET if r[0] == "auth-api")
        worktrees.save_worktree(conn, path=f"/srv/{repo}/wt/auth-api", repo=f"/srv/{repo}", branch=branch,
                                base="main", merge_base="0" * 40, state="ok",
                                files=[("README.md", None, "modified", 1, 0, False)], now=NOW)
        after_diff = await store.change_marks()
        assert after_diff[:3] == first[:3] and after_diff[3:] != first[3:]

        with transaction(conn):
            conn.execute("INSERT INTO usage (agent_id, session_id, ts, model, input_tokens, cost_usd, "
                         "dedupe_key) VALUES (1, 's', ?, 'claude-sonnet-4-5', 5000, 0.5, 'more')", (NOW,))
        budgets.refresh(conn, LIMITS, NOW, UTC)
        after_budget = await store.change_marks()
        assert after_budget[:3] != first[:3] and after_budget[3:] == after_diff[3:]
    finally:
        await store.close()
        conn.close()
