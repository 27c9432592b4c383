"""Who is writing: the calling agent, found from its environment, or a supervisor.

An MCP server started by Claude Code gets `CLAUDE_PROJECT_DIR` and runs in the
project directory; Codex starts it in its working directory. Neither passes the
session id, so the agent is found, in this order, by:

1. `LOOM_AGENT`: an agent id, name or session id (set it in the MCP server's
   `env` when the directory is ambiguous, or for scripts);
2. `LOOM_SESSION_ID`: a session id;
3. the directory (`CLAUDE_PROJECT_DIR`, else the current directory): the most
   recently active agent, not done, whose worktree (or cwd) it is; agents
   register with the pod through their hooks, normally before their first tool
   call.

An agent not found is still an agent: it writes as `agent@<directory name>`,
with no agent row (its entries say so in their provenance).

`loomtui memory add` from a shell writes as the supervisor ($LOOM_USER, else the
login name), unless it runs inside an agent (Claude Code sets `CLAUDECODE` in its
shell, Codex `CODEX_SANDBOX*` / `CODEX_THREAD_ID`; `LOOM_AGENT` counts too): then
it writes as that agent, with an agent's rights. This keeps honest agents honest;
it is not a security boundary (anyone who can write the pod store can write it).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from loomtui.memory.entries import Author
from loomtui.places import locate
from loomtui.store.agents import FLEET_SQL, Agent, agent_from_row, find_agent

AGENT_ENV_MARKERS = ("LOOM_AGENT", "LOOM_SESSION_ID", "CLAUDECODE", "CODEX_SANDBOX",
                     "CODEX_SANDBOX_NETWORK_DISABLED", "CODEX_THREAD_ID")


def inside_agent(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name) for name in AGENT_ENV_MARKERS)


def agent_directory(environ: Mapping[str, str], cwd: str | None = None) -> str:
    return environ.get("CLAUDE_PROJECT_DIR") or cwd or os.getcwd()


def find_calling_agent(conn: sqlite3.Connection, environ: Mapping[str, str],
                       cwd: str | None = None) -> Agent | None:
    for name in ("LOOM_AGENT", "LOOM_SESSION_ID"):
        ref = environ.get(name)
        if ref:
            found = find_agent(conn, ref)
            if found is not None:
                return found
    directory = agent_directory(environ, cwd)
    place = locate(directory)
    candidates = [p for p in (place.worktree, directory) if p]
    if not candidates:
        return None
    marks = ", ".join("?" * len(candidates))
    sql = FLEET_SQL.replace(
        "ORDER BY a.id",
        f"WHERE (a.worktree IN ({marks}) OR a.cwd IN ({marks})) "
        "ORDER BY a.status IN ('done', 'error'), a.last_activity_at DESC LIMIT 1")
    row = conn.execute(sql, (*candidates, *candidates)).fetchone()
    return agent_from_row(row) if row else None


def agent_author(conn: sqlite3.Connection, environ: Mapping[str, str],
                 cwd: str | None = None) -> tuple[Author, Agent | None]:
    """The calling agent as an Author (with provenance), and its row if known."""
    agent = find_calling_agent(conn, environ, cwd)
    directory = agent_directory(environ, cwd)
    place = locate((agent.worktree or agent.cwd) if agent else directory)
    worktree = (agent.worktree if agent else None) or place.worktree
    if agent is not None:
        return Author(name=agent.name, kind="agent", agent_id=agent.id, session_id=agent.session_id,
                      worktree=worktree, commit_sha=head_commit(worktree),
                      repo=agent.repo or place.repo), agent
    name = "agent@" + (Path(worktree or directory).name or "?")
    return Author(name=name, kind="agent", session_id=environ.get("LOOM_SESSION_ID") or None,
                  worktree=worktree, commit_sha=head_commit(worktree), repo=place.repo), None


def head_commit(worktree: str | None) -> str | None:
    """The commit checked out in `worktree`, read from the .git files (no git)."""
    if not worktree:
        return None
    try:
        dotgit = Path(worktree) / ".git"
        if dotgit.is_dir():
            gitdir = dotgit
        elif dotgit.is_file():
            text = dotgit.read_text(encoding="utf-8").strip()
            if not text.startswith("gitdir:"):
                return None
            gitdir = Path(text.split(":", 1)[1].strip())
            gitdir = gitdir if gitdir.is_absolute() else (dotgit.parent / gitdir).resolve()
        else:
            return None
        head = (gitdir / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head[4:].strip()
        common = gitdir
        if (gitdir / "commondir").exists():
            common = Path((gitdir / "commondir").read_text(encoding="utf-8").strip())
            common = common if common.is_absolute() else (gitdir / common).resolve()
        for base in (gitdir, common):
            if (base / ref).is_file():
                return (base / ref).read_text(encoding="utf-8").strip() or None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    except (OSError, UnicodeDecodeError):
        return None
    return None  # a branch with no commit yet
