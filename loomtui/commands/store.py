"""`loomtui store ...`: the pod store's upkeep.

`store rebuild [--all] [--json]` recomputes the usage rollups (store/rollups.py) from the
raw usage rows, for the time the raw rows still cover; older buckets, whose raw rows
retention deleted, are kept (`--all` recomputes everything from the raw rows and forgets
that history). The triggers keep the rollups right on every write, so this is for repair
(a store edited by hand, a rollup suspected wrong), not routine.

`store compact [--dry-run] [--full] [--json]` applies config.toml's [retention] (old
events keep only their summary, old raw usage rows go), gives the freed pages back to the
file system and checkpoints the WAL (loomtui/store/retention.py). `--full` also runs one
VACUUM, which switches a store made before schema version 6 to incremental auto_vacuum.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from datetime import UTC, datetime
from typing import Any

from loomtui.commands.common import open_pod, read_config
from loomtui.commands.errors import CommandError
from loomtui.store import retention, rollups
from loomtui.store.db import StoreError, db_path, describe_error


def run(args: argparse.Namespace) -> int:
    return SUBCOMMANDS[args.store_command](args)


def compact(args: argparse.Namespace, now: float | None = None) -> int:
    if args.batch < 1:
        raise CommandError("--batch must be at least 1")
    pod, conn = open_pod(create=False)
    path = db_path(pod)
    try:
        config = read_config(pod)  # warnings go to stderr, never into --json's stdout
        if config.retention.errors:
            raise CommandError("retention is off until config.toml's [retention] is fixed, and nothing "
                               "was changed: " + "; ".join(config.retention.errors))
        result = run_compact(conn, path, config.retention, time.time() if now is None else now,
                             dry_run=args.dry_run, full=args.full, batch=args.batch, warn=_warn)
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(path, exc)) from None
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    finally:
        conn.close()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("\n".join(describe(result)))
    return 0


def run_compact(conn: sqlite3.Connection, path, config: retention.Retention, now: float, *,
                dry_run: bool = False, full: bool = False, batch: int = retention.BATCH,
                warn=None) -> dict[str, Any]:
    """What `store compact` does, as a dict (its --json); bench/history.py calls it too."""
    started = time.monotonic()
    before = retention.store_bytes(path)
    result: dict[str, Any] = {
        "store": str(path), "dry_run": dry_run, "full": full,
        "retention": {"event_payload_days": config.event_payload_days, "usage_days": config.usage_days},
        "bytes_before": before,
    }
    if dry_run:
        result["plan"] = retention.plan(conn, config, now)
        if full:
            result["vacuum_space"] = retention.vacuum_space(path)
        result["seconds"] = time.monotonic() - started
        return result
    if full:  # before anything changes: a refusal leaves the store as it was
        space = retention.require_vacuum_space(path)
    report = retention.apply(conn, config, now, batch=batch, max_seconds=None)
    if full:
        if warn is not None:
            warn(f"a full VACUUM rewrites {path} ({space['size'] / 1e6:,.1f} MB) and needs as much free "
                 "space again, twice; hooks wait for it (and fail closed after 5 s), so run it while "
                 "agents are idle")
        retention.record_run(conn, report, now)  # before the VACUUM, which then takes it along
        retention.full_vacuum(conn, path, report)
    else:
        retention.incremental_vacuum(conn, report=report)
        if report.changed:  # before the checkpoint, which then takes it along
            retention.record_run(conn, report, now)
        report.checkpoint = retention.checkpoint(conn)
    report.seconds = time.monotonic() - started
    after = retention.store_bytes(path)
    result.update(report.to_dict())
    result.update(bytes_after=after, bytes_freed=before["total"] - after["total"],
                  seconds=report.seconds)
    return result


def describe(result: dict[str, Any]) -> list[str]:
    """The human-readable report of `run_compact`'s result."""
    days = result["retention"]
    lines = [f"store    {result['store']}"]
    if result["dry_run"]:
        plan = result["plan"]
        events, usage = plan["events"], plan["usage"]
        lines += [
            f"events   about {events['rows']:,} payload(s) older than {days['event_payload_days']} days "
            f"(before {_day(events['before'])}) would be reduced to their summary, "
            f"about {_size(events['bytes'])}",
            f"usage    {'at least ' if usage['at_least'] else ''}{usage['rows']:,} raw row(s) older than "
            f"{days['usage_days']} days (before {_day(usage['before'])}) would be deleted, "
            f"about {_size(usage['bytes'])}",
            f"free     {plan['free_pages']:,} free page(s) in the file now ({_size(plan['free_bytes'])}); "
            f"auto_vacuum {plan['auto_vacuum']}",
        ]
        if plan["auto_vacuum"] != "incremental" and not result["full"]:
            lines.append("         this store gives no space back to the file system until it is "
                         "switched once with `loomtui store compact --full`")
        if result["full"]:
            space = result["vacuum_space"]
            lines.append(f"full     a VACUUM would rewrite the file ({_size(space['size'])}); "
                         + ("there is room for it" if space["fits"] else "there is NOT enough free space"))
        lines.append(f"size     {_size(result['bytes_before']['total'])} (database "
                     f"{_size(result['bytes_before']['db'])} + WAL {_size(result['bytes_before']['wal'])}); "
                     "nothing was changed (--dry-run)")
        return lines
    lines += [
        f"events   {result['events_reduced']:,} payload(s) older than {days['event_payload_days']} days "
        f"reduced to their summary ({_size(result['event_payload_bytes'])} of JSON)",
        f"usage    {result['usage_deleted']:,} raw row(s) older than {days['usage_days']} days deleted "
        f"(about {_size(result['usage_bytes'])})",
    ]
    if result["full"]:
        lines.append(f"vacuum   full VACUUM: {result['pages_vacuumed']:,} page(s) fewer; auto_vacuum is now "
                     f"{result['auto_vacuum']}")
    elif result["auto_vacuum"] == "incremental":
        lines.append(f"vacuum   {result['pages_vacuumed']:,} free page(s) given back to the file system "
                     f"({_size(result['pages_vacuumed'] * result['page_size'])})")
    else:
        lines.append(f"vacuum   none: auto_vacuum is {result['auto_vacuum']} in this store, so freed pages "
                     "are reused by new rows but the file keeps its size; run "
                     "`loomtui store compact --full` once to switch it")
    checkpoint = {"truncate": "checkpointed, WAL truncated",
                  "passive": "checkpointed (a reader kept the WAL from being truncated)",
                  "busy": "partly checkpointed: a reader still uses the WAL; the next run finishes"}
    before, after = result["bytes_before"], result["bytes_after"]
    lines += [
        f"wal      {checkpoint.get(result['checkpoint'] or '', 'not checkpointed')}",
        f"size     {_size(before['total'])} -> {_size(after['total'])} (database {_size(after['db'])} + "
        f"WAL {_size(after['wal'])}), {_size(max(0, result['bytes_freed']))} freed",
        f"took     {result['seconds']:.2f} s",
    ]
    return lines


def _warn(text: str) -> None:
    print(f"loomtui: warning: {text}", file=sys.stderr)


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def rebuild(args: argparse.Namespace) -> int:
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
    from loomtui.store.gates import iso

    if done.since is None:
        print("no raw usage rows to recompute from: the totals were summed again from the buckets kept")
    else:
        print(f"recomputed the usage rollups from {done.raw_rows:,} raw rows, "
              f"from {iso(done.since)} on")
    print("rollup rows: " + ", ".join(f"{t} {n:,}" for t, n in done.rows.items()))
    print(f"in {done.seconds:.2f} s")
    return 0


SUBCOMMANDS = {"compact": compact, "rebuild": rebuild}
