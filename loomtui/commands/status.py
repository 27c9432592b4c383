"""`loomtui status [--json]`: the pod at a glance."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from loomtui.commands.common import open_pod, read_config
from loomtui.commands.errors import CommandError
from loomtui.hooks import served
from loomtui.store.agents import STATUS_SYMBOLS, STATUSES, fetch_agents
from loomtui.store.db import db_path, describe_error, pod_is_shared
from loomtui.store.leases import holder_of
from loomtui.store.retention import last_run, plan, store_bytes

if TYPE_CHECKING:
    from loomtui.config import RetentionConfig


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
        service_holder = holder_of(pod, "serve", now)
        kept = _retention(conn, config.retention, now)
        from loomtui.notify import failures

        failed, last_failure = failures(conn, now - 86_400)
    except sqlite3.DatabaseError as exc:  # damage past the header shows only on reading
        raise CommandError(describe_error(db_path(pod), exc)) from None
    finally:
        conn.close()
    path = db_path(pod)
    size = store_bytes(path)
    return {
        "pod": str(pod),
        "store": str(path),
        "store_bytes": size["total"],
        "store_db_bytes": size["db"],
        "store_wal_bytes": size["wal"],
        "retention": kept,
        "agents": len(agents),
        "by_status": counts,
        "pending_approvals": pending,
        "ingest": {
            "transcripts": files,
            "bad_lines": bad_lines,
            "files_with_bad_lines": bad_files,
            "holder": holder,
        },
        "service": {
            "holder": service_holder,
            "answering": served.answering(served.socket_path(pod), timeout=0.5),
            "socket": str(served.socket_path(pod)),
        },
        "access": access(pod),
        # [notify]: what is sent outside the console, and what failed in the last day
        "notify": {
            "outside": bool(config.notify.command or config.notify.urls),
            "failed_last_day": failed,
            "last_failure": last_failure,
        },
    }


def _retention(conn: sqlite3.Connection, config: RetentionConfig, now: float) -> dict:
    """What `store compact` would free now (retention.plan: indexed reads and a sample,
    cheap at any size) and what the last compaction did."""
    found = plan(conn, config, now)
    found["last_run"] = last_run(conn)
    return found


def access(pod: Path) -> dict:
    """Who can read the pod: private, or shared with a group; a warning when other users
    (not the owner, not the group) can list the directory or read the store."""
    import grp
    import shlex
    import stat

    info = pod.stat()
    mode = stat.S_IMODE(info.st_mode)
    try:
        store_mode: int | None = stat.S_IMODE(db_path(pod).stat().st_mode)
    except OSError:
        store_mode = None
    shared = pod_is_shared(pod)
    group = None
    if shared:
        try:
            group = grp.getgrgid(info.st_gid).gr_name
        except KeyError:
            group = str(info.st_gid)
    exposed = bool(mode & (stat.S_IROTH | stat.S_IXOTH)) or bool((store_mode or 0) & stat.S_IROTH)
    warning = None
    if exposed:
        warning = (f"the pod is readable by other users (directory {mode:04o}, store "
                   f"{'?' if store_mode is None else f'{store_mode:04o}'}): anyone on this machine "
                   f"can read every gated command; fix it with `chmod -R o-rwx {shlex.quote(str(pod))}`")
    return {"shared": shared, "group": group, "mode": f"{mode:04o}",
            "store_mode": None if store_mode is None else f"{store_mode:04o}",
            "readable_by_others": exposed, "warning": warning}


def run(args: argparse.Namespace) -> int:
    summary = collect()
    if summary["access"]["warning"]:
        print(f"loomtui: warning: {summary['access']['warning']}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    if not _can_print(STATUS_SYMBOLS.values()):
        sys.stdout.reconfigure(errors="replace")  # a non-UTF-8 terminal gets "?" for symbols
    print(f"pod      {summary['pod']}")
    print(f"store    {summary['store']} ({_size(summary['store_bytes'])}: database "
          f"{_size(summary['store_db_bytes'])} + WAL {_size(summary['store_wal_bytes'])})")
    print(_retention_line(summary["retention"]))
    line = "  ".join(f"{STATUS_SYMBOLS[s]} {n} {s}" for s, n in summary["by_status"].items() if n)
    print(f"agents   {summary['agents']}" + (f"   {line}" if line else ""))
    print(f"approvals pending: {summary['pending_approvals']}")
    pod_access = summary["access"]
    who_reads = (f"shared with group {pod_access['group']}" if pod_access["shared"]
                 else "readable by other users" if pod_access["readable_by_others"]
                 else "private to its owner" if int(pod_access["mode"], 8) & 0o077 == 0
                 else "readable by its group")
    print(f"access   {who_reads} (directory {pod_access['mode']}, store {pod_access['store_mode']})")
    ingest = summary["ingest"]
    who = f"ingested by {ingest['holder']}" if ingest["holder"] else "no ingester running"
    from loomtui.text import printable  # the lease file is writable by whoever can write the pod

    print(printable(f"ingest   {ingest['transcripts']} transcript(s), {who}"))
    if ingest["bad_lines"]:
        print(f"         {ingest['bad_lines']} bad line(s) skipped in "
              f"{ingest['files_with_bad_lines']} file(s) (malformed JSON, truncated or not UTF-8)")
    service = summary["service"]
    if service["answering"]:
        print(printable(f"service  answering hooks ({service['holder'] or 'lease lapsed'})"))
    else:
        print("service  not running: hooks take the direct path (`loomtui serve`, or open the console)")
    notify = summary["notify"]
    if notify["failed_last_day"]:
        print(printable(f"notify   {notify['failed_last_day']} notification(s) failed in the last day; "
                        f"last: {notify['last_failure']}"))
    elif notify["outside"]:
        print("notify   command/urls set; no failures in the last day")
    return 0


def _retention_line(kept: dict) -> str:
    if kept["errors"]:
        return "         retention is off until config.toml's [retention] is fixed"
    events, usage = kept["events"], kept["usage"]
    if not (events["rows"] or usage["rows"] or kept["free_pages"]):
        return "         retention would free nothing now"
    parts = []
    if events["rows"]:
        parts.append(f"~{events['rows']:,} event payload(s) older than {events['older_than_days']} days")
    if usage["rows"]:
        parts.append(f"{'>' if usage['at_least'] else ''}{usage['rows']:,} usage row(s) older than "
                     f"{usage['older_than_days']} days")
    if kept["free_pages"]:
        parts.append(f"{_size(kept['free_bytes'])} of free pages")
    hint = "" if kept["auto_vacuum"] == "incremental" else ", once switched by `store compact --full`"
    return (f"         retention would free about {_size(kept['bytes'])} ({', '.join(parts)}; "
            f"`loomtui store compact`{hint})")


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
