"""Grants through the real hook: `loomtui hook claude` (direct, and through the pod
service) with real PreToolUse JSON, and grants made and revoked by the real CLI
(`loomtui approve ID --grant`, `loomtui revoke`, `loomtui grants`).

Allowed while granted (the answer names the grant, the timeline has a `granted` event,
no gate is made), still gated for another agent (agent scope), allowed for another
agent in the repository (repo scope), gated again after revocation and after expiry;
`--grant` refused for critical calls, budget gates and the pod's protection rules, and
the gate then not approved either."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate, decide, get_gate, list_gates
from loomtui.store.grants import create_grant, list_grants
from loomtui.supervisors import account_name
from tests import hook_fixtures, hook_routes
from tests.test_hook import SESSION, bash, env_for, finish, wait_for_gate

pod, repo = hook_fixtures.pod, hook_fixtures.repo
pytestmark = pytest.mark.usefixtures("hook_route")  # every test both ways: direct and served

ME = account_name(__import__("os").geteuid())
OTHER = "9c0d2a11-0000-4000-8000-00000000beef"


# The agent the hook runs under: a process of its own, as Claude Code is (a hook started
# by pytest itself would make pytest "the agent", and the supervisor's CLI, pytest's
# child, would be refused as deciding a gate of its own session).
AGENT = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def start(pod: Path, payload: dict, agent: str = "claude") -> subprocess.Popen:
    """The hook as an agent runs it, by the route the test runs on, under an agent process."""
    route = hook_routes.CURRENT
    route.prepare(pod, env_for(pod))
    proc = subprocess.Popen([sys.executable, "-c", AGENT, *route.argv(agent)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(pod))
    proc.stdin.write(json.dumps(payload).encode())
    proc.stdin.close()
    return proc


def hook(pod: Path, payload: dict) -> tuple[int, str, str]:
    return finish(start(pod, payload))


def loom(pod: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "loomtui", *args], env=env_for(pod), capture_output=True,
                          text=True, timeout=60)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def as_session(payload: dict, session: str) -> dict:
    return {**payload, "session_id": session}


def answer(out: str) -> tuple[str, str]:
    data = json.loads(out)["hookSpecificOutput"]
    return data["permissionDecision"], data["permissionDecisionReason"]


def pending(pod: Path) -> list:
    conn = connect(db_path(pod))
    try:
        return list_gates(conn)
    finally:
        conn.close()


def events(pod: Path, kind: str) -> list[str]:
    conn = connect(db_path(pod))
    try:
        return [s for (s,) in conn.execute("SELECT summary FROM events WHERE kind = ? ORDER BY id", (kind,))]
    finally:
        conn.close()


def granted_push(pod: Path, repo: Path, *extra: str) -> tuple[int, str]:
    """A first push gated, then approved with `approve ID --grant 1h ...` (the CLI): the
    gate's id and the CLI's output. The waiting hook answers allow."""
    proc = start(pod, bash("git push origin auth", repo))
    gate_id = wait_for_gate(pod)
    done = loom(pod, "approve", str(gate_id), "--grant", "1h", "--reason", "own branch", *extra)
    assert done.returncode == 0, done.stderr
    code, out, _ = finish(proc)
    assert code == 0 and answer(out) == ("allow", f"Approved by {ME} (ana): own branch")
    return gate_id, done.stdout


def release(pod: Path, proc: subprocess.Popen) -> str:
    """Reject the pending gate `proc` waits on; its answer."""
    gate_id = wait_for_gate(pod)
    conn = connect(db_path(pod))
    try:
        decide(conn, gate_id, approve=False, actor="ana", reason="not now", now=time.time())
    finally:
        conn.close()
    code, out, _ = finish(proc)
    assert code == 0
    return out


def test_allowed_while_granted_the_answer_names_the_grant(pod: Path, repo: Path) -> None:
    gate_id, said = granted_push(pod, repo)
    assert re.fullmatch(rf"Approved gate {gate_id} and granted 'git push origin \*' to \S+ until "
                        r"\d\d:\d\dZ \(grant 1\)\n", said), said
    code, out, _ = hook(pod, bash("git push origin auth-2", repo))
    assert code == 0
    decision, reason = answer(out)
    assert decision == "allow"
    assert re.fullmatch(rf"Allowed by LoomTUI grant 1 \(git push origin \*, by {ME} \(ana\) until "
                        r"\d\d:\d\dZ: own branch\)", reason), reason
    assert pending(pod) == [] and len(events(pod, "gate")) == 1  # no new gate
    assert events(pod, "granted") == ["git push origin auth-2 (grant 1: git push origin *)"]
    listed = json.loads(loom(pod, "grants", "--json").stdout)["grants"]
    assert [(g["id"], g["uses"], g["pattern"], g["scope"], g["gate_id"]) for g in listed] == [
        (1, 1, "git push origin *", "agent", gate_id)]
    text = loom(pod, "grants").stdout.splitlines()
    assert text[0].split() == ["ID", "AGENT", "OR", "REPO", "RULE", "PATTERN", "GRANTED", "BY", "EXPIRES",
                               "USES", "FLAGGED"]
    assert "git-push" in text[1] and "git push origin *" in text[1] and " 1 " in text[1]


def test_another_agent_is_still_gated_under_an_agent_grant(pod: Path, repo: Path) -> None:
    granted_push(pod, repo)
    proc = start(pod, as_session(bash("git push origin auth", repo), OTHER))
    assert answer(release(pod, proc))[0] == "deny"  # it waited for a person
    assert events(pod, "granted") == []


def test_a_repo_grant_allows_another_agent_in_the_repository(pod: Path, repo: Path) -> None:
    granted_push(pod, repo, "--scope", "repo")
    code, out, _ = hook(pod, as_session(bash("git push origin other-branch", repo), OTHER))
    assert code == 0 and answer(out)[0] == "allow" and "LoomTUI grant 1" in answer(out)[1]
    listed = json.loads(loom(pod, "grants", "--json").stdout)["grants"]
    assert listed[0]["scope"] == "repo" and listed[0]["repo"] == str(repo)


def test_a_narrowed_pattern_allows_only_what_it_names(pod: Path, repo: Path) -> None:
    granted_push(pod, repo, "--pattern", "git push origin auth*")
    code, out, _ = hook(pod, bash("git push origin auth-fix", repo))
    assert answer(out)[0] == "allow"
    proc = start(pod, bash("git push origin main", repo))
    assert answer(release(pod, proc))[0] == "deny"


def test_gated_again_after_revoke(pod: Path, repo: Path) -> None:
    granted_push(pod, repo)
    done = loom(pod, "revoke", "1", "--reason", "enough pushes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "revoked"
    proc = start(pod, bash("git push origin auth", repo))
    assert answer(release(pod, proc))[0] == "deny"
    again = loom(pod, "revoke", "1", "--reason", "twice")
    assert again.returncode == 1 and "already revoked" in again.stderr
    assert loom(pod, "grants").stdout == "no active grants\n"
    assert "revoked" in loom(pod, "grants", "--all").stdout


def test_gated_again_after_expiry(pod: Path, repo: Path) -> None:
    """A grant made an hour ago for a minute (audited like any other) answers nothing."""
    conn = connect(db_path(pod))
    try:
        code, out, _ = hook(pod, bash("git status", repo))  # the agent's row
        agent_id = conn.execute("SELECT id FROM agents WHERE session_id = ?", (SESSION,)).fetchone()[0]
        then = time.time() - 3600
        gate = create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": "git push origin auth"},
                           summary="git push origin auth", rule="git-push", risk="high", now=then,
                           expires_at=then + 600)
        create_grant(conn, gate=gate, scope="agent", pattern=None, duration=60, actor=ME, display="ana",
                     reason="a minute", now=then)
        assert [g.state(time.time()) for g in list_grants(conn, now=time.time(), active_only=False)] == ["expired"]
    finally:
        conn.close()
    proc = start(pod, bash("git push origin auth", repo))
    assert answer(release(pod, proc))[0] == "deny"
    listed = json.loads(loom(pod, "grants", "--all", "--json").stdout)["grants"]
    assert [(g["status"], g["state"], g["uses"]) for g in listed] == [("active", "expired", 0)]
    assert "expired" in loom(pod, "grants", "--all").stdout


@pytest.mark.parametrize(("command", "refusal"), [
    ("git push --force origin auth", "its risk is critical"),
    ("loomtui init claude", "rule protect-agent-wiring protects the pod itself"),
])
def test_grant_refused_for_critical_calls_and_protection_rules(pod: Path, repo: Path, command: str,
                                                               refusal: str) -> None:
    proc = start(pod, bash(command, repo))
    gate_id = wait_for_gate(pod)
    done = loom(pod, "approve", str(gate_id), "--grant", "1h", "--reason", "fine")
    assert done.returncode == 1 and refusal in done.stderr, done.stderr
    assert f"gate {gate_id} was not approved" in done.stderr
    assert [g.id for g in pending(pod)] == [gate_id]  # still waiting for a person
    assert answer(release(pod, proc))[0] == "deny"
    assert list_grants(connect(db_path(pod)), now=time.time(), active_only=False) == []


def test_grant_refused_for_a_budget_gate(pod: Path, repo: Path) -> None:
    hook(pod, bash("git status", repo))
    conn = connect(db_path(pod))
    try:
        now = time.time()
        gate = create_gate(conn, agent_id=1, tool="Bash", action={"command": "npm test"},
                           summary="day budget: $21.40 of $20.00 (107 %) · npm test", rule="budget:agent/day",
                           risk="budget", now=now, expires_at=now + 600)
    finally:
        conn.close()
    done = loom(pod, "approve", str(gate.id), "--grant", "1h", "--reason", "fine")
    assert done.returncode == 1 and "it is a budget gate" in done.stderr, done.stderr
    conn = connect(db_path(pod))
    try:
        assert get_gate(conn, gate.id).status == "pending"
    finally:
        conn.close()


def test_bad_grant_options_are_one_line_errors(pod: Path, repo: Path) -> None:
    hook(pod, bash("git status", repo))
    conn = connect(db_path(pod))
    try:
        now = time.time()
        gate = create_gate(conn, agent_id=1, tool="Bash", action={"command": "git push origin auth"},
                           summary="git push origin auth", rule="git-push", risk="high", now=now,
                           expires_at=now + 600)
    finally:
        conn.close()
    for args, message in ((["--grant", "2 weeks", "--reason", "x"], "is not a duration"),
                          (["--grant", "1h"], "--grant needs --reason"),
                          (["--grant", "1h", "--reason", "x", "--pattern", "git push origin main"],
                           "does not match the call of gate"),
                          (["--scope", "repo"], "--scope goes with --grant")):
        done = loom(pod, "approve", str(gate.id), *args)
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
    assert [g.id for g in pending(pod)] == [gate.id]
    assert loom(pod, "revoke", "7", "--reason", "x").stderr.strip() == "loomtui revoke: there is no grant 7"


def test_a_permission_request_grant_answers_the_agents_own_prompt(pod: Path, repo: Path) -> None:
    """Claude Code asks its person (PermissionRequest): the inbox asks instead (rule
    permission-request), and a grant from that gate answers the next such question."""
    from tests.test_hook import event

    def asking(command: str) -> dict:
        return event("PermissionRequest", repo, tool_name="Bash", tool_input={"command": command},
                     permission_suggestions=[])

    proc = start(pod, asking("npm test src/cart.test.js"))
    gate_id = wait_for_gate(pod)
    assert pending(pod)[0].rule == "permission-request"
    done = loom(pod, "approve", str(gate_id), "--grant", "30m", "--reason", "tests are fine")
    assert done.returncode == 0, done.stderr
    assert json.loads(finish(proc)[1])["hookSpecificOutput"]["decision"] == {"behavior": "allow"}
    code, out, _ = hook(pod, asking("npm test src/auth.test.js"))
    assert json.loads(out)["hookSpecificOutput"]["decision"] == {"behavior": "allow"}
    assert pending(pod) == [] and events(pod, "granted") == ["npm test src/auth.test.js (grant 1: npm test *)"]
