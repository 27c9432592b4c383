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
at the very end of the log, or a whole tail rewritten with fresh hashes. For those
every append also records the new head outside the pod (the witness,
loomtui/store/witness.py), and `inspect` (`loomtui audit verify`) checks the log
against it and against any head copied elsewhere, checks the triggers, and that
every decided gate and budget limit has the audit entry of the change that made it.

Stdlib only: the hook path records gates here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from loomtui.store import witness
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


def as_decider(detail: dict, display: str | None, simulated: bool = False) -> dict:
    """`detail` with who decided, beside the account in `actor`: the display name
    ("as"), and "simulated" for the demo's scripted teammate."""
    if display is not None:
        detail["as"] = display
    if simulated:
        detail["simulated"] = True
    return detail


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
    witness.note(conn, int(entry_id), digest)  # recorded outside the pod once this commits
    return int(entry_id)


class _Row:
    """One audit entry as stored (ENTRY_COLUMNS, in order). A plain class: creating
    a NamedTuple class compiles source (~80 µs), and this module loads on every hook call."""

    __slots__ = ("id", "ts", "actor", "action", "subject", "detail", "prev_hash", "hash")

    def __init__(self, id: int, ts: float, actor: str, action: str, subject: str, detail: str,
                 prev_hash: str, hash: str) -> None:
        self.id = id
        self.ts = ts
        self.actor = actor
        self.action = action
        self.subject = subject
        self.detail = detail
        self.prev_hash = prev_hash
        self.hash = hash

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
    for prev, row in zip(rows, rows[1:], strict=False):
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
    misplaced = [i for i, j in zip(chain, ids, strict=False) if i != j]
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


def last(conn: sqlite3.Connection) -> tuple[int, str]:
    """(id, hash) of the last entry; (0, GENESIS) when the log is empty. One
    indexed read: what the witness records and what `verify` prints as the head."""
    row = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    return (int(row[0]), row[1]) if row else (0, GENESIS)


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(number of entries, hash of the last entry); (0, GENESIS) when empty."""
    count = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    row = conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    return int(count), (row[0] if row else GENESIS)


# -- beyond the chain: the head, the triggers and what the log must hold ----------------

APPEND_ONLY_TRIGGERS = ("audit_no_update", "audit_no_delete")
DECIDED = ("approved", "rejected", "cancelled", "expired")


class Report:
    """What `audit verify` found: `problems` is [] when the log is intact. A plain
    class, as `_Row` is."""

    __slots__ = ("problems", "entries", "head_id", "head_hash")

    def __init__(self, problems: list[str], entries: int, head_id: int, head_hash: str) -> None:
        self.problems = problems
        self.entries = entries
        self.head_id = head_id
        self.head_hash = head_hash

    def __repr__(self) -> str:
        return (f"Report(problems={self.problems!r}, entries={self.entries!r}, "
                f"head_id={self.head_id!r}, head_hash={self.head_hash!r})")

    @property
    def intact(self) -> bool:
        return not self.problems


def inspect(conn: sqlite3.Connection, heads: Sequence[tuple[int, str, str]] = ()) -> Report:
    """Everything `audit verify` checks, in one read snapshot: the chain (`verify`),
    the store's triggers (`check_triggers`), each known head — (id, hash, where it
    was recorded: a witness file, a copy given by hand) — against the log
    (`check_head`), and that every decided gate and every budget limit has the
    audit entry of the change that made it (`check_gates`, `check_budgets`).

    Read the heads (witness files) before calling this: the log only grows, so a
    head read earlier is never ahead of the snapshot taken here."""
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN")  # one snapshot for every check below
    try:
        problems = check_triggers(conn)
        problems += verify(conn)
        for entry_id, entry_hash, source in heads:
            problems += check_head(conn, entry_id, entry_hash, source)
        problems += check_gates(conn)
        problems += check_budgets(conn)
        from loomtui.store.grants import check_grants  # issue 14: grants made or changed by hand

        problems += check_grants(conn)
        count, _ = head(conn)
        head_id, head_hash = last(conn)
    finally:
        if began:
            conn.execute("ROLLBACK")
    return Report(problems, count, head_id, head_hash)


def check_head(conn: sqlite3.Connection, entry_id: int, entry_hash: str, source: str) -> list[str]:
    """A head recorded earlier (by the witness, or copied by hand) against the log:
    the entry must still be there with the same hash. Finds a cut tail (the log
    ends before it) and a history rewritten and re-chained up to it. Two indexed reads."""
    last_id, _ = last(conn)
    if entry_id > last_id:
        lost = _span(last_id + 1, entry_id).replace(" is", " was").replace(" are", " were")
        ends = f"ends at entry {last_id}" if last_id else "is empty"
        return [f"the log was cut: {source} records entry {entry_id} (hash {entry_hash[:16]}…), "
                f"but the log {ends}: {lost} deleted"]
    row = conn.execute("SELECT hash FROM audit WHERE id = ?", (entry_id,)).fetchone()
    if row is None:
        return [f"entry {entry_id}, recorded by {source}, is missing (deleted)"]
    if row[0] != entry_hash:
        return [f"the log was rewritten: entry {entry_id} has hash {str(row[0])[:16]}…, but "
                f"{source} recorded {entry_hash[:16]}…; the history up to it was edited "
                "and re-chained"]
    return []


def check_triggers(conn: sqlite3.Connection) -> list[str]:
    """The store's triggers against the schema's: the append-only triggers of the
    audit log dropped or altered, any trigger missing, changed or added (a trigger
    added by hand could approve gates or swallow audit entries). Reads sqlite_master."""
    import re

    from loomtui.store.db import split_statements
    from loomtui.store.schema import MIGRATIONS

    expected: dict[str, str] = {}
    for script in MIGRATIONS:
        for statement in split_statements(script):
            create = re.search(r"^\s*CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)",
                               statement, re.IGNORECASE | re.MULTILINE)
            if create:
                expected[create.group(1)] = _normal_sql(statement[create.start():])
                continue
            drop = re.match(r"\s*DROP\s+TRIGGER\s+(?:IF\s+EXISTS\s+)?(\w+)", statement, re.IGNORECASE)
            if drop:
                expected.pop(drop.group(1), None)
    found = {name: (table, _normal_sql(sql or "")) for name, table, sql in conn.execute(
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")}
    problems = []
    names = sorted(expected, key=lambda n: (n not in APPEND_ONLY_TRIGGERS, n))
    for name in names:
        if name not in found:
            if name in APPEND_ONLY_TRIGGERS:
                problems.append(f"the audit log's append-only trigger {name} is missing: it was "
                                "dropped, and entries can be edited or deleted unnoticed by the store")
            else:
                problems.append(f"trigger {name} is missing (dropped)")
        elif found[name][1] != expected[name]:
            what = "the audit log's append-only trigger" if name in APPEND_ONLY_TRIGGERS else "trigger"
            problems.append(f"{what} {name} was replaced by another definition")
    for name in sorted(set(found) - set(expected)):
        problems.append(f"unexpected trigger {name} on table {found[name][0]}: not part of "
                        "LoomTUI's schema, added by hand")
    return problems


def _normal_sql(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").strip()


def _detail(text: Any) -> dict:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


# `+action`: the lookup goes by audit_subject (a few entries per subject), never by
# audit_action (every entry of that action), whatever the planner's statistics say.
_LAST_OF = "SELECT id, detail FROM audit WHERE subject = ? AND +action = ? ORDER BY id DESC LIMIT 1"


def check_gates(conn: sqlite3.Connection) -> list[str]:
    """Every decided gate (approved, rejected, cancelled, expired) has its audit
    entry `gate.<status>` (subject `gate:N`), an approval with the same
    approved_hash; a pending gate has no decision entry (a decision undone by hand).
    One pass over the gates, one indexed read (audit_subject) each."""
    problems = []
    decided_actions = tuple(f"gate.{s}" for s in DECIDED)
    any_decision = ("SELECT id, action FROM audit WHERE subject = ? AND +action IN "
                    f"({', '.join('?' * len(decided_actions))}) ORDER BY id DESC LIMIT 1")
    gates = conn.execute("SELECT id, status, approved_hash FROM gates ORDER BY id")
    for gate_id, status, approved_hash in gates:
        subject = f"gate:{gate_id}"
        if status == "pending":
            row = conn.execute(any_decision, (subject, *decided_actions)).fetchone()
            if row is not None:
                problems.append(f"gate {gate_id} is pending, but audit entry {row[0]} says it was "
                                f"{row[1].removeprefix('gate.')}: its decision was undone outside LoomTUI")
            continue
        row = conn.execute(_LAST_OF, (subject, f"gate.{status}")).fetchone()
        if row is None:
            problems.append(f"gate {gate_id} is {status}, but the audit log has no gate.{status} "
                            "entry for it: it was decided outside LoomTUI (by hand in the store)")
            continue
        if status == "approved":
            recorded = _detail(row[1]).get("approved_hash")
            if approved_hash is None or recorded != approved_hash:
                problems.append(
                    f"gate {gate_id} is approved for content {str(approved_hash)[:16]}…, but its "
                    f"audit entry {row[0]} approved {str(recorded)[:16]}…: the approval was "
                    "changed outside LoomTUI")
    return problems


def check_budgets(conn: sqlite3.Connection) -> list[str]:
    """Every limit in `budgets` is the one its last audited change (`budget.set`,
    subject `scope:ref:period`) set; and no audited limit was deleted by hand.
    One indexed read per limit, and one pass over the budget.set entries (audit_action)."""
    problems = []
    present = set()
    for scope, ref, period, max_tokens, max_usd in conn.execute(
            "SELECT scope, scope_ref, period, max_tokens, max_usd FROM budgets ORDER BY id"):
        subject = f"{scope}:{ref}:{period}"
        present.add(subject)
        row = conn.execute(_LAST_OF, (subject, "budget.set")).fetchone()
        now = _limits(max_tokens, max_usd)
        if row is None:
            problems.append(f"budget limit {subject} ({now}) has no budget.set audit entry: it was "
                            "set outside LoomTUI (by hand in the store)")
            continue
        detail = _detail(row[1])
        if detail.get("max_tokens") != max_tokens or detail.get("max_usd") != max_usd:
            problems.append(f"budget limit {subject} is {now}, but its last audited change "
                            f"(entry {row[0]}) set {_limits(detail.get('max_tokens'), detail.get('max_usd'))}: "
                            "it was changed outside LoomTUI")
    for subject, entry_id in conn.execute(
            "SELECT subject, max(id) FROM audit WHERE action = 'budget.set' GROUP BY subject"):
        if subject in present:
            continue
        row = conn.execute("SELECT detail FROM audit WHERE id = ?", (entry_id,)).fetchone()
        detail = _detail(row[0] if row else None)
        if detail.get("max_tokens") is not None or detail.get("max_usd") is not None:
            problems.append(f"budget limit {subject} ({_limits(detail.get('max_tokens'), detail.get('max_usd'))}, "
                            f"audit entry {entry_id}) is gone from the store: it was deleted outside LoomTUI")
    return problems


def _limits(tokens: Any, usd: Any) -> str:
    parts = ([f"{tokens} tokens"] if tokens is not None else []) + \
            ([f"${usd}"] if usd is not None else [])
    return " and ".join(parts) if parts else "no limit"


def decision_recorded(conn: sqlite3.Connection, gate: Any) -> bool:
    """For the hook, before it lets an approved gate's call through: the log holds a
    `gate.approved` entry for this gate whose approved_hash is the gate's, whose own
    hash recomputes, and which links to the entry before it. A gate approved by hand
    in the store (`update gates set status='approved', approved_hash=content_hash`)
    has none. One indexed read (audit_subject) and one by id."""
    approved_hash = getattr(gate, "approved_hash", None)
    if not approved_hash:
        return False
    row = conn.execute(f"SELECT {ENTRY_COLUMNS} FROM audit WHERE subject = ? AND +action = "
                       "'gate.approved' ORDER BY id DESC LIMIT 1", (f"gate:{gate.id}",)).fetchone()
    if row is None:
        return False
    entry = _Row(*row)
    try:
        if entry.computed() != entry.hash:
            return False
    except (TypeError, ValueError, UnicodeError):
        return False
    detail = _detail(entry.detail)
    if detail.get("approved_hash") != approved_hash:
        return False
    content_hash = getattr(gate, "content_hash", None)
    if "content_hash" in detail and content_hash is not None and detail["content_hash"] != content_hash:
        return False
    before = conn.execute("SELECT hash FROM audit WHERE id = ?", (entry.id - 1,)).fetchone()
    if before is None:
        return entry.id == 1 and entry.prev_hash == GENESIS
    return entry.prev_hash == before[0]


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
