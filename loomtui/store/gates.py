"""Gated actions: an agent's risky action waiting for a supervisor's decision.

A gate is created pending (by the hook, `loomtui gate`, or the demo) and leaves
that state exactly once: approved or rejected by a supervisor, expired (its time
ran out), or cancelled (its waiting hook was killed). Every such change is one
conditional UPDATE of a pending row inside a BEGIN IMMEDIATE transaction, with
its audit entry in the same transaction: of two racing supervisors exactly one
matches the row, and the other is told who won and when.

An approval records the content hash the supervisor saw (`approved_hash`); an
approval whose hash is not the gate's content hash is void (`approval_matches`).

Stdlib only: this is on the hook path.
"""

# No `from __future__ import annotations`: this module is on the hook path, where
# NamedTuple would compile() each string annotation (see loomtui/policy/shell/__init__.py).
import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from loomtui.store import audit
from loomtui.store.agents import one_line
from loomtui.store.db import transaction

RISKS = ("critical", "high", "budget", "medium", "low")  # inbox order: most urgent first
RISK_RANK = {risk: rank for rank, risk in enumerate(RISKS)}
STATUSES = ("pending", "approved", "rejected", "expired", "cancelled")

# Shared by the sync path and the console's async one, like agents.FLEET_SQL.
GATE_SELECT = """
    SELECT g.id, g.agent_id, a.name, g.created_at, g.expires_at, g.status, g.tool, g.action,
           g.summary, g.rule, g.risk, g.content_hash, g.approved_hash, g.claimed_by,
           g.claimed_at, g.decided_by, g.decided_at, g.reason, g.waiter_pid,
           g.decided_name, g.waiter_started, g.waiter_host, g.agent_pid, g.agent_started,
           g.governance, g.claimed_name, g.claimed_presence
    FROM gates g LEFT JOIN agents a ON a.id = g.agent_id
"""
_RISK_ORDER_SQL = "CASE g.risk " + " ".join(
    f"WHEN '{risk}' THEN {rank}" for risk, rank in RISK_RANK.items()
) + f" ELSE {len(RISKS)} END"
PENDING_SQL = (
    GATE_SELECT
    + f" WHERE g.status = 'pending' AND g.expires_at > ? ORDER BY {_RISK_ORDER_SQL}, g.created_at, g.id"
)
ALL_SQL = GATE_SELECT + " ORDER BY g.created_at DESC, g.id DESC"

# How long past its deadline a waiter keeps retrying a locked store before giving up.
LOCK_GRACE = 5.0


class Gate(NamedTuple):
    id: int
    agent_id: int | None
    agent_name: str | None
    created_at: float
    expires_at: float
    status: str
    tool: str
    action: dict
    summary: str
    rule: str
    risk: str
    content_hash: str
    approved_hash: str | None
    claimed_by: str | None
    claimed_at: float | None
    decided_by: str | None
    decided_at: float | None
    reason: str | None
    waiter_pid: int | None
    # Issue 10: decided_by is the decider's OS account (or database role); decided_name
    # the display name ($LOOM_USER) recorded beside it, granting nothing.
    decided_name: str | None = None
    waiter_started: int | None = None   # the waiting hook's start time (/proc/PID/stat field 22)
    waiter_host: str | None = None      # where that process runs
    agent_pid: int | None = None        # the agent process the hook runs under
    agent_started: int | None = None
    governance: str = ""                # e.g. "no sandbox · bypassPermissions", shown in the inbox
    # Issue 13: the claimer's display name, and the console (presence id) the claim was
    # made from: the claim lapses with that console (loomtui/store/presence.py).
    claimed_name: str | None = None
    claimed_presence: str | None = None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "status": self.status,
            "agent": self.agent_name,
            "agent_id": self.agent_id,
            "tool": self.tool,
            "summary": self.summary,
            "risk": self.risk,
            "rule": self.rule,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "decided_by": self.decided_by,
            "decided_name": self.decided_name,
            "decided_at": iso(self.decided_at),
            "reason": self.reason,
            "claimed_by": self.claimed_by,
            "claimed_at": iso(self.claimed_at),
            "claimed_name": self.claimed_name,
            "content_hash": self.content_hash,
            "approved_hash": self.approved_hash,
            "governance": self.governance,
            "action": self.action,
        }


# After Gate: GateConflict's annotation names it, and this module has no
# `from __future__ import annotations` (see loomtui/store/agents.py).
class GateError(Exception):
    """A gate operation that cannot be done; the message is for people."""


class GateNotFound(GateError):
    pass


class GateConflict(GateError):
    """The gate is no longer pending: decided by someone else, expired or cancelled."""

    def __init__(self, message: str, gate: Gate | None = None) -> None:
        super().__init__(message)
        self.gate = gate


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string, to the second: 2025-06-01T09:14:03Z."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(ts: float | None, now: float) -> str:
    """A time for a message: 09:14:03Z today (UTC), else with the date."""
    if ts is None:
        return "an unknown time"
    at = datetime.fromtimestamp(ts, UTC)
    same_day = at.date() == datetime.fromtimestamp(now, UTC).date()
    return at.strftime("%H:%M:%SZ" if same_day else "%Y-%m-%d %H:%M:%SZ")


def canonical_json(value: Any) -> str:
    return audit.canonical_json(value)


def content_hash(tool: str, action: dict) -> str:
    """sha256 hex of the canonical JSON of {"tool": tool, "action": action}."""
    import hashlib  # here, not at the top: an ordinary (ungated) hook call never needs it

    return hashlib.sha256(
        canonical_json({"tool": tool, "action": action}).encode("ascii")
    ).hexdigest()


def gate_from_row(row: Iterable[Any]) -> Gate:
    values = list(row)
    try:
        action = json.loads(values[7])
    except (TypeError, ValueError):
        action = {"raw": values[7]}
    values[7] = action if isinstance(action, dict) else {"value": action}
    return Gate(*values)


def _subject(gate_id: int) -> str:
    return f"gate:{gate_id}"


def _read(conn: sqlite3.Connection, gate_id: int) -> Gate | None:
    row = conn.execute(GATE_SELECT + " WHERE g.id = ?", (gate_id,)).fetchone()
    return gate_from_row(row) if row else None


# -- writes ---------------------------------------------------------------------


def create_gate(
    conn: sqlite3.Connection,
    *,
    agent_id: int | None,
    tool: str,
    action: dict,
    summary: str,
    rule: str,
    risk: str,
    now: float,
    expires_at: float,
    waiter_pid: int | None = None,
    actor: str = "hook",
    waiter_started: int | None = None,
    waiter_host: str | None = None,
    agent_pid: int | None = None,
    agent_started: int | None = None,
    governance: str = "",
) -> Gate:
    """Store a pending gate and its "gate.created" audit entry in one transaction.

    `waiter_*` name the process that waits for the decision (pid, start time, host):
    when it is gone the gate is cancelled (`cancel_orphans`). `agent_*` name the
    agent process above it: nobody decides a gate from inside that agent."""
    if risk not in RISK_RANK:
        raise ValueError(f"unknown risk {risk!r}; expected one of {', '.join(RISKS)}")
    if not isinstance(action, dict):
        raise TypeError("a gate's action must be a dict (the tool's exact input)")
    text = canonical_json(action)
    digest = content_hash(tool, action)
    summary = one_line(summary)
    with transaction(conn):
        gate_id = conn.execute(
            """INSERT INTO gates (agent_id, created_at, expires_at, status, tool, action, summary,
                                  rule, risk, content_hash, waiter_pid, waiter_started, waiter_host,
                                  agent_pid, agent_started, governance)
               VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            (agent_id, now, expires_at, tool, text, summary, rule, risk, digest, waiter_pid,
             waiter_started, waiter_host, agent_pid, agent_started, governance),
        ).fetchone()[0]
        audit.append(conn, actor=actor, action="gate.created", subject=_subject(gate_id), now=now,
                     detail={"agent_id": agent_id, "tool": tool, "summary": summary, "rule": rule,
                             "risk": risk, "content_hash": digest, "expires_at": expires_at})
        gate = _read(conn, gate_id)
    assert gate is not None
    return gate


def decide(
    conn: sqlite3.Connection,
    gate_id: int,
    *,
    approve: bool,
    actor: str,
    reason: str,
    now: float,
    seen_hash: str | None = None,
    display: str | None = None,
    simulated: bool = False,
) -> Gate:
    """Approve or reject a pending, unexpired gate: one conditional UPDATE, so of
    racing supervisors exactly one wins. The others get GateConflict saying who
    decided and when; a gate found pending past its expiry is marked expired.
    Rejecting needs a reason (ValueError). An approval records `seen_hash` (the
    content hash the supervisor was shown), by default the gate's own.

    `actor` is the decider's account (decided_by, the audit actor); `display` the
    name shown beside it (decided_name, the audit detail's "as"); `simulated`
    marks the demo's scripted teammate in the audit detail. Who may decide is
    checked before, by loomtui.supervisors.authorize; the store only records."""
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ValueError("a reason is required to reject a gate (the agent is told it)")
    status = "approved" if approve else "rejected"
    with transaction(conn):
        _cancel_if_orphaned(conn, gate_id, now)
        changed = conn.execute(
            """UPDATE gates SET status = ?, decided_by = ?, decided_name = ?, decided_at = ?, reason = ?,
                   approved_hash = CASE WHEN ? THEN coalesce(?, content_hash) ELSE NULL END
               WHERE id = ? AND status = 'pending' AND expires_at > ?""",
            (status, actor, display, now, reason or None, approve, seen_hash, gate_id, now),
        ).rowcount
        if changed:
            gate = _read(conn, gate_id)
            assert gate is not None
            detail = {"reason": reason, "approved_hash": gate.approved_hash,
                      "content_hash": gate.content_hash}
            audit.as_decider(detail, display, simulated)
            audit.append(conn, actor=actor, action=f"gate.{status}", subject=_subject(gate_id),
                         now=now, detail=detail)
        else:
            gate = _read(conn, gate_id)
            if gate is not None and gate.status == "pending":  # pending, but its time is up
                _expire(conn, gate, actor="system", now=now)
                gate = _read(conn, gate_id)
    if not changed:
        raise _refusal(gate_id, gate, now, "decided")
    assert gate is not None
    if not approve and gate.agent_id is not None:
        _flag_grants(conn, gate, now)
    return gate


def _flag_grants(conn: sqlite3.Connection, gate: Gate, now: float) -> None:
    """A rejection after a grant flags the agent's active grants of the gate's rule (issue
    14): a person should look at them again. After the decision's transaction (flagging
    audits in its own); a failure here never undoes the rejection."""
    from loomtui.store.grants import flag_grants

    try:
        flag_grants(conn, agent_id=gate.agent_id, rule=gate.rule, now=now,
                    reason=f"gate {gate.id} ({gate.summary}) rejected by {who_decided(gate)}: {gate.reason}")
    except sqlite3.Error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def claim(conn: sqlite3.Connection, gate_id: int, *, actor: str, now: float,
          display: str | None = None, presence: str | None = None) -> Gate:
    """Mark a pending gate as being looked at by `actor` (a hint for the other
    supervisors, who are asked to confirm before deciding it; another may take it
    over, which is audited too, as is the previous claimer). `actor` is the account,
    `display` the name recorded beside it, `presence` the console it is claimed from:
    the claim lapses when that console goes away (loomtui/store/presence.py)."""
    with transaction(conn):
        gate = _read(conn, gate_id)
        changed = conn.execute(
            "UPDATE gates SET claimed_by = ?, claimed_at = ?, claimed_name = ?, claimed_presence = ? "
            "WHERE id = ? AND status = 'pending' AND expires_at > ?",
            (actor, now, display, presence, gate_id, now),
        ).rowcount
        if changed:
            assert gate is not None
            audit.append(conn, actor=actor, action="gate.claimed", subject=_subject(gate_id),
                         now=now, detail={"previous": gate.claimed_by,
                                          **({"as": display} if display is not None else {})})
            claimed = _read(conn, gate_id)
            assert claimed is not None
            return claimed
        if gate is not None and gate.status == "pending":
            _expire(conn, gate, actor="system", now=now)
            gate = _read(conn, gate_id)
    raise _refusal(gate_id, gate, now, "claimed")


def unclaim(conn: sqlite3.Connection, gate_id: int, *, actor: str, now: float,
            display: str | None = None) -> Gate:
    """Give a claim up (`c` again on one's own claim), audited as `gate.unclaimed`
    with the claimer it cleared. A gate that is no longer pending raises GateConflict;
    one nobody claims is returned unchanged (nothing to give up, nothing audited)."""
    with transaction(conn):
        gate = _read(conn, gate_id)
        changed = conn.execute(
            "UPDATE gates SET claimed_by = NULL, claimed_at = NULL, claimed_name = NULL, "
            "claimed_presence = NULL WHERE id = ? AND status = 'pending' AND expires_at > ? "
            "AND claimed_by IS NOT NULL",
            (gate_id, now),
        ).rowcount
        if changed:
            assert gate is not None
            audit.append(conn, actor=actor, action="gate.unclaimed", subject=_subject(gate_id),
                         now=now, detail={"previous": gate.claimed_by, "previous_as": gate.claimed_name,
                                          **({"as": display} if display is not None else {})})
        gate = _read(conn, gate_id)
        if gate is not None and gate.status == "pending" and gate.expires_at > now:
            return gate
        if gate is not None and gate.status == "pending":
            _expire(conn, gate, actor="system", now=now)
            gate = _read(conn, gate_id)
    raise _refusal(gate_id, gate, now, "unclaimed")


def _cancel_if_orphaned(conn: sqlite3.Connection, gate_id: int, now: float) -> None:
    """Inside a decision's transaction: a pending gate whose waiting hook is gone is
    cancelled (audited) instead, so the decision below finds nothing to decide and
    the decider is told the agent stopped waiting."""
    gate = _read(conn, gate_id)
    if gate is not None and gate.status == "pending" and waiter_gone(gate):
        conn.execute("UPDATE gates SET status = 'cancelled', decided_by = 'system', decided_at = ?, "
                     "reason = ? WHERE id = ? AND status = 'pending'", (now, STOPPED_WAITING, gate_id))
        audit.append(conn, actor="system", action="gate.cancelled", subject=_subject(gate_id),
                     now=now, detail={"reason": STOPPED_WAITING})


def cancel(conn: sqlite3.Connection, gate_id: int, *, actor: str, reason: str, now: float) -> bool:
    """pending -> cancelled (a waiting hook that is killed calls this); returns
    whether the gate changed."""
    with transaction(conn):
        changed = conn.execute(
            "UPDATE gates SET status = 'cancelled', decided_by = ?, decided_at = ?, reason = ? "
            "WHERE id = ? AND status = 'pending'",
            (actor, now, reason, gate_id),
        ).rowcount
        if changed:
            audit.append(conn, actor=actor, action="gate.cancelled", subject=_subject(gate_id),
                         now=now, detail={"reason": reason})
    return bool(changed)


def expire_due(conn: sqlite3.Connection, *, now: float, actor: str = "system") -> list[int]:
    """Mark every pending gate whose time is up as expired (audited); returns their
    ids. Takes the write lock only when there is something to expire."""
    due_sql = "SELECT id FROM gates WHERE status = 'pending' AND expires_at <= ? ORDER BY id"
    if conn.execute(due_sql + " LIMIT 1", (now,)).fetchone() is None:
        return []
    expired = []
    with transaction(conn):
        for (gate_id,) in conn.execute(due_sql, (now,)).fetchall():
            gate = _read(conn, gate_id)
            if gate is not None and _expire(conn, gate, actor=actor, now=now):
                expired.append(gate_id)
    return expired


def _expire(conn: sqlite3.Connection, gate: Gate, *, actor: str, now: float) -> bool:
    """pending -> expired inside the caller's transaction, audited."""
    changed = conn.execute(
        "UPDATE gates SET status = 'expired', decided_by = ?, decided_at = ?, reason = ? "
        "WHERE id = ? AND status = 'pending'",
        (actor, now, "no decision before the gate expired", gate.id),
    ).rowcount
    if changed:
        audit.append(conn, actor=actor, action="gate.expired", subject=_subject(gate.id), now=now,
                     detail={"expires_at": gate.expires_at})
    return bool(changed)


def who_decided(gate: Gate) -> str:
    """The decider for a message: the account with the display name beside it,
    "root (ana)"; a simulated one as "sam (simulated)"."""
    by, name = gate.decided_by or "a supervisor", gate.decided_name
    if not name or name == by:
        return by
    return name if name.startswith(by + " (") else f"{by} ({name})"


def _refusal(gate_id: int, gate: Gate | None, now: float, verb: str) -> GateError:
    """Why gate `gate_id` could not be decided or claimed, as an exception."""
    if gate is None:
        return GateNotFound(f"there is no gate {gate_id}")
    when = _when(gate.decided_at, now)
    if gate.status in ("approved", "rejected"):
        because = f" ({gate.reason})" if gate.reason else ""
        message = f"gate {gate_id} was already {gate.status} by {who_decided(gate)} at {when}{because}"
    elif gate.status == "expired":
        message = (f"gate {gate_id} expired at {_when(gate.expires_at, now)} and can no longer "
                   f"be {verb}")
    elif gate.status == "cancelled":
        because = f": {gate.reason}" if gate.reason else ""
        message = (f"gate {gate_id} was cancelled at {when} by {gate.decided_by}{because}; "
                   f"it can no longer be {verb}")
    else:  # pending: the write lost to nothing we can name
        message = f"gate {gate_id} could not be {verb}; try again"
    return GateConflict(message, gate)


# -- reads ----------------------------------------------------------------------


def get_gate(conn: sqlite3.Connection, gate_id: int) -> Gate:
    gate = _read(conn, gate_id)
    if gate is None:
        raise GateNotFound(f"there is no gate {gate_id}")
    return gate


def list_gates(
    conn: sqlite3.Connection,
    *,
    include_all: bool = False,
    now: float | None = None,
    limit: int | None = None,
) -> list[Gate]:
    """Pending gates (not yet past their expiry at `now`), ranked by risk (critical,
    high, budget, medium, low) then age, oldest first; with `include_all` every
    gate, newest first."""
    if include_all:
        sql, args = ALL_SQL, ()
    else:
        sql, args = PENDING_SQL, (time.time() if now is None else now,)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [gate_from_row(r) for r in conn.execute(sql, args)]


def approval_matches(gate: Gate) -> bool:
    """True only for an approval of exactly this content: approved, the hash the
    supervisor saw equals the gate's content hash, and the stored action still
    hashes to it. Anything else is not an approval."""
    return (
        gate.status == "approved"
        and gate.approved_hash is not None
        and gate.approved_hash == gate.content_hash
        and content_hash(gate.tool, gate.action) == gate.content_hash
    )


# -- waiting --------------------------------------------------------------------


def wait_for_decision(
    conn: sqlite3.Connection,
    gate_id: int,
    *,
    deadline: float,
    interval: float = 0.05,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Gate:
    """Wait until the gate leaves `pending` or `clock()` reaches `deadline`, then
    return its final row. Polls `PRAGMA data_version` every `interval` seconds and
    re-reads the row only when another connection has committed. At the deadline
    it expires the gate itself (a conditional update, so a decision that raced in
    wins and is returned). A transiently locked store is retried (until LOCK_GRACE
    seconds past the deadline); any other sqlite error propagates."""
    seen_version: int | None = None
    while True:
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != seen_version:
                gate = get_gate(conn, gate_id)
                seen_version = version
                if gate.status != "pending":
                    return gate
            now = clock()
            if now >= deadline:
                with transaction(conn):
                    gate = get_gate(conn, gate_id)
                    if gate.status == "pending":
                        _expire(conn, gate, actor="system", now=now)
                return get_gate(conn, gate_id)
        except sqlite3.OperationalError as exc:
            if not _is_lock_error(exc) or clock() > deadline + LOCK_GRACE:
                raise
            seen_version = None  # re-read once the store answers again
        remaining = deadline - clock()
        sleep(min(interval, remaining) if remaining > 0 else interval)


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


# -- waiters that are gone -------------------------------------------------------

ORPHAN_SQL = """SELECT id, waiter_pid, waiter_started FROM gates
                WHERE status = 'pending' AND waiter_host = ? AND waiter_pid IS NOT NULL"""


def waiter_gone(gate: Gate) -> bool:
    """True when the gate's waiting hook ran on this host and is no longer running
    (killed, even with SIGKILL): nobody will act on a decision, so none may be made."""
    from loomtui.store import procs

    if gate.waiter_pid is None or gate.waiter_host != procs.host():
        return False  # another host's waiter (or a gate nobody waits on): not ours to judge
    return not procs.alive(procs.Proc(gate.waiter_pid, gate.waiter_started))


def cancel_orphans(conn: sqlite3.Connection, *, now: float, actor: str = "system") -> list[int]:
    """Cancel every pending gate whose waiting hook on this host is gone; returns
    their ids. One indexed read of the pending gates, then /proc per gate; the
    write lock is taken only when there is something to cancel."""
    from loomtui.store import procs

    here = procs.host()
    dead = [gate_id for gate_id, pid, started in conn.execute(ORPHAN_SQL, (here,)).fetchall()
            if not procs.alive(procs.Proc(pid, started))]
    cancelled = []
    for gate_id in dead:
        if cancel(conn, gate_id, actor=actor, now=now,
                  reason=STOPPED_WAITING):
            cancelled.append(gate_id)
    return cancelled


STOPPED_WAITING = "the agent stopped waiting: its hook process is gone"
