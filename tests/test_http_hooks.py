"""Claude Code's HTTP hooks to the pod service, for the events that never decide
(loomtui/hooks/http_hooks.py): what `init` writes, the token, the refusal to decide
anything over HTTP, and a service that goes on answering its socket when the port
is taken."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from loomtui.hooks import http_hooks, install
from loomtui.store.db import connect, db_path
from tests import hook_fixtures, hook_routes
from tests.test_hook import bash, env_for, event

pod, repo = hook_fixtures.pod, hook_fixtures.repo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_port(pod: Path, port: int) -> None:
    (pod / "config.toml").write_text(f"[serve]\nhttp_port = {port}\n")


def start_service(pod: Path, *extra: str) -> subprocess.Popen:
    return hook_routes.start_service(pod, env_for(pod), *extra)


def stop(proc: subprocess.Popen) -> str:
    return hook_routes.stop_service(proc)


def post(port: int, payload: dict, token: str | None, path: str = "/loomtui/hook/claude") -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(payload).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    if token is not None:
        request.add_header(http_hooks.TOKEN_HEADER, token)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def kinds(pod: Path) -> list[str]:
    conn = connect(db_path(pod))
    try:
        return [k for (k,) in conn.execute("SELECT kind FROM events ORDER BY id")]
    finally:
        conn.close()


def test_init_writes_http_hooks_only_for_events_that_never_decide(tmp_path: Path, repo: Path) -> None:
    home = tmp_path / "pod"
    env = {**env_for(home)}
    assert subprocess.run([sys.executable, "-m", "loomtui", "init"], env=env, cwd=repo,
                          capture_output=True).returncode == 0
    port = free_port()
    with_port(home, port)
    done = subprocess.run([sys.executable, "-m", "loomtui", "init", "claude", "--no-sandbox"], env=env,
                          cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    settings = repo / ".claude" / "settings.json"
    hooks = json.loads(settings.read_text())["hooks"]
    token = (home / http_hooks.TOKEN_NAME).read_text().strip()
    for name, groups in hooks.items():
        (handler,) = groups[-1]["hooks"]
        if name in http_hooks.RECORD_EVENTS:
            assert handler == {"type": "http", "url": http_hooks.url(port),
                               "headers": {http_hooks.TOKEN_HEADER: token}, "timeout": 10}
        else:  # deciding, SessionStart, UserPromptSubmit: the command hook, which fails closed
            assert handler["type"] == "command"
            assert handler["command"].endswith("/loomtui/hooks/launch.py claude")  # the hook client
    assert set(http_hooks.RECORD_EVENTS) <= set(hooks)
    assert not {"PreToolUse", "PermissionRequest"} & set(http_hooks.RECORD_EVENTS)
    # HTTP switched off again: init puts the command hooks back in place, not beside
    (home / "config.toml").write_text("")
    assert subprocess.run([sys.executable, "-m", "loomtui", "init", "claude", "--no-sandbox"], env=env,
                          cwd=repo, capture_output=True).returncode == 0
    again = json.loads(settings.read_text())["hooks"]
    assert all(len(groups) == 1 and groups[0]["hooks"][0]["type"] == "command" for groups in again.values())


def test_records_arrive_with_the_token_and_nothing_decides_over_http(pod: Path, repo: Path) -> None:
    port = free_port()
    with_port(pod, port)
    token = http_hooks.token(pod)
    service = start_service(pod)
    try:
        done = bash("git status", repo, name="PostToolUse") | {"tool_response": {"stdout": "clean"}}
        assert post(port, done, None)[0] == 401
        assert post(port, done, "0" * len(token))[0] == 401
        assert post(port, done, token, path="/loomtui/hook/codex")[0] == 404
        for deciding in ("PreToolUse", "PermissionRequest"):
            code, body = post(port, bash("git push origin auth", repo, name=deciding), token)
            assert code == 403 and b"command hook" in body
        assert kinds(pod) == []  # nothing above was recorded, no gate was made
        assert post(port, done, token) == (200, b"")
        assert post(port, event("Stop", repo, stop_hook_active=False), token) == (200, b"")
        assert kinds(pod) == ["tool_done", "stop"]
    finally:
        log = stop(service)
    assert "answered 2 HTTP hook call" in log


def test_the_receiver_listens_on_loopback_only(pod: Path) -> None:
    port = free_port()
    with_port(pod, port)
    service = start_service(pod)
    try:
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
        if listening.returncode == 0:
            assert listening.stdout.split()[3] == f"127.0.0.1:{port}", listening.stdout
        else:  # no ss here: the address the server bound is what counts
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
    finally:
        stop(service)


def test_a_taken_port_leaves_the_socket_answering(pod: Path, repo: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with_port(pod, taken.getsockname()[1])
        service = start_service(pod)
        try:
            data = json.dumps(bash("git status", repo)).encode()
            done = subprocess.run(install.hook_command("claude").split(), input=data, capture_output=True,
                                  env=env_for(pod), timeout=60)
            assert done.returncode == 0
        finally:
            log = stop(service)
    assert "no HTTP hooks" in log and "answered 1 hook call" in log


def test_with_the_sandbox_init_keeps_command_hooks_and_says_why(tmp_path: Path, repo: Path) -> None:
    """Claude Code's sandbox proxies HTTP hooks and cannot reach loopback (seen end to end
    in tests/e2e): with the sandbox on, `http_port` writes no HTTP hook, and init says so."""
    home = tmp_path / "pod"
    env = env_for(home)
    assert subprocess.run([sys.executable, "-m", "loomtui", "init"], env=env, cwd=repo,
                          capture_output=True).returncode == 0
    with_port(home, free_port())
    done = subprocess.run([sys.executable, "-m", "loomtui", "init", "claude"], env=env, cwd=repo,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "HTTP hooks are written with --no-sandbox only" in done.stderr
    hooks = json.loads((repo / ".claude" / "settings.json").read_text())["hooks"]
    assert all(groups[-1]["hooks"][0]["type"] == "command" for groups in hooks.values())
