"""`loomtui usage [--json] [--by ...] [--since DATE]`: tokens and cost from the store.

Reads only what the ingester stored (a console or `loomtui ingest` keeps it current), so
it answers in a fraction of a second however large the transcripts are.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from datetime import date, datetime

from loomtui.commands.common import open_pod
from loomtui.commands.errors import CommandError
from loomtui.ingest.report import FIELDS, usage_rows
from loomtui.store.db import db_path, describe_error
from loomtui.text import printable

HEADS = ("INPUT", "OUTPUT", "CACHE WRITE", "CACHE READ", "TOTAL", "COST")


def parse_since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        day = date.fromisoformat(text.strip())
        return datetime(day.year, day.month, day.day).timestamp()  # local midnight, as days group
    except (ValueError, OverflowError, OSError):
        raise CommandError(f"--since {text!r} is not a date; write it as YYYY-MM-DD") from None


def run(args: argparse.Namespace) -> int:
    since = parse_since(args.since)
    pod, conn = open_pod(create=False)
    try:
        report = usage_rows(conn, args.by, since)
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    rows = report["rows"]
    if not rows:
        print("no usage recorded yet (is a console or `loomtui ingest` running?)")
        return 0
    # Agent, session, model and repo names come from transcripts: escaped before widths are measured.
    table = [[printable(r["key"] + (f"  ({r['agent']})" if r["agent"] and r["agent"] != r["key"] else "")),
              *(f"{r[f]:,}" for f in (*FIELDS, "total_tokens")), cost_text(r["cost_usd"], r["priced"])]
             for r in rows]
    total = report["totals"]
    table.append(["TOTAL", *(f"{total[f]:,}" for f in (*FIELDS, "total_tokens")),
                  cost_text(total["cost_usd"], "table")])
    head = [args.by.upper(), *HEADS]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(head)))
    for row in table:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
    if any(r["priced"] in ("partial", "unpriced") for r in rows):
        print("* some rows are unpriced (a model the price table lacks); their cost is not included")
    return 0


def cost_text(cost: float | None, priced: str) -> str:
    if cost is None:
        return "unpriced"
    mark = {"reported": " (r)", "partial": " *", "unpriced": " *"}.get(priced, "")
    return f"${cost:,.2f}{mark}"
