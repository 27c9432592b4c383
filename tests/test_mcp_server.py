"""`loomtui mcp` driven by a real MCP client from the `mcp` package over stdio, as
Claude Code or Codex would start it: list the tools, write, search, get, a
compare-and-swap conflict, the review of an agent's decision, pod_status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from loomtui.memory import entries
from loomtui.store.agents import record_event, upsert_agent
from loomtui.store.db import connect, db_path
from tests import hook_fixtures

pod, repo = hook_fixtures.pod, hook_fixtures.repo  # the bare pod and repository fixtures


def register(pod: Path, repo: Path) -> None:
    """Two agents as their hooks would have registered them: "me" in the repo, and
    "billing" elsewhere editing a file."""
    conn = connect(db_path(pod))
    now = time.time()
    try:
        upsert_agent(conn, kind="claude", now=now, session_id="me-session", name="shop-me", cwd=str(repo),
                     repo=str(repo), worktree=str(repo), branch="auth")
        other = upsert_agent(conn, kind="claude", now=now, session_id="b-session", name="billing",
                             cwd="/srv/wt/billing", repo=str(repo), worktree="/srv/wt/billing",
                             branch="billing")
        record_event(conn, other, kind="tool", now=now, tool="Write", summary="src/pay.py",
                     payload={"tool_input": {"file_path": "/srv/wt/billing/src/pay.py"}})
    finally:
        conn.close()


def server(pod: Path, repo: Path, **env: str) -> StdioServerParameters:
    environ = {**os.environ, "LOOM_HOME": str(pod), "CLAUDE_PROJECT_DIR": str(repo), **env}
    for name in ("LOOM_CONFIG", "LOOM_AGENT", "LOOM_SESSION_ID"):
        if name not in env:
            environ.pop(name, None)
    return StdioServerParameters(command=sys.executable, args=["-m", "loomtui", "mcp"], env=environ,
                                 cwd=str(repo))


async def call(session: ClientSession, tool: str, **arguments) -> tuple[bool, str]:
    result = await session.call_tool(tool, arguments)
    assert len(result.content) == 1 and result.content[0].type == "text"
    return bool(result.isError), result.content[0].text


async def test_tools_write_search_get_and_a_stale_write(pod: Path, repo: Path) -> None:
    register(pod, repo)
    async with stdio_client(server(pod, repo)) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.serverInfo.name == "loom" and "memory_search" in init.instructions
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert set(tools) == {"memory_search", "memory_get", "memory_write", "pod_status"}
            write_schema = tools["memory_write"].inputSchema
            assert write_schema["required"] == ["kind", "title"]
            assert set(write_schema["properties"]) == {"kind", "title", "body", "tags", "scope",
                                                       "supersedes", "expected_version"}
            assert set(tools["memory_search"].inputSchema["properties"]) == {"query", "k", "budget_tokens"}

            error, text = await call(session, "memory_write", kind="fact", title="Redis is the queue broker",
                                     body="Celery uses **db 1**.", tags=["redis", "celery"], scope="repo")
            assert not error
            written = json.loads(text)
            assert (written["version"], written["status"], written["scope_ref"]) == (1, "active", str(repo))

            error, text = await call(session, "memory_search", query="which broker does celery use", k=3,
                                     budget_tokens=500)
            found = json.loads(text)
            assert not error and [r["id"] for r in found["results"]] == [written["id"]]
            assert found["results"][0]["body"] == "Celery uses **db 1**."
            assert found["tokens"] <= 500

            error, text = await call(session, "memory_get", id=written["id"])
            got = json.loads(text)
            assert got["version"] == 1 and got["title"] == "Redis is the queue broker"
            assert got["provenance"]["author"] == "shop-me" and got["provenance"]["author_kind"] == "agent"
            assert got["provenance"]["session_id"] == "me-session"

            # Supersede at the version read: fine. Again at the same (now stale) version: refused.
            error, text = await call(session, "memory_write", kind="fact", title="Valkey is the queue broker",
                                     body="", tags=[], scope="repo", supersedes=written["id"],
                                     expected_version=1)
            assert not error
            newer = json.loads(text)
            error, text = await call(session, "memory_write", kind="fact", title="RabbitMQ is the broker",
                                     body="", tags=[], scope="pod", supersedes=written["id"],
                                     expected_version=1)
            assert error and "version 2" in text and f"entry {written['id']}" in text
            error, text = await call(session, "memory_get", id=written["id"])
            old = json.loads(text)
            assert (old["status"], old["version"], old["superseded_by"]) == ("superseded", 2, newer["id"])

            error, text = await call(session, "memory_get", id=999)
            assert error and "no memory entry 999" in text


async def test_agent_decisions_wait_for_review_and_pod_status(pod: Path, repo: Path) -> None:
    register(pod, repo)
    async with stdio_client(server(pod, repo)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            error, text = await call(session, "memory_write", kind="decision", title="Use JWT for sessions",
                                     body="Stateless.", tags=["auth"], scope="pod")
            proposal = json.loads(text)
            assert not error and proposal["status"] == "proposed" and "supervisor" in proposal["note"]
            _, text = await call(session, "memory_search", query="jwt sessions")
            assert json.loads(text)["results"] == []  # not active yet

            conn = connect(db_path(pod))
            try:
                entries.accept(conn, proposal["id"], author=entries.supervisor("ana"),
                               expected_version=1, now=time.time())
            finally:
                conn.close()
            _, text = await call(session, "memory_search", query="jwt sessions")
            assert [r["id"] for r in json.loads(text)["results"]] == [proposal["id"]]

            error, text = await call(session, "memory_write", kind="rumour", title="x", body="", tags=[],
                                     scope="pod")
            assert error

            error, text = await call(session, "pod_status")
            status = json.loads(text)
            assert not error and status["you"]["name"] == "shop-me"
            assert [(a["name"], a["files"], a["task"]) for a in status["agents"]] == [
                ("billing", ["src/pay.py"], "Write: src/pay.py")]


async def test_without_a_store_the_server_says_why(tmp_path: Path, repo: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "loomtui", "mcp"], env=server(tmp_path / "none", repo).env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and proc.stdout == "" and "loomtui init" in proc.stderr
