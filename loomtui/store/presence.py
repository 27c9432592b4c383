"""Presence: which consoles are open on the pod, who supervises at each, and what they look at.

Every console announces itself with a heartbeat (`announce`, every HEARTBEAT seconds and
whenever it moves to another screen or subject): one row per console in `presence`, keyed
by an id the console draws when it starts. A row whose heartbeat is older than STALE_AFTER
(three heartbeats) is a console that went away (closed, killed, its machine asleep); a
console that exits removes its own row (`leave`).

A claim on a gate ("I'm on it", loomtui/store/gates.py) names the console it was made from;
it lapses with that console: a claim whose console is not live reads as unclaimed
(`live_claim`), and `sweep` (any console, about once a heartbeat) clears it, audited.

Stdlib only, no textual: the console and the tests call it alike.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, NamedTuple

from loomtui.store import audit
from loomtui.store.db import transaction

if TYPE_CHECKING:
    from loomtui.store.gates import Gate

HEARTBEAT = 5.0  # seconds between a console's announcements
STALE_AFTER = 3 * HEARTBEAT  # a console silent this long is gone, and its claims with it

PRESENCE_SELECT = ("SELECT id, account, display, screen, subject, host, pid, started_at, seen_at "
                   "FROM presence")
LIVE_SQL = PRESENCE_SELECT + " WHERE seen_at >= ? ORDER BY display, started_at, id"
# Pending gates claimed from a console that is no longer live.
LAPSED_SQL = """SELECT id, claimed_by, claimed_name, claimed_presence FROM gates
                WHERE status = 'pending' AND claimed_presence IS NOT NULL
                  AND claimed_presence NOT IN (SELECT id FROM presence WHERE seen_at >= ?)"""


class Presence(NamedTuple):
    """One live console: its id, its supervisor (OS account, display name) and what it
    looks at (`screen`, e.g. "inbox", "agent", "gate"; `subject`, e.g. "auth-1", "12")."""

    id: str
    account: str
    display: str
    screen: str
    subject: str
    host: str
    pid: int | None
    started_at: float
    seen_at: float

    @property
    def looking_at(self) -> str:
        """"inbox", "agent auth-1", "gate 12"."""
        return f"{self.screen} {self.subject}".strip()


class Claim(NamedTuple):
    """A live claim on a gate: who (account and display name), since when, from which console."""

    account: str
    display: str
    since: float
    presence: str | None

    @property
    def who(self) -> str:
        """The claimer for people: the display name (the account when it has none)."""
        return self.display or self.account


def new_id() -> str:
    """A console's presence id: random, never reused."""
    return secrets.token_hex(8)


def cutoff(now: float) -> float:
    """The oldest heartbeat that still counts as live at `now`."""
    return now - STALE_AFTER


# -- writes ---------------------------------------------------------------------


def announce(conn: sqlite3.Connection, presence_id: str, *, account: str, display: str,
             screen: str, subject: str, now: float, host: str = "") -> None:
    """This console is here, supervised by `account` (shown as `display`), looking at
    `screen` `subject`: one upsert, the heartbeat."""
    if not host:
        from loomtui.store import procs

        host = procs.host()
    with transaction(conn):
        conn.execute(
            """INSERT INTO presence (id, account, display, screen, subject, host, pid, started_at, seen_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET account = excluded.account, display = excluded.display,
                   screen = excluded.screen, subject = excluded.subject, seen_at = excluded.seen_at""",
            (presence_id, account, display, screen, subject, host, os.getpid(), now, now))


def leave(conn: sqlite3.Connection, presence_id: str, *, now: float) -> list[int]:
    """This console goes away: its row is removed and its claims lapse at once
    (cleared, audited). The gates whose claim was released."""
    with transaction(conn):
        conn.execute("DELETE FROM presence WHERE id = ?", (presence_id,))
        rows = conn.execute(
            "SELECT id, claimed_by, claimed_name, claimed_presence FROM gates "
            "WHERE status = 'pending' AND claimed_presence = ?", (presence_id,)).fetchall()
        return _release(conn, rows, now=now, why="its console closed")


def sweep(conn: sqlite3.Connection, *, now: float) -> list[int]:
    """Forget consoles that went away (no heartbeat for STALE_AFTER seconds) and clear
    the claims made from them, audited as lapsed. Reads first: the write lock is taken
    only when there is something to clear. The gates whose claim was released."""
    edge = cutoff(now)
    stale = conn.execute("SELECT 1 FROM presence WHERE seen_at < ? LIMIT 1", (edge,)).fetchone()
    if stale is None and conn.execute(LAPSED_SQL + " LIMIT 1", (edge,)).fetchone() is None:
        return []
    with transaction(conn):
        conn.execute("DELETE FROM presence WHERE seen_at < ?", (edge,))
        return _release(conn, conn.execute(LAPSED_SQL, (edge,)).fetchall(), now=now,
                        why="its console went away")


def _release(conn: sqlite3.Connection, rows: Iterable[tuple], *, now: float, why: str) -> list[int]:
    """Inside the caller's transaction: clear these gates' claims (if still the same
    claim), each audited as `gate.unclaimed` by "system"."""
    released = []
    for gate_id, account, display, presence_id in rows:
        changed = conn.execute(
            "UPDATE gates SET claimed_by = NULL, claimed_at = NULL, claimed_name = NULL, "
            "claimed_presence = NULL WHERE id = ? AND status = 'pending' AND claimed_presence = ?",
            (gate_id, presence_id)).rowcount
        if changed:
            audit.append(conn, actor="system", action="gate.unclaimed", subject=f"gate:{gate_id}",
                         now=now, detail={"previous": account, "previous_as": display,
                                          "lapsed": why})
            released.append(gate_id)
    return released


# -- reads ----------------------------------------------------------------------


def live(conn: sqlite3.Connection, *, now: float) -> list[Presence]:
    """The consoles live at `now`, by display name."""
    return [Presence(*row) for row in conn.execute(LIVE_SQL, (cutoff(now),))]


def live_claim(gate: Gate, live_ids: Collection[str]) -> Claim | None:
    """The gate's claim if it still holds: None when unclaimed, or when it was made from
    a console that is not among `live_ids` (it lapsed). A claim from before consoles had
    presence ids (no console named) holds as it is."""
    if not gate.claimed_by:
        return None
    presence_id = gate.claimed_presence
    if presence_id is not None and presence_id not in live_ids:
        return None
    return Claim(gate.claimed_by, gate.claimed_name or gate.claimed_by,
                 gate.claimed_at or 0.0, presence_id)


def others(present: Iterable[Presence], own_id: str) -> list[Presence]:
    """The live consoles but this one."""
    return [p for p in present if p.id != own_id]


def held_by(claim: Claim, presence_id: str, account: str, display: str) -> bool:
    """Is `claim` this supervisor's own: made from this console, or by the same account
    under the same display name (the same person at another console)?"""
    return claim.presence == presence_id or (claim.account == account and claim.display == display)


def ago(seconds: float) -> str:
    """How long ago, for a sentence: "just now", "3 min ago", "2 h ago"."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    return f"{int(seconds // 3600)} h ago"
