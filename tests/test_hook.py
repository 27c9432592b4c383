"""`loomtui hook claude|codex` as Claude Code and Codex run it: a real process,
real hook JSON on stdin, the answer read from stdout and the exit status.

Golden answers for every event; gates decided by another connection; and the
fail-closed cases: bad input, missing / corrupt / locked store, expiry, SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loomtui.store.db import connect, db_path
from loomtui.store.gates import decide, list_gates
from tests import hook_fixtures, hook_routes
from tests.waiting import wait_for

pod, repo = hook_fixtures.pod, hook_fixtures.repo  # the bare pod and repository fixtures
pytestmark = pytest.mark.usefixtures("hook_route")  # every test both ways: direct and served

SESSION = "5b1f0c2e-7d1e-4c1a-9f55-0d5a8d7e1111"


def event(name: str, cwd: Path, **fields) -> dict:
    """A hook event with the fields Claude Code sends on every call."""
    return {"session_id": SESSION, "transcript_path": f"/home/ana/.claude/projects/x/{SESSION}.jsonl",
            "cwd": str(cwd), "permission_mode": "default", "hook_event_name": name, **fields}


def bash(command: str, cwd: Path, name: str = "PreToolUse") -> dict:
    extra = {"tool_use_id": "toolu_01Xy"} if name == "PreToolUse" else {}
    return event(name, cwd, tool_name="Bash", tool_input={"command": command, "description": "x"}, **extra)


def env_for(pod: Path) -> dict[str, str]:
    env = {**os.environ, "LOOM_HOME": str(pod), "LOOM_USER": "ana"}
    env.pop("LOOM_CONFIG", None)
    return env


def start(pod: Path, payload: dict | bytes, agent: str = "claude") -> subprocess.Popen:
    """The hook as the agent runs it, by the route the test runs on (tests/hook_routes.py)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    route = hook_routes.CURRENT
    route.prepare(pod, env_for(pod))
    proc = subprocess.Popen(route.argv(agent), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(pod))
    proc.stdin.write(data)
    proc.stdin.close()
    return proc


def finish(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, str, str]:
    code = proc.wait(timeout=timeout)
    return code, proc.stdout.read().decode(), proc.stderr.read().decode()


def hook(pod: Path, payload: dict | bytes, agent: str = "claude") -> tuple[int, str, str]:
    return finish(start(pod, payload, agent))


def pre_tool_use(decision: str, reason: str) -> dict:
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": decision,
                                   "permissionDecisionReason": reason}}


def wait_for_gate(pod: Path, timeout: float = 20) -> int:
    """The id of the first pending gate in `pod`, once one appears."""
    conn = connect(db_path(pod))
    try:
        return wait_for(lambda: (pending := list_gates(conn)) and pending[0].id, "a pending gate",
                        timeout=timeout, interval=0.05)
    finally:
        conn.close()


def decide_when_ready(pod: Path, approve: bool, reason: str = "", actor: str = "ana") -> threading.Thread:
    def run() -> None:
        gate_id = wait_for_gate(pod)
        conn = connect(db_path(pod))
        try:
            decide(conn, gate_id, approve=approve, actor=actor, reason=reason, now=time.time())
        finally:
            conn.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def agent_row(pod: Path) -> sqlite3.Row:
    conn = sqlite3.connect(db_path(pod))
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM agents WHERE session_id = ?", (SESSION,)).fetchone()
    finally:
        conn.close()


# -- golden answers ----------------------------------------------------------


def test_ordinary_call_passes_silently_and_registers_the_agent(pod: Path, repo: Path) -> None:
    code, out, err = hook(pod, bash("git status", repo))
    assert (code, out) == (0, "")
    row = agent_row(pod)
    assert row["kind"] == "claude" and row["status"] == "working"
    assert row["worktree"] == str(repo) and row["repo"] == str(repo) and row["branch"] == "auth"
    assert row["last_tool"] == "Bash" and row["last_summary"] == "git status"


@pytest.mark.parametrize(("name", "fields", "status"), [
    ("SessionStart", {"source": "startup", "model": "claude-sonnet-4-5"}, "working"),
    ("UserPromptSubmit", {"prompt": "make the login tests pass"}, "working"),
    ("PostToolUse", {"tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_response": {},
                     "tool_use_id": "toolu_1", "duration_ms": 12}, "working"),
    ("Notification", {"message": "Claude needs your permission to use Bash", "title": "Permission",
                      "notification_type": "permission_prompt"}, "waiting"),
    ("Notification", {"message": "Claude is waiting for your input", "notification_type": "idle_prompt"},
     "idle"),
    ("Stop", {"stop_hook_active": False, "last_assistant_message": "Done: tests pass."}, "idle"),
    ("SubagentStop", {"stop_hook_active": False, "agent_id": "a1", "agent_type": "Explore",
                      "agent_transcript_path": "/tmp/a.jsonl"}, "working"),
    ("SessionEnd", {"reason": "prompt_input_exit"}, "done"),
    ("SomeFutureEvent", {"whatever": 1}, "working"),
])
def test_record_events_answer_nothing_and_move_the_status(pod: Path, repo: Path, name, fields, status) -> None:
    code, out, err = hook(pod, event(name, repo, **fields))
    assert (code, out, err) == (0, "", "")
    assert agent_row(pod)["status"] == status


def test_session_start_records_the_model(pod: Path, repo: Path) -> None:
    hook(pod, event("SessionStart", repo, source="startup", model="claude-opus-4-5"))
    assert agent_row(pod)["model"] == "claude-opus-4-5"


def test_policy_deny_answers_deny_with_the_rule(pod: Path, repo: Path) -> None:
    payload = event("PreToolUse", repo, tool_name="Write", tool_use_id="t",
                    tool_input={"file_path": str(repo / ".env"), "content": "KEY=1"})
    code, out, _ = hook(pod, payload)
    assert code == 0
    answer = json.loads(out)["hookSpecificOutput"]
    assert answer["hookEventName"] == "PreToolUse" and answer["permissionDecision"] == "deny"
    assert "Denied by LoomTUI policy" in answer["permissionDecisionReason"]


def test_policy_allow_answers_allow_for_claude_and_nothing_for_codex(pod: Path, repo: Path) -> None:
    (pod / "policy.toml").write_text(
        '[[rule]]\nname = "ls-ok"\naction = "allow"\nrisk = "low"\ntool = "Bash"\ncommand = "ls*"\n')
    code, out, _ = hook(pod, bash("ls -la", repo))
    assert code == 0 and json.loads(out) == pre_tool_use("allow", "Allowed by LoomTUI policy (ls-ok)")
    code, out, _ = hook(pod, bash("ls -la", repo), agent="codex")
    assert (code, out) == (0, "")


def test_gate_approved_by_a_supervisor_answers_allow(pod: Path, repo: Path) -> None:
    proc = start(pod, bash("git push origin auth", repo))
    assert agent_wait_status(pod, "waiting")
    decider = decide_when_ready(pod, approve=True, reason="ship it")
    code, out, _ = finish(proc)
    decider.join()
    assert code == 0 and json.loads(out) == pre_tool_use("allow", "Approved by ana: ship it")
    assert agent_row(pod)["status"] == "working"


def test_gate_rejected_answers_deny_with_the_supervisors_reason(pod: Path, repo: Path) -> None:
    proc = start(pod, bash("git push --force origin auth", repo))
    decider = decide_when_ready(pod, approve=False, reason="push after the migration lands")
    code, out, _ = finish(proc)
    decider.join()
    assert code == 0
    assert json.loads(out) == pre_tool_use("deny", "Rejected by ana: push after the migration lands")


def test_codex_gate_answers_nothing_when_approved_and_deny_when_rejected(pod: Path, repo: Path) -> None:
    proc = start(pod, bash("git push origin auth", repo), agent="codex")
    decide_when_ready(pod, approve=True).join()
    assert finish(proc)[:2] == (0, "")
    proc = start(pod, bash("git push origin auth", repo), agent="codex")
    decide_when_ready(pod, approve=False, reason="not yet").join()
    code, out, _ = finish(proc)
    assert code == 0 and json.loads(out) == pre_tool_use("deny", "Rejected by ana: not yet")


def test_permission_request_goes_to_the_inbox(pod: Path, repo: Path) -> None:
    payload = event("PermissionRequest", repo, tool_name="Bash", tool_input={"command": "npm test"},
                    permission_suggestions=[])
    proc = start(pod, payload)
    decide_when_ready(pod, approve=True).join()
    code, out, _ = finish(proc)
    assert code == 0
    assert json.loads(out) == {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                                      "decision": {"behavior": "allow"}}}
    proc = start(pod, payload)
    decide_when_ready(pod, approve=False, reason="use the CI").join()
    code, out, _ = finish(proc)
    assert json.loads(out)["hookSpecificOutput"]["decision"] == {"behavior": "deny",
                                                                 "message": "Rejected by ana: use the CI"}


def agent_wait_status(pod: Path, status: str, timeout: float = 20) -> bool:
    """True once the agent's row has `status` (fails the test if it never does)."""
    return wait_for(lambda: (row := agent_row(pod)) is not None and row["status"] == status,
                    f"the agent's status to become {status!r}", timeout=timeout, interval=0.05)


# -- fail closed ---------------------------------------------------------------


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"", "empty hook input"),
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe{}", "not valid UTF-8"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"session_id": "x"}', "no hook_event_name"),
])
def test_unreadable_input_blocks_with_exit_2(pod: Path, raw: bytes, fragment: str) -> None:
    code, out, err = hook(pod, raw)
    assert code == 2 and out == "" and fragment in err


def test_pre_tool_use_without_tool_name_is_denied(pod: Path, repo: Path) -> None:
    code, out, _ = hook(pod, event("PreToolUse", repo, tool_input={"command": "ls"}))
    assert code == 0 and json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_missing_store_denies(tmp_path: Path, repo: Path) -> None:
    code, out, _ = hook(tmp_path / "no-pod", bash("git status", repo))
    answer = json.loads(out)["hookSpecificOutput"]
    assert code == 0 and answer["permissionDecision"] == "deny"
    assert "loomtui init" in answer["permissionDecisionReason"]


def test_corrupt_store_denies(pod: Path, repo: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path(pod)) + suffix).unlink(missing_ok=True)
    db_path(pod).write_bytes(b"this is not a database" * 100)
    code, out, _ = hook(pod, bash("git status", repo))
    answer = json.loads(out)["hookSpecificOutput"]
    assert code == 0 and answer["permissionDecision"] == "deny" and "corrupt" in answer["permissionDecisionReason"]


def test_record_events_never_block_on_a_broken_store(tmp_path: Path, repo: Path) -> None:
    code, out, err = hook(tmp_path / "no-pod", event("Stop", repo))
    assert (code, out) == (0, "") and "pod store" in err


def test_locked_store_denies(pod: Path, repo: Path) -> None:
    """Another process holds the write lock past the busy timeout (5 s)."""
    locker = sqlite3.connect(db_path(pod), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        code, out, _ = hook(pod, bash("git status", repo))
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    answer = json.loads(out)["hookSpecificOutput"]
    assert code == 0 and answer["permissionDecision"] == "deny" and "locked" in answer["permissionDecisionReason"]


def test_expiry_denies(pod: Path, repo: Path) -> None:
    (pod / "policy.toml").write_text(
        '[[rule]]\nname = "push"\naction = "gate"\nrisk = "high"\ntool = "Bash"\n'
        'command = "git push*"\nexpires_after = 1\n')
    code, out, _ = hook(pod, bash("git push origin auth", repo))
    answer = json.loads(out)["hookSpecificOutput"]
    assert code == 0 and answer["permissionDecision"] == "deny"
    assert "in time" in answer["permissionDecisionReason"]
    conn = connect(db_path(pod))
    assert [g.status for g in list_gates(conn, include_all=True)] == ["expired"]
    conn.close()


def test_sigterm_to_a_waiting_hook_denies_and_cancels_its_gate(pod: Path, repo: Path) -> None:
    proc = start(pod, bash("git push origin auth", repo))
    gate_id = wait_for_gate(pod)
    proc.send_signal(signal.SIGTERM)
    code, out, _ = finish(proc)
    answer = json.loads(out)["hookSpecificOutput"]
    assert code == 0 and answer["permissionDecision"] == "deny"
    assert "interrupted" in answer["permissionDecisionReason"]
    conn = connect(db_path(pod))
    (gate,) = [g for g in list_gates(conn, include_all=True) if g.id == gate_id]
    conn.close()
    assert gate.status == "cancelled"


def test_deleted_store_during_a_wait_denies(pod: Path, repo: Path) -> None:
    """Nobody can decide on a store that is gone: the gate expires and denies."""
    (pod / "policy.toml").write_text(
        '[[rule]]\nname = "push"\naction = "gate"\nrisk = "high"\ntool = "Bash"\n'
        'command = "git push*"\nexpires_after = 2\n')
    proc = start(pod, bash("git push origin auth", repo))
    wait_for_gate(pod)
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path(pod)) + suffix).unlink(missing_ok=True)
    code, out, _ = finish(proc)
    assert code == 0 and json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_a_hook_whose_agent_died_cancels_its_gate(pod: Path, repo: Path) -> None:
    """Claude Code runs hooks in their own session: when it dies the waiting hook
    gets no signal, only its output hanging up. The gate must not stay pending."""
    proc = start(pod, bash("git push origin auth", repo))
    gate_id = wait_for_gate(pod)
    proc.stdout.close()  # the agent is gone: nobody reads the answer
    proc.stderr.close()
    # Nobody reads the status either: the direct path finishes its deny (0), the hook
    # client stops at once with a block (2), and the service cancels on its hang-up.
    assert proc.wait(timeout=10) == (2 if hook_routes.CURRENT.name == "served" else 0)

    def cancelled():
        conn = connect(db_path(pod))
        try:
            (gate,) = [g for g in list_gates(conn, include_all=True) if g.id == gate_id]
        finally:
            conn.close()
        return gate if gate.status != "pending" else None

    gate = wait_for(cancelled, "the gate to leave the inbox")
    assert gate.status == "cancelled" and "agent exited" in (gate.reason or "")


def test_post_tool_use_failure_is_recorded(pod: Path, repo: Path) -> None:
    payload = event("PostToolUseFailure", repo, tool_name="Bash", tool_input={"command": "git push"},
                    tool_use_id="t1", error="fatal: 'origin' does not appear to be a git repository\nmore",
                    is_interrupt=False, duration_ms=40)
    assert hook(pod, payload)[:2] == (0, "")
    assert agent_row(pod)["last_summary"] == \
        "git push: fatal: 'origin' does not appear to be a git repository"


def test_a_decision_after_session_end_keeps_the_agent_done(pod: Path, repo: Path) -> None:
    proc = start(pod, bash("git push origin auth", repo))
    wait_for_gate(pod)
    hook(pod, event("SessionEnd", repo, reason="other"))
    decide_when_ready(pod, approve=False, reason="too late").join()
    finish(proc)
    assert agent_row(pod)["status"] == "done"


# -- fail-open paths found in review ---------------------------------------------


@pytest.mark.parametrize("extra", [
    "[" * 3000 + "]" * 3000,  # deeper than the JSON parser's recursion limit
    "9" * 5000,  # an integer too long for int()
], ids=["deep-nesting", "huge-integer"])
def test_unparseable_tool_input_is_denied_not_waved_through(pod: Path, repo: Path, extra: str) -> None:
    raw = ('{"session_id":"s","cwd":"%s","hook_event_name":"PreToolUse","tool_name":"Bash",'
           '"tool_input":{"command":"git push -f origin main","x":%s}}' % (repo, extra)).encode()
    code, out, err = hook(pod, raw)
    assert code == 2 and out == "" and "cannot be read as JSON" in err


def test_a_pod_path_that_cannot_be_expanded_blocks(pod: Path, repo: Path) -> None:
    env = {**env_for(pod), "LOOM_HOME": "~no-such-user-here/pod"}
    done = subprocess.run([sys.executable, "-m", "loomtui", "hook", "claude"],
                          input=json.dumps(bash("git push", repo)).encode(), env=env, capture_output=True)
    assert done.returncode == 2 and b"denied to be safe" in done.stderr and b"Traceback" not in done.stderr


def reading_stdin(pid: int) -> bool:
    """Is process `pid` asleep in read(0, ...)? (/proc/PID/syscall: number, then arguments.)"""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] == str(READ_SYSCALL) and int(fields[1], 16) == 0


READ_SYSCALL = {"x86_64": 0, "aarch64": 63}.get(os.uname().machine)


@pytest.mark.skipif(READ_SYSCALL is None or not Path("/proc/self/syscall").exists(),
                    reason="needs Linux /proc/PID/syscall on x86_64 or aarch64")
def test_a_signal_before_the_input_arrives_blocks(pod: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "loomtui", "hook", "claude"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(pod))
    wait_for(lambda: reading_stdin(proc.pid) or proc.poll() is not None, "the hook to block reading stdin",
             interval=0.01)
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    assert code == 2 and "denied to be safe" in err


def test_gate_expiry_is_capped_below_the_hook_timeout(pod: Path, repo: Path) -> None:
    """A hook that outlives Claude Code's timeout lets the action through, so no
    policy may make a gate wait that long."""
    from loomtui.hooks.protocol import GATE_HOOK_TIMEOUT

    (pod / "policy.toml").write_text(
        '[[rule]]\nname = "push"\naction = "gate"\nrisk = "high"\ntool = "Bash"\n'
        'command = "git push*"\nexpires_after = 99999\n')
    proc = start(pod, bash("git push origin auth", repo))
    gate_id = wait_for_gate(pod)
    proc.send_signal(signal.SIGTERM)
    finish(proc)
    conn = connect(db_path(pod))
    (gate,) = [g for g in list_gates(conn, include_all=True) if g.id == gate_id]
    conn.close()
    assert gate.expires_at - gate.created_at < GATE_HOOK_TIMEOUT


def test_a_signal_during_a_record_event_does_not_block_the_agent(pod: Path, repo: Path) -> None:
    """Exit 2 on Stop would keep the agent going; records never block."""
    from loomtui.hooks.dispatch import Hook
    from loomtui.hooks.signals import HookInterrupted

    class Interrupting(Hook):
        def _handle(self, event, data):
            raise HookInterrupted("SIGTERM")

    answer = Interrupting("claude", pod).run(json.dumps(event("Stop", repo)).encode())
    assert answer.exit_code == 0 and answer.stdout == "" and "interrupted" in answer.stderr
    answer = Interrupting("claude", pod).run(json.dumps(bash("ls", repo)).encode())
    assert json.loads(answer.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
