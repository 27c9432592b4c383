"""An agent's record: how its gated calls were decided (per agent and per agent x policy
rule), the test runs seen in its Bash calls and their outcome, its reverts and budget
overruns. Read from `agent_record` and `agent_rule_record`, which are kept current as
events arrive (triggers on `gates`, and the hook through store/recorder.py), so a read
is two indexed lookups whatever the size of the agent's history.

`suggestion` says when the record has earned a grant for one agent and rule: a streak
of approvals (`[grants] suggest_after`, default 5) with no rejection, denial or expiry in
it, its tests passing (the last run with a known outcome passed, or none seen), and no
active grant covering it already. It only suggests; a person grants.

Stdlib only (the console, `loomtui agents` and the inbox read it).
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any, NamedTuple

from loomtui.store.gates import iso

RULE_COLUMNS = ("rule, gated, approved, rejected, denied, expired, granted, streak, last_break, "
                "last_break_at, last_at")
AGENT_COLUMNS = ("agent_id, gated, approved, rejected, denied, expired, granted, budget_overruns, "
                 "last_overrun_at, tests_passed, tests_failed, tests_unknown, last_test_at, "
                 "last_test_passed, recent_tests, reverts, last_revert_at, recent_reverts, updated_at")
# Rules that never earn a grant (store/grants.py `grantable` refuses their gates): budget
# gates, the pod's own protection rules, inline code in another language. Critical risk and
# commands LoomTUI cannot read are properties of one gate, checked when it is granted.
UNGRANTABLE_PREFIXES = ("budget:", "protect-")
UNGRANTABLE_RULES = frozenset(("budget", "strict-interpreters"))


def _ungrantable(rule: str) -> bool:
    return not rule or rule in UNGRANTABLE_RULES or rule.startswith(UNGRANTABLE_PREFIXES)


class RuleRecord(NamedTuple):
    """One agent's calls under one policy rule."""

    rule: str
    gated: int
    approved: int
    rejected: int
    denied: int
    expired: int
    granted: int
    streak: int            # approvals since the last rejection, denial or expiry
    last_break: str        # what ended the last streak ('' if none did)
    last_break_at: float | None
    last_at: float | None

    def to_json(self) -> dict:
        return {"rule": self.rule, "gated": self.gated, "approved": self.approved,
                "rejected": self.rejected, "denied": self.denied, "expired": self.expired,
                "granted": self.granted, "streak": self.streak, "last_break": self.last_break or None,
                "last_break_at": iso(self.last_break_at), "last_at": iso(self.last_at)}


class TestRun(NamedTuple):
    at: float
    outcome: str    # passed | failed | unknown
    command: str


class Revert(NamedTuple):
    at: float
    kind: str       # "git reset --hard", "git revert", ...
    command: str


class Record(NamedTuple):
    """One agent's record (see the module docstring)."""

    agent_id: int
    gated: int
    approved: int
    rejected: int
    denied: int
    expired: int
    granted: int
    budget_overruns: int
    last_overrun_at: float | None
    tests_passed: int
    tests_failed: int
    tests_unknown: int
    last_test_at: float | None
    last_test_passed: bool | None   # the last run whose outcome is known; None: none seen
    tests: tuple[TestRun, ...]      # newest first, at most recorder.RECENT
    reverts: int
    last_revert_at: float | None
    recent_reverts: tuple[Revert, ...]
    updated_at: float
    rules: tuple[RuleRecord, ...]   # most gated first

    @property
    def test_runs(self) -> int:
        return self.tests_passed + self.tests_failed + self.tests_unknown

    def rule(self, name: str) -> RuleRecord | None:
        return next((r for r in self.rules if r.rule == name), None)

    def to_json(self) -> dict:
        return {
            "gated": self.gated, "approved": self.approved, "rejected": self.rejected,
            "denied": self.denied, "expired": self.expired, "granted": self.granted,
            "budget_overruns": self.budget_overruns, "last_overrun_at": iso(self.last_overrun_at),
            "tests": {"runs": self.test_runs, "passed": self.tests_passed, "failed": self.tests_failed,
                      "unknown": self.tests_unknown, "last_at": iso(self.last_test_at),
                      "last_passed": self.last_test_passed,
                      "recent": [{"at": iso(t.at), "outcome": t.outcome, "command": t.command}
                                 for t in self.tests]},
            "reverts": {"count": self.reverts, "last_at": iso(self.last_revert_at),
                        "recent": [{"at": iso(r.at), "kind": r.kind, "command": r.command}
                                   for r in self.recent_reverts]},
            "rules": [r.to_json() for r in self.rules],
        }


def _items(text: str, keys: tuple[str, ...]) -> list[tuple[Any, ...]]:
    try:
        items = json.loads(text)
    except ValueError:
        return []
    found = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("at"), (int, float)):
            found.append((float(item["at"]), *(str(item.get(k) or "") for k in keys)))
    return found


AGENT_SQL = f"SELECT {AGENT_COLUMNS} FROM agent_record WHERE agent_id = ?"
RULES_SQL = (f"SELECT {RULE_COLUMNS} FROM agent_rule_record WHERE agent_id = ? "
             "ORDER BY gated + denied + granted DESC, rule")
# The rules an active grant covers for an agent (its own grants, its repository's).
COVERED_SQL = ("SELECT DISTINCT rule FROM grants WHERE status = 'active' AND expires_at > ? AND "
               "((scope = 'agent' AND agent_id = ?) OR (scope = 'repo' AND repo != '' AND "
               "repo = (SELECT repo FROM agents WHERE id = ?)))")


def record_from_rows(agent_id: int, row: tuple | None, rule_rows: list) -> Record | None:
    """A Record from AGENT_SQL's row and RULES_SQL's rows (None: nothing recorded)."""
    rules = tuple(RuleRecord(*r) for r in rule_rows)
    if row is None and not rules:
        return None
    if row is None:
        row = (agent_id, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, 0, None, None, "[]", 0, None, "[]", 0.0)
    (_, gated, approved, rejected, denied, expired, granted, overruns, overrun_at, passed, failed,
     unknown, test_at, test_passed, recent_tests, reverts, revert_at, recent_reverts, updated) = row
    return Record(
        agent_id=agent_id, gated=gated, approved=approved, rejected=rejected, denied=denied,
        expired=expired, granted=granted, budget_overruns=overruns, last_overrun_at=overrun_at,
        tests_passed=passed, tests_failed=failed, tests_unknown=unknown, last_test_at=test_at,
        last_test_passed=None if test_passed is None else bool(test_passed),
        tests=tuple(TestRun(*t) for t in _items(recent_tests, ("outcome", "command"))),
        reverts=reverts, last_revert_at=revert_at,
        recent_reverts=tuple(Revert(*r) for r in _items(recent_reverts, ("kind", "command"))),
        updated_at=updated, rules=rules)


def agent_record(conn: sqlite3.Connection, agent_id: int) -> Record | None:
    """The agent's record, or None when nothing was ever recorded for it."""
    return record_from_rows(agent_id, conn.execute(AGENT_SQL, (agent_id,)).fetchone(),
                            conn.execute(RULES_SQL, (agent_id,)).fetchall())


def suggestion(conn: sqlite3.Connection, agent_id: int, rule: str, *, streak: int,
               now: float | None = None) -> str | None:
    """Why a grant for this agent and rule is suggested ("5 approvals in a row, no
    rejection, tests passing (last run 3m ago)"), or None. Never grants anything."""
    if _ungrantable(rule):
        return None
    record = agent_record(conn, agent_id)
    found = record.rule(rule) if record is not None else None
    if found is None or found.streak < max(1, streak):
        return None
    now = time.time() if now is None else now
    return suggest_text(record, rule, streak=streak, now=now,
                        covered=covered_by_grant(conn, agent_id, rule, now))


def suggest_text(record: Record, rule: str, *, streak: int, now: float, covered: bool) -> str | None:
    """`suggestion` from a Record already read, and whether an active grant covers the
    rule (the console reads both off the event loop, then asks this)."""
    found = record.rule(rule)
    if covered or _ungrantable(rule) or found is None or found.streak < max(1, streak):
        return None
    if record.last_test_passed is False:
        return None  # its last test run failed
    if record.last_test_passed:
        last = record.last_test_at
        how = f"tests passing (last run {_age(now - last)} ago)" if last is not None else "tests passing"
    elif record.tests_unknown:
        how = "no test outcome seen (its test runs' results could not be read)"
    else:
        how = "no test run seen"
    return f"{found.streak} approvals in a row, no rejection, {how}"


def covered_by_grant(conn: sqlite3.Connection, agent_id: int, rule: str, now: float) -> bool:
    """Whether an active grant already covers this agent and rule, of any pattern (then
    nothing is suggested)."""
    try:
        rules = {r for (r,) in conn.execute(COVERED_SQL, (now, agent_id, agent_id))}
    except sqlite3.OperationalError:  # a store without grants yet
        return False
    return rule in rules


def _age(seconds: float) -> str:
    """5s, 3m, 2h, 4d (as the console's ages)."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
