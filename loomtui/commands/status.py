"""`loomtui status [--json]`: the pod at a glance."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time

from loomtui.cli import CommandError
from loomtui.commands.common import open_pod, read_config
from loomtui.store.agents import STATUS_SYMBOLS, STATUSES, fetch_agents
from loomtui.store.db import db_path, describe_error
from loomtui.store.leases import holder_of


def collect(now: float | None = None) -> dict:
    pod, conn = open_pod(create=False)
    try:
        config = read_config(pod)
        now = time.time() if now is None else now
        agents = fetch_agents(conn)
        counts = dict.fromkeys(STATUSES, 0)
        for agent in agents:
            counts[agent.effective_status(now, config.console.stall_after)] += 1
        pending = conn.execute("SELECT count(*) FROM gates WHERE status = 'pending'").fetchone()[0]
        files, bad_lines, bad_files = conn.execute(
            "SELECT count(*), coalesce(sum(bad_lines), 0), count(*) FILTER (WHERE bad_lines > 0) "
            "FROM ingest_offsets").fetchone()
        holder = holder_of(pod, "ingest", now)
    except sqlite3.DatabaseError as exc:  # damage past the header shows only on reading
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    path = db_path(pod)
    size = sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    return {
        "pod": str(pod),
        "store": str(path),
        "store_bytes": size,
        "agents": len(agents),
        "by_status": counts,
        "pending_approvals": pending,
        "ingest": {
            "transcripts": files,
            "bad_lines": bad_lines,
            "files_with_bad_lines": bad_files,
            "holder": holder,
        },
    }


def run(args: argparse.Namespace) -> int:
    summary = collect()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    if not _can_print(STATUS_SYMBOLS.values()):
        sys.stdout.reconfigure(errors="replace")  # a non-UTF-8 terminal gets "?" for symbols
    print(f"pod      {summary['pod']}")
    print(f"store    {summary['store']} ({_size(summary['store_bytes'])})")
    line = "  ".join(f"{STATUS_SYMBOLS[s]} {n} {s}" for s, n in summary["by_status"].items() if n)
    print(f"agents   {summary['agents']}" + (f"   {line}" if line else ""))
    print(f"approvals pending: {summary['pending_approvals']}")
    ingest = summary["ingest"]
    who = f"ingested by {ingest['holder']}" if ingest["holder"] else "no ingester running"
    from loomtui.text import printable  # the lease file is writable by whoever can write the pod

    print(printable(f"ingest   {ingest['transcripts']} transcript(s), {who}"))
    if ingest["bad_lines"]:
        print(f"         {ingest['bad_lines']} bad line(s) skipped in "
              f"{ingest['files_with_bad_lines']} file(s) (malformed JSON, truncated or not UTF-8)")
    return 0


def _can_print(texts) -> bool:
    try:
        "".join(texts).encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
