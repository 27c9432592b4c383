"""`loomtui diff AGENT [--stat] [--json]`: an agent's changes against its base.

Computed now from the agent's worktree (not read from the store): committed,
staged, unstaged and untracked changes against merge-base(base, HEAD).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Mapping
from typing import Any

from loomtui.commands.common import open_pod
from loomtui.commands.errors import CommandError
from loomtui.store.agents import Agent, find_agent, names_like
from loomtui.store.db import db_path, describe_error
from loomtui.text import printable

NOTES = {
    "detached": "HEAD is detached; diffing it against the base",
    "no-commits": "the repository has no commits yet; every file shows as added",
    "no-base": "no base branch found (origin/HEAD, main, master) or no history shared with it; "
               "showing uncommitted changes against HEAD",
}


def collect(ref: str, *, patches: bool, bases: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The agent's diff as the JSON document `--json` prints."""
    from loomtui.git.diff import compute_diff

    agent = _agent(ref)
    worktree = _worktree(agent, bases)
    result = compute_diff(worktree, patches=patches)
    if result.state == "missing":
        raise CommandError(f"agent {agent.name}'s worktree {worktree.path} no longer exists")
    if result.state == "error":
        raise CommandError(f"cannot diff agent {agent.name}'s worktree {worktree.path}: {result.error}")
    return {"agent": agent.name, **result.as_dict(patches)}


def run(args: argparse.Namespace) -> int:
    doc = collect(args.agent, patches=not args.stat)
    note = NOTES.get(doc["state"])
    if note:
        print(f"loomtui diff: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    if (sys.stdout.encoding or "").lower().replace("-", "") != "utf8":
        sys.stdout.reconfigure(errors="replace")
    print(render_stat(doc))
    if not args.stat and doc["files"]:
        print()
        for change in doc["files"]:
            if change.get("patch"):
                # The patch is the agent's content: its control characters show escaped, its tabs stay.
                sys.stdout.write(printable(change["patch"], multiline=True))
    return 0


def render_stat(doc: Mapping[str, Any]) -> str:
    """The per-file summary: status, added, deleted, path (old -> new for renames)."""
    base = doc["base"] or "(none)"
    merge_base = (doc["merge_base"] or "-")[:12]
    lines = [f"{doc['agent']}  {doc['worktree']}", f"base {base}  merge-base {merge_base}"]
    letters = {"added": "A", "modified": "M", "deleted": "D", "renamed": "R"}
    for change in doc["files"]:
        counts = f"{'bin':>7} {'':>6}" if change["binary"] else f"{'+' + str(change['added']):>7} {'-' + str(change['deleted']):>6}"
        name = change["path"] if not change["old_path"] else f"{change['old_path']} -> {change['path']}"
        lines.append(f"  {letters.get(change['status'], '?')} {counts}  {name}")
    added = sum(c["added"] for c in doc["files"])
    deleted = sum(c["deleted"] for c in doc["files"])
    count = len(doc["files"])
    lines.append(f"{count} file{'s' if count != 1 else ''} changed, +{added} -{deleted}"
                 if count else "no changes against the base")
    return "\n".join(printable(line) for line in lines)  # names and paths are the agent's


def _agent(ref: str) -> Agent:
    pod, conn = open_pod(create=False)
    try:
        agent = find_agent(conn, ref)
        like = names_like(conn, ref) if agent is None and ref else []
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    if agent is None:
        hint = f"; did you mean {', '.join(like)}?" if like else " (give its name or session id)"
        raise CommandError(f"no agent {ref!r} in this pod{hint}")
    return agent


def _worktree(agent: Agent, bases: Mapping[str, str] | None):
    from loomtui.git.discovery import discover
    from loomtui.git.run import GitError

    places = [p for p in (agent.cwd, agent.worktree, agent.repo) if p]
    if not places:
        raise CommandError(f"agent {agent.name} has no known working directory")
    try:
        found = discover([agent], bases=bases)
    except GitError as exc:
        raise CommandError(str(exc)) from None
    for worktree in found:
        if agent.id in worktree.agents:
            return worktree
    where = places[0]
    if not os.path.isdir(where):
        raise CommandError(f"agent {agent.name}'s directory {where} no longer exists")
    raise CommandError(f"agent {agent.name}'s directory {where} is not inside a git worktree")
