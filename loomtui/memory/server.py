"""`loomtui mcp`: the pod's shared memory and status for agents, as an MCP server
on stdio (the `mcp` SDK, major version 1, `FastMCP`).

Tools: memory_search, memory_get, memory_write, pod_status. Every answer is one
compact JSON document as text (what `memory_search`'s token budget counts);
failures are tool errors (`isError`) with one sentence, a stale write naming
the entry's current version.

The caller is an agent, found from its environment on every call
(`identity.agent_author`): agents register through their hooks, which may run
after this server starts. Each call opens the store and reads the config anew,
so a long-lived server sees config changes and survives a store that was moved.

This is the only module that imports `mcp` (the SessionStart hook imports the
retrieval, and must not pay for the SDK). stdout carries JSON-RPC: nothing else
may print there; logs go to stderr. (The SDK itself loads `rich` for its
logging: this process is not on any hot path.)
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from pydantic import Field

from loomtui.memory import entries, pod, retrieval
from loomtui.memory.identity import agent_author
from loomtui.store.db import StoreError, connect, db_path

SERVER_NAME = "loom"
INSTRUCTIONS = """\
LoomTUI shared memory for the pod of agents you work in. Before deciding something that \
others depend on (a schema, an API, a convention), memory_search for what was decided. \
Record decisions, conventions, warnings, facts, todos and handoffs with memory_write; to \
change an entry, write a new one that supersedes it (pass the version you read as \
expected_version). Call pod_status before large edits to see which files other agents touch."""

Kind = Literal["decision", "convention", "fact", "warning", "todo", "handoff"]
Scope = Literal["pod", "repo", "agent"]


def build_server(pod_path: Path, *, environ: Mapping[str, str] | None = None, cwd: str | None = None,
                 clock: Callable[[], float] = time.time) -> FastMCP:
    """The MCP server for the pod at `pod_path`; `environ` and `cwd` identify the agent."""
    env = os.environ if environ is None else environ
    server = FastMCP(SERVER_NAME, instructions=INSTRUCTIONS, log_level="WARNING")

    @contextmanager
    def store() -> Iterator[sqlite3.Connection]:
        try:
            conn = connect(db_path(pod_path), create=False)
        except StoreError as exc:
            raise ToolError(f"the pod store cannot be used: {exc}") from None
        try:
            yield conn
        except entries.EntryError as exc:
            raise ToolError(str(exc)) from None
        except sqlite3.Error as exc:
            raise ToolError(f"pod store error: {exc}") from None
        finally:
            conn.close()

    @server.tool(structured_output=False)
    def memory_search(
        query: Annotated[str, Field(description="words to look for (any may match; stemmed)")],
        k: Annotated[int, Field(description="at most this many entries", ge=1, le=50)] = 8,
        budget_tokens: Annotated[int, Field(description="the whole answer stays within this many "
                                                        "tokens (estimated)", ge=64, le=20000)] = 2000,
    ) -> str:
        """Search the pod's shared memory (active entries), most relevant first.

        Ranked by text relevance (title, tags, body), pins, your repository and recency.
        Whole entries only: those that do not fit the budget are counted in "omitted".
        Returns {"results": [entry + "score"], "omitted", "budget_tokens", "tokens"}."""
        with store() as conn:
            author, _agent = agent_author(conn, env, cwd)
            asker = retrieval.Asker(repo=author.repo, agent_names=_names(author))
            doc = retrieval.search_result(conn, query, now=clock(), k=k, budget_tokens=budget_tokens,
                                          asker=asker)
        return retrieval.dumps(doc)

    @server.tool(structured_output=False)
    def memory_get(id: Annotated[int, Field(description="the entry's id")]) -> str:  # noqa: A002
        """One memory entry as JSON, with its version (pass it as expected_version when you
        supersede it) and status; "superseded_by" when a newer entry replaced it."""
        with store() as conn:
            entry = entries.require(conn, id)
            data = entry.to_dict()
            if entry.status == "superseded":
                row = conn.execute("SELECT id FROM memory WHERE supersedes = ? AND status = 'active' "
                                   "ORDER BY id DESC LIMIT 1", (entry.id,)).fetchone()
                data["superseded_by"] = row[0] if row else None
        return retrieval.dumps(data)

    @server.tool(structured_output=False)
    def memory_write(
        kind: Annotated[Kind, Field(description="decision, convention, fact, warning, todo or handoff")],
        title: Annotated[str, Field(description="one line that says it all")],
        body: Annotated[str, Field(description="Markdown; short (why, where, how)")] = "",
        tags: Annotated[list[str] | None, Field(description="a few lower-case words")] = None,
        scope: Annotated[Scope, Field(description="pod: everyone; repo: agents in your "
                                                  "repository; agent: you only")] = "pod",
        supersedes: Annotated[int | None, Field(description="id of the entry this one replaces")] = None,
        expected_version: Annotated[int | None, Field(
            description="the version of `supersedes` you read; a stale one is refused")] = None,
    ) -> str:
        """Write an entry to the pod's shared memory. Decisions and conventions from agents
        wait for a supervisor's review (status "proposed"); other kinds are active at once.
        To change an entry, supersede it: a new entry replaces the old one, whose version
        must still be `expected_version` (else the error names its current version).
        Returns {"id", "version", "status", "kind", "title", "supersedes", "scope", "scope_ref"}."""
        with store() as conn:
            author, _agent = agent_author(conn, env, cwd)
            review = _review_kinds(pod_path)
            entry = entries.add(conn, kind=kind, title=title, body=body, tags=tags or (), scope=scope,
                                author=author, supersedes=supersedes, expected_version=expected_version,
                                review_kinds=review, now=clock())
        result: dict[str, Any] = {"id": entry.id, "version": entry.version, "status": entry.status,
                                  "kind": entry.kind, "title": entry.title, "supersedes": entry.supersedes,
                                  "scope": entry.scope, "scope_ref": entry.scope_ref}
        if entry.status == "proposed":
            result["note"] = "proposed: a supervisor reviews it before other agents see it"
        return retrieval.dumps(result)

    @server.tool(structured_output=False)
    def pod_status() -> str:
        """What the other agents of the pod are doing: name, status, task, repository,
        worktree, branch and the files each has touched; "overlaps" lists files you
        touch too. Check it before large edits to avoid colliding with another agent."""
        with store() as conn:
            _author, agent = agent_author(conn, env, cwd)
            doc = pod.pod_status(conn, now=clock(), me=agent)
        return retrieval.dumps(doc)

    return server


def _names(author: entries.Author) -> tuple[str, ...]:
    names = [author.name, author.session_id, author.worktree]
    return tuple(n for n in names if n)


def _review_kinds(pod_path: Path) -> tuple[str, ...]:
    from loomtui.config import ConfigError, load_config

    try:
        return tuple(load_config(pod_path).memory.review_kinds)
    except ConfigError:
        return entries.DEFAULT_REVIEW_KINDS


def run(pod_path: Path) -> None:
    """Serve on stdin/stdout until the client closes the stream."""
    build_server(pod_path).run("stdio")
