"""Named leases in the store: one holder at a time, taken over when it lapses.

The ingester holds `ingest` (one per pod): it renews every `RENEW` seconds and the lease
lasts `TTL`, so when its holder dies another console or `loomtui ingest` takes over
within TTL + RENEW seconds (about 8; the issue asks for 10 at most).
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from loomtui.store.db import transaction

TTL = 6.0
RENEW = 2.0


class Lease(NamedTuple):
    name: str
    holder: str
    acquired_at: float
    expires_at: float


def acquire(conn: sqlite3.Connection, name: str, holder: str, now: float, ttl: float = TTL) -> bool:
    """Take or renew the lease; True when `holder` has it afterwards."""
    with transaction(conn):
        row = conn.execute("SELECT holder, expires_at FROM leases WHERE name = ?", (name,)).fetchone()
        if row is not None and row[0] != holder and row[1] > now:
            return False
        if row is not None and row[0] == holder:
            conn.execute("UPDATE leases SET expires_at = ? WHERE name = ?", (now + ttl, name))
        else:
            conn.execute("INSERT OR REPLACE INTO leases (name, holder, acquired_at, expires_at) "
                         "VALUES (?, ?, ?, ?)", (name, holder, now, now + ttl))
    return True


def release(conn: sqlite3.Connection, name: str, holder: str) -> None:
    """Give the lease up at once (so another can take it without waiting)."""
    with transaction(conn):
        conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


def current(conn: sqlite3.Connection, name: str) -> Lease | None:
    row = conn.execute("SELECT name, holder, acquired_at, expires_at FROM leases WHERE name = ?",
                       (name,)).fetchone()
    return Lease(*row) if row else None
