"""`loomtui store rebuild [--json]`: maintenance of the pod store.

`rebuild` recomputes the usage rollups (store/rollups.py) from the raw usage rows, for
the time the raw rows still cover; older buckets, whose raw rows retention deleted, are
kept (`--all` recomputes everything from the raw rows and forgets that history). The triggers keep the rollups right on every write, so this is for repair (a store
edited by hand, a rollup suspected wrong), not routine.
"""

from __future__ import annotations

import argparse
import json
import sqlite3

from loomtui.commands.common import open_pod
from loomtui.commands.errors import CommandError
from loomtui.store import rollups
from loomtui.store.db import db_path, describe_error
from loomtui.store.gates import iso


def run(args: argparse.Namespace) -> int:
    if args.store_command == "rebuild":
        return _rebuild(args)
    raise CommandError(f"unknown store command {args.store_command!r}")  # argparse prevents it


def _rebuild(args: argparse.Namespace) -> int:
    pod, conn = open_pod(create=False)
    try:
        done = rollups.rebuild(conn, everything=args.all)
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    if args.json:
        print(json.dumps({"rebuilt": done.as_json()}, indent=2))
        return 0
    if done.since is None:
        print("no raw usage rows to recompute from: the totals were summed again from the buckets kept")
    else:
        print(f"recomputed the usage rollups from {done.raw_rows:,} raw rows, "
              f"from {iso(done.since)} on")
    print("rollup rows: " + ", ".join(f"{t} {n:,}" for t, n in done.rows.items()))
    print(f"in {done.seconds:.2f} s")
    return 0
