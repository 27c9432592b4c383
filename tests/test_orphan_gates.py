"""Issue 10, item 7: a gate dies with its hook.

A hook killed with SIGKILL cannot answer or clean up: its gate would stay pending
and could still be approved, although no process will ever act on the decision.
Each gate records its waiter (pid, start time, host); a decision checks it, and
`loomtui gates` and every console cancel gates whose waiter is gone. An early
SIGTERM (before the hook has done anything slow) still answers deny: the signal
handlers are the first thing `loomtui hook` installs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomtui.store import procs
from loomtui.store.db import connect, db_path
from loomtui.store.gates import cancel_orphans, create_gate, get_gate, waiter_gone
from tests import hook_fixtures, hook_routes
from tests.test_hook import bash, env_for, finish, start, wait_for_gate
from tests.waiting import wait_for

pod, repo = hook_fixtures.pod, hook_fixtures.repo
pytestmark = pytest.mark.usefixtures("hook_route")  # every test both ways: direct and served


def _status(pod: Path, gate_id: int):
    conn = connect(db_path(pod))
    try:
        return get_gate(conn, gate_id)
    finally:
        conn.close()


# A stand-in for the agent process: it runs the hook as its child, as Claude Code does,
# so the supervisor's commands (children of the test) are not in the agent's own tree.
AGENT = """
import json, subprocess, sys
hook = subprocess.Popen(json.loads(sys.argv[2]), stdin=subprocess.PIPE)
hook.stdin.write(sys.argv[1].encode()); hook.stdin.close()
print(hook.pid, flush=True)
hook.wait()
"""


def _killed_waiter(pod: Path, repo: Path) -> int:
    """A real hook gating `git push` (the default policy gates it) under an agent
    process, killed with SIGKILL."""
    route = hook_routes.CURRENT
    route.prepare(pod, env_for(pod))
    agent = subprocess.Popen([sys.executable, "-c", AGENT, json.dumps(bash("git push origin auth", repo)),
                              json.dumps(route.argv("claude"))],
                             stdout=subprocess.PIPE, env=env_for(pod), text=True)
    hook_pid = int(agent.stdout.readline())
    gate_id = wait_for_gate(pod)
    gate = _status(pod, gate_id)
    assert (gate.waiter_pid, gate.waiter_host) == (hook_pid, procs.host())
    assert gate.waiter_started == procs.start_time(hook_pid)
    assert (gate.agent_pid, gate.agent_started) == (agent.pid, procs.start_time(agent.pid))
    if route.name == "served":
        # The service would cancel the gate the moment its client hangs up: kill it
        # first (it held this call: the gate is its work). The client then denies by
        # itself, and the gate is left behind as a killed direct hook leaves it.
        route.kill_service(pod, held_calls=1)
    try:
        os.kill(hook_pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the client had already denied and exited
    assert agent.wait(timeout=10) == 0
    agent.stdout.close()
    assert _status(pod, gate_id).status == "pending"  # nobody cleaned up: that is the attack
    return gate_id


def test_a_gate_whose_hook_was_killed_cannot_be_approved(pod: Path, repo: Path) -> None:
    gate_id = _killed_waiter(pod, repo)
    done = subprocess.run([sys.executable, "-m", "loomtui", "approve", str(gate_id)],
                          env=env_for(pod), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout
    assert "stopped waiting" in done.stderr and "Traceback" not in done.stderr
    gate = _status(pod, gate_id)
    assert gate.status == "cancelled" and gate.approved_hash is None


def test_gates_listing_cancels_gates_whose_hook_is_gone(pod: Path, repo: Path) -> None:
    gate_id = _killed_waiter(pod, repo)
    done = subprocess.run([sys.executable, "-m", "loomtui", "gates"], env=env_for(pod),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and f"{gate_id}" not in done.stdout.split("\n", 1)[-1]
    gate = _status(pod, gate_id)
    assert gate.status == "cancelled" and "stopped waiting" in (gate.reason or "")


def test_a_live_waiter_and_another_hosts_waiter_are_left_alone(pod: Path) -> None:
    """A reused pid is not the waiter: the start time tells them apart. A gate whose
    waiter runs on another host is not this host's to judge."""
    conn = connect(db_path(pod))
    try:
        me = procs.me()
        common = dict(agent_id=None, tool="Bash", summary="x", rule="r", risk="high",
                      now=time.time(), expires_at=time.time() + 600)
        alive = create_gate(conn, action={"command": "a"}, waiter_pid=me.pid,
                            waiter_started=me.started, waiter_host=procs.host(), **common)
        reused = create_gate(conn, action={"command": "b"}, waiter_pid=me.pid,
                             waiter_started=(me.started or 0) + 1, waiter_host=procs.host(), **common)
        elsewhere = create_gate(conn, action={"command": "c"}, waiter_pid=me.pid,
                                waiter_started=(me.started or 0) + 1, waiter_host="another-box", **common)
        assert (waiter_gone(alive), waiter_gone(reused), waiter_gone(elsewhere)) == (False, True, False)
        assert cancel_orphans(conn, now=time.time()) == [reused.id]
        assert [get_gate(conn, g.id).status for g in (alive, reused, elsewhere)] == \
            ["pending", "cancelled", "pending"]
    finally:
        conn.close()


def _catches(pid: int, signum: int) -> bool:
    """Has process `pid` installed a handler for `signum` (SigCgt in /proc/PID/status)?"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(mask & (1 << (signum - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_sigterm_as_soon_as_the_handler_is_in_place_answers_deny(pod: Path) -> None:
    """The hook installs its SIGTERM handler before importing anything slow; from
    then on a SIGTERM is a deny (exit 2 with the reason), never a death by signal
    (which Claude Code treats as a non-blocking error and lets the call through)."""
    route = hook_routes.CURRENT
    route.prepare(pod, env_for(pod))
    route.reaches_service = False  # the signal comes before the call is sent
    proc = subprocess.Popen(route.argv("claude"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(pod))
    # polled tightly: the signal should come as soon as the handler is in place
    wait_for(lambda: _catches(proc.pid, signal.SIGTERM) or proc.poll() is not None,
             "the hook to catch SIGTERM", interval=0.0005)
    assert proc.poll() is None, "the hook ended before it caught SIGTERM"
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    assert code == 2 and "denied to be safe" in err and out == ""


PROBE = """
import signal, sys
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name in ("loomtui.hooks.dispatch", "loomtui.hooks.protocol", "loomtui.store.db"):
            handler = signal.getsignal(signal.SIGTERM)
            print(name, getattr(handler, "__name__", handler), file=sys.stderr)
        return None
sys.meta_path.insert(0, Spy())
from loomtui.cli import main
sys.exit(main(["hook", "claude"]))
"""


def test_the_signal_handler_is_in_place_before_the_hook_imports_anything_slow(pod: Path) -> None:
    """An import spy in a real hook process: when the hook module and the store start
    to load, SIGTERM is already handled (so a SIGTERM in the hook's first milliseconds
    is a deny, not a death by signal)."""
    done = subprocess.run([sys.executable, "-c", PROBE], input=b"", env=env_for(pod),
                          capture_output=True, timeout=60)
    seen = [line.split() for line in done.stderr.decode().splitlines() if line.startswith("loomtui.")]
    assert seen and all(handler == "interrupted" for _name, handler in seen), done.stderr
    assert done.returncode == 2  # empty input: blocked with a reason


def test_an_approval_written_into_the_store_by_hand_is_denied(pod: Path, repo: Path) -> None:
    """An agent that can write loom.db (no sandbox) sets its own gate approved with the
    right hash, the way `sqlite3 loom.db "update gates ..."` would. No LoomTUI decision
    path wrote it (they append the audit entry in the same transaction), so the
    waiting hook denies."""
    import sqlite3

    proc = start(pod, bash("git push origin auth", repo))
    gate_id = wait_for_gate(pod)
    raw = sqlite3.connect(db_path(pod))
    raw.execute("UPDATE gates SET status = 'approved', decided_by = 'alice', decided_at = 1, "
                "approved_hash = content_hash WHERE id = ?", (gate_id,))
    raw.commit()
    raw.close()
    code, out, _ = finish(proc)
    answer = json.loads(out)["hookSpecificOutput"]
    assert code == 0 and answer["permissionDecision"] == "deny"
    assert "no audit entry" in answer["permissionDecisionReason"]
