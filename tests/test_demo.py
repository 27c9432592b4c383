"""`loomtui demo` end to end, in a real pseudo-terminal, as a person runs it."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.waiting import wait_for

ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b\][^\x07]*\x07")


class Terminal:
    """`loomtui demo` on a pty of 120x40, its screen output collected as text."""

    def __init__(self, tmp: Path, *args: str) -> None:
        master, slave = pty.openpty()
        os.set_blocking(master, False)
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = {**os.environ, "TMPDIR": str(tmp), "LOOM_USER": "ana", "TERM": "xterm-256color",
               "COLUMNS": "120", "LINES": "40"}
        env.pop("LOOM_CONFIG", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "loomtui", "demo", "--seed", "5", *args],
                                     stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.master = master
        self.output = b""

    def read_until(self, pattern: bytes, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pattern in ANSI.sub(b"", self.output):
                return True
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    return pattern in ANSI.sub(b"", self.output)
        return False

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read_until(b"\x00", 0.2)  # keep draining so the app never blocks on output
        return self.proc.wait(timeout=1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


# The fleet's column heads: always drawn. (Not the header's "LoomTUI demo": once usage
# arrives, a 120-column header drops the brand to keep the figures, which made the demo
# tests fail whenever the first frame came after the first usage.)
FLEET_UP = "Repo · branch".encode()


def demo_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("loomtui-demo-*"))


def events(root: Path) -> int:
    """How many events the demo's store holds (read-only: the demo owns it)."""
    conn = sqlite3.connect(f"file:{root / 'demo' / 'loom.db'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def term(tmp_path: Path):
    terminals = []

    def start(*args: str) -> Terminal:
        terminals.append(Terminal(tmp_path, *args))
        return terminals[-1]

    yield start
    for terminal in terminals:
        terminal.close()


def test_demo_shows_a_live_fleet_and_q_leaves_cleanly(term, tmp_path: Path) -> None:
    t = term()
    assert t.read_until(FLEET_UP), ANSI.sub(b"", t.output)[:3000]
    assert t.read_until(b"working")
    assert len(demo_dirs(tmp_path)) == 1
    root = demo_dirs(tmp_path)[0]
    assert len(list((root / "wt").iterdir())) >= 24  # a real worktree per agent
    # q while the fleet is live: the agents write new events (the pty drained meanwhile,
    # so the app never blocks on its output)
    shown = events(root)
    wait_for(lambda: t.read_until(b"\x00", 0.05) or events(root) > shown, "the demo's agents to write new events")
    t.type("q")
    assert t.wait() == 0
    assert demo_dirs(tmp_path) == []  # the temporary pod is gone


def test_demo_cleans_up_when_killed(term, tmp_path: Path) -> None:
    """Closing the tmux pane (SIGHUP) or a kill (SIGTERM) still removes the pod."""
    t = term()
    assert t.read_until(FLEET_UP), ANSI.sub(b"", t.output)[:3000]
    t.proc.send_signal(signal.SIGTERM)
    t.wait()
    assert demo_dirs(tmp_path) == []


def test_demo_keep_leaves_the_pod_and_says_where(term, tmp_path: Path) -> None:
    t = term("--keep", "--agents", "3")
    assert t.read_until(FLEET_UP), ANSI.sub(b"", t.output)[:3000]
    t.type("q")
    assert t.wait() == 0
    assert t.read_until(b"kept the pod in", 5)
    (pod,) = demo_dirs(tmp_path)
    assert (pod / "demo" / "loom.db").exists()


def test_the_demo_console_approves_a_simulated_gate(term, tmp_path: Path) -> None:
    """The demo's agents run in the console's own process: their gates name no agent
    process, so the person at the console may decide them (found by trying: the console
    was refused as deciding 'from inside the agent's tree')."""
    t = term()
    assert t.read_until(FLEET_UP), ANSI.sub(b"", t.output)[:3000]
    # A pending gate: its row's Gates cell (and the header) show the flag and a count.
    assert t.read_until("⚑ 1".encode(), timeout=60), ANSI.sub(b"", t.output)[-3000:]
    t.type("i")
    assert t.read_until(b"pending")
    t.type("a")
    assert t.read_until(b"Approved gate", timeout=15), ANSI.sub(b"", t.output)[-3000:]
    assert b"refused" not in ANSI.sub(b"", t.output)
    t.type("q")
    t.type("q")
    assert t.wait() == 0
