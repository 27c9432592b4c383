"""`loomtui gates [--json] [--all]`: the fleet's approval inbox on the command line."""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time

from loomtui.commands.common import open_pod
from loomtui.commands.errors import CommandError
from loomtui.store.db import db_path, describe_error
from loomtui.store.gates import Gate, cancel_orphans, expire_due, list_gates
from loomtui.text import printable

SUMMARY_MIN = 20


def run(args: argparse.Namespace) -> int:
    pod, conn = open_pod(create=False)
    try:
        now = time.time()
        expire_due(conn, now=now)
        cancel_orphans(conn, now=now)
        gates = list_gates(conn, include_all=args.all, now=now)
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    if args.json:
        print(json.dumps({"gates": [g.to_json() for g in gates]}, indent=2, ensure_ascii=False))
        return 0
    if not gates:
        print("no gates" if args.all else "no pending gates")
        return 0
    width = shutil.get_terminal_size((120, 24)).columns
    for line in table(gates, now=now, include_status=args.all, width=width):
        print(line)
    return 0


def table(gates: list[Gate], *, now: float, include_status: bool = False, width: int = 120) -> list[str]:
    """Rows of id, [status,] risk, agent, tool, summary, age, expires in, claimed by."""
    head = ["ID"] + (["STATUS"] if include_status else []) + ["RISK", "AGENT", "TOOL"]
    tail = ["AGE", "EXPIRES IN", "CLAIMED BY"]
    rows = []
    for g in gates:
        expires = duration(g.expires_at - now) if g.status == "pending" else "-"
        rows.append((
            [str(g.id)] + ([g.status] if include_status else [])
            + [g.risk, printable(g.agent_name or "-"), printable(g.tool)],
            printable(g.summary),  # agents wrote the summary, names and tool: never raw to a terminal
            [duration(now - g.created_at), expires, printable(g.claimed_by or "-")],
        ))
    left = [max(len(h), *(len(r[0][i]) for r in rows)) for i, h in enumerate(head)]
    right = [max(len(h), *(len(r[2][i]) for r in rows)) for i, h in enumerate(tail)]
    fixed = sum(left) + sum(right) + 2 * (len(left) + len(right))
    room = max(SUMMARY_MIN, min(width - fixed, max(len("SUMMARY"), *(len(r[1]) for r in rows))))

    def line(lcells: list[str], summary: str, rcells: list[str]) -> str:
        if len(summary) > room:
            summary = summary[: room - 1] + "…"
        cells = [c.ljust(w) for c, w in zip(lcells, left, strict=False)] + [summary.ljust(room)]
        cells += [c.ljust(w) for c, w in zip(rcells, right, strict=False)]
        return "  ".join(cells).rstrip()

    return [line(head, "SUMMARY", tail)] + [line(*r) for r in rows]


def duration(seconds: float) -> str:
    """45s, 3m05s, 2h07m, 3d04h; "now" when not positive."""
    s = int(seconds)
    if s <= 0:
        return "now"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
