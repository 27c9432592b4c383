"""What the other agents of the pod are doing, so an agent can avoid collisions:
`pod_status()` for the MCP tool, `status_lines()` for the SessionStart hook.

Files touched come from `worktree_files` (the worktree watcher's diff stats)
and, where a worktree has none recorded, from the agent's recent Edit / Write
events (their `tool_input.file_path`). Paths are relative to the agent's
worktree where they lie inside it.

Stdlib + store only: the SessionStart hook imports this.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from loomtui.store.agents import FLEET_SQL, Agent, agent_from_row

EDIT_TOOLS = ("Edit", "Write", "MultiEdit", "NotebookEdit")
RECENT_EVENTS = 200
FILES_MAX = 50
HORIZON = 24 * 3600.0  # agents silent for longer are not "doing" anything any more


def live_agents(conn: sqlite3.Connection, *, now: float, exclude_agent_id: int | None = None,
                horizon: float = HORIZON) -> list[Agent]:
    """Agents not done (nor errored out) and active within `horizon` seconds, most
    recently active first."""
    sql = FLEET_SQL.replace(
        "ORDER BY a.id",
        "WHERE a.status NOT IN ('done', 'error') AND a.last_activity_at >= ? "
        "ORDER BY a.last_activity_at DESC")
    rows = conn.execute(sql, (now - horizon,))
    return [a for a in (agent_from_row(r) for r in rows) if a.id != exclude_agent_id]


def files_touched(conn: sqlite3.Connection, agent: Agent, limit: int = FILES_MAX) -> list[str]:
    """The files the agent's worktree changed (diff stats), else those it edited lately."""
    if agent.worktree:
        rows = conn.execute("SELECT path FROM worktree_files WHERE worktree = ? ORDER BY path LIMIT ?",
                            (agent.worktree, limit)).fetchall()
        if rows:
            return [r[0] for r in rows]
    found: list[str] = []
    rows = conn.execute(
        f"SELECT tool, summary, payload FROM events WHERE agent_id = ? AND tool IN "
        f"({', '.join('?' * len(EDIT_TOOLS))}) ORDER BY id DESC LIMIT ?",
        (agent.id, *EDIT_TOOLS, RECENT_EVENTS)).fetchall()
    for _tool, summary, payload in rows:
        path = _file_path(payload) or summary
        if not path:
            continue
        path = _relative(path, agent.worktree or agent.cwd)
        if path not in found:
            found.append(path)
            if len(found) >= limit:
                break
    return sorted(found)


def _file_path(payload: str) -> str | None:
    try:
        data = json.loads(payload)
    except (TypeError, ValueError):
        return None
    tool_input = data.get("tool_input") if isinstance(data, dict) else None
    if isinstance(tool_input, dict):
        path = tool_input.get("file_path") or tool_input.get("notebook_path")
        if isinstance(path, str) and path:
            return path
    return None


def _relative(path: str, root: str | None) -> str:
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1:]
    return path


def task_of(agent: Agent) -> str:
    if agent.status == "waiting" and agent.status_reason:
        return agent.status_reason
    if agent.last_tool and agent.last_summary:
        return f"{agent.last_tool}: {agent.last_summary}"
    return agent.last_summary or agent.last_tool or ""


def pod_status(conn: sqlite3.Connection, *, now: float, me: Agent | None = None,
               stall_after: float = 300.0, limit: int = 100) -> dict[str, Any]:
    """The pod as the `pod_status` MCP tool answers: every other live agent with
    its task, place and files; `overlaps` lists files it shares with `me`."""
    mine = set(files_touched(conn, me)) if me is not None else set()
    agents = live_agents(conn, now=now, exclude_agent_id=me.id if me else None)
    out = []
    for agent in agents[:limit]:
        files = files_touched(conn, agent)
        same_repo = bool(me and me.repo and agent.repo == me.repo)
        out.append({
            "name": agent.name, "kind": agent.kind,
            "status": agent.effective_status(now, stall_after),
            "task": task_of(agent), "repo": agent.repo, "worktree": agent.worktree,
            "branch": agent.branch, "last_activity_s_ago": round(max(0.0, now - agent.last_activity_at)),
            "pending_gates": agent.pending_gates, "files": files,
            "overlaps": sorted(mine & set(files)) if same_repo else [],
        })
    return {
        "you": None if me is None else {"name": me.name, "repo": me.repo, "worktree": me.worktree,
                                        "branch": me.branch, "files": sorted(mine)},
        "agents": out, "more": max(0, len(agents) - limit),
    }


def status_lines(conn: sqlite3.Connection, *, now: float, me: Agent | None,
                 stall_after: float = 300.0, limit: int = 12, files_shown: int = 4) -> tuple[list[str], int]:
    """Short lines for the SessionStart context, agents of the same repository
    first, then the most recently active: (lines, agents left out)."""
    agents = live_agents(conn, now=now, exclude_agent_id=me.id if me else None)
    repo = me.repo if me else None
    agents.sort(key=lambda a: (a.repo != repo, -a.last_activity_at))
    lines = []
    for agent in agents[:limit]:
        where = agent.branch or (agent.worktree or agent.cwd or "?").rstrip("/").rsplit("/", 1)[-1]
        if agent.repo and agent.repo != repo:
            where = f"{agent.repo.rstrip('/').rsplit('/', 1)[-1]}:{where}"
        line = f"- {agent.name} ({agent.kind}, {agent.effective_status(now, stall_after)}) on {where}"
        task = task_of(agent)
        if task:
            line += f": {task[:120]}"
        files = files_touched(conn, agent, limit=files_shown + 1)
        if files:
            shown = ", ".join(files[:files_shown])
            line += f"; files: {shown}" + (", …" if len(files) > files_shown else "")
        lines.append(line)
    return lines, max(0, len(agents) - limit)
