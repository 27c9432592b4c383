"""Retention: what the pod store keeps of its history, and giving the space back.

Two things grow with history and lose their use with age (config.toml [retention]):

- an event's payload (the hook's JSON: tool input and response, 0.69 KB on average):
  after `event_payload_days` it becomes REDUCED_PAYLOAD ('{}', the column's default, which
  every reader already handles); the event keeps its time, kind, tool and summary;
- raw `usage` rows (one per model response): deleted after `usage_days`. Usage reports
  read the rollups that triggers on `usage` keep beside them (no delete trigger), so the
  totals do not change.

Nothing else is ever touched: gates, decisions, budgets, memory and its history, the
audit log, agents, ingest offsets and worktrees stay whole (tests/test_retention.py).

Costs stay flat. Events are walked in id order from a high-water mark kept in `store_meta`
(`retention.events_through`: every event up to it is dealt with), so a run reads only what
is new since the last one; usage rows are found through `usage_ts`. Work goes in batches
of `batch` rows, each its own short write transaction, with a pause after each so that a
hook waiting on the busy timeout gets the lock (SQLite's lock is not fair). A run killed
at any point leaves a consistent store: a batch commits whole, with the mark, or not at all.

Then the space goes back: `PRAGMA incremental_vacuum` in steps (on a store whose
auto_vacuum is INCREMENTAL: every store created since schema version 6, or switched once by
`full_vacuum`, `loomtui store compact --full`), and a WAL checkpoint: PASSIVE first (never
waits, never blocks anyone), then TRUNCATE with a short busy timeout so the -wal file goes
back to zero bytes unless a reader holds an old snapshot; `checkpoint` says which mode got
through.

`run()` is what a resident service calls every few minutes: when nothing has aged out it
costs a few indexed reads and a PASSIVE checkpoint, and writes nothing (a write would wake
every console's store watcher).

Standard library only.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from loomtui.store.db import StoreError, connect, db_path, transaction

DAY = 86400.0
REDUCED_PAYLOAD = "{}"
EVENTS_MARK = "retention.events_through"
LAST_RUN = "retention.last_run"
BATCH = 2000  # rows per write transaction, at most (see BATCH_SECONDS)
# A batch that takes longer than this halves the next one; one under a third of it doubles
# it again, up to `batch`. Measured on the 200k bench pod: 2000 events take 36 ms (p50), but
# 2000 usage rows 131 ms (four indexes, two of them on random keys: a page each per row).
BATCH_SECONDS = 0.04
MIN_BATCH = 16
PAUSE = 0.5  # after each batch, sleep this fraction of its time (at least MIN_PAUSE)
MIN_PAUSE = 0.002
VACUUM_PAGES = 256  # pages per incremental vacuum step (1 MiB at 4 KiB pages; 1024 took 93 ms)
SAMPLE = 64  # rows sampled to estimate bytes per row
COUNT_CAP = 100_000  # plan() counts usage rows up to this many (25 ms), then says "at least"
TRUNCATE_WAIT_MS = 100  # how long a TRUNCATE checkpoint may hold writers back
WAL_TRUNCATE_BYTES = 64 * 1024 * 1024  # run() truncates a WAL this big even with nothing to do

# What retention changes: events' payload column and usage rows. Everything else is kept.
TOUCHED = ("events", "usage")
NEVER_DROPPED = ("gates", "budgets", "budget_state", "memory", "memory_history", "audit", "agents",
                 "ingest_offsets", "worktrees", "worktree_files")

AUTO_VACUUM = {0: "none", 1: "full", 2: "incremental"}


class Retention(Protocol):
    """What retention reads of the config: loomtui.config.RetentionConfig."""

    @property
    def event_payload_days(self) -> int: ...

    @property
    def usage_days(self) -> int: ...

    @property
    def errors(self) -> tuple[str, ...]: ...


class RetentionOff(StoreError):
    """The [retention] section has errors: nothing is dropped until it is fixed."""


class NotEnoughSpace(StoreError):
    """A full VACUUM would not fit on the disk."""


# ---------------------------------------------------------------------------
# What retention would free
# ---------------------------------------------------------------------------


def plan(conn: sqlite3.Connection, config: Retention, now: float) -> dict[str, Any]:
    """What a run would reduce and delete now, and what the file holds free; cheap at any
    size: a bisection on event ids, a count through `usage_ts` (capped at COUNT_CAP) and
    byte figures from a sample of SAMPLE rows (estimates, marked so)."""
    page_size = _pragma(conn, "page_size")
    free_pages = _pragma(conn, "freelist_count")
    mark = _mark(conn)
    event_cutoff = now - config.event_payload_days * DAY
    usage_cutoff = now - config.usage_days * DAY
    boundary = _events_boundary(conn, mark, event_cutoff)
    event_rows, event_bytes = _estimate_events(conn, mark, boundary)
    usage_rows = conn.execute("SELECT count(*) FROM (SELECT 1 FROM usage WHERE ts < ? LIMIT ?)",
                              (usage_cutoff, COUNT_CAP + 1)).fetchone()[0]
    usage_bytes = round(usage_rows * _usage_row_bytes(conn, usage_cutoff))
    return {
        "events": {"rows": event_rows, "bytes": event_bytes, "older_than_days": config.event_payload_days,
                   "before": event_cutoff, "reduced_through_id": mark, "estimated": True},
        "usage": {"rows": min(usage_rows, COUNT_CAP), "at_least": usage_rows > COUNT_CAP,
                  "bytes": usage_bytes, "older_than_days": config.usage_days, "before": usage_cutoff,
                  "estimated": True},
        "free_pages": free_pages,
        "free_bytes": free_pages * page_size,
        "page_size": page_size,
        "auto_vacuum": AUTO_VACUUM.get(_pragma(conn, "auto_vacuum"), "unknown"),
        "bytes": event_bytes + usage_bytes + free_pages * page_size,
        "errors": list(config.errors),
    }


def _events_boundary(conn: sqlite3.Connection, mark: int, cutoff: float) -> int:
    """The highest event id older than `cutoff`, by bisection on ids (times rise with ids;
    where a few do not, this is an estimate, and `apply` checks every row's own time)."""
    top = conn.execute("SELECT max(id) FROM events").fetchone()[0]
    if top is None or top <= mark:
        return mark
    lo, hi = mark, top
    while lo < hi:
        mid = (lo + hi + 1) // 2
        row = conn.execute("SELECT id, ts FROM events WHERE id >= ? ORDER BY id LIMIT 1", (mid,)).fetchone()
        if row is not None and row[1] < cutoff:
            lo = min(row[0], hi)
        else:
            hi = mid - 1
    return lo


def _estimate_events(conn: sqlite3.Connection, mark: int, boundary: int) -> tuple[int, int]:
    """(rows, payload bytes) that reducing events mark+1..boundary would remove, from
    SAMPLE evenly spaced rows (ids are dense: events are never deleted)."""
    span = boundary - mark
    if span <= 0:
        return 0, 0
    step = max(1, span // SAMPLE)
    ids = list(range(mark + 1, boundary + 1, step))[:SAMPLE]
    sizes = [r[0] for r in conn.execute(
        f"SELECT length(CAST(payload AS BLOB)) FROM events WHERE id IN ({', '.join('?' * len(ids))})", ids)]
    if not sizes:
        return 0, 0
    full = [s - len(REDUCED_PAYLOAD) for s in sizes if s > len(REDUCED_PAYLOAD)]
    rows = round(span * len(full) / len(sizes))
    return rows, round(rows * (sum(full) / len(full))) if full else 0


def _usage_row_bytes(conn: sqlite3.Connection, cutoff: float) -> float:
    """Estimated bytes a usage row older than `cutoff` takes, its index entries included:
    the lengths of its values (a sample of the oldest rows) plus SQLite's per-cell cost."""
    columns = [r[1] for r in conn.execute("PRAGMA table_info(usage)")]
    indexes = [[c[2] for c in conn.execute(f"PRAGMA index_info({_quote(r[1])})")]
               for r in conn.execute("PRAGMA index_list(usage)")]

    def cost(names: list[str]) -> str:
        return " + ".join(f"coalesce(length(CAST({_quote(n)} AS BLOB)), 0) + 1" for n in names if n)

    parts = [f"({cost(columns)} + 8)"] + [f"({cost(index)} + 12)" for index in indexes]
    row = conn.execute(
        f"SELECT avg({' + '.join(parts)}) FROM (SELECT * FROM usage WHERE ts < ? ORDER BY ts LIMIT ?)",
        (cutoff, SAMPLE)).fetchone()
    return float(row[0] or 0.0)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------
# Doing it
# ---------------------------------------------------------------------------


@dataclass
class Report:
    """What one run did. Byte figures: payload bytes removed from events (exact), usage
    bytes (estimated from the rows' lengths), pages given back to the file system."""

    events_reduced: int = 0
    event_payload_bytes: int = 0
    events_through: int = 0
    usage_deleted: int = 0
    usage_bytes: int = 0
    batches: int = 0
    pages_vacuumed: int = 0
    page_size: int = 0
    free_pages_left: int = 0
    auto_vacuum: str = ""
    checkpoint: str | None = None  # 'truncate', 'passive', or 'busy' (readers held frames back)
    complete: bool = True  # False: stopped by max_seconds, the rest is for the next run
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.events_reduced or self.usage_deleted or self.pages_vacuumed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def apply(conn: sqlite3.Connection, config: Retention, now: float, *, batch: int = BATCH,
          max_seconds: float | None = None, pause: float = PAUSE,
          report: Report | None = None, clock: Callable[[], float] = time.monotonic) -> Report:
    """Reduce old events' payloads and delete old usage rows, at most `batch` rows per
    short transaction (fewer while a batch takes over BATCH_SECONDS), until nothing more
    has aged out or `max_seconds` have passed.
    RetentionOff (nothing done) when the config's [retention] has errors."""
    if config.errors:
        raise RetentionOff("retention is off until config.toml's [retention] is fixed: "
                           + "; ".join(config.errors))
    if batch < 1:
        raise ValueError("batch must be at least 1")
    report = report or Report()
    started = clock()
    deadline = None if max_seconds is None else started + max_seconds
    event_cutoff = now - config.event_payload_days * DAY
    usage_cutoff = now - config.usage_days * DAY
    for step in (_reduce_events, _delete_usage):
        size = batch
        while True:
            if deadline is not None and clock() >= deadline:
                report.complete = False
                break
            began = clock()
            more = step(conn, event_cutoff if step is _reduce_events else usage_cutoff, size, now, report)
            if not more:
                break
            took = clock() - began
            if took > BATCH_SECONDS:
                size = max(min(MIN_BATCH, batch), size // 2)
            elif took < BATCH_SECONDS / 3:
                size = min(batch, size * 2)
            time.sleep(max(MIN_PAUSE, took * pause))  # let a waiting writer in
    report.events_through = _mark(conn)
    report.seconds += clock() - started
    return report


def _reduce_events(conn: sqlite3.Connection, cutoff: float, batch: int, now: float, report: Report) -> bool:
    """One batch: the next events after the mark, up to the first one not yet old enough.
    True when it did something and there may be more."""
    first = conn.execute("SELECT ts FROM events WHERE id > ? ORDER BY id LIMIT 1", (_mark(conn),)).fetchone()
    if first is None or first[0] >= cutoff:
        return False  # the common case, and no write lock taken for it
    with transaction(conn):
        mark = _mark(conn)
        rows = conn.execute("SELECT id, ts FROM events WHERE id > ? ORDER BY id LIMIT ?",
                            (mark, batch)).fetchall()
        young = next((i for i, (_id, ts) in enumerate(rows) if ts >= cutoff), len(rows))
        if young == 0:
            return False
        last = rows[young - 1][0]
        count, size = _rewrite_reduced(conn, mark, last)
        _set_meta(conn, EVENTS_MARK, str(last), now)
    report.batches += 1
    report.events_reduced += count
    report.event_payload_bytes += size - count * len(REDUCED_PAYLOAD)
    return young == len(rows)


def _rewrite_reduced(conn: sqlite3.Connection, mark: int, last: int) -> tuple[int, int]:
    """Reduce the payloads of events mark+1..last: (rows reduced, bytes they held).

    Deleted and inserted again (same ids, every other column as it was) rather than
    UPDATEd: SQLite does not rebalance a page whose rows shrink in place, so an UPDATE
    leaves the same pages, mostly empty, and frees nothing (measured: 1.6 MB of payload
    reduced, 8 KB freed). A DELETE merges the emptied pages and frees them; the small rows
    go back into a few full ones. Nothing references events by id, and no trigger is on it;
    should a later schema put one there, this falls back to the UPDATE (which would not
    fire a delete trigger for rows that are kept)."""
    columns = [r[1] for r in conn.execute("PRAGMA table_info(events)")]
    where = "WHERE id > ? AND id <= ? AND payload != ?"
    params = (mark, last, REDUCED_PAYLOAD)
    size = conn.execute(f"SELECT coalesce(sum(length(CAST(payload AS BLOB))), 0) FROM events {where}",
                        params).fetchone()[0]
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'").fetchone():
        count = conn.execute(f"UPDATE events SET payload = ? {where}", (REDUCED_PAYLOAD, *params)).rowcount
        return count, size
    kept = ", ".join("?" if c == "payload" else _quote(c) for c in columns)
    rows = conn.execute(f"SELECT {kept} FROM events {where}", (REDUCED_PAYLOAD, *params)).fetchall()
    if not rows:
        return 0, 0
    conn.execute(f"DELETE FROM events {where}", params)
    conn.executemany(f"INSERT INTO events ({', '.join(map(_quote, columns))}) "
                     f"VALUES ({', '.join('?' * len(columns))})", rows)
    return len(rows), size


def _delete_usage(conn: sqlite3.Connection, cutoff: float, batch: int, now: float, report: Report) -> bool:
    """One batch of the oldest usage rows older than `cutoff`; True when there may be more."""
    if conn.execute("SELECT 1 FROM usage WHERE ts < ? LIMIT 1", (cutoff,)).fetchone() is None:
        return False  # the common case, and no write lock taken for it
    per_row = _usage_row_bytes(conn, cutoff)
    with transaction(conn):
        deleted = conn.execute(
            "DELETE FROM usage WHERE id IN (SELECT id FROM usage WHERE ts < ? ORDER BY ts LIMIT ?)",
            (cutoff, batch)).rowcount
        if deleted and cutoff > usage_deleted_before(conn):
            # The ingester writes no usage older than this again: the keys that would tell
            # a second reading of a deleted row from a new one are gone with it.
            _set_meta(conn, USAGE_DELETED_BEFORE, repr(cutoff), now)
    report.batches += 1
    report.usage_deleted += deleted
    report.usage_bytes += round(deleted * per_row)
    return deleted == batch


def incremental_vacuum(conn: sqlite3.Connection, *, max_seconds: float | None = None,
                       pages: int = VACUUM_PAGES, pause: float = PAUSE, report: Report | None = None,
                       clock: Callable[[], float] = time.monotonic) -> Report:
    """Give free pages back to the file system, `pages` per write transaction. Does
    nothing (and says so in `auto_vacuum`) on a store whose auto_vacuum is not
    INCREMENTAL: its free pages are reused by new rows, but the file keeps its size."""
    report = report or Report()
    report.page_size = _pragma(conn, "page_size")
    report.auto_vacuum = AUTO_VACUUM.get(_pragma(conn, "auto_vacuum"), "unknown")
    free = _pragma(conn, "freelist_count")
    deadline = None if max_seconds is None else clock() + max_seconds
    while free > 0 and report.auto_vacuum == "incremental":
        if deadline is not None and clock() >= deadline:
            report.complete = False
            break
        began = clock()
        # executescript steps the pragma to its end; execute() would free a single page.
        conn.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
        left = _pragma(conn, "freelist_count")
        report.pages_vacuumed += max(0, free - left)
        if left >= free:
            break  # someone else's transaction holds them; next run
        free = left
        if free:
            time.sleep(max(MIN_PAUSE, (clock() - began) * pause))
    report.free_pages_left = free
    return report


def checkpoint(conn: sqlite3.Connection, *, truncate: bool = True) -> str:
    """Copy the WAL into the database: PASSIVE (waits for nobody), then, if every frame
    got through and `truncate`, TRUNCATE with a busy timeout of TRUNCATE_WAIT_MS so
    that the -wal file is emptied without holding writers back for long. Returns the
    mode that completed: 'truncate', 'passive', or 'busy' (a reader still uses frames)."""
    busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if busy or (log >= 0 and done < log):
        return "busy"
    if not truncate:
        return "passive"
    timeout = _pragma(conn, "busy_timeout")
    conn.execute(f"PRAGMA busy_timeout = {TRUNCATE_WAIT_MS}")
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    except sqlite3.OperationalError:  # locked past the short timeout
        busy = 1
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    return "passive" if busy else "truncate"


def run(target: Path | sqlite3.Connection, config: Retention, now: float | None = None, *,
        batch: int = BATCH, max_seconds: float | None = 30.0) -> Report:
    """One retention pass, for a service to call every few minutes: reduce, delete,
    vacuum, checkpoint. `target` is a pod directory or an open store connection.
    Cheap when nothing has aged out (indexed reads and a PASSIVE checkpoint, no write).
    At most about `max_seconds`; what is left waits for the next call."""
    now = time.time() if now is None else now
    conn = target if isinstance(target, sqlite3.Connection) else connect(db_path(target), create=False)
    try:
        started = time.monotonic()
        report = apply(conn, config, now, batch=batch, max_seconds=max_seconds)
        left = None if max_seconds is None else max(0.0, max_seconds - (time.monotonic() - started))
        incremental_vacuum(conn, max_seconds=left, report=report)
        report.seconds = time.monotonic() - started
        if report.changed:  # before the checkpoint, which then takes it along
            record_run(conn, report, now)
        wal = _wal_bytes(conn)
        report.checkpoint = checkpoint(conn, truncate=report.changed or wal >= WAL_TRUNCATE_BYTES)
        return report
    finally:
        if conn is not target:
            conn.close()


def record_run(conn: sqlite3.Connection, report: Report, now: float) -> None:
    """Keep what the last run that changed something did (`loomtui status` shows it)."""
    summary = {"at": now, "events_reduced": report.events_reduced, "usage_deleted": report.usage_deleted,
               "pages_vacuumed": report.pages_vacuumed, "seconds": round(report.seconds, 3)}
    with transaction(conn):
        _set_meta(conn, LAST_RUN, json.dumps(summary), now)


def last_run(conn: sqlite3.Connection) -> dict[str, Any] | None:
    row = conn.execute("SELECT value FROM store_meta WHERE name = ?", (LAST_RUN,)).fetchone()
    try:
        return json.loads(row[0]) if row else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# The full VACUUM (once, to switch an existing store to incremental auto_vacuum)
# ---------------------------------------------------------------------------


def store_bytes(path: Path) -> dict[str, int]:
    """The store's size on disk: the database file and its WAL."""
    sizes = {}
    for key, file in (("db", path), ("wal", path.with_name(path.name + "-wal"))):
        try:
            sizes[key] = file.stat().st_size
        except OSError:
            sizes[key] = 0
    sizes["total"] = sizes["db"] + sizes["wal"]
    return sizes


def vacuum_space(path: Path) -> dict[str, Any]:
    """What a full VACUUM needs: SQLite writes a temporary copy of the database (in the
    temporary directory) and then the whole database again through the WAL (beside the
    store); both about the database's size. Returns the need, what is free, and whether
    it fits."""
    size = store_bytes(path)["total"]
    temp = Path(os.environ.get("SQLITE_TMPDIR") or tempfile.gettempdir())
    places: dict[int, dict[str, Any]] = {}
    for where in (path.parent, temp):
        try:
            device = os.stat(where).st_dev
            free = shutil.disk_usage(where).free
        except OSError:
            continue
        place = places.setdefault(device, {"path": str(where), "free": free, "need": 0})
        place["need"] += size
    return {"size": size, "places": list(places.values()),
            "fits": all(p["free"] >= p["need"] for p in places.values())}


def require_vacuum_space(path: Path) -> dict[str, Any]:
    """vacuum_space(path), or NotEnoughSpace saying where and how much is missing."""
    space = vacuum_space(path)
    if not space["fits"]:
        short = "; ".join(f"{_mb(p['need'])} needed, {_mb(p['free'])} free on {p['path']}"
                          for p in space["places"] if p["free"] < p["need"])
        raise NotEnoughSpace(
            f"not enough free disk space for a full VACUUM of {path} ({_mb(space['size'])}): {short}. "
            "VACUUM writes a temporary copy of the database and then the database again through "
            "its write-ahead log; free some space (or point SQLITE_TMPDIR at a roomier disk) "
            "and try again. The VACUUM was not started.")
    return space


def full_vacuum(conn: sqlite3.Connection, path: Path, report: Report | None = None) -> Report:
    """VACUUM the whole store once, switching it to incremental auto_vacuum. It rewrites
    the file and holds the write lock throughout (hooks wait, then fail closed after the
    busy timeout): run it when agents are idle. NotEnoughSpace (nothing done) when the
    disk is short. Then checkpoints (TRUNCATE when it can)."""
    report = report or Report()
    require_vacuum_space(path)
    report.page_size = _pragma(conn, "page_size")
    pages = _pragma(conn, "page_count")
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("VACUUM")
    report.pages_vacuumed += max(0, pages - _pragma(conn, "page_count"))
    report.free_pages_left = _pragma(conn, "freelist_count")
    report.auto_vacuum = AUTO_VACUUM.get(_pragma(conn, "auto_vacuum"), "unknown")
    report.checkpoint = checkpoint(conn)
    return report


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


# ---------------------------------------------------------------------------
# store_meta
# ---------------------------------------------------------------------------


def _pragma(conn: sqlite3.Connection, name: str) -> int:
    return int(conn.execute(f"PRAGMA {name}").fetchone()[0])


def _mark(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM store_meta WHERE name = ?", (EVENTS_MARK,)).fetchone()
    try:
        return int(row[0]) if row else 0
    except ValueError:
        return 0  # unreadable: start over (reducing twice is harmless)


USAGE_DELETED_BEFORE = "retention.usage_deleted_before"


def usage_deleted_before(conn: sqlite3.Connection) -> float:
    """Raw usage rows older than this (seconds since the epoch) may have been deleted; 0.0
    when none was."""
    row = conn.execute("SELECT value FROM store_meta WHERE name = ?", (USAGE_DELETED_BEFORE,)).fetchone()
    try:
        return float(row[0]) if row else 0.0
    except ValueError:
        return 0.0


def _set_meta(conn: sqlite3.Connection, name: str, value: str, now: float) -> None:
    conn.execute("INSERT INTO store_meta (name, value, updated_at) VALUES (?, ?, ?) "
                 "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                 (name, value, now))


def _wal_bytes(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA database_list").fetchone()
    if not row or not row[2]:
        return 0
    return store_bytes(Path(row[2]))["wal"]
