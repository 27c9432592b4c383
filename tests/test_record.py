"""The record (issue 14): per agent and per agent x rule, kept current as events arrive.

Test runs through the real hook process with the PostToolUse / PostToolUseFailure JSON
that Claude Code 2.1.332 and Codex 0.169.0 really sent for `pytest -q` passing and
failing (captured 2026-12-08 through LoomTUI's own hooks, the e2e harness's stand-in
model API; only the session, paths and long output trimmed). Gates decided through
store.gates.decide; the suggestion at the 5th approval; `loomtui agents --json`; the
migration of an existing pod.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomtui.store import audit, recorder
from loomtui.store.db import connect, db_path, migrate, transaction
from loomtui.store.gates import GateConflict, create_gate, decide
from loomtui.store.record import agent_record, suggestion
from loomtui.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests import hook_fixtures
from tests.test_hook import env_for, hook

pod, repo = hook_fixtures.pod, hook_fixtures.repo

SESSION = "1101e3e6-65e3-4118-a98d-a6ceb5d5d8e7"
PYOUT_OK = ".                                                                        [100%]\n1 passed in 1.72s\n"
PYOUT_BAD = ("F                                                                        [100%]\n"
             "=================================== FAILURES ===================================\n"
             "___________________________________ test_bad ___________________________________\n\n"
             "    def test_bad():\n>       assert 1 + 1 == 3\nE       assert (1 + 1) == 3\n\n"
             "test_bad.py:2: AssertionError\n"
             "=========================== short test summary info ============================\n"
             "FAILED test_bad.py::test_bad - assert (1 + 1) == 3\n1 failed in 1.42s\n")


def claude_post(cwd: Path, command: str, *, ok: bool) -> dict:
    """What Claude Code 2.1.332 sent after a Bash call: PostToolUse (exit 0) or
    PostToolUseFailure (non-zero exit, "Exit code N" first in `error`)."""
    base = {"session_id": SESSION, "transcript_path": f"/root/.claude/projects/x/{SESSION}.jsonl",
            "cwd": str(cwd), "prompt_id": "603d63e6-0a4f-4e04-9e81-1db46b625822",
            "permission_mode": "default", "effort": {"level": "medium"}, "tool_name": "Bash",
            "tool_input": {"command": command, "description": "Run the tests"}}
    if ok:
        return {**base, "hook_event_name": "PostToolUse",
                "tool_response": {"stdout": PYOUT_OK.strip(), "stderr": "", "interrupted": False,
                                  "isImage": False, "noOutputExpected": False},
                "tool_use_id": "toolu_e2e67774c09d83f45f4", "duration_ms": 5335}
    return {**base, "hook_event_name": "PostToolUseFailure", "tool_use_id": "toolu_e2e7973ace5fd714eae",
            "error": "Exit code 1\n" + PYOUT_BAD.strip(), "is_interrupt": False, "duration_ms": 4424}


def codex_post(cwd: Path, command: str, *, ok: bool) -> dict:
    """What Codex 0.169.0 sent after a Bash call: PostToolUse either way, the output
    alone as `tool_response` (no exit status)."""
    return {"session_id": "01a2535e-0faa-7dc2-b146-e0deb6fc1472",
            "turn_id": "01a2535e-101e-73a1-822e-8edabe683485", "cwd": str(cwd),
            "hook_event_name": "PostToolUse", "model": "gpt-5-codex",
            "permission_mode": "bypassPermissions", "tool_name": "Bash",
            "tool_input": {"command": command}, "tool_response": PYOUT_OK if ok else PYOUT_BAD,
            "tool_use_id": "call_e2e000001" if ok else "call_e2e000002"}


def only_agent(pod: Path) -> int:
    conn = connect(db_path(pod))
    try:
        (agent_id,), = conn.execute("SELECT id FROM agents").fetchall()
        return agent_id
    finally:
        conn.close()


def record_of(pod: Path, agent_id: int | None = None):
    conn = connect(db_path(pod))
    try:
        return agent_record(conn, only_agent(pod) if agent_id is None else agent_id)
    finally:
        conn.close()


# -- test runs through the real hook ------------------------------------------------


@pytest.mark.usefixtures("hook_route")
@pytest.mark.parametrize(("agent", "post"), [("claude", claude_post), ("codex", codex_post)])
def test_a_passing_then_a_failing_pytest_run_through_the_hook(pod: Path, repo: Path, agent, post) -> None:
    assert hook(pod, post(repo, "pytest -q test_ok.py", ok=True), agent)[:2] == (0, "")
    record = record_of(pod)
    assert (record.tests_passed, record.tests_failed, record.last_test_passed) == (1, 0, True)
    assert record.tests[0].outcome == "passed" and record.tests[0].command == "pytest -q test_ok.py"

    assert hook(pod, post(repo, "pytest -q test_bad.py", ok=False), agent)[:2] == (0, "")
    record = record_of(pod)
    assert (record.tests_passed, record.tests_failed, record.last_test_passed) == (1, 1, False)
    assert [t.outcome for t in record.tests] == ["failed", "passed"]
    assert record.to_json()["tests"]["runs"] == 2


@pytest.mark.parametrize(("agent", "post"), [("claude", claude_post), ("codex", codex_post)])
def test_calls_that_are_not_test_runs_are_not_counted(pod: Path, repo: Path, agent, post) -> None:
    for command in ("echo pytest", "ls tests/", "git commit -m 'make test pass'", "cat pytest.ini"):
        hook(pod, post(repo, command, ok=True), agent)
    assert record_of(pod) is None


def test_an_interrupted_run_is_no_result(pod: Path, repo: Path) -> None:
    payload = claude_post(repo, "pytest -q", ok=False) | {"is_interrupt": True}
    hook(pod, payload)
    assert record_of(pod) is None


def test_configured_test_patterns_count_too(pod: Path, repo: Path) -> None:
    (pod / "config.toml").write_text('[record]\ntest_patterns = ["^\\\\./scripts/check-all"]\n')
    hook(pod, claude_post(repo, "./scripts/check-all --fast", ok=True))
    assert record_of(pod).tests_passed == 1


def test_a_revert_is_counted_once_it_ran(pod: Path, repo: Path) -> None:
    hook(pod, claude_post(repo, "git reset --hard HEAD~1", ok=False))  # failed: nothing thrown away
    assert record_of(pod) is None
    hook(pod, claude_post(repo, "git reset --hard HEAD~1", ok=True))
    record = record_of(pod)
    assert record.reverts == 1 and record.recent_reverts[0].kind == "git reset --hard"
    assert record.tests_passed == 0  # a revert is not a test run


@pytest.mark.parametrize(("command", "expected"), [
    ("pytest", True), ("pytest -q tests/test_a.py", True), ("python -m pytest -x", True),
    ("python3.11 -m pytest", True), (".venv/bin/pytest -q", True), ("cd app && pytest", True),
    ("PYTHONPATH=. pytest", True), ("uv run pytest", True), ("timeout 60 pytest -q", True),
    ("npm test", True), ("npm run test", True), ("pnpm test", True), ("yarn test:unit", True),
    ("go test ./...", True), ("cargo test", True), ("cargo nextest run", True),
    ("make test", True), ("make -j4 check", True), ("tox -e py311", True),
    ("echo pytest", False), ("pip install pytest", False), ("npm install", False),
    ("go build ./...", False), ("cargo build", False), ("make", False), ("cat Makefile", False),
    ("git commit -m 'run pytest'", False), ("pytest-watch", False), ("vim test.py", False),
])
def test_which_commands_are_test_runs(command: str, expected: bool) -> None:
    assert recorder.is_test_run(command) is expected


@pytest.mark.parametrize(("command", "kind"), [
    ("git revert HEAD", "git revert"), ("git reset --hard", "git reset --hard"),
    ("git -C /w reset --hard origin/main", "git reset --hard"), ("git checkout -- .", "git checkout -- …"),
    ("git checkout .", "git checkout ."), ("git restore .", "git restore"),
    ("git restore --staged --worktree a.py", "git restore"), ("git clean -fd", "git clean -f"),
    ("git add . && git reset --hard", "git reset --hard"),
    ("git revert --abort", ""), ("git reset --soft HEAD~1", ""), ("git reset", ""),
    ("git checkout -b feature", ""), ("git checkout main", ""), ("git restore --staged a.py", ""),
    ("git clean -n", ""), ("git status", ""), ("echo git reset --hard", ""),
])
def test_which_commands_are_reverts(command: str, kind: str) -> None:
    assert recorder.revert_kind(command) == kind


@pytest.mark.parametrize(("agent", "event", "data", "expected"), [
    ("claude", "PostToolUse", {"tool_response": {"stdout": "1 failed", "interrupted": False}}, "passed"),
    ("claude", "PostToolUseFailure", {"error": "Exit code 1", "is_interrupt": False}, "failed"),
    ("claude", "PostToolUse", {"tool_response": {"interrupted": True}}, None),
    ("codex", "PostToolUse", {"tool_response": PYOUT_OK}, "passed"),
    ("codex", "PostToolUse", {"tool_response": PYOUT_BAD}, "failed"),
    ("codex", "PostToolUse", {"tool_response": "--- FAIL: TestX (0.00s)\nFAIL\n"}, "failed"),
    ("codex", "PostToolUse", {"tool_response": "ok  \texample.com/x\t0.01s\n"}, "passed"),
    ("codex", "PostToolUse", {"tool_response": "test result: ok. 3 passed; 0 failed"}, "passed"),
    ("codex", "PostToolUse", {"tool_response": "test result: FAILED. 2 passed; 1 failed"}, "failed"),
    ("codex", "PostToolUse", {"tool_response": "(no output)"}, "unknown"),
    ("codex", "PostToolUse", {"tool_response": {"output": "x", "exit_code": 2}}, "failed"),
    ("codex", "PostToolUse", {"tool_response": {"output": "3 failed", "exit_code": 0}}, "passed"),
])
def test_the_outcome_of_a_run(agent, event, data, expected) -> None:
    assert recorder.outcome(agent, event, data) == expected


# -- gates, streaks and the suggestion ------------------------------------------------

RULE = "git-push"


def new_agent(conn: sqlite3.Connection, name: str = "auth-1") -> int:
    from loomtui.store.agents import upsert_agent

    return upsert_agent(conn, kind="claude", now=1000.0, session_id=f"s-{name}", name=name)


def gate(conn: sqlite3.Connection, agent_id: int, *, rule: str = RULE, risk: str = "medium",
         now: float = 1000.0, command: str = "git push origin auth"):
    return create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": command},
                       summary=command, rule=rule, risk=risk, now=now, expires_at=now + 600)


def approve(conn: sqlite3.Connection, agent_id: int, n: int = 1, *, now: float = 1000.0, rule: str = RULE) -> None:
    for _ in range(n):
        decide(conn, gate(conn, agent_id, now=now, rule=rule).id, approve=True, actor="ana", reason="",
               now=now + 1)


def test_decisions_count_per_agent_and_rule(pod: Path) -> None:
    conn = connect(db_path(pod))
    me, other = new_agent(conn), new_agent(conn, "billing-2")
    approve(conn, me, 3)
    decide(conn, gate(conn, me).id, approve=False, actor="ana", reason="not yet", now=1001.0)
    gate(conn, me, rule="rm-rf")  # still pending
    approve(conn, other, 1)
    record = agent_record(conn, me)
    assert (record.gated, record.approved, record.rejected, record.expired) == (5, 3, 1, 0)
    push = record.rule(RULE)
    assert (push.gated, push.approved, push.rejected, push.streak, push.last_break) == (4, 3, 1, 0, "rejected")
    assert record.rule("rm-rf").gated == 1 and record.rule("rm-rf").streak == 0
    assert agent_record(conn, other).approved == 1 and agent_record(conn, other).rule(RULE).streak == 1
    conn.close()


def test_the_suggestion_appears_at_the_fifth_approval_and_goes_after_a_rejection(pod: Path) -> None:
    conn = connect(db_path(pod))
    me = new_agent(conn)
    approve(conn, me, 4)
    assert suggestion(conn, me, RULE, streak=5) is None
    approve(conn, me, 1)
    assert suggestion(conn, me, RULE, streak=5) == "5 approvals in a row, no rejection, no test run seen"
    assert suggestion(conn, me, "other-rule", streak=5) is None
    decide(conn, gate(conn, me).id, approve=False, actor="ana", reason="wrong remote", now=1002.0)
    assert suggestion(conn, me, RULE, streak=5) is None
    approve(conn, me, 5)
    assert suggestion(conn, me, RULE, streak=5) is not None
    conn.close()


def test_the_suggestion_wants_its_tests_passing(pod: Path, repo: Path) -> None:
    hook(pod, claude_post(repo, "pytest -q", ok=False))
    agent_id = only_agent(pod)
    conn = connect(db_path(pod))
    approve(conn, agent_id, 5, now=time.time())
    assert suggestion(conn, agent_id, RULE, streak=5) is None  # its last test run failed
    conn.close()
    hook(pod, claude_post(repo, "pytest -q", ok=True))
    conn = connect(db_path(pod))
    text = suggestion(conn, agent_id, RULE, streak=5, now=time.time() + 180)
    assert text is not None and text.startswith("5 approvals in a row, no rejection, tests passing (last run 3m ago")
    conn.close()


def test_expiry_and_policy_denial_end_a_streak(pod: Path, repo: Path) -> None:
    conn = connect(db_path(pod))
    me = new_agent(conn)
    approve(conn, me, 2)
    g = gate(conn, me, now=1000.0)
    with pytest.raises(GateConflict):
        decide(conn, g.id, approve=True, actor="ana", reason="", now=2000.0)  # past its expiry
    push = agent_record(conn, me).rule(RULE)
    assert (push.expired, push.streak, push.last_break) == (1, 0, "expired")
    conn.close()
    # A policy denial, through the hook: counted for the agent and its rule.
    payload = {"session_id": "deny-1", "cwd": str(repo), "hook_event_name": "PreToolUse", "tool_name": "Write",
               "tool_input": {"file_path": str(repo / ".env"), "content": "KEY=1"}, "tool_use_id": "t"}
    code, out, _ = hook(pod, payload)
    assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny"
    conn = connect(db_path(pod))
    (denier,), = conn.execute("SELECT id FROM agents WHERE session_id = 'deny-1'").fetchall()
    record = agent_record(conn, denier)
    assert record.denied == 1 and len(record.rules) == 1 and record.rules[0].denied == 1
    assert record.rules[0].last_break == "denied" and record.rules[0].rule
    conn.close()


def test_budget_gates_are_budget_overruns_and_never_suggested(pod: Path) -> None:
    conn = connect(db_path(pod))
    me = new_agent(conn)
    for _ in range(6):
        g = gate(conn, me, rule="budget:agent/day", risk="budget")
        decide(conn, g.id, approve=True, actor="ana", reason="", now=1001.0)
    record = agent_record(conn, me)
    assert record.budget_overruns == 6 and record.last_overrun_at == 1000.0
    assert suggestion(conn, me, "budget:agent/day", streak=5) is None
    for rule in ("protect-pod", "strict-interpreters"):  # grants.grantable refuses their gates
        approve(conn, me, 5, rule=rule)
        assert agent_record(conn, me).rule(rule).streak == 5 and suggestion(conn, me, rule, streak=5) is None
    conn.close()


# -- loomtui agents --json ------------------------------------------------------------


def test_agents_json_has_the_record(pod: Path, repo: Path) -> None:
    hook(pod, claude_post(repo, "pytest -q", ok=True))
    conn = connect(db_path(pod))
    approve(conn, only_agent(pod), 2)
    new_agent(conn, "quiet")  # nothing recorded: record is null
    conn.close()
    done = subprocess.run([sys.executable, "-m", "loomtui", "agents", "--json"], env=env_for(pod),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    agents = {a["name"]: a for a in json.loads(done.stdout)["agents"]}
    busy = next(a for name, a in agents.items() if name != "quiet")
    assert agents["quiet"]["record"] is None
    record = busy["record"]
    assert (record["gated"], record["approved"], record["tests"]["passed"]) == (2, 2, 1)
    assert record["tests"]["last_passed"] is True and record["tests"]["recent"][0]["outcome"] == "passed"
    assert record["rules"][0]["rule"] == RULE and record["rules"][0]["streak"] == 2


# -- the migration of an existing pod ---------------------------------------------------


def test_the_migration_fills_the_record_from_existing_gates(tmp_path: Path) -> None:
    before = next(i for i, sql in enumerate(MIGRATIONS) if "CREATE TABLE agent_record" in sql)
    path = tmp_path / "pod" / "loom.db"
    path.parent.mkdir()
    raw = sqlite3.connect(path, isolation_level=None)
    migrate(raw, path, target=before)
    me, other = new_agent(raw), new_agent(raw, "billing-2")
    approve(raw, me, 2)
    decide(raw, gate(raw, me).id, approve=False, actor="ana", reason="no", now=1005.0)
    for t in (1010.0, 1011.0, 1012.0):
        decide(raw, gate(raw, me, now=t).id, approve=True, actor="ana", reason="", now=t + 1)
    g = gate(raw, other, rule="budget:agent/day", risk="budget")
    with pytest.raises(GateConflict):
        decide(raw, g.id, approve=True, actor="ana", reason="", now=5000.0)  # expired
    gate(raw, other, rule="budget:agent/day", risk="budget")  # pending
    with transaction(raw):  # a call a grant answered before the upgrade (as store/grants.py writes it)
        audit.append(raw, actor="hook", action="grant.used", subject="grant:1", now=1020.0,
                     detail={"agent_id": me, "summary": "git push origin auth", "rule": RULE})
    assert raw.execute("PRAGMA user_version").fetchone()[0] == before
    migrate(raw, path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    mine = agent_record(raw, me)
    assert (mine.gated, mine.approved, mine.rejected, mine.granted) == (6, 5, 1, 1)
    assert mine.rule(RULE).granted == 1
    assert (mine.rule(RULE).streak, mine.rule(RULE).last_break) == (3, "rejected")
    theirs = agent_record(raw, other)
    assert (theirs.gated, theirs.expired, theirs.budget_overruns) == (2, 1, 2)
    # and the triggers keep it current from there
    approve(raw, me, 2, now=2000.0)
    assert agent_record(raw, me).rule(RULE).streak == 5
    assert suggestion(raw, me, RULE, streak=5) is not None
    raw.close()


def test_the_record_stays_out_of_history(pod: Path) -> None:
    """Reading a record costs two indexed lookups, not a scan of events or gates."""
    conn = connect(db_path(pod))
    me = new_agent(conn)
    approve(conn, me, 1)
    plans = [" ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
             for sql, args in (("SELECT * FROM agent_record WHERE agent_id = ?", (me,)),
                               ("SELECT * FROM agent_rule_record WHERE agent_id = ?", (me,)))]
    assert all("SCAN" not in plan for plan in plans), plans
    conn.close()


# -- grants: covered, counted, flagged -------------------------------------------------


def grant_for(conn: sqlite3.Connection, agent_id: int, *, now: float):
    from loomtui.store.grants import create_grant

    g = gate(conn, agent_id, now=now)
    decide(conn, g.id, approve=True, actor="ana", reason="", now=now + 1)
    return create_grant(conn, gate=g, scope="agent", pattern=None, duration=3600, actor="ana",
                        display="Ana", reason="own branch", now=now + 1)


def test_no_suggestion_once_a_grant_covers_the_rule_and_its_uses_are_counted(pod: Path) -> None:
    from loomtui.store.grants import use_grant

    conn = connect(db_path(pod))
    me = new_agent(conn)
    now = time.time()
    approve(conn, me, 5, now=now)
    assert suggestion(conn, me, RULE, streak=5, now=now) is not None
    granted = grant_for(conn, me, now=now)
    assert suggestion(conn, me, RULE, streak=5, now=now + 5) is None  # covered: nothing to suggest
    assert suggestion(conn, me, RULE, streak=5, now=now + 7200) is not None  # the grant expired
    use_grant(conn, granted, agent_id=me, summary="git push origin auth", now=now + 10)
    use_grant(conn, granted, agent_id=me, summary="git push origin auth", now=now + 11)
    record = agent_record(conn, me)
    assert record.granted == 2 and record.rule(RULE).granted == 2
    assert record.rule(RULE).streak == 6  # a grant's answer is no person's approval
    conn.close()


def test_a_rejection_after_a_grant_flags_it(pod: Path) -> None:
    from loomtui.store.grants import get_grant

    conn = connect(db_path(pod))
    me = new_agent(conn)
    now = time.time()
    granted = grant_for(conn, me, now=now)
    decide(conn, gate(conn, me, rule="rm-rf", now=now).id, approve=False, actor="ana",
           reason="other rule", now=now + 2)
    assert get_grant(conn, granted.id).flagged == ""  # a rejection under another rule
    g = gate(conn, me, now=now, command="git push --force origin main")
    decide(conn, g.id, approve=False, actor="ana", reason="never force-push main", now=now + 3)
    flagged = get_grant(conn, granted.id)
    assert f"gate {g.id}" in flagged.flagged and "never force-push main" in flagged.flagged
    assert conn.execute("SELECT count(*) FROM audit WHERE action = 'grant.flagged' AND subject = ?",
                        (f"grant:{granted.id}",)).fetchone()[0] == 1
    conn.close()


@pytest.mark.parametrize(("agent", "post"), [("claude", claude_post), ("codex", codex_post)])
def test_a_failed_test_run_after_a_grant_flags_it(pod: Path, repo: Path, agent, post) -> None:
    from loomtui.store.grants import get_grant

    hook(pod, post(repo, "pytest -q", ok=True), agent)
    conn = connect(db_path(pod))
    granted = grant_for(conn, only_agent(pod), now=time.time())
    conn.close()
    hook(pod, post(repo, "pytest -q", ok=True), agent)
    conn = connect(db_path(pod))
    assert get_grant(conn, granted.id).flagged == ""  # a passing run flags nothing
    conn.close()
    code, out, err = hook(pod, post(repo, "pytest -q test_bad.py", ok=False), agent)
    assert (code, out, err) == (0, "", "")
    conn = connect(db_path(pod))
    assert "a test run failed after the grant: pytest -q test_bad.py" in get_grant(conn, granted.id).flagged
    conn.close()


@pytest.mark.usefixtures("hook_route")
def test_calls_a_grant_answers_through_the_hook_are_counted(pod: Path, repo: Path) -> None:
    from tests.test_grant_hook import answer, granted_push
    from tests.test_grant_hook import hook as agent_hook
    from tests.test_hook import bash

    granted_push(pod, repo)  # gated, approved with `loomtui approve ID --grant 1h`
    for branch in ("auth-2", "auth-3"):
        code, out, _ = agent_hook(pod, bash(f"git push origin {branch}", repo))
        assert code == 0 and answer(out)[0] == "allow"
    record = record_of(pod)
    assert (record.gated, record.approved, record.granted) == (1, 1, 2)
    push = record.rule("git-push")
    assert (push.gated, push.approved, push.granted, push.streak) == (1, 1, 2, 1)
