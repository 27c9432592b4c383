"""`loomtui memory add|search|show|list|retire|history|accept|reject|pin|unpin|edit`:
the pod's shared memory for people (and for scripts, with --json).

The caller is the supervisor ($LOOM_USER, else the login name), unless the
command runs inside an agent's shell (see `loomtui.memory.identity`): then it is
that agent, with an agent's rights (its decisions and conventions are proposed;
it cannot pin, retire or review). The decisions (accept, reject, pin, unpin,
retire, add --pin) pass `loomtui.supervisors.authorize` and are recorded as the
OS account that runs the command; inside an agent's environment they are
refused. Changes take `--expect VERSION` for a
compare-and-swap; a stale version is an error naming the current one (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from datetime import UTC, datetime
from typing import Any

from loomtui.commands.common import open_pod, read_config
from loomtui.commands.errors import CommandError
from loomtui.memory import entries, retrieval
from loomtui.memory.entries import Author, Entry
from loomtui.store.db import db_path, describe_error
from loomtui.text import printable


def run(args: argparse.Namespace) -> int:
    command = args.memory_command
    body_from_stdin = getattr(args, "body", None) == "-"
    body = sys.stdin.read() if body_from_stdin else getattr(args, "body", None)
    pod, conn = open_pod(create=False)
    try:
        handler = globals()[f"_{command}"]
        return handler(args, conn, pod, body)
    except entries.VersionConflict as exc:
        if exc.current_status not in ("active", "proposed"):
            raise CommandError(str(exc)) from None  # retired, superseded, rejected: says so
        # The store's message speaks to agents (MCP's expected_version); people use --expect.
        raise CommandError(
            f"entry {exc.entry_id} is at version {exc.current_version}, not {args.expected_version} "
            f"(--expect): someone else changed it since you read it. Read it again (`loomtui memory "
            f"show {exc.entry_id}`), then run your change with --expect {exc.current_version}") from None
    except entries.EntryError as exc:
        raise CommandError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()


# -- who ------------------------------------------------------------------------------


def caller(conn: sqlite3.Connection) -> Author:
    """The supervisor at the keyboard, or the agent whose shell this is."""
    from loomtui.memory.identity import agent_author, inside_agent

    if inside_agent(os.environ):
        return agent_author(conn, os.environ)[0]
    from loomtui.config import supervisor_name
    from loomtui.places import locate

    return Author(name=supervisor_name(), kind="supervisor", repo=locate(os.getcwd()).repo)


def decider(pod) -> Author:
    """The author of a decision: this process's OS account, once
    loomtui.supervisors.authorize allows it (else a CommandError saying why)."""
    from loomtui.places import locate
    from loomtui.supervisors import NotAllowed, authorize, current_decider

    who = current_decider()
    try:
        authorize(pod, read_config(pod, warn=False), who)
    except NotAllowed as exc:
        raise CommandError(str(exc)) from None
    return Author(name=who.account, kind="supervisor", repo=locate(os.getcwd()).repo)


# -- commands -------------------------------------------------------------------------


def _add(args, conn, pod, body) -> int:
    author = caller(conn)
    if args.pin and not author.is_supervisor:
        raise CommandError(f"only a supervisor can pin an entry (this shell belongs to agent {author.name})")
    if args.pin:  # pinning is a decision: made, and recorded, as this OS account
        author = decider(pod)
    config = read_config(pod)
    entry = entries.add(conn, kind=args.kind, title=args.title, body=body or "", tags=args.tags,
                        scope=args.scope, scope_ref=args.ref, author=author, supersedes=args.supersedes,
                        expected_version=args.expected_version, pinned=args.pin,
                        review_kinds=config.memory.review_kinds, now=time.time())
    if args.json:
        return _print_json(entry.to_dict())
    print(f"added entry {entry.id} ({entry.kind}, {entry.status}{', pinned' if entry.pinned else ''}): "
          f"{printable(entry.title)}")
    if entry.supersedes:
        old = entries.get(conn, entry.supersedes)
        if old is not None:
            print(f"entry {old.id} is {old.status}" + (" until this one is accepted"
                                                       if entry.status == "proposed" else ""))
    if entry.status == "proposed":
        print("a supervisor reviews it: loomtui memory accept|reject " + str(entry.id))
    return 0


def _search(args, conn, pod, body) -> int:
    statuses = entries.STATUSES if args.status == "all" else (args.status,)
    from loomtui.memory.retrieval import Asker

    author = caller(conn)
    asker = Asker(repo=author.repo, agent_names=tuple(n for n in (author.name, author.session_id,
                                                                  author.worktree) if n))
    doc = retrieval.search_result(conn, " ".join(args.query), now=time.time(), k=args.limit,
                                  budget_tokens=args.budget, asker=asker, statuses=statuses)
    if args.json:
        return _print_json(doc)
    if not doc["results"]:
        print("no matching entries" + (f" ({doc['omitted']} did not fit the budget)" if doc["omitted"] else ""))
        return 0
    rows = [[str(r["id"]), r["kind"], f"{r['score']:.2f}", r["status"] + (" ·pin" if r["pinned"] else ""),
             _scope_text(r), r["title"]] for r in doc["results"]]
    _table(["ID", "KIND", "SCORE", "STATUS", "SCOPE", "TITLE"], rows)
    if doc["omitted"]:
        print(f"({doc['omitted']} more did not fit {doc['budget_tokens']} tokens)")
    return 0


def _show(args, conn, pod, body) -> int:
    entry = entries.require(conn, args.id)
    successor = conn.execute("SELECT id FROM memory WHERE supersedes = ? ORDER BY id DESC LIMIT 1",
                             (entry.id,)).fetchone()
    if args.json:
        data = entry.to_dict()
        data["superseded_by"] = successor[0] if successor else None
        return _print_json(data)
    print(printable(retrieval.render_markdown(entry), multiline=True))
    print()
    prov = f"{entry.author} ({entry.author_kind})"
    if entry.session_id:
        prov += f", session {entry.session_id}"
    if entry.worktree:
        prov += f", worktree {entry.worktree}"
    if entry.commit_sha:
        prov += f", commit {entry.commit_sha[:12]}"
    print(f"status:   {entry.status}{' (pinned)' if entry.pinned else ''}, version {entry.version}")
    print(f"scope:    {printable(_scope_text(entry.to_dict()))}")
    print(f"by:       {printable(prov)}")
    print(f"created:  {_when(entry.created_at)}; updated {_when(entry.updated_at)}")
    if entry.supersedes:
        print(f"replaces: entry {entry.supersedes}")
    if successor:
        print(f"replaced by: entry {successor[0]}")
    return 0


def _list(args, conn, pod, body) -> int:
    statuses = None if args.status == "all" else (args.status,)
    found = entries.list_entries(conn, statuses=statuses, kinds=(args.kind,) if args.kind else None,
                                 pinned=True if args.pinned else None, limit=args.limit)
    if args.json:
        return _print_json({"entries": [e.to_dict() for e in found], "counts": entries.counts(conn)})
    if not found:
        print("no entries")
        return 0
    rows = [[str(e.id), e.kind, e.status + (" ·pin" if e.pinned else ""), f"v{e.version}",
             _scope_text(e.to_dict()), e.author, _when(e.updated_at), e.title] for e in found]
    _table(["ID", "KIND", "STATUS", "VER", "SCOPE", "BY", "UPDATED", "TITLE"], rows)
    return 0


def _retire(args, conn, pod, body) -> int:
    entry = entries.retire(conn, args.id, author=decider(pod), expected_version=args.expected_version,
                           reason=args.reason, now=time.time())
    return _changed(args, entry, "retired")


def _accept(args, conn, pod, body) -> int:
    entry = entries.accept(conn, args.id, author=decider(pod), expected_version=args.expected_version,
                           now=time.time())
    return _changed(args, entry, "accepted")


def _reject(args, conn, pod, body) -> int:
    entry = entries.reject(conn, args.id, author=decider(pod), reason=args.reason,
                           expected_version=args.expected_version, now=time.time())
    return _changed(args, entry, "rejected")


def _pin(args, conn, pod, body) -> int:
    entry = entries.set_pinned(conn, args.id, True, author=decider(pod),
                               expected_version=args.expected_version, now=time.time())
    return _changed(args, entry, "pinned")


def _unpin(args, conn, pod, body) -> int:
    entry = entries.set_pinned(conn, args.id, False, author=decider(pod),
                               expected_version=args.expected_version, now=time.time())
    return _changed(args, entry, "unpinned")


def _edit(args, conn, pod, body) -> int:
    if args.title is None and body is None and args.tags is None and args.kind is None:
        raise CommandError("nothing to change: give --title, --body, --tags or --kind")
    entry = entries.edit(conn, args.id, author=caller(conn), expected_version=args.expected_version,
                         kind=args.kind, title=args.title, body=body, tags=args.tags, now=time.time())
    return _changed(args, entry, "edited")


def _history(args, conn, pod, body) -> int:
    entries.require(conn, args.id)
    changes = entries.history(conn, args.id)
    if args.json:
        return _print_json({"id": args.id, "history": [c.to_dict() for c in changes]})
    for change in changes:
        snap = change.snapshot
        detail = snap.get("change_detail") or {}
        extra = "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in detail.items())
        print(printable(f"v{change.version}  {_when(change.changed_at)}  {change.actor:<12} {change.change:<10} "
                        f"[{snap.get('status')}] {snap.get('title')}" + (f"  ({extra})" if extra else "")))
    return 0


# -- output ---------------------------------------------------------------------------


def _changed(args, entry: Entry, verb: str) -> int:
    if args.json:
        return _print_json(entry.to_dict())
    print(f"{verb} entry {entry.id} (now version {entry.version}, {entry.status}): {printable(entry.title)}")
    return 0


def _print_json(value: Any) -> int:
    print(json.dumps(value, indent=2, ensure_ascii=False))
    return 0


def _scope_text(data: dict[str, Any]) -> str:
    if data["scope"] == "pod":
        return "pod"
    ref = data["scope_ref"]
    if data["scope"] == "repo":
        ref = ref.rstrip("/").rsplit("/", 1)[-1]
    return f"{data['scope']}:{ref}"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _table(head: list[str], rows: list[list[str]]) -> None:
    import shutil

    width = shutil.get_terminal_size((120, 24)).columns
    rows = [[printable(c) for c in r] for r in rows]  # agents wrote titles, scopes and names
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    fixed = sum(widths[:-1]) + 2 * (len(widths) - 1)
    last = max(20, width - fixed)
    for cells in [head, *rows]:
        text = cells[-1] if len(cells[-1]) <= last else cells[-1][: last - 1] + "…"
        print("  ".join([c.ljust(w) for c, w in zip(cells[:-1], widths, strict=False)] + [text]).rstrip())
