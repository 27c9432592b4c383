"""Claude Code's HTTP hooks for the events that never decide, answered by the pod service.

Claude Code (2.1.x) posts a hook's JSON to `{"type": "http", "url": ...}` and reads the
answer from the body, as a command hook's stdout; a request that fails is logged and
the call goes on. So HTTP serves only what never decides: `RECORD_EVENTS` (the tool's
outcome, notifications, turn and session ends). The deciding events, SessionStart (the
memory it injects, the settings it inspects) and UserPromptSubmit keep the command
hook, which fails closed. A deciding event posted here is refused (403) and nothing
is recorded.

The receiver listens on 127.0.0.1 only, at `[serve] http_port`. Every request must
carry the pod's token (`X-LoomTUI-Token`, kept in `<pod>/serve.token` and written into
the agent's settings by `init`), so another local user cannot add records to the pod
by guessing the port; an agent can read its own settings, and with them write records
it could write anyway by running the hook command.

When the service is down these events are lost for the timeline (Claude Code logs a
hook error); the transcript ingester still brings the agent's activity, last tool and
tokens from the transcript, so the fleet's picture stays whole.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from loomtui.hooks.dispatch import Caller, Hook
from loomtui.store.db import write_pod_file

log = logging.getLogger(__name__)

RECORD_EVENTS = ("PostToolUse", "PostToolUseFailure", "Notification", "Stop", "SubagentStop",
                 "SessionEnd")
TOKEN_NAME = "serve.token"
TOKEN_HEADER = "X-LoomTUI-Token"
BODY_LIMIT = 64 << 20


def token(pod: Path) -> str:
    """The pod's HTTP hook token, made on first use (pod file mode: owner or pod group)."""
    path = pod / TOKEN_NAME
    try:
        found = path.read_text(encoding="ascii").strip()
        if len(found) >= 32:
            return found
    except FileNotFoundError:
        pass
    value = secrets.token_hex(24)
    write_pod_file(path, value + "\n")
    return value


def url(port: int, agent: str = "claude") -> str:
    return f"http://127.0.0.1:{port}/loomtui/hook/{agent}"


class HookHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pod: Path, port: int) -> None:
        self.pod = pod
        self.token = token(pod).encode()
        self.served = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: HookHTTPServer
    server_version = "loomtui"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("http hook: " + format, *args)

    def _send(self, code: int, body: bytes = b"", kind: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        agent = self.path.rstrip("/").rsplit("/", 1)[-1]
        if not self.path.startswith("/loomtui/hook/") or agent != "claude":
            return self._send(404, b"not a LoomTUI hook address\n", "text/plain")
        given = (self.headers.get(TOKEN_HEADER) or "").encode()
        if not hmac.compare_digest(given, self.server.token):
            return self._send(401, b"wrong or missing token\n", "text/plain")
        try:
            length = int(self.headers.get("Content-Length") or "-1")
        except ValueError:
            length = -1
        if not 0 <= length <= BODY_LIMIT:
            return self._send(413 if length > BODY_LIMIT else 411, b"", "text/plain")
        raw = self.rfile.read(length)
        from loomtui.hooks.served import _event_of

        event = _event_of(raw)
        if event not in RECORD_EVENTS:
            # Never decide over HTTP: Claude Code lets a call through when this fails.
            return self._send(403, f"{event or 'this event'} goes to the command hook\n".encode(),
                              "text/plain")
        found = Hook("claude", self.server.pod, caller=Caller(None, os.environ, lambda: False, agents_own=False)).run(raw)
        with self.server.lock:
            self.server.served += 1
        self._send(200, found.stdout.encode())


def start(pod: Path, port: int) -> tuple[HookHTTPServer, threading.Thread]:
    """Listen and serve in a thread; OSError when the port cannot be had."""
    server = HookHTTPServer(pod, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                              name="loomtui-http-hooks", daemon=True)
    thread.start()
    return server, thread
