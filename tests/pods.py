"""Deterministic pods for console tests and snapshots: fixed times, names, ids."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from loomtui.store.agents import record_event, upsert_agent
from loomtui.store.db import connect, db_path

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc).timestamp()

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


def make_pod(root: Path, fleet=FLEET, now: float = NOW) -> Path:
    """A pod at root/pod holding `fleet`, each agent with a short timeline."""
    pod = root / "pod"
    conn = connect(db_path(pod))
    try:
        for index, row in enumerate(fleet):
            add_agent(conn, index, *row, now=now)
    finally:
        conn.close()
    return pod


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
