"""Grants: a supervisor's "approve, and allow calls like this" (issue 14, item 2).

A grant says: calls of one policy rule whose shape is this one (loomtui/policy/shapes.py;
`git push origin *`), narrowed by a pattern the supervisor may edit, are answered allow
for one agent (scope `agent`: that agents row) or for every agent working in one
repository (scope `repo`), until it expires or is revoked. The hook asks
`matching_grant` where the policy would hold a call for a person; a grant that answers
is used (`use_grant`: counted and audited) and named in the answer.

What never gets a grant (`grantable`): a critical call, a budget gate, the pod's own
protection rules (`protect-*`), a command LoomTUI cannot read or one with words known
only at run time. Who may grant or revoke is checked before, by
loomtui.supervisors.authorize (loomtui/actions.py PodActions.grant); the store records.

Every change is audited in its own transaction (`grant.created`, `grant.revoked`,
`grant.used`, `grant.flagged`, subject `grant:N`). The hook honours a grant only when
its `grant.created` entry is there, its hash recomputes, it links to the entry before
it, and it agrees with the row (scope, agent, repository, rule, tool, shape, pattern,
expiry), and when no `grant.revoked` entry follows: a row inserted or edited by hand in
the store answers nothing (as store/audit.py decision_recorded does for gates).

Expired grants keep status 'active' in the row; `Grant.active(now)` is False and
`Grant.state(now)` says 'expired'.

Stdlib only: the hook imports this.
"""

# No `from __future__ import annotations`: on the hook path, NamedTuple would compile()
# each string annotation (see loomtui/policy/shell/__init__.py).
import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from loomtui.store import audit
from loomtui.store.db import transaction

SCOPES = ("agent", "repo")
MAX_DURATION = 30 * 86400.0  # a grant is bounded in time: at most 30 days
PATTERN_MAX = 500

COLUMNS = ("id, scope, agent_id, agent_name, repo, rule, tool, shape, pattern, gate_id, granted_by, "
           "granted_name, reason, created_at, expires_at, status, revoked_by, revoked_at, "
           "revoke_reason, uses, last_used_at, flagged, flagged_at")
# What the `grant.created` entry records and the hook compares with the row.
_RECORDED = ("scope", "agent_id", "repo", "rule", "tool", "shape", "pattern", "expires_at")


class Grant(NamedTuple):
    id: int
    scope: str
    agent_id: int | None
    agent_name: str
    repo: str
    rule: str
    tool: str
    shape: str
    pattern: str
    gate_id: int | None
    granted_by: str
    granted_name: str | None
    reason: str
    created_at: float
    expires_at: float
    status: str
    revoked_by: str | None
    revoked_at: float | None
    revoke_reason: str | None
    uses: int
    last_used_at: float | None
    flagged: str
    flagged_at: float | None

    def active(self, now: float) -> bool:
        """Answers calls now: not revoked and not past its expiry."""
        return self.status == "active" and self.expires_at > now

    def state(self, now: float) -> str:
        """'active', 'revoked' or 'expired' (an active row past its expiry)."""
        return "expired" if self.status == "active" and self.expires_at <= now else self.status

    @property
    def covers(self) -> str:
        """Whom it covers, for people: the agent's name or the repository."""
        if self.scope == "repo":
            return f"repo {self.repo}"
        return self.agent_name or f"agent {self.agent_id}"

    @property
    def granter(self) -> str:
        """The granter as "account (display)", or the account alone."""
        name = self.granted_name
        if not name or name == self.granted_by:
            return self.granted_by
        return name if name.startswith(self.granted_by + " (") else f"{self.granted_by} ({name})"

    def to_json(self, now: float | None = None) -> dict:
        """The grant for `--json`; with `now`, `state` says whether it has expired."""
        return {
            "id": self.id,
            "scope": self.scope,
            "agent_id": self.agent_id,
            "agent": self.agent_name or None,
            "repo": self.repo or None,
            "rule": self.rule,
            "tool": self.tool,
            "shape": self.shape,
            "pattern": self.pattern,
            "gate_id": self.gate_id,
            "granted_by": self.granted_by,
            "granted_name": self.granted_name,
            "reason": self.reason,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "status": self.status,
            "state": self.state(now) if now is not None else self.status,
            "revoked_by": self.revoked_by,
            "revoked_at": _iso(self.revoked_at),
            "revoke_reason": self.revoke_reason,
            "uses": self.uses,
            "last_used_at": _iso(self.last_used_at),
            "flagged": self.flagged,
            "flagged_at": _iso(self.flagged_at),
        }


class GrantRefused(Exception):
    """No grant may be made (or revoked) as asked; the message says why, for people."""


class GrantNotFound(GrantRefused):
    pass


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def until(ts: float, now: float) -> str:
    """An expiry for a message: 14:05Z today (UTC), else with the date."""
    at = datetime.fromtimestamp(ts, UTC)
    same_day = at.date() == datetime.fromtimestamp(now, UTC).date()
    return at.strftime("%H:%MZ" if same_day else "%Y-%m-%d %H:%MZ")


def _subject(grant_id: int) -> str:
    return f"grant:{grant_id}"


def _read(conn: sqlite3.Connection, grant_id: int) -> Grant | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM grants WHERE id = ?", (grant_id,)).fetchone()
    return Grant(*row) if row else None


# -- what may be granted -------------------------------------------------------------


def grantable(gate: Any) -> str | None:
    """None, or why no grant may come from this gate: a critical call, a budget gate,
    the pod's own protection rules, a command LoomTUI cannot read or one with words
    known only at run time, inline code in another language."""
    rule, risk = getattr(gate, "rule", "") or "", getattr(gate, "risk", "") or ""
    if risk == "critical":
        return "its risk is critical: every critical call waits for a person"
    if risk == "budget" or rule.startswith("budget:"):
        return "it is a budget gate: raise the budget instead (`loomtui budget set`)"
    if rule.startswith("protect-"):
        return f"rule {rule} protects the pod itself: those calls always wait for a person"
    if rule == "strict-interpreters":
        return "it runs inline code in another language, which LoomTUI cannot read"
    from loomtui.policy.shapes import why_unmatchable

    return why_unmatchable(getattr(gate, "tool", ""), getattr(gate, "action", None) or {})


def parse_duration(text: str) -> float:
    """"90s", "30m", "2h", "1d" (or a sum: "1h30m") -> seconds. ValueError, saying
    what is expected, for anything else, zero, or more than 30 days."""
    import re

    cleaned = "".join(str(text).split()).lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"{text!r} is not a duration: give a number and a unit, e.g. 90s, 30m, 2h or 1d")
    seconds = sum(float(n) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"a grant's duration must be above zero, not {text!r}")
    if seconds > MAX_DURATION:
        raise ValueError(f"a grant lasts at most 30 days, not {text!r}; grant again when it ends")
    return seconds


def check_grant(conn: sqlite3.Connection, *, gate: Any, scope: str, pattern: str | None,
                duration: float) -> dict:
    """Everything `create_grant` checks before writing, without writing: the gate as
    stored (never what the caller passed), that it is grantable, the scope, pattern and
    duration. The grant's fields (a dict), or GrantRefused / ValueError. The console and
    `approve --grant` call this before approving, so a grant that cannot be made leaves
    the gate undecided."""
    from loomtui.policy.shapes import matches, shape
    from loomtui.store.gates import GateNotFound, get_gate

    try:
        stored = get_gate(conn, int(gate.id))
    except GateNotFound as exc:
        raise GrantRefused(str(exc)) from None
    if problem := grantable(stored):
        raise GrantRefused(f"no grant from gate {stored.id}: {problem}")
    if scope not in SCOPES:
        raise ValueError(f"a grant's scope is agent or repo, not {scope!r}")
    if not isinstance(duration, int | float) or not 0 < duration <= MAX_DURATION:
        raise ValueError("a grant lasts more than zero seconds and at most 30 days")
    if stored.agent_id is None:
        raise GrantRefused(f"no grant from gate {stored.id}: it belongs to no agent")
    row = conn.execute("SELECT name, repo FROM agents WHERE id = ?", (stored.agent_id,)).fetchone()
    name, repo = (row[0] or "", row[1] or "") if row else ("", "")
    if scope == "repo" and not repo:
        raise GrantRefused(f"no repository grant from gate {stored.id}: its agent works in no known "
                           "git repository (grant for the agent alone: --scope agent)")
    form = shape(stored.tool, stored.action)
    pattern = form if pattern is None else " ".join(str(pattern).split())
    if not pattern:
        raise ValueError("a grant's pattern cannot be empty (leave it out to use the call's shape)")
    if len(pattern) > PATTERN_MAX or any(ord(c) < 32 or ord(c) == 127 for c in pattern):
        raise ValueError(f"a grant's pattern is one line of at most {PATTERN_MAX} characters")
    if not matches(pattern, form, stored.tool, stored.action):
        raise ValueError(f"pattern {pattern!r} does not match the call of gate {stored.id} "
                         f"(its shape is {form!r}); a pattern narrows the shape")
    return {"scope": scope, "agent_id": stored.agent_id, "agent_name": name,
            # An agent grant keeps the repository its agent worked in: it covers the agent's
            # calls there only, not after a `cd` into another one (red team, issue 14).
            "repo": repo, "rule": stored.rule, "tool": stored.tool,
            "shape": form, "pattern": pattern, "gate_id": stored.id}


# -- writes ---------------------------------------------------------------------------


def create_grant(conn: sqlite3.Connection, *, gate: Any, scope: str, pattern: str | None,
                 duration: float, actor: str, display: str | None, reason: str, now: float,
                 simulated: bool = False) -> Grant:
    """Store a grant from `gate` (its rule, tool and shape; `pattern` narrows the shape,
    None keeps it) for its agent (`scope` agent) or its agent's repository (`repo`),
    for `duration` seconds, with its `grant.created` audit entry in one transaction.
    A reason is required (ValueError); an ungrantable gate raises GrantRefused.

    `actor` is the granter's OS account, `display` the name shown beside it,
    `simulated` marks the demo's scripted teammate. Who may grant is checked before,
    by loomtui.supervisors.authorize."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValueError("a reason is required to grant (it is shown with every call it allows)")
    fields = check_grant(conn, gate=gate, scope=scope, pattern=pattern, duration=duration)
    expires_at = float(now) + float(duration)
    with transaction(conn):
        grant_id = conn.execute(
            """INSERT INTO grants (scope, agent_id, agent_name, repo, rule, tool, shape, pattern, gate_id,
                                   granted_by, granted_name, reason, created_at, expires_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            (fields["scope"], fields["agent_id"], fields["agent_name"], fields["repo"], fields["rule"],
             fields["tool"], fields["shape"], fields["pattern"], fields["gate_id"], actor, display, reason,
             now, expires_at),
        ).fetchone()[0]
        detail = {key: fields[key] for key in _RECORDED if key != "expires_at"}
        detail.update(expires_at=expires_at, gate_id=fields["gate_id"], reason=reason,
                      agent_name=fields["agent_name"])
        audit.as_decider(detail, display, simulated)
        audit.append(conn, actor=actor, action="grant.created", subject=_subject(grant_id), now=now,
                     detail=detail)
        grant = _read(conn, grant_id)
    assert grant is not None
    return grant


def revoke_grant(conn: sqlite3.Connection, grant_id: int, *, actor: str, display: str | None,
                 reason: str, now: float, simulated: bool = False) -> Grant:
    """active -> revoked, audited `grant.revoked`, in one conditional UPDATE. A reason is
    required (ValueError); a grant that is missing, already revoked or expired raises
    GrantRefused saying so."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValueError("a reason is required to revoke a grant")
    with transaction(conn):
        changed = conn.execute(
            "UPDATE grants SET status = 'revoked', revoked_by = ?, revoked_at = ?, revoke_reason = ? "
            "WHERE id = ? AND status = 'active' AND expires_at > ?",
            (actor, now, reason, grant_id, now)).rowcount
        grant = _read(conn, grant_id)
        if changed:
            detail: dict[str, Any] = {"reason": reason}
            audit.as_decider(detail, display, simulated)
            audit.append(conn, actor=actor, action="grant.revoked", subject=_subject(grant_id), now=now,
                         detail=detail)
    if grant is None:
        raise GrantNotFound(f"there is no grant {grant_id}")
    if not changed:
        if grant.status == "revoked":
            raise GrantRefused(f"grant {grant_id} was already revoked by {grant.revoked_by}"
                               + (f" ({grant.revoke_reason})" if grant.revoke_reason else ""))
        raise GrantRefused(f"grant {grant_id} expired at {until(grant.expires_at, now)}; nothing to revoke")
    return grant


def use_grant(conn: sqlite3.Connection, grant: Grant, *, agent_id: int, summary: str, now: float) -> bool:
    """One call allowed by `grant`: uses + 1 and a `grant.used` audit entry (which agent,
    which call), in one transaction; True. False, and nothing written, when the grant was
    revoked (or ended) since `matching_grant` read it: a revocation committed while the
    hook decided allowed one more call (red team, issue 14). The caller then holds it."""
    with transaction(conn):
        if not conn.execute("UPDATE grants SET uses = uses + 1, last_used_at = ? "
                            "WHERE id = ? AND status = 'active' AND expires_at > ?",
                            (now, grant.id, now)).rowcount:
            return False
        audit.append(conn, actor="hook", action="grant.used", subject=_subject(grant.id), now=now,
                     detail={"agent_id": agent_id, "summary": summary, "rule": grant.rule})
    return True


def flag_grants(conn: sqlite3.Connection, *, agent_id: int, rule: str | None, reason: str,
                now: float) -> list[int]:
    """Flag the active grants covering `agent_id` (its own, and its repository's), of
    `rule` if given, that are not flagged yet: a person should look again (a rejection,
    a failed test run after the grant). Each audited `grant.flagged`; the ids flagged.
    A flag does not stop a grant: revoking does."""
    reason = " ".join((reason or "").split()) or "flagged"
    row = conn.execute("SELECT repo FROM agents WHERE id = ?", (agent_id,)).fetchone()
    repo = (row[0] or "") if row else ""
    sql = ("SELECT id FROM grants WHERE status = 'active' AND expires_at > ? AND flagged = '' "
           "AND ((scope = 'agent' AND agent_id = ?) OR (scope = 'repo' AND repo = ? AND repo != ''))"
           + (" AND rule = ?" if rule is not None else "") + " ORDER BY id")
    args: tuple = (now, agent_id, repo) + ((rule,) if rule is not None else ())
    if conn.execute(sql, args).fetchone() is None:
        return []
    flagged = []
    with transaction(conn):
        for (grant_id,) in conn.execute(sql, args).fetchall():
            conn.execute("UPDATE grants SET flagged = ?, flagged_at = ? WHERE id = ?", (reason, now, grant_id))
            audit.append(conn, actor="system", action="grant.flagged", subject=_subject(grant_id), now=now,
                         detail={"reason": reason, "agent_id": agent_id})
            flagged.append(grant_id)
    return flagged


# -- reads ----------------------------------------------------------------------------


def get_grant(conn: sqlite3.Connection, grant_id: int) -> Grant:
    grant = _read(conn, grant_id)
    if grant is None:
        raise GrantNotFound(f"there is no grant {grant_id}")
    return grant


def list_grants(conn: sqlite3.Connection, *, now: float, active_only: bool = True) -> list[Grant]:
    """Grants that answer calls now (`active_only`), soonest to expire first; else every
    grant, newest first."""
    if active_only:
        sql = f"SELECT {COLUMNS} FROM grants WHERE status = 'active' AND expires_at > ? ORDER BY expires_at, id"
        return [Grant(*r) for r in conn.execute(sql, (now,))]
    return [Grant(*r) for r in conn.execute(f"SELECT {COLUMNS} FROM grants ORDER BY id DESC")]


# The hook's one read: the active grants of this rule for this agent or its repository,
# two ranges of grants_agent and grants_repo (never all the grants of a rule).
_WHERE = "rule = ? AND status = 'active' AND expires_at > ?"
CANDIDATES_SQL = (f"SELECT {COLUMNS} FROM grants WHERE agent_id = ? AND {_WHERE} AND scope = 'agent' "
                  f"UNION ALL SELECT {COLUMNS} FROM grants WHERE repo = ? AND {_WHERE} AND scope = 'repo' "
                  "ORDER BY id")


def matching_grant(conn: sqlite3.Connection, *, agent_id: int, repo: str | None, rule: str, tool: str,
                   tool_input: Mapping[str, Any], now: float, agent_repo: str | None = None) -> Grant | None:
    """The grant that allows this call now, or None: active, unexpired, of this rule,
    covering this agent (or its repository), whose shape and pattern the call matches
    (loomtui.policy.shapes.matches), and whose `grant.created` audit entry is there and
    agrees with it (`grant_recorded`). One indexed read; the audit is read only for a
    grant that matches. `repo`: the repository whose grants may cover the call (verified
    by the caller); `agent_repo`: the repository the agent works in now (its row, which
    each hook event updates from the call's directory): an agent grant covers calls only
    in the repository it was granted in."""
    rows = conn.execute(CANDIDATES_SQL, (agent_id, rule, now, repo or "\x00", rule, now)).fetchall()
    if not rows:
        return None
    from loomtui.policy.shapes import matches, shape, why_unmatchable

    if why_unmatchable(tool, tool_input) is not None:
        return None
    form = shape(tool, tool_input)  # once for every candidate: most differ in their shape
    for row in rows:
        grant = Grant(*row)
        if grant.tool != tool or grant.shape != form:
            continue
        if grant.scope == "agent" and grant.repo and grant.repo != (agent_repo or ""):
            continue  # the agent moved to another repository (or its .git does not check out)
        if grant.pattern != form and not matches(grant.pattern, grant.shape, tool, tool_input):
            continue
        if grant_recorded(conn, grant):
            return grant
    return None


def grant_recorded(conn: sqlite3.Connection, grant: Grant) -> bool:
    """The log holds this grant's `grant.created` entry, whose own hash recomputes, which
    links to the entry before it, and whose detail agrees with the row (scope, agent,
    repository, rule, tool, shape, pattern, expiry); and no `grant.revoked` entry. A grant
    inserted or edited by hand in the store has no such entry. Two indexed reads."""
    entries = _entries(conn, grant.id)
    created = [e for e in entries if e.action == "grant.created"]
    if len(created) != 1 or len(entries) != 1:
        return False  # none (made by hand), revoked, or created twice (not by LoomTUI)
    return _agrees(conn, created[0], grant)


def _entries(conn: sqlite3.Connection, grant_id: int) -> list:
    return [audit._Row(*r) for r in conn.execute(
        f"SELECT {audit.ENTRY_COLUMNS} FROM audit WHERE subject = ? AND +action IN "
        "('grant.created', 'grant.revoked') ORDER BY id", (_subject(grant_id),))]


def _agrees(conn: sqlite3.Connection, entry: Any, grant: Grant) -> bool:
    """`entry` (a grant.created) is intact, linked, and records what the row says."""
    try:
        if entry.computed() != entry.hash:
            return False
        detail = json.loads(entry.detail)
    except (TypeError, ValueError, UnicodeError):
        return False
    if not isinstance(detail, dict) or any(detail.get(key, _MISSING) != getattr(grant, key) for key in _RECORDED):
        return False
    before = conn.execute("SELECT hash FROM audit WHERE id = ?", (entry.id - 1,)).fetchone()
    if before is None:
        return entry.id == 1 and entry.prev_hash == audit.GENESIS
    return entry.prev_hash == before[0]


_MISSING = object()


def check_grants(conn: sqlite3.Connection) -> list[str]:
    """For `loomtui audit verify`: every grant row has its `grant.created` entry agreeing
    with it (`grant_recorded`'s test, whatever its status), a revoked grant its
    `grant.revoked` entry, and an active one none. One pass over the grants, one indexed
    read each."""
    problems = []
    for row in conn.execute(f"SELECT {COLUMNS} FROM grants ORDER BY id").fetchall():
        grant = Grant(*row)
        entries = _entries(conn, grant.id)
        created = [e for e in entries if e.action == "grant.created"]
        revoked = any(e.action == "grant.revoked" for e in entries)
        if len(created) != 1:
            problems.append(f"grant {grant.id} ({grant.pattern}) has no grant.created audit entry of its own: "
                            "it was made outside LoomTUI (by hand in the store); the hook ignores it")
        elif not _agrees(conn, created[0], grant):
            problems.append(f"grant {grant.id} ({grant.pattern}) differs from its grant.created audit entry "
                            "(scope, agent, repository, rule, pattern or expiry changed outside LoomTUI); "
                            "the hook ignores it")
        if grant.status == "revoked" and not revoked:
            problems.append(f"grant {grant.id} is revoked, but the audit log has no grant.revoked entry for it")
        if grant.status != "revoked" and revoked:
            problems.append(f"grant {grant.id} is {grant.status}, but an audit entry says it was revoked: "
                            "its revocation was undone outside LoomTUI; the hook ignores it")
    return problems
