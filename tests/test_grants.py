"""Grants in the store (loomtui/store/grants.py) and their shapes and patterns
(loomtui/policy/shapes.py): what may be granted, what a grant matches, its audit
entries, revocation, expiry, flags, and the audit check behind every match."""

from __future__ import annotations

from pathlib import Path

import pytest

from loomtui.policy.shapes import matches, shape
from loomtui.store import audit
from loomtui.store.agents import upsert_agent
from loomtui.store.db import DB_NAME, connect
from loomtui.store.gates import Gate, create_gate
from loomtui.store.grants import (
    CANDIDATES_SQL,
    GrantNotFound,
    GrantRefused,
    create_grant,
    flag_grants,
    get_grant,
    grantable,
    list_grants,
    matching_grant,
    parse_duration,
    revoke_grant,
    use_grant,
)

NOW = 1_750_000_000.0  # 2025-06-15T15:06:40Z
REPO = "/src/shop"


@pytest.fixture
def conn(tmp_path: Path):
    c = connect(tmp_path / DB_NAME)
    yield c
    c.close()


def agent(conn, session: str, repo: str = REPO, name: str | None = None) -> int:
    return upsert_agent(conn, kind="claude", now=NOW, session_id=session, name=name or session,
                        cwd=repo, repo=repo, worktree=repo)


def gate(conn, agent_id: int, command: str = "git push origin auth", *, rule: str = "git-push",
         risk: str = "high", tool: str = "Bash", action: dict | None = None) -> Gate:
    return create_gate(conn, agent_id=agent_id, tool=tool, action=action or {"command": command},
                       summary=command, rule=rule, risk=risk, now=NOW, expires_at=NOW + 600)


def grant(conn, g: Gate, *, scope: str = "agent", pattern: str | None = None, duration: float = 3600,
          now: float = NOW):
    return create_grant(conn, gate=g, scope=scope, pattern=pattern, duration=duration, actor="ana",
                        display="Ana", reason="own branch", now=now)


def lookup(conn, agent_id: int, command: str, *, repo: str | None = REPO, rule: str = "git-push",
           now: float = NOW + 1, tool: str = "Bash", tool_input: dict | None = None):
    return matching_grant(conn, agent_id=agent_id, repo=repo, rule=rule, tool=tool,
                          tool_input=tool_input or {"command": command}, now=now, agent_repo=repo)


# -- shapes and patterns ----------------------------------------------------------------


@pytest.mark.parametrize(("command", "expected"), [
    ("git push origin auth", "git push origin *"),
    ("git push --force origin cart", "git push --force origin *"),
    ("/usr/bin/git -C /tmp push origin x", "git push origin *"),
    ("npm test", "npm test"),
    ("pytest -q tests/test_a.py", "pytest -q *"),
])
def test_shape_of_commands(command: str, expected: str) -> None:
    assert shape("Bash", {"command": command}) == expected


def test_shape_of_edits_by_tool_and_extension() -> None:
    assert shape("Edit", {"file_path": "/src/shop/db/001.sql"}) == "Edit *.sql"
    assert shape("Write", {"file_path": "/src/shop/Makefile"}) == "Write Makefile"
    assert shape("WebFetch", {"url": "https://x"}) == "WebFetch"


@pytest.mark.parametrize(("pattern", "command", "expected"), [
    ("git push origin *", "git push origin cart", True),
    ("git push origin *", "git push origin main", True),  # the shape: any branch
    ("git push origin auth", "git push origin auth", True),
    ("git push origin auth", "git push origin main", False),  # narrowed
    ("git push origin agent/*", "git push origin agent/cart", True),
    ("git push origin agent/*", "git push origin main", False),
    ("git push origin *", "git push --force origin cart", False),  # another shape
    ("git push origin *", "git push origin cart ; rm -rf build", False),  # never across ;
    ("git push origin *", "git push origin cart && curl x | sh", False),
    ("git push origin auth", "git push origin auth ; git push origin main", False),
    ("git push origin *", "git push origin $(git branch --show-current)", False),  # dynamic
    ("git push origin *", "git push origin $BRANCH", False),
    ("git push origin *", "git push origin 'unbalanced", False),  # unreadable
])
def test_patterns_match_word_by_word_within_one_command(pattern: str, command: str, expected: bool) -> None:
    form = "git push origin *"
    assert matches(pattern, form, "Bash", {"command": command}) is expected


def test_a_star_word_is_one_or_more_words() -> None:
    form = shape("Bash", {"command": "pytest -q tests/a.py"})
    assert matches("pytest -q *", form, "Bash", {"command": "pytest -q tests/a.py tests/b.py"})
    assert not matches("pytest -q tests/a.py", form, "Bash", {"command": "pytest -q tests/a.py tests/b.py"})


def test_file_patterns_by_glob() -> None:
    form = "Edit *.sql"
    action = {"file_path": "/src/shop/db/002.sql", "old_string": "a", "new_string": "b"}
    assert matches(form, form, "Edit", action)
    assert matches("Edit /src/shop/db/*.sql", form, "Edit", action)
    assert not matches("Edit /src/other/*.sql", form, "Edit", action)
    assert not matches(form, form, "Write", {"file_path": "/src/shop/db/002.sql", "content": ""})
    assert not matches(form, form, "Edit", {"file_path": "/src/shop/db/002.py"})


# -- what may be granted ------------------------------------------------------------------


def test_grantable_refuses_critical_budget_protect_and_dynamic(conn) -> None:
    a = agent(conn, "s1")
    assert grantable(gate(conn, a)) is None
    assert "critical" in grantable(gate(conn, a, "git push --force origin x", rule="git-force-push",
                                        risk="critical"))
    assert "budget" in grantable(gate(conn, a, rule="budget:agent/day", risk="budget"))
    assert "budget" in grantable(gate(conn, a, rule="budget:pod/block", risk="high"))
    assert "protect" in grantable(gate(conn, a, "loomtui init claude", rule="protect-agent-wiring"))
    assert "only known when it runs" in grantable(gate(conn, a, "git push origin $(git branch --show-current)"))
    assert "only known when it runs" in grantable(gate(conn, a, "git push origin $B"))
    assert "cannot read" in grantable(gate(conn, a, "git push 'x", rule="cannot-analyse"))


def test_an_ungrantable_gate_is_refused_and_nothing_is_written(conn) -> None:
    a = agent(conn, "s1")
    g = gate(conn, a, "git push --force origin x", rule="git-force-push", risk="critical")
    head = audit.head(conn)
    with pytest.raises(GrantRefused, match="critical"):
        grant(conn, g)
    assert list_grants(conn, now=NOW, active_only=False) == [] and audit.head(conn) == head


def test_the_stored_gate_decides_not_the_callers_copy(conn) -> None:
    """A caller passing a gate object with a softer risk gets the stored gate's refusal."""
    a = agent(conn, "s1")
    g = gate(conn, a, "git push --force origin x", rule="git-force-push", risk="critical")
    with pytest.raises(GrantRefused, match="critical"):
        grant(conn, g._replace(risk="high", rule="git-push"))


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400),
                                               ("1h30m", 5400), (" 2H ", 7200)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "h", "2 hours", "-1h", "0m", "31d", "2h x"])
def test_parse_duration_refuses_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="duration|30 days|above zero"):
        parse_duration(text)


def test_a_reason_scope_and_matching_pattern_are_required(conn) -> None:
    a = agent(conn, "s1")
    g = gate(conn, a)
    with pytest.raises(ValueError, match="reason"):
        create_grant(conn, gate=g, scope="agent", pattern=None, duration=60, actor="ana", display=None,
                     reason=" ", now=NOW)
    with pytest.raises(ValueError, match="scope"):
        grant(conn, g, scope="pod")
    with pytest.raises(ValueError, match="does not match the call of gate"):
        grant(conn, g, pattern="git push origin main")
    with pytest.raises(ValueError, match="one line"):
        grant(conn, g, pattern="git push origin *\x1b[2J")


# -- grants at work ------------------------------------------------------------------------


def test_an_agent_grant_covers_that_agent_only_and_is_audited(conn) -> None:
    a, b = agent(conn, "s1"), agent(conn, "s2")
    made = grant(conn, gate(conn, a))
    assert (made.scope, made.agent_id, made.pattern, made.shape) == ("agent", a, "git push origin *",
                                                                      "git push origin *")
    entry = [e for e in audit.export(conn) if e["subject"] == f"grant:{made.id}"]
    assert [e["action"] for e in entry] == ["grant.created"] and entry[0]["actor"] == "ana"
    assert entry[0]["detail"]["pattern"] == "git push origin *" and entry[0]["detail"]["as"] == "Ana"
    assert lookup(conn, a, "git push origin cart").id == made.id
    assert lookup(conn, b, "git push origin cart") is None
    assert lookup(conn, a, "git push origin cart", rule="other-rule") is None
    assert lookup(conn, a, "git push --force origin cart") is None
    assert audit.verify(conn) == []


def test_a_repo_grant_covers_every_agent_in_that_repository(conn) -> None:
    a, b, c = agent(conn, "s1"), agent(conn, "s2"), agent(conn, "s3", repo="/src/other")
    made = grant(conn, gate(conn, a), scope="repo")
    assert made.repo == REPO
    assert lookup(conn, b, "git push origin x").id == made.id
    assert lookup(conn, c, "git push origin x", repo="/src/other") is None


def test_revoked_and_expired_grants_answer_nothing(conn) -> None:
    a = agent(conn, "s1")
    made = grant(conn, gate(conn, a), duration=60)
    assert lookup(conn, a, "git push origin x", now=NOW + 59).id == made.id
    assert lookup(conn, a, "git push origin x", now=NOW + 60) is None  # expired
    listed = list_grants(conn, now=NOW + 61, active_only=False)
    assert [(g.id, g.status, g.state(NOW + 61), g.active(NOW + 61)) for g in listed] == [
        (made.id, "active", "expired", False)]
    assert list_grants(conn, now=NOW + 61) == []
    with pytest.raises(GrantRefused, match="expired"):
        revoke_grant(conn, made.id, actor="ana", display=None, reason="done", now=NOW + 61)

    b = agent(conn, "s2")
    other = grant(conn, gate(conn, b))
    revoked = revoke_grant(conn, other.id, actor="ana", display="Ana", reason="pushed enough", now=NOW + 2)
    assert (revoked.status, revoked.revoked_by, revoked.revoke_reason) == ("revoked", "ana", "pushed enough")
    assert lookup(conn, b, "git push origin x", now=NOW + 3) is None
    with pytest.raises(GrantRefused, match="already revoked"):
        revoke_grant(conn, other.id, actor="bo", display=None, reason="again", now=NOW + 4)
    with pytest.raises(GrantNotFound):
        revoke_grant(conn, 999, actor="bo", display=None, reason="x", now=NOW + 4)
    with pytest.raises(ValueError, match="reason"):
        revoke_grant(conn, other.id, actor="bo", display=None, reason="", now=NOW + 4)
    assert [e["action"] for e in audit.export(conn) if e["subject"] == f"grant:{other.id}"] == [
        "grant.created", "grant.revoked"]


def test_use_counts_and_audits(conn) -> None:
    a = agent(conn, "s1")
    made = grant(conn, gate(conn, a))
    use_grant(conn, made, agent_id=a, summary="git push origin cart", now=NOW + 5)
    use_grant(conn, made, agent_id=a, summary="git push origin cart", now=NOW + 6)
    after = get_grant(conn, made.id)
    assert (after.uses, after.last_used_at) == (2, NOW + 6)
    assert lookup(conn, a, "git push origin y").id == made.id  # still honoured: uses are not recorded fields
    used = [e for e in audit.export(conn) if e["action"] == "grant.used"]
    assert len(used) == 2 and used[0]["detail"]["agent_id"] == a


def test_flag_grants_of_an_agent_and_rule_once(conn) -> None:
    a, b = agent(conn, "s1"), agent(conn, "s2")
    own = grant(conn, gate(conn, a))
    repo_wide = grant(conn, gate(conn, b), scope="repo")
    other_rule = grant(conn, gate(conn, a, "git reset --hard", rule="git-reset-hard"))
    assert flag_grants(conn, agent_id=a, rule="git-push", reason="tests failed after the grant",
                       now=NOW + 9) == [own.id, repo_wide.id]
    assert flag_grants(conn, agent_id=a, rule="git-push", reason="again", now=NOW + 10) == []
    assert get_grant(conn, own.id).flagged == "tests failed after the grant"
    assert get_grant(conn, other_rule.id).flagged == ""
    assert lookup(conn, a, "git push origin z").id == own.id  # a flag asks a person to look; it stops nothing
    assert len([e for e in audit.export(conn) if e["action"] == "grant.flagged"]) == 2


def test_to_json_says_whether_it_has_expired(conn) -> None:
    a = agent(conn, "s1")
    made = grant(conn, gate(conn, a), duration=60)
    data = made.to_json(NOW + 120)
    assert (data["state"], data["status"], data["agent"], data["pattern"], data["uses"]) == (
        "expired", "active", "s1", "git push origin *", 0)
    assert data["expires_at"] == "2025-06-15T15:07:40Z"


def test_the_lookup_is_one_indexed_read(conn) -> None:
    plan = " ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + CANDIDATES_SQL,
                                                 (1, "r", 1.0, "x", "r", 1.0)))
    assert "SCAN" not in plan and "grants_agent" in plan and "grants_repo" in plan, plan


def test_audit_verify_reports_grants_made_or_changed_by_hand(conn) -> None:
    a = agent(conn, "s1")
    kept, edited, revived = grant(conn, gate(conn, a)), grant(conn, gate(conn, a)), grant(conn, gate(conn, a))
    revoke_grant(conn, revived.id, actor="ana", display=None, reason="done", now=NOW + 1)
    assert audit.inspect(conn).problems == []
    conn.execute("UPDATE grants SET pattern = '*' WHERE id = ?", (edited.id,))
    conn.execute("UPDATE grants SET status = 'active' WHERE id = ?", (revived.id,))
    conn.execute("INSERT INTO grants (scope, agent_id, rule, tool, shape, pattern, granted_by, reason, created_at, "
                 "expires_at) VALUES ('agent', ?, 'git-push', 'Bash', 'git push origin *', '*', 'x', 'x', ?, ?)",
                 (a, NOW, NOW + 3600))
    conn.commit()
    problems = audit.inspect(conn).problems
    assert len(problems) == 3, problems
    assert f"grant {edited.id} (*) differs from its grant.created audit entry" in problems[0]
    assert f"grant {revived.id} is active, but an audit entry says it was revoked" in problems[1]
    assert "grant 4 (*) has no grant.created audit entry of its own" in problems[2]
    assert kept.id not in (edited.id, revived.id, 4)


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path) -> None:
    """`loomtui grants --all --json | head -c 10`: exit 141, nothing on stderr."""
    import os
    import subprocess
    import sys

    pod = tmp_path / "pod"
    conn = connect(pod / DB_NAME)
    try:
        a = agent(conn, "s1")
        for n in range(200):  # far more JSON than a pipe's buffer holds
            grant(conn, gate(conn, a, f"git push origin branch-{n}"), pattern=f"git push origin branch-{n}")
    finally:
        conn.close()
    env = {**os.environ, "LOOM_HOME": str(pod)}
    command = f"{sys.executable} -m loomtui grants --all --json | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120)
    assert (done.stdout.strip(), done.stderr) == ("141", "")
