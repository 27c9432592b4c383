"""The pod service and its hook client (loomtui/service.py, hooks/served.py,
hooks/client.py) where they differ from the direct path: the exchange, going direct
when no service answers, never twice, the socket's place and mode, one service per
pod. The hook's answers themselves are tested both ways in test_hook.py and others
(the `hook_route` fixture)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from loomtui.hooks import client, install, served
from loomtui.store.db import connect, db_path
from tests import hook_fixtures, hook_routes
from tests.test_hook import bash, env_for, event, wait_for_gate
from tests.waiting import wait_for

pod, repo = hook_fixtures.pod, hook_fixtures.repo


def client_argv(agent: str = "claude") -> list[str]:
    return shlex.split(install.hook_command(agent))


def run_client(pod: Path, payload: dict | bytes, env: dict | None = None,
               timeout: float = 60) -> tuple[int, str, str]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    done = subprocess.run(client_argv(), input=data, capture_output=True, timeout=timeout,
                          env=env or env_for(pod))
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def start_service(pod: Path, *extra: str) -> subprocess.Popen:
    return hook_routes.start_service(pod, env_for(pod), *extra)


def stop(proc: subprocess.Popen) -> str:
    return hook_routes.stop_service(proc)


def events(pod: Path) -> list[tuple[str, str]]:
    conn = connect(db_path(pod))
    try:
        return conn.execute("SELECT kind, summary FROM events ORDER BY id").fetchall()
    finally:
        conn.close()


def test_client_and_service_speak_the_same_protocol() -> None:
    assert (client.SOCKET_NAME, client.MAGIC) == (served.SOCKET_NAME, served.MAGIC)
    assert install.hook_command("codex").endswith("/loomtui/hooks/launch.py codex")


def test_client_imports_no_site_packages_and_no_loomtui_when_served(pod: Path, repo: Path) -> None:
    """The served path's whole point: the client starts bare (-I -S) and loads nothing
    of ours. Checked by asking the interpreter what it loaded, at exit."""
    service = start_service(pod)
    try:
        probe = (f"import runpy, sys; sys.argv = ['client.py', 'claude']\n"
                 f"try:\n    runpy.run_path({str(install.CLIENT)!r}, run_name='__main__')\n"
                 f"except SystemExit:\n    pass\n"
                 f"print(sorted(m for m in sys.modules if m.startswith(('loomtui', 'json', 'site', 'socket'))),"
                 f" file=sys.stderr)")
        done = subprocess.run([sys.executable, "-I", "-S", "-c", probe], env=env_for(pod),
                              input=json.dumps(bash("git status", repo)).encode(), capture_output=True,
                              timeout=60)
        loaded = done.stderr.decode().strip().splitlines()[-1]
        assert loaded == "[]", loaded
        assert done.stdout == b""  # `git status` passes: the agent's own permissions decide
    finally:
        stop(service)


def test_without_a_service_the_client_runs_the_direct_path(pod: Path, repo: Path) -> None:
    assert not served.socket_path(pod).exists()
    assert run_client(pod, bash("git status", repo))[:2] == (0, "")  # passes: the agent decides
    code, out, err = run_client(pod, bash(f"sqlite3 {pod}/loom.db", repo))
    assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny", err
    assert [k for k, _ in events(pod)] == ["tool", "denied"]


def test_a_stale_socket_is_replaced_and_a_dead_one_is_gone_around(pod: Path, repo: Path) -> None:
    """A service killed with SIGKILL leaves its socket file: clients go direct, and
    the next service binds in its place."""
    service = start_service(pod)
    service.kill()
    service.wait()
    service.stderr.close()
    assert served.socket_path(pod).exists() and not served.answering(served.socket_path(pod))
    code, out, _ = run_client(pod, bash("git status", repo))
    assert (code, out) == (0, "")
    again = start_service(pod)
    try:
        assert run_client(pod, bash("git status", repo))[0] == 0
    finally:
        assert "answered 1 hook call" in stop(again)
    assert not served.socket_path(pod).exists()  # removed on a clean stop
    assert [k for k, _ in events(pod)] == ["tool", "tool"]


def fake_service(pod: Path, script) -> tuple[socket.socket, threading.Thread]:
    """A socket at the service's place that follows `script(conn)`: what a service that
    hangs, refuses, or dies at a bad moment looks like to the client."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(served.socket_path(pod)))
    listener.listen(8)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            script(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def read_request(conn: socket.socket) -> list[bytes]:
    fields = served.read_request(conn)
    assert fields is not None
    return fields


def test_a_service_that_never_says_ready_is_gone_around_once(pod: Path, repo: Path) -> None:
    hold = threading.Event()

    def silent(conn):
        read_request(conn)
        hold.wait(30)  # says nothing

    listener, thread = fake_service(pod, silent)
    try:
        code, out, _ = run_client(pod, bash("git status", repo))
    finally:
        hold.set()
        thread.join(5)
        listener.close()
    assert (code, out) == (0, "")
    assert [k for k, _ in events(pod)] == ["tool"]  # once, by the direct path


def test_a_refusing_service_sends_the_call_direct(pod: Path, repo: Path) -> None:
    def refuse(conn):
        read_request(conn)
        conn.sendall(b"N" + b"8:stopping")

    listener, thread = fake_service(pod, refuse)
    try:
        code, out, _ = run_client(pod, bash("git status", repo))
    finally:
        thread.join(5)
        listener.close()
    assert (code, out) == (0, "") and [k for k, _ in events(pod)] == ["tool"]


@pytest.mark.parametrize("event_name", ["PreToolUse", "PermissionRequest"])
def test_a_service_that_dies_after_go_on_a_deciding_call_is_a_deny(pod: Path, repo: Path,
                                                                  event_name: str) -> None:
    """Once told to go, the service may have acted (held a gate): the client must not
    run the call again, and must not let it through. It blocks (exit 2)."""
    seen = {}

    def die(conn):
        seen["fields"] = read_request(conn)
        conn.sendall(b"R1")
        seen["go"] = conn.recv(1)

    listener, thread = fake_service(pod, die)
    try:
        code, out, err = run_client(pod, bash("git status", repo, name=event_name))
    finally:
        thread.join(5)
        listener.close()
    assert seen["go"] == b"G" and seen["fields"][0] == b"claude"
    assert code == 2 and out == "" and "denied to be safe" in err
    assert events(pod) == []  # and nothing ran it a second time


def test_a_service_that_dies_after_go_on_a_record_leaves_it_to_the_direct_path(pod: Path, repo: Path) -> None:
    def die(conn):
        read_request(conn)
        conn.sendall(b"R0")
        conn.recv(1)

    listener, thread = fake_service(pod, die)
    try:
        code, out, _ = run_client(pod, bash("git status", repo, name="PostToolUse"))
    finally:
        thread.join(5)
        listener.close()
    assert (code, out) == (0, "")
    assert [k for k, _ in events(pod)] == ["tool_done"]  # recorded: at least once, never lost


def test_the_service_answers_only_its_own_pod(pod: Path, repo: Path, tmp_path: Path) -> None:
    """A client whose environment names another pod is refused (N) and goes direct,
    into its own pod; the service's pod gets nothing."""
    other = tmp_path / "other"
    connect(db_path(other)).close()
    service = start_service(pod)
    try:
        # The other pod's socket path is this service's (a symlink), as a mix-up would make it.
        os.symlink(served.socket_path(pod), served.socket_path(other))
        code, out, _ = run_client(other, bash("git status", repo))
        assert (code, out) == (0, "")
    finally:
        assert "answered 0 hook call" in stop(service)
    assert events(pod) == [] and [k for k, _ in events(other)] == ["tool"]


def test_garbage_on_the_socket_is_ignored_and_the_service_goes_on(pod: Path, repo: Path) -> None:
    service = start_service(pod)
    try:
        for junk in (b"GET / HTTP/1.1\r\n\r\n", served.MAGIC + b"99999999999999:x", served.MAGIC + b"5:cl"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(served.socket_path(pod)))
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(15)
                assert s.recv(100) == b""  # closed without an answer
        code, out, _ = run_client(pod, bash("git status", repo))
        assert (code, out) == (0, "")
    finally:
        assert "answered 1 hook call" in stop(service)  # the garbage answered nothing
    assert [k for k, _ in events(pod)] == ["tool"]


def test_the_socket_is_private_to_the_pod(pod: Path) -> None:
    service = start_service(pod)
    try:
        mode = stat.S_IMODE(os.stat(served.socket_path(pod)).st_mode)
        assert stat.S_ISSOCK(os.stat(served.socket_path(pod)).st_mode) and mode == 0o600
    finally:
        stop(service)


def test_a_pod_too_deep_for_a_socket_path_is_served(tmp_path: Path, repo: Path) -> None:
    """sun_path holds 108 bytes; pods in deep directories are reached through a
    directory descriptor on both sides."""
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "pod"
    connect(db_path(deep)).close()
    assert len(str(served.socket_path(deep))) > 108
    service = start_service(deep)
    try:
        code, out, _ = run_client(deep, bash("git status", repo))
        assert (code, out) == (0, "")
    finally:
        assert "answered 1 hook call" in stop(service)


def test_one_service_per_pod_and_the_standby_takes_over(pod: Path, repo: Path) -> None:
    first = start_service(pod)
    second = subprocess.Popen([sys.executable, "-m", "loomtui", "serve", "--no-ingest", "--no-diffs"],
                              env=env_for(pod), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        assert run_client(pod, bash("git status", repo))[0] == 0
        assert second.poll() is None  # standing by, not serving
        first.kill()
        first.wait()
        first.stderr.close()
        # The standby takes the lease within TTL + RENEW (about 8 s) and binds the socket.
        wait_for(lambda: served.answering(served.socket_path(pod), 0.2) and _holder(pod) != "",
                 "the standby service to take over", timeout=30)
        code, out, _ = run_client(pod, bash("git status", repo))
        assert (code, out) == (0, "")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert [k for k, _ in events(pod)] == ["tool", "tool"]


def _holder(pod: Path) -> str:
    from loomtui.store.leases import holder_of

    return holder_of(pod, "serve", __import__("time").time()) or ""


def test_a_gate_held_by_the_service_names_the_client_and_the_agent(pod: Path, repo: Path) -> None:
    """Who waits is read from the socket (SO_PEERCRED), not from what the client says:
    a client that claims another pid in its environment changes nothing."""
    service = start_service(pod)
    try:
        env = {**env_for(pod), "LOOM_PID": "1", "PPID": "1"}
        proc = subprocess.Popen(client_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        proc.stdin.write(json.dumps(bash("git push origin auth", repo)).encode())
        proc.stdin.close()
        gate_id = wait_for_gate(pod)
        conn = connect(db_path(pod))
        try:
            row = conn.execute("SELECT waiter_pid, agent_pid FROM gates WHERE id = ?", (gate_id,)).fetchone()
        finally:
            conn.close()
        assert row == (proc.pid, os.getpid())  # the client waits; this test is its agent
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        answer = json.loads(proc.stdout.read())["hookSpecificOutput"]
        assert answer["permissionDecision"] == "deny" and "SIGTERM" in answer["permissionDecisionReason"]
        proc.stdout.close()
        proc.stderr.close()
    finally:
        stop(service)


def test_the_service_stopping_denies_a_waiting_call_and_cancels_its_gate(pod: Path, repo: Path) -> None:
    service = start_service(pod)
    proc = subprocess.Popen(client_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env_for(pod))
    proc.stdin.write(json.dumps(bash("git push origin auth", repo)).encode())
    proc.stdin.close()
    gate_id = wait_for_gate(pod)
    stop(service)
    assert proc.wait(timeout=30) == 0
    answer = json.loads(proc.stdout.read())["hookSpecificOutput"]
    proc.stdout.close()
    proc.stderr.close()
    assert answer["permissionDecision"] == "deny" and "stopping" in answer["permissionDecisionReason"]
    conn = connect(db_path(pod))
    try:
        status = conn.execute("SELECT status FROM gates WHERE id = ?", (gate_id,)).fetchone()[0]
    finally:
        conn.close()
    assert status == "cancelled"


def test_session_start_memory_and_codex_answers_come_back_whole(pod: Path, repo: Path) -> None:
    service = start_service(pod)
    try:
        code, out, _ = run_client(pod, event("SessionStart", repo, source="startup"))
        assert code == 0
        if out:
            assert "additionalContext" in json.loads(out)["hookSpecificOutput"]
        big = "x" * 300_000  # an answer's reason longer than one socket read
        code, out, _ = run_client(pod, bash(f"sqlite3 {pod}/loom.db '{big}'", repo))
        reason = json.loads(out)["hookSpecificOutput"]["permissionDecisionReason"]
        assert code == 0 and "protect-pod-commands" in reason
    finally:
        assert "answered 2 hook call" in stop(service)


def test_a_broken_install_blocks_never_lets_through(tmp_path: Path, repo: Path) -> None:
    """Claude Code lets a call through when its hook exits 1 (a traceback): the hook
    command must block (2) even when the client beside it is missing or broken."""
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "launch.py").write_bytes(install.CLIENT.read_bytes())
    data = json.dumps(bash("git status", repo)).encode()
    done = subprocess.run([sys.executable, "-I", "-S", str(lone / "launch.py"), "claude"], input=data,
                          capture_output=True, timeout=60)
    assert done.returncode == 2 and b"denied to be safe" in done.stderr and b"Traceback" not in done.stderr
    (lone / "client.py").write_bytes(Path(client.__file__).read_bytes())  # no package around it
    done = subprocess.run([sys.executable, "-I", "-S", str(lone / "launch.py"), "claude"], input=data,
                          capture_output=True, timeout=60, env={"LOOM_HOME": str(tmp_path / "nopod")})
    assert done.returncode == 2 and b"denied to be safe" in done.stderr and b"Traceback" not in done.stderr
