"""Red-team attacks on the pod service (`loomtui serve`) and its hook client, made
from an agent's side: a process tree below a stand-in agent process (as
tests/test_orphan_gates.py builds one), against a real pod and a real service.

The served path must keep every guarantee of the direct path: a gated call is
never let through by a fault, each call is decided once, and the waiter and the
agent recorded on a gate come from the OS, never from the request.

Each test is an attack. One that fails (the guarantee holds) says why in its
docstring; one that succeeds asserts the safe behaviour and is marked
`xfail(strict=True)` with what went wrong, so that fixing it turns the test green
and makes the mark fail until it is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from loomtui.hooks import client, served
from loomtui.store.db import connect, db_path
from loomtui.store.gates import get_gate
from tests import hook_fixtures
from tests.test_hook import bash, env_for, event, wait_for_gate
from tests.test_served import client_argv, events, fake_service, read_request, run_client, start_service, stop
from tests.waiting import wait_for

pod, repo = hook_fixtures.pod, hook_fixtures.repo


def denied(code: int, out: str) -> bool:
    """Did the agent get a block? Exit 2, or exit 0 with a deny decision."""
    if code == 2:
        return True
    if code != 0 or not out.strip():
        return False
    answer = json.loads(out).get("hookSpecificOutput", {})
    return answer.get("permissionDecision") == "deny" or \
        answer.get("decision", {}).get("behavior") == "deny"


def gate_row(pod: Path, gate_id: int):
    conn = connect(db_path(pod))
    try:
        return get_gate(conn, gate_id)
    finally:
        conn.close()


def netstrings(*parts: bytes) -> bytes:
    return b"".join(b"%d:" % len(p) + p for p in parts)


def store_attack(pod: Path) -> str:
    """A command the built-in policy denies on both paths (protect-pod-commands)."""
    return f"sqlite3 {pod}/loom.db 'update gates set status=1'"


# -- 1. make the client let a deciding call through: a service that fails at each phase


def _script(phase: str):
    """What a service bound at the pod's socket does; each phase is a way to fail."""
    def run(conn: socket.socket) -> None:
        read_request(conn)
        if phase == "close before ready":
            return
        if phase == "ready with junk":
            conn.sendall(b"RX")  # neither R1 nor R0
            conn.recv(1)
            return
        if phase == "says record, then dies":
            conn.sendall(b"R0")  # a lie about a deciding event
            conn.recv(1)
            return
        conn.sendall(b"R1")
        if phase == "close after ready":
            return
        assert conn.recv(1) == b"G"
        answers = {
            "close after go": b"",
            "half an answer": b"1:0" + b"40:{\"hookSpecificOutput\": {\"permissionDe",
            "length beyond the data": b"1:0" + b"999999999999:{}",
            "garbage": b"HTTP/1.1 200 OK\r\n\r\nallow",
            "exit status 1": netstrings(b"1", b"", b""),
            "exit status 257": netstrings(b"257", b"", b""),
            "exit status -1": netstrings(b"-1", b"", b""),
        }
        conn.sendall(answers[phase])
    return run


PHASES = ["close before ready", "ready with junk", "says record, then dies", "close after ready",
          "close after go", "half an answer", "length beyond the data", "garbage", "exit status 1",
          "exit status 257", "exit status -1"]


@pytest.mark.parametrize("phase", PHASES)
def test_a_service_failing_at_any_phase_never_lets_a_denied_call_through(pod: Path, repo: Path,
                                                                          phase: str) -> None:
    """Attack fails: before "go" the client runs the direct path (which denies the
    call); after "go" on an event that decides, anything but a whole answer is exit 2.
    An exit status other than 0 or 2 from a service becomes 2: Claude Code lets a
    call through on 1 (257 and -1 would reach the agent as 1 and 255)."""
    listener, thread = fake_service(pod, _script(phase))
    try:
        code, out, err = run_client(pod, bash(store_attack(pod), repo), timeout=30)
    finally:
        thread.join(10)
        listener.close()
    assert denied(code, out), (phase, code, out, err)
    assert "Traceback" not in err


def test_a_stopped_service_before_ready_sends_the_call_direct_once(pod: Path, repo: Path) -> None:
    """Attack fails: a service that accepts but never says ready (SIGSTOPped: the
    kernel's backlog still accepts) costs the ready timeout (client.READY_TIMEOUT), then the direct path
    decides, once."""
    service = start_service(pod)
    try:
        service.send_signal(signal.SIGSTOP)
        code, out, _ = run_client(pod, bash(store_attack(pod), repo), timeout=30)
        assert denied(code, out)
    finally:
        # SIGKILL, not stop(): the call's fate is the client's, and once (of some 30
        # tries) a service resumed and then sent SIGTERM did not exit within 30 s.
        service.kill()
        service.wait()
        service.stderr.close()
    assert [k for k, _ in events(pod)] == ["denied"]  # once: the service never acted on it


# -- 2. a real service killed or stopped while it holds a gate, from an agent's tree

AGENT = """
import json, subprocess, sys
hook = subprocess.Popen(json.loads(sys.argv[2]), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
hook.stdin.write(sys.argv[1].encode()); hook.stdin.close()
print(hook.pid, flush=True)
out, err = hook.stdout.read(), hook.stderr.read()
hook.wait()
print(json.dumps([hook.returncode, out.decode(), err.decode()]), flush=True)
"""


class AgentCall:
    """A stand-in agent process that runs the hook client as its child (as Claude
    Code does) for one hook event."""

    def __init__(self, pod: Path, payload: dict, env: dict | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", AGENT, json.dumps(payload), json.dumps(client_argv())],
                                     stdout=subprocess.PIPE, env=env or env_for(pod), text=True)
        self.hook_pid = int(self.proc.stdout.readline())

    def result(self, timeout: float = 30) -> tuple[int, str, str]:
        line = self.proc.stdout.readline()
        self.proc.wait(timeout=timeout)
        self.proc.stdout.close()
        code, out, err = json.loads(line)
        return code, out, err

    def kill(self) -> None:
        for pid in (self.hook_pid, self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


def approve(pod: Path, gate_id: int, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loomtui", "approve", str(gate_id)], env=env or env_for(pod),
                          capture_output=True, text=True, timeout=60)


def test_a_service_killed_while_it_holds_a_gate_is_a_deny_and_the_gate_dies(pod: Path, repo: Path) -> None:
    """Attack fails: SIGKILL of the service mid-gate closes the socket; the client
    denies (exit 2) and exits, so the gate's waiter is gone and nobody can approve it."""
    service = start_service(pod)
    call = AgentCall(pod, bash("git push origin auth", repo))
    gate_id = wait_for_gate(pod)
    service.kill()
    service.wait()
    service.stderr.close()
    code, out, err = call.result()
    assert code == 2 and "denied to be safe" in err
    done = approve(pod, gate_id)
    assert done.returncode == 1 and "stopped waiting" in done.stderr
    assert gate_row(pod, gate_id).status == "cancelled"


def test_a_client_killed_while_the_service_holds_its_gate_cancels_the_gate(pod: Path, repo: Path) -> None:
    """Attack fails: the agent's tree SIGKILLs its own hook client (that call then
    proceeds, as with a killed direct hook: documented) but the gate cannot be
    approved afterwards: the service sees the hang-up and cancels it."""
    service = start_service(pod)
    try:
        call = AgentCall(pod, bash("git push origin auth", repo))
        gate_id = wait_for_gate(pod)
        os.kill(call.hook_pid, signal.SIGKILL)
        call.proc.wait(timeout=30)
        call.proc.stdout.close()
        wait_for(lambda: gate_row(pod, gate_id).status != "pending", "the service to cancel the gate")
        assert gate_row(pod, gate_id).status == "cancelled"
        assert approve(pod, gate_id).returncode == 1
    finally:
        stop(service)


GATE_FAST = """
[[rule]]
name = "push-fast"
action = "gate"
risk = "high"
command = "git push"
expires_after = 1
"""


def test_a_stopped_service_does_not_hold_a_call_until_the_hook_timeout(pod: Path, repo: Path) -> None:
    (pod / "policy.toml").write_text(GATE_FAST)
    service = start_service(pod)
    call = AgentCall(pod, bash("git push origin auth", repo))
    try:
        wait_for_gate(pod)
        service.send_signal(signal.SIGSTOP)
        # A stopped service sends no keep-alive: its client denies after client.SILENCE
        # seconds (the direct path would deny at the gate's expiry, 1 s), long before the
        # agent's own hook timeout would let the call through.
        wait_for(lambda: call.proc.poll() is not None, "the client to deny on the service's silence",
                 timeout=client.SILENCE + 15)
        code, out, _ = call.result()
        assert denied(code, out)
    finally:
        service.send_signal(signal.SIGCONT)
        if call.proc.poll() is None:
            call.kill()
        stop(service)


# -- 3. the socket itself: who is recorded, and can it decide anything?

PEER = """
import json, socket, sys
from loomtui.hooks import served
from loomtui.hooks.client import netstring, read_netstrings
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
env = b"\\0".join(f"{k}={v}".encode() for k, v in json.loads(sys.argv[3]).items())
s.sendall(served.MAGIC + netstring(b"claude") + netstring(b"/") + netstring(env) + netstring(sys.argv[2].encode()))
ready = s.recv(2)
s.sendall(b"G")
chunks = []
while (chunk := s.recv(65536)):
    chunks.append(chunk)
print(json.dumps([ready.decode(), *(x.decode() for x in (read_netstrings(b"".join(chunks).lstrip(b"."), 3) or []))]))
"""

HANDOFF = """
import json, os, socket, sys
from loomtui.hooks import served
from loomtui.hooks.client import netstring
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
if os.fork():
    os._exit(0)  # the connector leaves; its child speaks on the connection
os.setsid()
env = b"\\0".join(f"{k}={v}".encode() for k, v in json.loads(sys.argv[3]).items())
s.sendall(served.MAGIC + netstring(b"claude") + netstring(b"/") + netstring(env) + netstring(sys.argv[2].encode()))
s.recv(2)
s.sendall(b"G")
print(os.getpid(), flush=True)
s.recv(1)  # until the gate is decided
"""

# An agent whose shell talks to the socket itself: the agent is this stand-in; its
# shell (the process that speaks, a child) holds a gate; then, still inside the agent's
# tree, it asks `loomtui approve` for that gate and reports what it said.
SELF_APPROVER = """
import json, os, subprocess, sys, time
from loomtui.store.db import connect, db_path
from loomtui.store.gates import list_gates
speaker = subprocess.Popen([sys.executable, "-c", sys.argv[1], *sys.argv[2:]], stdout=subprocess.DEVNULL)
print(speaker.pid, flush=True)
sys.stdin.readline()  # the test has looked at the gate
from pathlib import Path
conn = connect(db_path(Path(os.environ["LOOM_HOME"])))
gate = list_gates(conn)[0].id
done = subprocess.run([sys.executable, "-m", "loomtui", "approve", str(gate)], capture_output=True, text=True)
print(json.dumps([done.returncode, done.stderr]), flush=True)
speaker.kill()
"""


def test_a_shell_in_the_agents_tree_cannot_claim_another_pid_nor_approve_through_the_socket(
        pod: Path, repo: Path) -> None:
    """Attack fails: a process in the agent's tree that speaks the protocol itself
    (its environment naming pid 1 and another user) is recorded as the waiter, by
    SO_PEERCRED, with the agent above it; no record event it sends decides the gate;
    and `loomtui approve` from the same tree is refused."""
    service = start_service(pod)
    try:
        env = {**env_for(pod), "LOOM_PID": "1", "PPID": "1", "LOOM_USER": "root"}
        agent = subprocess.Popen([sys.executable, "-c", SELF_APPROVER, PEER, str(served.socket_path(pod)),
                                  json.dumps(bash("git push origin auth", repo)), json.dumps(env)],
                                 env=env_for(pod), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        speaker = int(agent.stdout.readline())
        gate_id = wait_for_gate(pod)
        gate = gate_row(pod, gate_id)
        assert (gate.waiter_pid, gate.agent_pid) == (speaker, agent.pid)
        # Every record event through the socket, aimed at the gate: none decides it.
        for name in ("PostToolUse", "PostToolUseFailure", "Stop", "SessionEnd", "Notification"):
            other = subprocess.run([sys.executable, "-c", PEER, str(served.socket_path(pod)),
                                    json.dumps({**bash("git push origin auth", repo, name=name),
                                                "gate_id": gate_id, "decision": "approve"}),
                                    json.dumps(env)], env=env_for(pod), capture_output=True, text=True,
                                   timeout=30)
            assert other.returncode == 0, other.stderr
            assert gate_row(pod, gate_id).status == "pending", name
        agent.stdin.write("go\n")
        agent.stdin.close()
        code, err = json.loads(agent.stdout.readline())
        agent.wait(timeout=30)
        agent.stdout.close()
        assert code != 0 and "refused" in err, err
    finally:
        stop(service)
    assert gate_row(pod, gate_id).status != "approved"


def test_a_connection_handed_to_another_process_names_its_connector(pod: Path, repo: Path) -> None:
    """Attack fails: connect, then hand the connection to a child that leaves the
    agent's session (setsid) and let the connector exit. The waiter recorded is the
    connector (peer credentials are taken at connect), which is gone: the gate is
    orphaned and nobody can approve it, from anywhere."""
    service = start_service(pod)
    try:
        proc = subprocess.Popen([sys.executable, "-c", HANDOFF, str(served.socket_path(pod)),
                                 json.dumps(bash("git push origin auth", repo)), json.dumps(env_for(pod))],
                                env=env_for(pod), stdout=subprocess.PIPE, text=True)
        speaker = int(proc.stdout.readline())
        proc.wait(timeout=30)
        proc.stdout.close()
        gate_id = wait_for_gate(pod)
        gate = gate_row(pod, gate_id)
        assert gate.waiter_pid == proc.pid != speaker
        done = approve(pod, gate_id)
        assert done.returncode == 1 and "stopped waiting" in done.stderr
        assert gate_row(pod, gate_id).status == "cancelled"
        os.kill(speaker, signal.SIGKILL)
    finally:
        stop(service)


# -- 4. the socket's place: squatting it, symlinking it, abstract names, another pod


def test_an_abstract_socket_of_the_same_name_is_never_reached(pod: Path, repo: Path) -> None:
    """Attack fails: the client connects by path only; an abstract socket named like
    the pod's (which any process could bind, sandbox or not) is never asked."""
    squat = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    squat.bind(b"\0" + os.fsencode(served.socket_path(pod)))
    squat.listen(8)
    squat.settimeout(0)
    try:
        code, out, _ = run_client(pod, bash(store_attack(pod), repo))
        assert denied(code, out)
        with pytest.raises(BlockingIOError):
            squat.accept()
    finally:
        squat.close()


READONLY_POD = """
set -e
mount --bind -o ro "$POD" "$POD"
exec "$@"
"""


def _can_make_read_only_mounts() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    return done.returncode == 0


needs_mounts = pytest.mark.skipif(not _can_make_read_only_mounts(),
                                  reason="needs unshare -m (root or user namespaces) for a sandbox stand-in")


def in_read_only_pod(pod: Path, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """`argv` where the pod directory is mounted read-only: the sandbox's denyWrite,
    as bubblewrap makes it for Claude Code's commands."""
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", READONLY_POD, "sh", *argv],
                          env={**env_for(pod), "POD": str(pod)}, capture_output=True, text=True, timeout=60,
                          **kwargs)


@needs_mounts
def test_a_sandboxed_shell_cannot_squat_or_replace_the_socket(pod: Path, repo: Path) -> None:
    """Attack fails, because of the sandbox: with the pod read-only (denyWrite) a
    command can neither bind a socket of its own at serve.sock before the service
    starts, nor swap it for a symlink to one it controls."""
    probe = textwrap.dedent(f"""
        import os, socket
        path = {str(served.socket_path(pod))!r}
        for attempt in ("bind", "symlink", "unlink"):
            try:
                if attempt == "bind":
                    socket.socket(socket.AF_UNIX).bind(path)
                elif attempt == "symlink":
                    os.symlink("/tmp/elsewhere.sock", path)
                else:
                    os.unlink(path)
                print(attempt, "worked")
            except OSError as exc:
                print(attempt, exc.errno)
    """)
    service = start_service(pod)
    try:
        done = in_read_only_pod(pod, [sys.executable, "-c", probe])
        assert "worked" not in done.stdout, done  # EADDRINUSE, EEXIST, EROFS
        assert served.answering(served.socket_path(pod))
    finally:
        stop(service)
    done = in_read_only_pod(pod, [sys.executable, "-c", probe])  # before a service starts
    assert "worked" not in done.stdout and done.stdout.startswith("bind 30"), done  # EROFS


def test_with_the_pod_writable_a_squatter_wins_as_a_policy_edit_would(pod: Path, repo: Path,
                                                                      tmp_path: Path) -> None:
    """The attack works when the agent can write the pod (unsandboxed): a socket
    bound at serve.sock before the service starts answers "allow", and the real
    service then stands by. That is no more than the direct path gives the same
    agent: one line in policy.toml allows the call there. The sandbox's denyWrite
    (test above) and protect-pod-* are the defence on both paths."""
    call = bash("git push origin auth", repo)

    def allow(conn):
        read_request(conn)
        conn.sendall(b"R1")
        conn.recv(1)
        conn.sendall(netstrings(b"0", json.dumps({"hookSpecificOutput": {
            "hookEventName": "PreToolUse", "permissionDecision": "allow"}}).encode(), b""))

    listener, thread = fake_service(pod, allow)
    try:
        standby = subprocess.Popen([sys.executable, "-m", "loomtui", "serve", "--no-ingest", "--no-diffs"],
                                   env=env_for(pod), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        code, out, _ = run_client(pod, call)
        assert code == 0 and json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "allow"
        assert standby.poll() is None  # standing by: the squatter answers
        standby.send_signal(signal.SIGTERM)
        standby.wait(timeout=30)
        standby.stderr.close()
    finally:
        thread.join(10)
        listener.close()
    os.unlink(served.socket_path(pod))
    (pod / "policy.toml").write_text('default_action = "allow"\n')
    direct = subprocess.run([sys.executable, "-m", "loomtui", "hook", "claude"], input=json.dumps(call),
                            env=env_for(pod), capture_output=True, text=True, timeout=60)
    assert json.loads(direct.stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"


def test_a_hook_environment_naming_another_pod_is_trusted_on_both_paths_alike(pod: Path, repo: Path,
                                                                              tmp_path: Path) -> None:
    """Same on both paths: whoever sets the hook's environment (LOOM_HOME,
    XDG_DATA_HOME, HOME) chooses the pod, hence the answer. A fake service in a
    directory the agent owns allows through the client; a fake pod with an allow-all
    policy allows through `loomtui hook`. The hook's environment is Claude Code's,
    which an agent changes only through its settings' `env` (gated:
    protect-agent-wiring), so the served path adds nothing here."""
    evil = tmp_path / "evil"
    connect(db_path(evil)).close()
    (evil / "policy.toml").write_text('default_action = "allow"\n')
    call = bash("git push origin auth", repo)
    direct = subprocess.run([sys.executable, "-m", "loomtui", "hook", "claude"], input=json.dumps(call),
                            env=env_for(evil), capture_output=True, text=True, timeout=60)
    assert json.loads(direct.stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"
    service = start_service(evil)  # a real service for the fake pod: the same answer
    try:
        for env in (env_for(evil), {**env_for(pod), "LOOM_HOME": "", "XDG_DATA_HOME": str(tmp_path),
                                    "HOME": "/nonexistent"}):
            if env.get("XDG_DATA_HOME"):
                os.rename(evil, tmp_path / "loomtui")
            try:
                code, out, _ = run_client(tmp_path / "loomtui" if env.get("XDG_DATA_HOME") else evil, call,
                                          env=env)
            finally:
                if env.get("XDG_DATA_HOME"):
                    os.rename(tmp_path / "loomtui", evil)
            assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "allow"
    finally:
        stop(service)
    assert events(pod) == []  # the real pod heard nothing, on either path


# -- 5. a sandboxed agent reaching the store through the socket


@needs_mounts
@pytest.mark.xfail(strict=True, reason=(
    "HOLE: connecting to a Unix socket needs no write access to its directory's mount, so a "
    "sandboxed command (pod read-only by denyWrite) reaches serve.sock and the service writes the "
    "store for it: forged events for any session, a fake SessionStart that rewrites an agent's "
    "recorded governance, gates in the inbox. The direct path run from the same sandbox cannot "
    "write the store (the control below). The real sandboxes stop it by another wall: their "
    "seccomp filters refuse socket(AF_UNIX) (Claude Code 2.1.332 and Codex workspace-write, "
    "tests/e2e/test_sandbox_e2e.py::test_*_socket_in_the_pod); a sandbox that only makes the pod "
    "read-only, or allows Unix sockets, leaves this open."))
def test_a_sandboxed_shell_cannot_write_the_store_through_the_service(pod: Path, repo: Path) -> None:
    forged = {**event("SessionEnd", repo, reason="forged"), "session_id": "victim-session"}
    # The control: the direct path from the sandbox fails to write (read-only store).
    direct = in_read_only_pod(pod, [sys.executable, "-m", "loomtui", "hook", "claude"], input=json.dumps(forged))
    assert events(pod) == [], direct
    service = start_service(pod)
    try:
        done = in_read_only_pod(pod, [sys.executable, "-c", PEER, str(served.socket_path(pod)), json.dumps(forged),
                                      json.dumps(env_for(pod))])
        assert done.returncode == 0, done.stderr
    finally:
        stop(service)
    assert events(pod) == [], "the sandboxed shell wrote the store through the service"


# -- 6. the service's own view differs from the caller's


def test_a_pkill_aimed_at_the_service_is_denied_when_served_too(pod: Path, repo: Path, tmp_path: Path) -> None:
    # A service whose process name (comm) is unique, so the pattern matches it alone.
    runner = ("open('/proc/self/comm', 'w').write('loomsvc4711'); import runpy, sys; "
              "sys.argv = ['loomtui', 'serve', '--no-ingest', '--no-diffs']; "
              "runpy.run_module('loomtui', run_name='__main__', alter_sys=True)")
    service = subprocess.Popen([sys.executable, "-c", runner], env=env_for(pod), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: service.poll() is not None or served.answering(served.socket_path(pod), 0.2),
             "the pod service to answer")
    try:
        attack = bash("pkill -STOP 'svc4711$'", repo)
        direct = subprocess.run([sys.executable, "-m", "loomtui", "hook", "claude"], input=json.dumps(attack),
                                env=env_for(pod), capture_output=True, text=True, timeout=60)
        assert denied(direct.returncode, direct.stdout), direct.stdout  # the direct path sees the service
        code, out, _ = run_client(pod, attack)
        assert denied(code, out), out
    finally:
        stop(service)


def test_tilde_means_the_callers_home_when_served(tmp_path: Path, repo: Path) -> None:
    home = tmp_path / "agent-home"
    pod = home / "pod"
    connect(db_path(pod)).close()
    attack = bash("cd ~ && rm -f pod/policy.toml", repo)
    env = {**env_for(pod), "HOME": str(home)}
    direct = subprocess.run([sys.executable, "-m", "loomtui", "hook", "claude"], input=json.dumps(attack),
                            env=env, capture_output=True, text=True, timeout=60)
    assert denied(direct.returncode, direct.stdout), direct.stdout  # the control
    service = start_service(pod)  # with the test's own HOME
    try:
        assert os.environ.get("HOME") != str(home)
        code, out, _ = run_client(pod, attack, env=env)
        assert denied(code, out), out
    finally:
        stop(service)


def _loomtui_script() -> str | None:
    found = Path(sys.executable).parent / "loomtui"
    return str(found) if found.exists() else shutil.which("loomtui")


@pytest.mark.skipif(_loomtui_script() is None, reason="no `loomtui` script installed")
@pytest.mark.parametrize("served_now", [False, True], ids=["client-direct", "served"])
def test_replacing_the_loomtui_script_is_denied_through_the_client(pod: Path, repo: Path,
                                                                   served_now: bool) -> None:
    script = _loomtui_script()
    calls = [event("PreToolUse", repo, tool_name="Write", tool_input={"file_path": script, "content": "#!/bin/sh\n"}),
             bash(f"cp /tmp/evil {script}", repo)]
    for call in calls:  # the control: the old hook command, started as the script
        old = subprocess.run([script, "hook", "claude"], input=json.dumps(call), env=env_for(pod),
                             capture_output=True, text=True, timeout=60)
        assert denied(old.returncode, old.stdout) and "protect-loomtui-install" in old.stdout
    service = start_service(pod) if served_now else None
    try:
        for call in calls:
            code, out, _ = run_client(pod, call)
            assert denied(code, out), out
    finally:
        if service is not None:
            stop(service)


def test_a_caller_in_its_own_pid_namespace_is_recorded_by_its_pid_here(pod: Path, repo: Path) -> None:
    """Attack fails: a shell in a new pid namespace (as a sandbox may make one) is
    pid 1 or 2 to itself; the kernel translates SO_PEERCRED into the service's
    namespace, so the gate names the real process, which can then be told apart."""
    if subprocess.run(["unshare", "-p", "-f", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs unshare -p (root or user namespaces)")
    service = start_service(pod)
    try:
        proc = subprocess.Popen(["unshare", "-p", "-f", sys.executable, "-c", PEER, str(served.socket_path(pod)),
                                 json.dumps(bash("git push origin auth", repo)), json.dumps(env_for(pod))],
                                env=env_for(pod), stdout=subprocess.DEVNULL)
        gate_id = wait_for_gate(pod)
        waiter = gate_row(pod, gate_id).waiter_pid
        assert waiter > 2
        with open(f"/proc/{waiter}/cmdline", "rb") as handle:
            assert b"read_netstrings" in handle.read()  # the PEER script, by its pid out here
        assert gate_row(pod, gate_id).agent_pid is None or gate_row(pod, gate_id).agent_pid != waiter
        os.kill(waiter, signal.SIGKILL)  # the namespace's init: the namespace goes with it
        proc.wait(timeout=30)
        wait_for(lambda: gate_row(pod, gate_id).status == "cancelled", "the gate to die with its waiter")
    finally:
        stop(service)


# -- 7. resource exhaustion


def test_hundreds_of_idle_connections_do_not_stop_real_hooks(pod: Path, repo: Path) -> None:
    """Attack fails: 400 connections that never speak hold 400 threads for up to
    REQUEST_TIMEOUT; the service goes on answering real hooks at once (one thread
    each), and a denied call stays denied."""
    service = start_service(pod)
    idle = []
    try:
        for _ in range(400):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(served.socket_path(pod)))
            s.sendall(served.MAGIC[:3])
            idle.append(s)
        started = time.monotonic()
        code, out, _ = run_client(pod, bash(store_attack(pod), repo))
        assert denied(code, out) and time.monotonic() - started < served.REQUEST_TIMEOUT
        assert run_client(pod, bash("git status", repo))[:2] == (0, "")
    finally:
        for s in idle:
            s.close()
        log = stop(service)
    assert "answered 2 hook call" in log  # the service answered both, not the direct path


def _in_process_server(pod: Path):
    sock = served.listen(served.socket_path(pod), 0o600)
    server = served.HookServer(pod, sock)
    stop_event = threading.Event()
    thread = threading.Thread(target=server.serve, args=(stop_event,), daemon=True)
    thread.start()
    return server, sock, stop_event, thread


def test_a_slow_request_is_cut_off_after_the_request_timeout(pod: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(served, "REQUEST_TIMEOUT", 0.5)
    server, sock, stop_event, thread = _in_process_server(pod)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(served.socket_path(pod)))
            request = served.MAGIC + b"6:claude"
            cut = None
            started = time.monotonic()
            for byte in request:
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    cut = time.monotonic() - started
                    break
                # Paced by the clock, not slept on a condition: this *is* the slow client.
                time.sleep(0.3)
            if cut is None:
                s.settimeout(2 * served.REQUEST_TIMEOUT)
                try:
                    cut = None if s.recv(1) else time.monotonic() - started
                except TimeoutError:
                    cut = None  # still held open
            assert cut is not None and cut < 2 * served.REQUEST_TIMEOUT + 0.6
    finally:
        stop_event.set()
        thread.join(5)
        sock.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_service_outlives_a_thread_that_cannot_start(pod: Path, repo: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    failures = [1]
    real = threading.Thread

    class Flaky(real):
        def start(self) -> None:
            if self.name == "loomtui-hook" and failures:
                failures.pop()
                raise RuntimeError("can't start new thread")
            super().start()

    server, sock, stop_event, thread = _in_process_server(pod)
    monkeypatch.setattr(served.threading, "Thread", Flaky)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(served.socket_path(pod)))  # the flood's last straw
            wait_for(lambda: not failures, "a thread that cannot start")
        monkeypatch.setattr(served.threading, "Thread", real)
        assert served.answering(served.socket_path(pod))
        code, out, _ = run_client(pod, bash("git status", repo))
        assert (code, out) == (0, "") and server.served == 1
    finally:
        stop_event.set()
        thread.join(5)
        sock.close()


# -- 8. input the agent shapes: huge, garbled, no stdout


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b"{" * 100_000, b"\xff\xfe",
                                 json.dumps({"hook_event_name": 7}).encode(),
                                 json.dumps({"hook_event_name": "PreToolUse", "tool_name": "Bash",
                                             "tool_input": {"command": "git push"}}).encode("utf-16"),
                                 b"\xef\xbb\xbf" + json.dumps({"hook_event_name": "PreToolUse"}).encode()])
def test_bad_input_through_the_service_is_a_deny(pod: Path, repo: Path, raw: bytes) -> None:
    """Attack fails: what cannot be read is treated as a deciding call (R1), and the
    Hook answers it as the direct path does: a block. (The service's first look,
    json.loads on bytes, reads UTF-16 and a BOM that the Hook refuses; that only
    makes it say R0, and the Hook still blocks.)"""
    service = start_service(pod)
    try:
        code, out, err = run_client(pod, raw)
        assert denied(code, out) and "Traceback" not in err, (code, out, err)
    finally:
        assert "answered 1 hook call" in stop(service)


def test_a_huge_input_is_denied_once(pod: Path, repo: Path) -> None:
    """Attack fails: 40 MB of tool input (a Write into the pod, protect-pod-files) is
    denied, and decided once. (It is the direct path that decides it here: the client
    sends the whole request inside its ready budget, and the service's reading of
    it, `data += chunk`, is quadratic; the client gives up before "go", so the service
    never acts on it.)"""
    service = start_service(pod)
    try:
        big = event("PreToolUse", repo, tool_name="Write",
                    tool_input={"file_path": str(pod / "policy.toml"), "content": "x" * (40 << 20)})
        code, out, _ = run_client(pod, big)
        assert denied(code, out)
    finally:
        stop(service)
    assert [k for k, _ in events(pod)] == ["denied"]


def test_a_client_with_no_stdout_never_exits_1(pod: Path, repo: Path) -> None:
    """With stdout closed the client cannot print the deny JSON; it must block by
    its exit status (2), never 0 or 1."""
    service = start_service(pod)
    try:
        for payload in (bash(store_attack(pod), repo), bash("git push origin auth", repo)):
            proc = subprocess.Popen(client_argv(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, env=env_for(pod), close_fds=True,
                                    preexec_fn=lambda: os.close(1))
            proc.stdin.write(json.dumps(payload).encode())
            proc.stdin.close()
            assert proc.wait(timeout=30) == 2, proc.stderr.read()
            proc.stderr.close()
    finally:
        stop(service)


# -- 9. the service's policy cache


def test_the_long_lived_service_never_uses_a_stale_policy(pod: Path, repo: Path, tmp_path: Path) -> None:
    """Attack fails: the service reuses a parse only for the very same bytes. An edit
    that keeps the size and the modification time, a swap for a symlink, and a
    broken file each take effect on the next call."""
    path = pod / "policy.toml"
    deny_push = 'default_action = "pass"\n[[rule]]\nname = "no-push"\naction = "deny"\ncommand = "git push"\n'
    path.write_text(deny_push)
    stamp = os.stat(path)
    service = start_service(pod)
    try:
        call = bash("git push origin auth", repo)
        assert denied(*run_client(pod, call)[:2])
        path.write_text(deny_push.replace('"deny"', '"pass"'))  # the same length
        os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        assert run_client(pod, call)[:2] == (0, "")
        other = tmp_path / "elsewhere.toml"
        other.write_text(deny_push)
        path.unlink()
        path.symlink_to(other)
        assert denied(*run_client(pod, call)[:2])
        path.unlink()
        path.write_text("default_action = \n")  # unusable: a deny, never the last good parse
        code, out, _ = run_client(pod, bash("git status", repo))
        assert denied(code, out), out
    finally:
        stop(service)
