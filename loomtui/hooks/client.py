"""The hook command `loomtui init` writes: a minimal client of the pod service.

    python3 -I -S /path/to/loomtui/hooks/launch.py claude|codex   (which runs main())

It reads the hook event on stdin, hands it to `loomtui serve` over the Unix socket
`<pod>/serve.sock` and prints the service's answer, exactly as `loomtui hook` would
have. It imports nothing beyond the interpreter's builtin modules (no site packages,
no `os`, no `socket`: they import enum and friends), so a call costs little more
than the interpreter's own start.

When the service is absent, refuses, or does not say "ready" in time, the client
runs the direct path itself (`loomtui hook`'s code, imported from beside this file),
so nothing depends on the service being up. The exchange is two-phase, so no call
is handled twice:

    client  LOOM/1\\n + netstrings: agent, cwd, environment, stdin
    service R + "1" (the event decides: PreToolUse, PermissionRequest) or "0",
            or N + netstring reason (not this pod, stopping): the client goes direct
    client  G: go. From here the service acts, and the client never goes direct for
            an event that decides: if the service dies before answering, the client
            denies (exit 2, which both agents read as a block). A record (PostToolUse,
            Stop, ...) is then written by the direct path: at least once, never lost.
    service netstrings: exit status, stdout, stderr

Who the caller is comes from the socket's peer credentials on the service's side
(SO_PEERCRED: this process's pid, hence the agent above it), never from the request.
While the service holds a gate, the client watches its own stdout and stderr: when
the agent hangs up, the client exits and the service cancels the gate.

Kept in step with loomtui/hooks/served.py (tests/test_served.py checks the constants).
"""

import _signal
import posix
import sys

SOCKET_NAME = "serve.sock"
MAGIC = b"LOOM/1\n"
# Seconds to connect and hear "ready"; then the direct path. Not shorter: on a saturated
# box (bench/gates.py --load) a 2 s wait sent most calls direct, each costing ~4x the
# served call's CPU, and the service fell further behind.
READY_TIMEOUT = 5.0
SILENCE = 10.0  # seconds without a byte from the service once it acts: it is stopped or hung
# (a live one sends "." every second while it works on the call: hooks/served.py)


_WAITING = []  # [socket, signal name] once the service acts on the call


def _interrupted(signum, _frame):
    if len(_WAITING) == 1:
        # The service is acting on the call (perhaps waiting for a supervisor): tell it,
        # so it cancels what it holds and answers deny as the direct path would.
        name = {_signal.SIGTERM: b"SIGTERM", _signal.SIGINT: b"SIGINT", _signal.SIGHUP: b"SIGHUP"}
        try:
            _WAITING[0].send(b"X" + name.get(signum, b"signal"))
            _WAITING.append(name.get(signum, b"signal"))
            return
        except OSError:
            pass
    posix.write(2, b"LoomTUI: the hook was interrupted; denied to be safe\n")
    posix._exit(2)



def pod_dir(env):
    """As loomtui.store.db.pod_dir: $LOOM_HOME, $XDG_DATA_HOME/loomtui, ~/.local/share/loomtui."""
    def home(path):
        if path[:1] == b"~":
            return env.get(b"HOME", b"") + path[1:]
        return path

    if env.get(b"LOOM_HOME"):
        pod = home(env[b"LOOM_HOME"])
    elif env.get(b"XDG_DATA_HOME"):
        pod = home(env[b"XDG_DATA_HOME"]) + b"/loomtui"
    else:
        pod = env.get(b"HOME", b"") + b"/.local/share/loomtui"
    if pod[:1] != b"/":
        pod = posix.getcwdb() + b"/" + pod
    return pod


def netstring(data):
    return b"%d:" % len(data) + data


def read_netstrings(data, count):
    """`count` netstrings from the start of `data`, or None if it is not that."""
    out, at = [], 0
    for _ in range(count):
        colon = data.find(b":", at)
        if colon < 0 or colon - at > 12 or not data[at:colon].isdigit():
            return None
        end = colon + 1 + int(data[at:colon])
        if end > len(data):
            return None
        out.append(data[colon + 1:end])
        at = end
    return out


def read_stdin():
    chunks = []
    while True:
        try:
            chunk = posix.read(0, 1 << 20)
        except OSError as exc:
            posix.write(2, b"LoomTUI: cannot read hook input: %s\n" % str(exc).encode())
            return b""
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def environment():
    return b"\0".join(k + b"=" + v for k, v in posix.environ.items())


def connect(pod):
    import _socket

    path = pod + b"/" + SOCKET_NAME.encode()
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(READY_TIMEOUT)
    if len(path) > 100:  # sun_path holds 108 bytes: reach a deep pod through a directory fd
        fd = posix.open(pod, posix.O_RDONLY | posix.O_DIRECTORY)
        path = b"/proc/self/fd/%d/%s" % (fd, SOCKET_NAME.encode())
    sock.connect(path)
    return sock


def ask(agent, raw):
    """The service's answer (exit, stdout, stderr), or None to go direct. Exits (deny)
    when the service stops after it was told to go with an event that decides."""
    env = posix.environ
    try:
        sock = connect(pod_dir(env))
        sock.sendall(MAGIC + netstring(agent.encode()) + netstring(posix.getcwdb())
                     + netstring(environment()) + netstring(raw))
        ready = sock.recv(2)
        if len(ready) == 1:
            ready += sock.recv(1)
    except OSError:  # absent, refused, too slow (TimeoutError is an OSError)
        return None
    if ready[:1] != b"R" or len(ready) != 2:
        return None  # "N": not this pod, or stopping; or nothing at all
    deciding = ready[1:2] == b"1"
    try:
        sock.settimeout(None)
        sock.sendall(b"G")
        _WAITING.append(sock)
        answer = wait_for_answer(sock)
    except OSError:
        answer = None
    if answer is None:
        if deciding:
            posix.write(2, b"LoomTUI: the pod service stopped before it answered; denied to be safe\n")
            posix._exit(2)
        return None  # a record: the direct path writes it (at least once)
    return answer


def wait_for_answer(sock):
    """Read the answer to the end, or None. Gives up (exit 2) if the agent hangs up, or
    if the service goes silent for SILENCE seconds (stopped, hung): a held call must
    end in a deny, never in the agent's own hook timeout (which lets the call through)."""
    import select
    import time

    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    for fd in (1, 2):
        try:
            poller.register(fd, 0)  # POLLHUP and POLLERR are always reported
        except (OSError, ValueError):
            pass
    chunks = []
    heard = time.monotonic()
    while True:
        events = poller.poll(1000)
        quiet = time.monotonic() - heard
        if len(_WAITING) > 1 and quiet > 5:  # a signal was passed on: the deny should come at once
            _interrupted(_signal.SIGTERM, None)
        if quiet > SILENCE:
            posix.write(2, b"LoomTUI: the pod service stopped answering; denied to be safe\n")
            posix._exit(2)
        for fd, _mask in events:
            if fd != sock.fileno():
                # The agent hung up on us: closing the socket makes the service cancel
                # whatever it holds for this call.
                posix._exit(2)
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""  # the service closed with our last words unread: its answer is whole
            if not chunk:
                return read_netstrings(b"".join(chunks).lstrip(b"."), 3)
            heard = time.monotonic()
            chunks.append(chunk)


def direct(agent, raw):
    """Today's direct path: `loomtui hook`'s own code, from the package around this file."""
    here = __file__.rpartition("/")[0] or "."
    sys.path.insert(0, here.rpartition("/")[0].rpartition("/")[0] or "/")
    from loomtui.hooks.entry import answer

    return answer(agent, raw)


def main(argv):
    """The exit status for the agent; never 1 (Claude Code lets a call through on 1)."""
    if len(argv) != 2 or argv[1] not in ("claude", "codex"):
        posix.write(2, b"usage: client.py claude|codex (the LoomTUI hook); denied to be safe\n")
        return 2
    agent = argv[1]
    for fd in (1, 2):
        try:
            posix.fstat(fd)
        except OSError:  # nowhere to print an answer: block by the exit status alone
            return 2
    try:
        raw = read_stdin()
        found = ask(agent, raw)
        if found is None:
            return direct(agent, raw)
    except BaseException as exc:  # noqa: BLE001 - e.g. the package beside us cannot be imported
        posix.write(2, f"LoomTUI: the hook cannot run ({type(exc).__name__}: {exc}); "
                       "denied to be safe\n".encode())
        return 2
    code, out, err = found
    try:
        write_all(1, out)
        write_all(2, err + b"\n" if err else b"")
    except OSError:
        pass  # nobody reads the answer (the agent has gone); the exit status stands
    # The Hook answers 0 or 2 only; anything else (1, or 257 which reaches the agent as 1)
    # from whatever answers on the socket is a block.
    return int(code) if code in (b"0", b"2") else 2


def write_all(fd, data):
    while data:
        data = data[posix.write(fd, data):]


if __name__ == "__main__":
    # Before anything else: a signal from here on is a deny, never a death by signal.
    for _sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
        _signal.signal(_sig, _interrupted)
    sys.exit(main(sys.argv))
