"""The pod's hash-chained audit log: every gate created, claimed, decided, expired
or cancelled, and every policy change, with actor and time.

Each entry stores the hash of the one before it (`prev_hash`; the first entry's
is 64 zeros) and its own hash:

    hash = sha256(json.dumps([prev_hash, ts, actor, action, subject, detail],
                             ensure_ascii=True, separators=(",", ":")))

where `ts` is the float epoch seconds as stored and `detail` is the stored detail
text, itself canonical JSON (keys sorted, compact, ASCII). Anyone holding an export
(`loomtui audit export --json`) can recompute the chain with that recipe.

`append` must run inside the caller's write transaction (`transaction()`, BEGIN
IMMEDIATE): the entry commits with the change it records, and because the writer
holds the lock while reading the last hash, the chain cannot fork. Triggers in the
schema make the table append-only; `verify` finds what was done by going around
them (edited, deleted, reordered entries). What a chain alone cannot show: a cut
at the very end of the log, or a whole tail rewritten with fresh hashes. Compare
the head hash `verify` reports with one recorded elsewhere to catch those.

Stdlib only: the hook path records gates here.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, NamedTuple

from loomtui.store.db import transaction

GENESIS = "0" * 64
POLICY_LOADED = "policy.loaded"

ENTRY_COLUMNS = "id, ts, actor, action, subject, detail, prev_hash, hash"


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, ASCII only (so lone
    surrogates and odd code points cannot trip an encoder)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def entry_hash(prev_hash: str, ts: float, actor: str, action: str, subject: str, detail: str) -> str:
    """The hash of one entry; `detail` is the stored (canonical) detail text."""
    import hashlib  # here, not at the top: an ordinary (ungated) hook call never needs it

    material = json.dumps(
        [prev_hash, float(ts), actor, action, subject, detail],
        ensure_ascii=True, separators=(",", ":"),
    )
    return hashlib.sha256(material.encode("ascii")).hexdigest()


def append(
    conn: sqlite3.Connection,
    *,
    actor: str,
    action: str,
    subject: str = "",
    detail: dict | None = None,
    now: float,
) -> int:
    """Append one entry and return its id. Must be called inside an open write
    transaction, so the entry commits (or rolls back) with what it records."""
    if not conn.in_transaction:
        raise RuntimeError("audit.append must run inside the caller's transaction()")
    row = conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev_hash = row[0] if row else GENESIS
    ts = float(now)
    text = canonical_json(detail or {})
    digest = entry_hash(prev_hash, ts, actor, action, subject, text)
    entry_id = conn.execute(
        "INSERT INTO audit (ts, actor, action, subject, detail, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ts, actor, action, subject, text, prev_hash, digest),
    ).lastrowid
    assert entry_id is not None
    return int(entry_id)


class _Row(NamedTuple):
    id: int
    ts: float
    actor: str
    action: str
    subject: str
    detail: str
    prev_hash: str
    hash: str

    def computed(self) -> str:
        return entry_hash(self.prev_hash, self.ts, self.actor, self.action, self.subject, self.detail)


def _rows(conn: sqlite3.Connection) -> list[_Row]:
    return [_Row(*r) for r in conn.execute(f"SELECT {ENTRY_COLUMNS} FROM audit ORDER BY id")]


def verify(conn: sqlite3.Connection) -> list[str]:
    """[] when the log is intact; otherwise one sentence per problem, naming the
    entries: edited (content no longer matches its hash), deleted (a gap in the
    ids or a broken link), reordered (the chain runs in another order than the ids),
    forked (two entries claim the same predecessor)."""
    rows = _rows(conn)
    if not rows:
        return []
    problems: list[str] = []

    # 1. Each entry's content against its own hash.
    for row in rows:
        try:
            same = row.computed() == row.hash
        except (TypeError, ValueError, UnicodeError):  # a type changed under us
            same = False
        if not same:
            problems.append(
                f"entry {row.id} was edited: its content no longer matches its hash"
            )

    # 2. Gaps in the ids: deleted entries.
    gap_before: set[int] = set()
    if rows[0].id != 1:
        gap_before.add(rows[0].id)
        problems.append(
            f"{_span(1, rows[0].id - 1)} missing (deleted from the start of the log)"
        )
    for prev, row in zip(rows, rows[1:]):
        if row.id != prev.id + 1:
            gap_before.add(row.id)
            problems.append(
                f"{_span(prev.id + 1, row.id - 1)} missing (deleted): "
                f"the log jumps from entry {prev.id} to entry {row.id}"
            )

    # 3. Forks and the order the chain itself gives.
    by_hash = {row.hash: row for row in rows}
    by_prev: dict[str, list[_Row]] = {}
    for row in rows:
        by_prev.setdefault(row.prev_hash, []).append(row)
    forked: set[str] = set()
    for prev_hash, followers in by_prev.items():
        if len(followers) > 1 and (prev_hash in by_hash or prev_hash == GENESIS):
            forked.add(prev_hash)
            after = f"entry {by_hash[prev_hash].id}" if prev_hash in by_hash else "the start"
            ids = _and([str(r.id) for r in followers])
            problems.append(f"entries {ids} all follow {after}: the chain forks")

    chain = _chain_order(rows, by_hash, by_prev)
    ids = [row.id for row in rows]
    misplaced = [i for i, j in zip(chain, ids) if i != j]
    if misplaced:
        first = chain.index(misplaced[0])
        last = max(chain.index(i) for i in misplaced)
        window = chain[max(first - 1, 0): last + 2]
        shown = _and([str(i) for i in sorted(misplaced)[:10]])
        more = f" (and {len(misplaced) - 10} more)" if len(misplaced) > 10 else ""
        runs = " → ".join(str(i) for i in window[:14]) + (" → …" if len(window) > 14 else "")
        problems.append(
            f"entries {shown}{more} are out of order (reordered): the chain runs {runs}"
        )
    out_of_order = set(misplaced)

    # 4. Links to the entry before, where nothing above already explains a break.
    for index, row in enumerate(rows):
        prev = rows[index - 1] if index else None
        expected = prev.hash if prev else GENESIS
        if row.prev_hash == expected:
            continue
        if row.id in out_of_order or (prev and prev.id in out_of_order):
            continue
        if row.id in gap_before or row.prev_hash in forked:
            continue
        if prev is None:
            problems.append(
                f"entry {row.id} does not start the chain: earlier entries were deleted "
                "and the rest renumbered, or it was rewritten"
            )
        elif row.prev_hash in by_hash:
            problems.append(
                f"entry {row.id} links to entry {by_hash[row.prev_hash].id} "
                f"instead of entry {prev.id}"
            )
        else:
            problems.append(
                f"entry {row.id} does not link to entry {prev.id}: entry {prev.id} was "
                "rewritten with a new hash, or an entry between them was deleted"
            )
    return problems


def _chain_order(rows: list[_Row], by_hash: dict[str, _Row], by_prev: dict[str, list[_Row]]) -> list[int]:
    """The ids in the order the links give: each segment starts at an entry whose
    predecessor is the genesis or unknown (deleted or rewritten), segments taken in
    id order; whatever no segment reaches (a cycle) follows in id order."""
    visited: set[int] = set()
    order: list[int] = []

    def follow(start: _Row) -> None:
        current: _Row | None = start
        while current is not None and current.id not in visited:
            visited.add(current.id)
            order.append(current.id)
            current = next((r for r in by_prev.get(current.hash, ()) if r.id not in visited), None)

    for row in rows:
        if row.prev_hash == GENESIS or row.prev_hash not in by_hash:
            follow(row)
    for row in rows:
        follow(row)
    return order


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _span(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}–{last} are"


def export(conn: sqlite3.Connection) -> list[dict]:
    """Every entry, oldest first: id, ts, actor, action, subject, detail (parsed;
    the raw text if it no longer parses), prev_hash, hash."""
    entries = []
    for row in _rows(conn):
        try:
            detail: Any = json.loads(row.detail)
        except (TypeError, ValueError):
            detail = row.detail
        entries.append({
            "id": row.id, "ts": row.ts, "actor": row.actor, "action": row.action,
            "subject": row.subject, "detail": detail, "prev_hash": row.prev_hash,
            "hash": row.hash,
        })
    return entries


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(number of entries, hash of the last entry); (0, GENESIS) when empty."""
    count = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    row = conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    return int(count), (row[0] if row else GENESIS)


def last_policy_hash(conn: sqlite3.Connection) -> str | None:
    row = conn.execute(
        "SELECT detail FROM audit WHERE action = ? ORDER BY id DESC LIMIT 1", (POLICY_LOADED,)
    ).fetchone()
    if row is None:
        return None
    try:
        value = json.loads(row[0]).get("policy_hash")
    except (TypeError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def record_policy(conn: sqlite3.Connection, *, policy_hash: str, source: str, actor: str, now: float) -> bool:
    """Append "policy.loaded" if the last recorded policy hash differs; returns
    whether it appended. Runs its own transaction, and takes the write lock only
    when the policy looks changed (the hook calls this on every tool call)."""
    if last_policy_hash(conn) == policy_hash:
        return False
    with transaction(conn):
        if last_policy_hash(conn) == policy_hash:  # another process recorded it meanwhile
            return False
        append(conn, actor=actor, action=POLICY_LOADED, subject=source,
               detail={"policy_hash": policy_hash, "source": source}, now=now)
    return True
