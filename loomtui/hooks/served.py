"""The pod service's side of a hook call: answers hook clients (hooks/client.py) on
the Unix socket `<pod>/serve.sock`, with the same `Hook` the direct path runs.

One thread per connection: a call that waits for a supervisor holds its thread (and
its connection) until the gate is decided, expires, or the client hangs up, which
cancels the gate as a hook that dies would. The exchange (see hooks/client.py):

    client  LOOM/1\\n + netstrings: agent, cwd, environment, stdin
    service R1 / R0 (the event decides / records), or N + netstring reason
    client  G
    service netstrings: exit status, stdout, stderr

Nothing the client says decides who it is: the waiting process on a gate is the
client's pid from the socket's peer credentials (SO_PEERCRED, translated into our
pid namespace by the kernel), and the agent above it is read from /proc, exactly
as the direct path reads its own. The client's environment and working directory
are taken as the direct path would take its own (the agent sets both either way).
A request for another pod (its environment names another pod directory) is refused
with N, and the client goes direct.

The socket lives in the pod directory, which agents cannot write (their sandbox's
denyWrite and the protect-pod rules): no agent can put a socket of its own there
for hooks to trust. It is created with the pod's file mode (owner, or the pod's
group for a shared pod).
"""

from __future__ import annotations

import _socket
import json
import logging
import os
import select
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loomtui.hooks.dispatch import Caller, Hook
from loomtui.hooks.protocol import DECIDING_EVENTS
from loomtui.store.db import pod_dir

log = logging.getLogger(__name__)

SOCKET_NAME = "serve.sock"
MAGIC = b"LOOM/1\n"
REQUEST_LIMIT = 256 << 20  # bytes; the direct path reads any stdin, this keeps a bound
REQUEST_TIMEOUT = 10.0  # seconds for the client to send its request, then "go" (in all)
KEEPALIVE = 1.0  # seconds between the "." sent to every client whose call is in progress
_PEERCRED = struct.Struct("3i")  # pid, uid, gid


def socket_path(pod: Path) -> Path:
    return pod / SOCKET_NAME


def _address(path: Path) -> tuple[str, int | None]:
    """`path`, or for a path too long for sun_path (108 bytes) the same socket through
    a directory descriptor (/proc/self/fd/N/serve.sock); the caller closes the fd."""
    text = os.fsencode(path)
    if len(text) <= 100:
        return os.fsdecode(text), None
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{path.name}", fd


def listen(path: Path, mode: int) -> _socket.socket:
    """A listening socket at `path` (a stale one, whose service is gone, is replaced).
    Raises FileExistsError when a live service answers there."""
    if answering(path):
        raise FileExistsError(f"a pod service already answers on {path}")
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    address, fd = _address(path)
    try:
        old = os.umask(0o777 & ~mode)  # never a moment with looser permissions
        try:
            sock.bind(address)
        finally:
            os.umask(old)
        os.chmod(path, mode)
        sock.listen(512)
    except BaseException:
        sock.close()
        raise
    finally:
        if fd is not None:
            os.close(fd)
    return sock


def answering(path: Path, timeout: float = 1.0) -> bool:
    """Does a live service accept connections at `path`?"""
    try:
        with connected(path, timeout):
            return True
    except OSError:
        return False


@contextmanager
def connected(path: Path, timeout: float) -> Iterator[_socket.socket]:
    """A client socket connected to the service at `path` (deep paths too), closed after."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    fd = None
    try:
        address, fd = _address(path)
        sock.connect(address)
        yield sock
    finally:
        sock.close()
        if fd is not None:
            os.close(fd)


class HookServer:
    """Accepts hook clients on `sock` until `stop` is set; `active` counts the calls
    in progress."""

    def __init__(self, pod: Path, sock: _socket.socket) -> None:
        self.pod = pod
        self.real_pod = os.path.realpath(pod)
        self.sock = sock
        self.stopping = threading.Event()
        self.active = 0
        self.served = 0
        self._lock = threading.Lock()
        # Calls past "go": a "." every KEEPALIVE seconds tells their clients we live (a
        # stopped or hung service goes quiet, and its clients deny: hooks/client.py).
        self._held: dict[_socket.socket, threading.Lock] = {}

    def serve(self, stop: threading.Event) -> None:
        threading.Thread(target=self._keep_alive, args=(stop,), name="loomtui-keepalive",
                         daemon=True).start()
        self.sock.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, _ = self.sock._accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if stop.is_set():
                    break
                log.warning("accept failed: %s", exc)
                stop.wait(0.1)
                continue
            client = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, conn)
            try:
                threading.Thread(target=self._serve_one, args=(client,), name="loomtui-hook",
                                 daemon=True).start()
            except RuntimeError as exc:  # no thread to be had now: this client goes direct
                log.warning("cannot take a hook call: %s", exc)
                client.close()
        self.stopping.set()

    def _keep_alive(self, stop: threading.Event) -> None:
        while not stop.wait(KEEPALIVE):
            with self._lock:
                held = list(self._held.items())
            for conn, lock in held:
                with lock:
                    try:
                        conn.send(b".", _socket.MSG_DONTWAIT)
                    except OSError:
                        pass  # gone, or its buffer is full of dots: its call notices

    def _serve_one(self, conn: _socket.socket) -> None:
        with self._lock:
            self.active += 1
        try:
            self.handle(conn)
        except Exception:  # noqa: BLE001 - one call's failure never stops the service
            log.exception("a hook call failed in the service")
        finally:
            conn.close()
            with self._lock:
                self.active -= 1

    def handle(self, conn: _socket.socket) -> None:
        pid, _uid, _gid = _PEERCRED.unpack(conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED,
                                                          _PEERCRED.size))
        conn.settimeout(REQUEST_TIMEOUT)
        fields = read_request(conn, deadline=time.monotonic() + REQUEST_TIMEOUT)
        if fields is None:
            return  # not a hook client, or it gave up: nothing was done
        agent, cwd, environ_bytes, raw = fields
        agent_name = agent.decode("ascii", "replace")
        environ = parse_environ(environ_bytes)
        here = os.fsdecode(cwd)
        try:
            pod = pod_dir(environ)
            wanted = os.path.realpath(pod if pod.is_absolute() else os.path.join(here, pod))
        except (RuntimeError, KeyError) as exc:  # no home directory to find the pod in
            conn.sendall(b"N" + _netstring(f"no pod directory: {exc}".encode()))
            return
        if agent_name not in ("claude", "codex") or wanted != self.real_pod or self.stopping.is_set():
            why = "stopping" if self.stopping.is_set() else f"this service serves {self.real_pod}"
            conn.sendall(b"N" + _netstring(why.encode()))
            return
        conn.sendall(b"R1" if _event_of(raw) in DECIDING_EVENTS else b"R0")
        if conn.recv(1) != b"G":
            return  # the client went direct (or away) before "go": nothing was done
        conn.settimeout(None)

        def gone() -> bool | str:
            if self.stopping.is_set():
                return "the pod service is stopping"
            return _hung_up(conn)

        sending = threading.Lock()
        with self._lock:
            self._held[conn] = sending
        try:
            found = Hook(agent_name, self.pod, caller=Caller(pid, environ, gone)).run(raw)
            with self._lock:
                self.served += 1
            with sending:
                conn.sendall(_netstring(str(found.exit_code).encode()) + _netstring(found.stdout.encode())
                             + _netstring(found.stderr.encode()))
        finally:
            with self._lock:
                self._held.pop(conn, None)


def send(pod: Path, agent: str, raw: bytes, environ: dict[str, str], cwd: str,
         timeout: float = 2.0) -> tuple[int, str, str] | None:
    """One hook call through the pod service, from Python (the demo's simulated agents
    record their events this way): (exit status, stdout, stderr), or None when no
    service took it (nothing was done: the caller runs it itself). Only for events that
    do not decide: a deciding call made here would have this process as its waiter."""
    from loomtui.hooks.client import netstring, read_netstrings

    env = b"\0".join(os.fsencode(k) + b"=" + os.fsencode(v) for k, v in environ.items())
    try:
        with connected(socket_path(pod), timeout) as sock:
            sock.sendall(MAGIC + netstring(agent.encode()) + netstring(os.fsencode(cwd)) + netstring(env)
                         + netstring(raw))
            if sock.recv(2) != b"R0":
                return None
            sock.sendall(b"G")
            sock.settimeout(None)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError:
        return None
    found = read_netstrings(b"".join(chunks).lstrip(b"."), 3)  # the keep-alive dots first
    if found is None:
        return None
    code, out, err = found
    return int(code), out.decode(), err.decode()


def read_request(conn: _socket.socket, deadline: float | None = None) -> list[bytes] | None:
    """The four netstrings after MAGIC, or None (bad magic, too big, cut short, or not
    all there by `deadline`, a time.monotonic())."""
    data = bytearray()
    want = len(MAGIC)
    while True:
        while len(data) < want:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                conn.settimeout(left)
            try:
                chunk = conn.recv(min(max(want - len(data), 65536), 1 << 20))
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
            if len(data) > REQUEST_LIMIT:
                return None
        if not data.startswith(MAGIC):
            return None
        parsed = _netstrings(data, len(MAGIC), 4)
        if isinstance(parsed, list):
            return parsed
        if parsed < 0:
            return None
        want = parsed


def _netstrings(data: bytes, at: int, count: int) -> list[bytes] | int:
    """`count` netstrings from `data[at:]`; when cut short, the length needed to go on;
    -1 when malformed."""
    out = []
    for _ in range(count):
        colon = data.find(b":", at, at + 13)
        if colon < 0:
            return len(data) + 1 if len(data) - at < 13 else -1
        digits = data[at:colon]
        if not digits.isdigit():
            return -1
        end = colon + 1 + int(digits)
        if end > len(MAGIC) + REQUEST_LIMIT:
            return -1
        if end > len(data):
            return end
        out.append(bytes(data[colon + 1:end]))
        at = end
    return out


def _netstring(data: bytes) -> bytes:
    return b"%d:" % len(data) + data


def parse_environ(data: bytes) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in data.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            env[os.fsdecode(key)] = os.fsdecode(value)
    return env


def _event_of(raw: bytes) -> str:
    """The hook_event_name, for the client's fail-closed choice; '' when unreadable
    (the Hook then answers the bad input as the direct path does)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return "PreToolUse"  # unreadable input may be a call that decides: treat it so
    event = data.get("hook_event_name") if isinstance(data, dict) else None
    return event if isinstance(event, str) else "PreToolUse"


def _hung_up(conn: _socket.socket) -> bool | str:
    """The client closed its end (or died): readable with nothing to read, or HUP; or
    it was sent a signal and says so ("X" + the signal's name): that name."""
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
    for _fd, mask in poller.poll(0):
        if mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
            return True
        if mask & select.POLLIN:
            try:
                said = conn.recv(16, _socket.MSG_DONTWAIT)
                if said.startswith(b"X"):  # read, not peeked: unread bytes would reset the answer
                    return said[1:].decode("ascii", "replace") or "a signal"
                return said == b""
            except BlockingIOError:
                return False
            except OSError:
                return True
    return False
