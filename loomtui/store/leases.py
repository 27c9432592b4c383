"""Named leases: one holder at a time, taken over when it lapses.

The ingester holds `ingest` and the diff watcher `diffs` (one each per pod): the holder
renews every `RENEW` seconds and a lease lasts `TTL`, so when its holder dies another
console or `loomtui ingest` takes over within TTL + RENEW seconds (about 8; the issue asks
for 10 at most).

Leases live in their own small file, `<pod>/leases.db`, not in the pod store: a renewal
every two seconds would otherwise change the store's `data_version` and make every console
re-read the fleet for nothing (measured: idle CPU doubled). The store's `leases` table from
schema version 1 is unused.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from loomtui.store.db import connect, create_pod_file, db_path, transaction

LEASES_DB = "leases.db"

TTL = 6.0
RENEW = 2.0


class Lease(NamedTuple):
    name: str
    holder: str
    acquired_at: float
    expires_at: float


def open_leases(pod: Path) -> sqlite3.Connection:
    """The pod's lease file (created when missing, with the pod's mode)."""
    create_pod_file(pod / LEASES_DB)
    conn = sqlite3.connect(pod / LEASES_DB, isolation_level=None, timeout=5.0)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, "
                 "acquired_at REAL NOT NULL, expires_at REAL NOT NULL)")
    return conn


def holder_of(pod: Path, name: str, now: float) -> str | None:
    """Who holds the lease now (None when nobody does, or there is no lease file)."""
    if not (pod / LEASES_DB).exists():
        return None
    conn = open_leases(pod)
    try:
        lease = current(conn, name)
    finally:
        conn.close()
    return lease.holder if lease is not None and lease.expires_at > now else None


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


class LeasedWorker:
    """A background thread that works only while it holds the lease `LEASE` of its pod:
    it stands by (trying again every RENEW seconds) while another holder lives, and
    gives the lease up when stopped. Subclasses set LEASE and VERB and implement
    `_hold(conn, stop)`, which returns when the lease is lost (renewing it meanwhile)."""

    LEASE = ""
    VERB = "works"  # for the standby state: "standby (<holder> ingests)"

    def __init__(self, pod: Path, *, holder: str, clock: Callable[[], float] = time.time) -> None:
        self.pod = pod
        self.holder = holder
        self.clock = clock
        self.state = "starting"  # holding | standby (...) | error: ...
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run_safely, name=f"loomtui-{self.LEASE}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_safely(self) -> None:
        try:
            self.run(self._stop)
        except Exception as exc:  # noqa: BLE001 - the console keeps running without this worker
            logging.getLogger(type(self).__module__).exception("%s stopped", self.LEASE)
            self.state = f"error: {exc}"

    def renew(self) -> bool:
        """Keep the lease (True), or find it lost (False: `_hold` must return)."""
        return acquire(self._leases, self.LEASE, self.holder, self.clock())

    def run(self, stop: threading.Event) -> None:
        conn = connect(db_path(self.pod))
        self._leases = open_leases(self.pod)
        try:
            while not stop.is_set():
                if not self.renew():
                    lease = current(self._leases, self.LEASE)
                    self.state = f"standby ({lease.holder if lease else '?'} {self.VERB})"
                    stop.wait(RENEW)
                    continue
                self.state = "holding"
                self._hold(conn, stop)
        finally:
            try:
                release(self._leases, self.LEASE, self.holder)
            finally:
                self._leases.close()
                conn.close()

    def _hold(self, conn: sqlite3.Connection, stop: threading.Event) -> None:
        raise NotImplementedError
