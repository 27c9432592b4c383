"""`loomtui grants [--json] [--all]`: the pod's grants, calls allowed without a person.

Each grant: its id, whom it covers (an agent, or every agent in a repository), the
policy rule and pattern it allows, who granted it, when it ends, how often it was used,
and whether it is flagged for a person to look at again. Without `--all` only the
grants that answer calls now. Nothing is written.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time

from loomtui.commands.common import open_pod
from loomtui.commands.errors import CommandError
from loomtui.commands.gates import duration
from loomtui.store.db import db_path, describe_error
from loomtui.store.grants import Grant, grant_recorded, list_grants
from loomtui.text import printable


def run(args: argparse.Namespace) -> int:
    pod, conn = open_pod(create=False)
    try:
        now = time.time()
        grants = list_grants(conn, now=now, active_only=not args.all)
        # A grant row with no audit entry of its own (written by hand in the store) answers
        # nothing; listed as active it would mislead: it says so (`audit verify` names it too).
        forged = {g.id for g in grants if g.active(now) and not grant_recorded(conn, g)}
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    if args.json:
        print(json.dumps({"grants": [{**g.to_json(now), "on_record": g.id not in forged} for g in grants]},
                         indent=2, ensure_ascii=False))
        return 0
    if not grants:
        print("no grants" if args.all else "no active grants")
        return 0
    width = shutil.get_terminal_size((120, 24)).columns
    for line in table(grants, now=now, include_status=args.all, width=width, forged=forged):
        print(line)
    return 0


def ends(grant: Grant, now: float) -> str:
    """"in 1h59m", "expired", "revoked"."""
    state = grant.state(now)
    return f"in {duration(grant.expires_at - now)}" if state == "active" else state


def table(grants: list[Grant], *, now: float, include_status: bool = False, width: int = 120,
          forged: frozenset[int] | set[int] = frozenset()) -> list[str]:
    """Rows of id, [status,] agent or repo, rule, pattern, granted by, expires, uses, flagged.
    `forged`: grants with no audit entry of their own, which the hook ignores."""
    head = ["ID"] + (["STATUS"] if include_status else []) + ["AGENT OR REPO", "RULE", "PATTERN",
                                                             "GRANTED BY", "EXPIRES", "USES", "FLAGGED"]
    rows = [[str(g.id)] + ([g.state(now)] if include_status else [])
            + [printable(g.covers), printable(g.rule), printable(g.pattern), printable(g.granter),
               ends(g, now), str(g.uses),
               "NOT ON RECORD: ignored" if g.id in forged else printable(g.flagged) or "-"] for g in grants]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    pattern_at = head.index("PATTERN")
    spare = width - (sum(widths) + 2 * (len(widths) - 1))
    if spare < 0:  # the pattern gives way first, down to 16 characters
        widths[pattern_at] = max(16, widths[pattern_at] + spare)

    def line(cells: list[str]) -> str:
        out = []
        for i, (cell, w) in enumerate(zip(cells, widths, strict=False)):
            if len(cell) > w and i == pattern_at:
                cell = cell[: w - 1] + "…"
            out.append(cell.ljust(w))
        return "  ".join(out).rstrip()

    return [line(head)] + [line(r) for r in rows]
