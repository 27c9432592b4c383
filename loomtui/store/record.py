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


# -- suggestions per repository (issue 14, helper "reposuggest") -----------------------

REPO_LIMIT = 200                 # a repository's decisions of one rule read, newest first
REPO_WINDOW = 7 * 86400.0        # and only those of the last week
# The repository's recent decisions of one rule: a range of gates_rule_decided read
# backwards, each gate's agent by its key; at most REPO_LIMIT rows, never older than the
# window, whatever the size of the history.
REPO_DECISIONS_SQL = (
    "SELECT g.status, g.agent_id, g.tool, g.action FROM gates AS g INDEXED BY gates_rule_decided "
    "CROSS JOIN agents AS a ON a.id = g.agent_id "
    "WHERE g.rule = ? AND g.decided_at >= ? AND g.status IN ('approved', 'rejected') AND a.repo = ? "
    "ORDER BY g.decided_at DESC LIMIT ?")
REPO_COVERED_SQL = ("SELECT 1 FROM grants WHERE repo = ? AND rule = ? AND status = 'active' "
                    "AND expires_at > ? AND scope = 'repo' LIMIT 1")


class RepoSuggestion(NamedTuple):
    """A grant for every agent of a repository that the record suggests for one gate."""

    why: str       # "approved 5 times in a row for 4 agents in shop, no rejection"
    pattern: str   # the exact call when every approval was that call, else the shape
    repo: str      # the repository (agents.repo)


def repo_suggestion(conn: sqlite3.Connection, gate: Any, *, streak: int, now: float,
                    window: float = REPO_WINDOW, limit: int = REPO_LIMIT) -> RepoSuggestion | None:
    """A repository grant suggested for the pending `gate`, or None. What a person does
    in the inbox: seeing one call approved for several agents of a repository and never
    rejected, allow it for every agent there. Sessions come and go, so an agent's own
    streak (`suggestion`) rarely builds up; the repository's does.

    Suggested when the gate's rule and shape (loomtui/policy/shapes.shape) were approved
    at least `streak` times in a row in the gate's agent's repository (the gates of the
    agents whose agents.repo is it), for at least two agents, with no rejection of that
    rule and shape since; when the gate's own agent's last test run did not fail; when
    the gate is grantable (store/grants.grantable); and when no active repository grant
    covers that rule there already. Reads at most `limit` decisions of the last `window`
    seconds, newest first (index gates_rule_decided). It never grants by itself."""
    if streak < 1 or gate is None or getattr(gate, "agent_id", None) is None:
        return None
    rule = getattr(gate, "rule", "") or ""
    if _ungrantable(rule):
        return None
    from loomtui.policy.shapes import matches, shape
    from loomtui.store.grants import grantable

    if grantable(gate) is not None:
        return None
    row = conn.execute("SELECT repo FROM agents WHERE id = ?", (gate.agent_id,)).fetchone()
    repo = (row[0] or "") if row else ""
    if not repo:
        return None
    try:
        if conn.execute(REPO_COVERED_SQL, (repo, rule, now)).fetchone() is not None:
            return None
    except sqlite3.OperationalError:  # a store without grants yet
        pass
    tool, action = gate.tool, gate.action or {}
    form = shape(tool, action)
    call = _call_of(tool, action)
    approvals, agents, same = 0, set(), True
    for status, agent_id, row_tool, row_action in conn.execute(
            REPO_DECISIONS_SQL, (rule, now - window, repo, max(1, limit))):
        try:
            past = json.loads(row_action)
        except (TypeError, ValueError):
            continue
        if row_tool != tool or not isinstance(past, dict) or shape(row_tool, past) != form:
            continue  # another shape of the rule: neither counts nor breaks the streak
        if status == "rejected":
            break
        approvals += 1
        agents.add(agent_id)
        same = same and call is not None and _call_of(row_tool, past) == call
    if approvals < streak or len(agents) < 2:
        return None
    record = agent_record(conn, gate.agent_id)
    if record is not None and record.last_test_passed is False:
        return None  # its last test run failed
    pattern = form
    if same and call is not None:
        exact = call if tool == "Bash" else f"{tool} {call}"
        if exact != form and matches(exact, form, tool, action):
            pattern = exact
    name = repo.rstrip("/").rsplit("/", 1)[-1] or repo
    why = f"approved {approvals} times in a row for {len(agents)} agents in {name}, no rejection"
    return RepoSuggestion(why=why, pattern=pattern, repo=repo)


def _call_of(tool: str, action: Any) -> str | None:
    """The call itself, for an exact pattern: a Bash line with its spaces normalised, a
    file tool's path (None when the path holds glob characters, which a pattern would
    read as a glob)."""
    if not isinstance(action, dict):
        return None
    if tool == "Bash":
        command = action.get("command")
        return " ".join(command.split()) if isinstance(command, str) and command.strip() else None
    from loomtui.policy.shapes import FILE_KEYS

    path = next((action[k] for k in FILE_KEYS if isinstance(action.get(k), str)), None)
    if not path or any(c in path for c in "*?[]") or any(c.isspace() for c in path):
        return None
    return path
