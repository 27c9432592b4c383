"""`loomtui audit verify` and `loomtui audit export [--json]`: the hash-chained log."""

from __future__ import annotations

import argparse
import json
import sqlite3

from loomtui.cli import CommandError
from loomtui.commands.common import open_pod
from loomtui.store import audit
from loomtui.store.db import db_path, describe_error
from loomtui.store.gates import iso
from loomtui.text import printable


def run(args: argparse.Namespace) -> int:
    pod, conn = open_pod(create=False)
    try:
        if args.audit_command == "verify":
            problems = audit.verify(conn)
            count, head = audit.head(conn)
        else:
            entries = audit.export(conn)
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()

    if args.audit_command == "verify":
        if not problems:
            print(f"audit log intact: {count} entries" + (f" (head {head})" if count else ""))
            return 0
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"audit log damaged: {len(problems)} {noun} in {count} entries")
        for problem in problems:
            print(f"  - {printable(problem)}")  # problems quote what was stored
        return 1

    if args.json:
        for entry in entries:
            entry["time"] = iso(entry["ts"])
        print(json.dumps({"entries": entries}, indent=2, ensure_ascii=False))
        return 0
    for e in entries:
        detail = json.dumps(e["detail"], ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
        subject = f" {e['subject']}" if e["subject"] else ""
        print(printable(f"{e['id']:>6}  {iso(e['ts'])}  {e['actor']}  {e['action']}{subject}  {detail}"))
    return 0
