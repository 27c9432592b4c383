"""Grants attacked as an agent would: from its environment, from inside its process
tree, as an account that is not an approver, and by writing the store by hand (a grant
row inserted with no audit entry; a real grant's row widened, extended, moved to
another agent or revived after revocation). The hook is the real `loomtui hook claude`
subprocess; every attack must leave the call waiting for a person."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomtui.config import Config
from loomtui.store.db import connect, db_path
from loomtui.store.gates import create_gate, get_gate
from loomtui.store.grants import create_grant, get_grant, list_grants
from loomtui.supervisors import Decider, current_decider
from tests import hook_fixtures
from tests.test_grant_hook import (
    OTHER,
    SESSION,
    answer,
    as_session,
    events,
    granted_push,
    hook,
    loom,
    pending,
    release,
    start,
)
from tests.test_hook import bash, env_for, wait_for_gate
from tests.test_supervisors import FAKE_AGENT, clean_env

pod, repo = hook_fixtures.pod, hook_fixtures.repo


def store(pod: Path) -> sqlite3.Connection:
    return connect(db_path(pod))


def held(pod: Path, repo: Path, command: str = "git push origin main", session: str = SESSION) -> bool:
    """Does `command` (by `session`) wait for a person? The gate is rejected to end it."""
    proc = start(pod, as_session(bash(command, repo), session))
    return answer(release(pod, proc))[0] == "deny"


def a_pending_push(pod: Path, repo: Path) -> int:
    hook(pod, bash("git status", repo))  # the agent's row
    conn = store(pod)
    try:
        now = time.time()
        return create_gate(conn, agent_id=1, tool="Bash", action={"command": "git push origin auth"},
                           summary="git push origin auth", rule="git-push", risk="high", now=now,
                           expires_at=now + 600).id
    finally:
        conn.close()


# -- who may grant and revoke ---------------------------------------------------------------


@pytest.mark.parametrize(("variable", "value"), [("CLAUDECODE", "1"), ("CODEX_SANDBOX", "seatbelt"),
                                                 ("LOOM_SESSION_ID", "x"), ("LOOM_AGENT", "auth")])
def test_an_agents_environment_cannot_grant_or_revoke(pod: Path, repo: Path, variable: str, value: str) -> None:
    gate_id = a_pending_push(pod, repo)
    env = {**env_for(pod), variable: value}
    done = subprocess.run([sys.executable, "-m", "loomtui", "approve", str(gate_id), "--grant", "1d",
                           "--reason", "mine"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and f"inside an agent's environment ({variable} is set)" in done.stderr
    conn = store(pod)
    try:
        assert get_gate(conn, gate_id).status == "pending"
        assert list_grants(conn, now=time.time(), active_only=False) == []
        made = create_grant(conn, gate=get_gate(conn, gate_id), scope="agent", pattern=None, duration=3600,
                            actor="ana", display=None, reason="a person's", now=time.time())
    finally:
        conn.close()
    done = subprocess.run([sys.executable, "-m", "loomtui", "revoke", str(made.id), "--reason", "mine now"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and f"({variable} is set)" in done.stderr
    conn = store(pod)
    try:
        assert get_grant(conn, made.id).status == "active"
    finally:
        conn.close()


def test_pod_actions_refuse_inside_an_agents_environment(pod: Path, repo: Path, monkeypatch) -> None:
    """The console's path (PodActions) passes the same check as the CLI."""
    from loomtui.actions import PodActions

    gate_id = a_pending_push(pod, repo)
    monkeypatch.setenv("CLAUDECODE", "1")
    actions = PodActions(pod, Config(), current_decider())
    conn = store(pod)
    try:
        gate = get_gate(conn, gate_id)
    finally:
        conn.close()
    done = actions.grant(gate, scope="agent", pattern=None, duration=3600, reason="mine")
    assert not done.ok and "CLAUDECODE is set" in done.message
    assert not actions.revoke_grant(1, "x").ok
    monkeypatch.delenv("CLAUDECODE")
    done = actions.grant(gate, scope="agent", pattern=None, duration=3600, reason="a person's")
    assert done.ok and done.grant is not None and done.grant.granted_by == current_decider().account
    outsider = PodActions(pod, Config(), Decider("nobody-else", "nobody-else"))
    assert "may not decide" in outsider.revoke_grant(done.grant.id, "x").message


@pytest.mark.skipif(not Path("/proc/self/comm").exists(), reason="needs Linux /proc")
def test_no_grant_or_revoke_from_inside_an_agents_process_tree(pod: Path, repo: Path) -> None:
    """With its variables cleared, an agent's own shell still runs under its program."""
    gate_id = a_pending_push(pod, repo)
    agent = subprocess.run([sys.executable, "-c", FAKE_AGENT, f"approve {gate_id} --grant 1d --reason mine",
                            "revoke 1 --reason mine"],
                           env=clean_env(LOOM_HOME=str(pod)), capture_output=True, text=True, timeout=60)
    assert agent.returncode == 0, agent.stderr
    lines = agent.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("1 ") and "runs inside an agent (claude" in line
                                   for line in lines), lines
    assert [g.id for g in pending(pod)] == [gate_id]


def test_an_account_outside_the_approvers_cannot_grant(pod: Path, repo: Path) -> None:
    gate_id = a_pending_push(pod, repo)
    (pod / "config.toml").write_text('[supervisors]\napprovers = ["nobody-else"]\n')
    done = loom(pod, "approve", str(gate_id), "--grant", "1h", "--reason", "x")
    assert done.returncode == 1 and "may not decide in this pod" in done.stderr
    assert [g.id for g in pending(pod)] == [gate_id]


# -- the store written by hand ------------------------------------------------------------------


def test_a_grant_row_inserted_by_hand_is_not_honoured(pod: Path, repo: Path) -> None:
    hook(pod, bash("git status", repo))
    conn = store(pod)
    try:
        now = time.time()
        conn.execute("""INSERT INTO grants (scope, agent_id, agent_name, repo, rule, tool, shape, pattern,
                            granted_by, reason, created_at, expires_at)
                        VALUES ('agent', 1, 'x', '', 'git-push', 'Bash', 'git push origin *', 'git push origin *',
                                'ana', 'trust me', ?, ?)""", (now, now + 3600))
        conn.commit()
    finally:
        conn.close()
    assert held(pod, repo)
    assert events(pod, "granted") == []
    listed = loom(pod, "grants")  # listed, but never as a grant that answers
    assert listed.returncode == 0 and "NOT ON RECORD: ignored" in listed.stdout, listed.stdout
    assert json.loads(loom(pod, "grants", "--json").stdout)["grants"][0]["on_record"] is False


@pytest.mark.parametrize(("edit", "call_session", "command"), [
    ("UPDATE grants SET pattern = '*'", SESSION, "git push origin main"),
    ("UPDATE grants SET pattern = 'git push origin *'", SESSION, "git push origin main"),
    ("UPDATE grants SET expires_at = expires_at + 86400", SESSION, "git push origin auth"),
    ("UPDATE grants SET agent_id = 2", OTHER, "git push origin auth"),
    ("UPDATE grants SET scope = 'repo', repo = (SELECT repo FROM agents WHERE id = 1)", OTHER,
     "git push origin auth"),
    ("UPDATE grants SET rule = 'git-reset-hard', shape = 'git reset --hard', pattern = 'git reset --hard', "
     "tool = 'Bash'", SESSION, "git reset --hard"),
])
def test_a_grant_edited_by_hand_is_not_honoured(pod: Path, repo: Path, edit: str, call_session: str,
                                                command: str) -> None:
    """A real grant, narrowed to `git push origin auth*`, then changed in the store: wider,
    longer, for another agent or repository, for another rule. None of it answers."""
    granted_push(pod, repo, "--pattern", "git push origin auth*")
    hook(pod, as_session(bash("git status", repo), OTHER))  # agent 2, same repository
    if "expires_at" in edit:  # let the real grant run out first: it was made for an hour
        conn = store(pod)
        try:
            grant = get_grant(conn, 1)
            conn.execute("UPDATE grants SET expires_at = ?", (time.time() - 1,))
            conn.commit()
            edit = f"UPDATE grants SET expires_at = {grant.expires_at + 86400}"
        finally:
            conn.close()
    conn = store(pod)
    try:
        conn.execute(edit)
        conn.commit()
    finally:
        conn.close()
    assert held(pod, repo, command, call_session)
    assert events(pod, "granted") == []


def test_a_revoked_grant_revived_by_hand_is_not_honoured(pod: Path, repo: Path) -> None:
    granted_push(pod, repo)
    assert loom(pod, "revoke", "1", "--reason", "done").returncode == 0
    conn = store(pod)
    try:
        conn.execute("UPDATE grants SET status = 'active', revoked_by = NULL, revoked_at = NULL")
        conn.commit()
    finally:
        conn.close()
    assert held(pod, repo, "git push origin auth")


def test_the_untouched_grant_is_honoured(pod: Path, repo: Path) -> None:
    """The control for the attacks above: the same grant, not edited, answers allow."""
    granted_push(pod, repo, "--pattern", "git push origin auth*")
    code, out, _ = hook(pod, bash("git push origin auth-2", repo))
    assert answer(out)[0] == "allow"


# -- what is never granted ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["git push origin $(git branch --show-current)", "git push origin $BRANCH"])
def test_a_grant_for_a_dynamic_command_is_refused(pod: Path, repo: Path, command: str) -> None:
    proc = start(pod, bash(command, repo))
    gate_id = wait_for_gate(pod)
    done = loom(pod, "approve", str(gate_id), "--grant", "1h", "--reason", "fine", "--json")
    assert done.returncode == 1 and "only known when it runs" in done.stderr, done.stderr
    assert done.stdout == ""
    assert [g.id for g in pending(pod)] == [gate_id]
    assert answer(release(pod, proc))[0] == "deny"
    assert json.loads(loom(pod, "grants", "--all", "--json").stdout) == {"grants": []}
