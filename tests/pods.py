"""Deterministic pods for console tests and snapshots: fixed times, names, ids."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from loomtui.store.agents import record_event, upsert_agent
from loomtui.store.budgets import refresh
from loomtui.store.db import connect, db_path, transaction
from loomtui.store.forecasts import Forecast, save_forecasts
from loomtui.store.worktrees import save_worktree

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC).timestamp()

# name, kind, repo, branch, status, reason, seconds since last activity, (tool, summary)
FLEET = [
    ("auth-api", "claude", "shop", "auth", "waiting", "approval: git push origin auth", 42,
     ("Bash", "git push origin auth")),
    ("billing-vat", "claude", "shop", "billing", "working", "", 3, ("Edit", "src/billing/tax.py")),
    ("search-index", "codex", "shop", "search", "working", "", 8, ("Bash", "pytest -q tests/test_search.py")),
    ("db-orders", "claude", "shop", "orders", "error", "API error 529: overloaded", 65, ("Bash", "alembic upgrade head")),
    ("docs-setup", "aider", "docs", "setup", "idle", "", 240, ("", "turn finished")),
    ("infra-tf", "script", "infra", "main", "working", "", 900, ("Bash", "terraform plan")),
    ("ui-cart", "claude", "shop", "cart", "working", "", 1, ("Read", "src/ui/cart.tsx")),
    ("perf-cache", "codex", "shop", "cache", "done", "", 3600, ("", "session ended")),
    ("api-pages", "claude", "shop", "pages", "waiting", "question: keep the old endpoint?", 12,
     ("", "question: keep the old endpoint?")),
    ("deps-bump", "claude", "infra", "deps", "idle", "", 30, ("", "turn finished")),
]


# USD each agent of FLEET has spent this session (None: no usage ingested), against the
# budgets below: the gauges show every colour band, and db-orders is over its budget.
SPEND = [4.6, 2.1, 0.3, 5.4, 1.0, None, 3.2, 0.8, 4.1, 2.7]
LIMITS = {("agent", "session"): (None, 5.0), ("pod", "block"): (None, 40.0)}


def make_pod(root: Path, fleet=FLEET, now: float = NOW, spend=SPEND) -> Path:
    """A pod at root/pod holding `fleet`, each agent with a short timeline and, where
    `spend` says so, usage ingested over the last half hour and its budget state."""
    pod = root / "pod"
    conn = connect(db_path(pod))
    try:
        for index, row in enumerate(fleet):
            agent_id = add_agent(conn, index, *row, now=now)
            if spend and index < len(spend) and spend[index] is not None:
                add_usage(conn, agent_id, index, spend[index], row[1], now=now)
        if spend:
            refresh(conn, LIMITS, now, UTC)
        if spend and fleet is FLEET:
            add_diffs(conn, now)
    finally:
        conn.close()
    return pod


def add_usage(conn: sqlite3.Connection, agent_id: int, index: int, usd: float, kind: str, *,
              now: float) -> None:
    """Six responses, one every five minutes, that together cost `usd`."""
    with transaction(conn):
        for n in range(6):
            conn.execute(
                "INSERT INTO usage (agent_id, session_id, ts, model, input_tokens, output_tokens, "
                "cache_write_tokens, cache_read_tokens, cost_usd, cost_source, dedupe_key, kind) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'table', ?, ?)",
                (agent_id, f"00000000-0000-4000-8000-{index:012d}", now - 1800 + n * 300,
                 "claude-sonnet-4-5" if kind == "claude" else "gpt-5-codex",
                 400 * (index + 1), 2500 + 100 * index, 1200, 30_000 + 1000 * index, usd / 6,
                 f"fixture-{index}-{n}", kind))


def add_agent(conn: sqlite3.Connection, index: int, name, kind, repo, branch, status, reason, ago,
              last, *, now: float) -> int:
    started = now - 3600 - 60 * index
    agent_id = upsert_agent(
        conn, kind=kind, now=started, session_id=f"00000000-0000-4000-8000-{index:012d}",
        name=name, cwd=f"/srv/{repo}/wt/{name}", repo=f"/srv/{repo}", worktree=f"/srv/{repo}/wt/{name}",
        branch=branch, model="claude-sonnet-4-5" if kind == "claude" else None,
    )
    record_event(conn, agent_id, kind="session_start", now=started, summary="task: " + name)
    for step in range(3):
        record_event(conn, agent_id, kind="tool", now=now - ago - 60 * (3 - step), tool="Read",
                     summary=f"src/{name}/file{step}.py", status="working", status_reason="")
    tool, summary = last
    record_event(conn, agent_id, kind="tool" if tool else status, now=now - ago, tool=tool,
                 summary=summary, status=status, status_reason=reason)
    return agent_id


# Diff stats of some worktrees (as the diff watcher writes them): billing-vat and ui-cart
# both change src/api/routes.py (a collision), db-orders has a binary file and a rename.
DIFFS = {
    "billing-vat": [("src/billing/tax.py", None, "modified", 42, 7, False),
                    ("src/api/routes.py", None, "modified", 12, 3, False),
                    ("tests/test_tax.py", None, "added", 58, 0, False)],
    "ui-cart": [("src/ui/cart.tsx", None, "modified", 120, 31, False),
                ("src/api/routes.py", None, "modified", 4, 1, False)],
    "db-orders": [("migrations/0002_orders.sql", None, "added", 18, 0, False),
                  ("docs/schema.png", None, "added", 0, 0, True),
                  ("src/db/orders.py", "src/db/order.py", "renamed", 9, 2, False)],
    "auth-api": [],
}


def add_diffs(conn: sqlite3.Connection, now: float) -> None:
    for name, files in DIFFS.items():
        repo, branch = next((r[2], r[3]) for r in FLEET if r[0] == name)
        save_worktree(conn, path=f"/srv/{repo}/wt/{name}", repo=f"/srv/{repo}", branch=branch,
                      base="main", merge_base="0" * 40, state="ok", files=files, now=now)
    # The conflict forecast (as the diff service writes it): billing-vat and ui-cart would
    # conflict on src/api/routes.py; db-orders changes a file main changed too, cleanly.
    repo = next(r[2] for r in FLEET if r[0] == "billing-vat")
    db_repo = next(r[2] for r in FLEET if r[0] == "db-orders")
    save_forecasts(conn, [
        Forecast(f"/srv/{repo}/wt/billing-vat", f"/srv/{repo}/wt/ui-cart", f"/srv/{repo}", None,
                 "1" * 40, "2" * 40, "conflict", ("src/api/routes.py",), now),
        Forecast(f"/srv/{db_repo}/wt/db-orders", "", f"/srv/{db_repo}", "main", "3" * 40, "4" * 40,
                 "overlap", ("docs/schema.png",), now),
    ])
