"""`loomtui gate -- CMD` for agents without hooks, `loomtui init claude|codex`,
and 30 real hook processes gated at once against 4 racing deciders."""

from __future__ import annotations

import json
import random
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loomtui.store.db import connect, db_path
from loomtui.store.gates import GateConflict, decide, list_gates
from tests.test_hook import bash, env_for, finish, start
from tests.waiting import wait_for


@pytest.fixture
def pod(tmp_path: Path) -> Path:
    pod = tmp_path / "pod"
    connect(db_path(pod)).close()
    return pod


def loom(pod: Path, *args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "loomtui", *args], cwd=cwd, env=env_for(pod),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def decide_first_gate(pod: Path, approve: bool, reason: str = "") -> None:
    conn = connect(db_path(pod))
    try:
        pending = wait_for(lambda: list_gates(conn), "a pending gate", interval=0.05)
        decide(conn, pending[0].id, approve=approve, actor="ana", reason=reason, now=time.time())
    finally:
        conn.close()


# -- loomtui gate ------------------------------------------------------------


def test_gate_runs_an_ordinary_command_and_passes_its_exit_code(pod: Path, tmp_path: Path) -> None:
    proc = loom(pod, "gate", "--agent", "nightly", "--", "sh", "-c", "echo hi; exit 3", cwd=tmp_path)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (3, "hi\n")
    conn = connect(db_path(pod))
    row = conn.execute("SELECT kind, name FROM agents").fetchone()
    conn.close()
    assert row == ("script", "nightly")


def test_gate_denied_by_policy_never_runs(pod: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    proc = loom(pod, "gate", "--", "sh", "-c", f"touch {marker}; rm -rf /", cwd=tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 126 and "denied by policy" in err
    assert not marker.exists()


def test_gate_waits_for_approval_then_runs(pod: Path, tmp_path: Path) -> None:
    (pod / "policy.toml").write_text(
        '[[rule]]\nname = "touching"\naction = "gate"\nrisk = "high"\ntool = "Bash"\ncommand = "touch"\n')
    marker = tmp_path / "ran"
    proc = loom(pod, "gate", "--agent", "aider-1", "--", "touch", str(marker), cwd=tmp_path)
    decide_first_gate(pod, approve=True)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and marker.exists()


def test_gate_rejected_exits_126_with_the_reason(pod: Path, tmp_path: Path) -> None:
    (pod / "policy.toml").write_text(
        '[[rule]]\nname = "touching"\naction = "gate"\nrisk = "high"\ntool = "Bash"\ncommand = "touch"\n')
    marker = tmp_path / "ran"
    proc = loom(pod, "gate", "--", "touch", str(marker), cwd=tmp_path)
    decide_first_gate(pod, approve=False, reason="not on a Friday")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 126 and "Rejected by ana: not on a Friday" in err
    assert not marker.exists()


def test_gate_without_a_store_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    proc = loom(tmp_path / "missing", "gate", "--", "touch", str(marker), cwd=tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 126 and "loomtui init" in err and not marker.exists()


# -- loomtui init claude / codex --------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def run_init(pod: Path, repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loomtui", "init", *args], cwd=repo, env=env_for(pod),
                          capture_output=True, text=True, timeout=60)


def test_init_claude_merges_keeps_settings_backs_up_and_is_idempotent(tmp_path: Path, repo: Path) -> None:
    pod = tmp_path / "newpod"
    settings = repo / ".claude" / "settings.json"
    settings.parent.mkdir()
    mine = {"model": "opus", "permissions": {"allow": ["Bash(npm test)"]},
            "hooks": {"PreToolUse": [{"matcher": "Write", "hooks": [{"type": "command", "command": "./lint.sh"}]}]}}
    settings.write_text(json.dumps(mine))
    done = run_init(pod, repo, "claude")
    assert done.returncode == 0, done.stderr
    data = json.loads(settings.read_text())
    assert data["model"] == "opus" and data["permissions"] == mine["permissions"]
    pre = data["hooks"]["PreToolUse"]
    assert pre[0] == mine["hooks"]["PreToolUse"][0]  # their hook kept, first
    ours = pre[1]["hooks"][0]
    # The hook client, by this interpreter without site packages (it needs none)
    assert ours["command"].endswith("/loomtui/hooks/launch.py claude") and ours["timeout"] == 1800
    assert shlex.split(ours["command"])[1:3] == ["-I", "-S"]
    assert set(data["hooks"]) >= {"PreToolUse", "PermissionRequest", "PostToolUse", "Notification", "Stop",
                                  "SessionStart", "SessionEnd", "UserPromptSubmit"}
    assert json.loads((settings.parent / "settings.json.bak").read_text()) == mine
    assert (pod / "policy.toml").exists() and (pod / "loom.db").exists()
    first = settings.read_text()
    again = run_init(pod, repo, "claude")
    assert again.returncode == 0 and settings.read_text() == first  # idempotent
    assert "already has the LoomTUI hooks" in again.stdout
    # An earlier init's `loomtui hook claude` is ours too: replaced in place, not doubled
    older = json.loads(first)
    for group in older["hooks"]["PreToolUse"][1:]:
        group["hooks"] = [{**h, "command": "loomtui hook claude"} for h in group["hooks"]]
    settings.write_text(json.dumps(older))
    assert run_init(pod, repo, "claude").returncode == 0
    assert settings.read_text() == first


def test_init_claude_print_writes_nothing(tmp_path: Path, repo: Path) -> None:
    done = run_init(tmp_path / "p", repo, "claude", "--print")
    assert done.returncode == 0
    assert "PreToolUse" in json.loads(done.stdout)["hooks"]
    assert not (repo / ".claude").exists() and not (tmp_path / "p").exists()


def test_init_refuses_a_broken_settings_file(tmp_path: Path, repo: Path) -> None:
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text("{oops")
    done = run_init(tmp_path / "p", repo, "claude")
    assert done.returncode == 1 and "not valid JSON" in done.stderr and "Traceback" not in done.stderr
    assert (repo / ".claude" / "settings.json").read_text() == "{oops"


def test_init_codex_writes_hooks_and_explains_trust(tmp_path: Path, repo: Path) -> None:
    done = run_init(tmp_path / "p", repo, "codex")
    assert done.returncode == 0
    hooks = json.loads((repo / ".codex" / "hooks.json").read_text())["hooks"]
    assert hooks["PreToolUse"][0]["hooks"][0]["command"].endswith("/loomtui/hooks/launch.py codex")
    assert "trusted" in done.stdout


# -- concurrency: 30 hooks, 4 deciders -------------------------------------------


def test_thirty_gated_hooks_and_four_racing_deciders(pod: Path, tmp_path: Path) -> None:
    """Every hook gets exactly the decision recorded for its gate, and every gate
    is decided exactly once although four supervisors race for each."""
    hooks = []
    for i in range(30):
        payload = bash(f"git push origin branch-{i}", tmp_path)
        payload["session_id"] = f"session-{i:02d}"
        hooks.append(start(pod, payload))
    conn = connect(db_path(pod))
    wait_for(lambda: len(list_gates(conn)) == 30, "30 pending gates", interval=0.05)
    gates = list_gates(conn)
    conn.close()
    assert len(gates) == 30
    wins: dict[int, list[str]] = {g.id: [] for g in gates}
    lock = threading.Lock()

    def decider(name: str, seed: int) -> None:
        rng = random.Random(seed)
        own = connect(db_path(pod))
        order = [g.id for g in gates]
        rng.shuffle(order)
        for gate_id in order:
            approve = rng.random() < 0.5
            try:
                decide(own, gate_id, approve=approve, actor=name, reason="" if approve else f"{name} says no",
                       now=time.time())
            except GateConflict:
                continue
            with lock:
                wins[gate_id].append(name)
        own.close()

    threads = [threading.Thread(target=decider, args=(f"sup{k}", k)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(w) == 1 for w in wins.values()), wins
    results = [finish(proc) for proc in hooks]
    conn = connect(db_path(pod))
    recorded = {g.id: g for g in list_gates(conn, include_all=True)}
    by_session = dict(conn.execute(
        "SELECT a.session_id, g.id FROM gates g JOIN agents a ON a.id = g.agent_id").fetchall())
    conn.close()
    for i, (code, out, _) in enumerate(results):
        gate = recorded[by_session[f"session-{i:02d}"]]
        answer = json.loads(out)["hookSpecificOutput"]
        assert code == 0
        if gate.status == "approved":
            assert answer["permissionDecision"] == "allow"
            assert answer["permissionDecisionReason"] == f"Approved by {gate.decided_by}"
        else:
            assert gate.status == "rejected"
            assert answer == {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                              "permissionDecisionReason": f"Rejected by {gate.decided_by}: {gate.reason}"}
        assert [gate.decided_by] == wins[gate.id]
