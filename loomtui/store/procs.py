"""Processes on this host, told apart from a later process that reuses their pid.

A pid alone names a process only while it lives: once it exits the number can be
given to anything. So LoomTUI records a process as (pid, start time), the start
time being field 22 of `/proc/PID/stat` (clock ticks since boot), and a recorded
process is alive only when a process with that pid exists *and* started at that
time. Used for the waiting hook of a gate (a gate whose waiter is gone is
cancelled) and the agent process above it (nobody decides a gate of their own
session).

Linux `/proc` only; elsewhere `start_time` gives None and `alive` falls back to
asking the kernel whether the pid exists. Stdlib only: the hook records its
identity on every gate.
"""

# No `from __future__ import annotations`: this module is on the hook path, where
# NamedTuple would compile() each string annotation (see loomtui/policy/shell/__init__.py).
import os
from typing import NamedTuple

# Programs a hook may be started through (Claude Code runs `sh -c <command>`).
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "fish", "env", "timeout", "nice", "nohup"})


class Proc(NamedTuple):
    pid: int
    started: int | None  # clock ticks since boot; None where /proc is not there


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (which may hold spaces
    and parentheses, so it is cut at the last ')'); None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    end = raw.rfind(b")")
    if end < 0:
        return None
    return raw[end + 2:].decode("ascii", "replace").split()


def start_time(pid: int) -> int | None:
    fields = _stat(pid)
    # Fields after the name start at field 3 (state); start time is field 22.
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


def parent(pid: int) -> int | None:
    fields = _stat(pid)
    try:
        return int(fields[1]) if fields else None
    except (IndexError, ValueError):
        return None


def name(pid: int) -> str:
    """The process's command name (`comm`), '' if unknown."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def host() -> str:
    """This machine's name, as gates record where their waiter runs."""
    return os.uname().nodename


def me() -> Proc:
    pid = os.getpid()
    return Proc(pid, start_time(pid))


def alive(proc: Proc) -> bool:
    """Is the recorded process still running (the same one, not a reused pid)?"""
    if proc.pid <= 0:
        return False
    if proc.started is not None:
        now = start_time(proc.pid)
        if now is not None:
            return now == proc.started
        if os.path.isdir("/proc/self"):
            return False  # /proc works, and has no such process
    try:
        os.kill(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def agent_above(pid: int | None = None) -> Proc | None:
    """The agent process a hook runs under: the nearest ancestor of `pid` (default:
    this process) that is not a shell or wrapper. None when it cannot be told."""
    current = parent(os.getpid() if pid is None else pid)
    for _ in range(8):
        if current is None or current <= 1:
            return None
        if name(current) not in SHELLS:
            return Proc(current, start_time(current))
        current = parent(current)
    return None


def ancestors(pid: int | None = None, limit: int = 64) -> list[Proc]:
    """This process's ancestors (parent first), up to but not including pid 1."""
    found: list[Proc] = []
    current = parent(os.getpid() if pid is None else pid)
    while current is not None and current > 1 and len(found) < limit:
        found.append(Proc(current, start_time(current)))
        current = parent(current)
    return found


def descends_from(target: Proc, pid: int | None = None) -> bool:
    """Is this process (or `pid`) `target` itself or one of its descendants?"""
    own = pid if pid is not None else os.getpid()
    chain = [Proc(own, start_time(own)), *ancestors(own)]
    return any(p.pid == target.pid and (target.started is None or p.started == target.started)
               for p in chain)


# The agents' own programs, as /proc shows them: the native binaries by name (`comm`,
# cut to 15 characters by the kernel), the npm packages by their path in the command line.
AGENT_PROGRAMS = ("claude", "codex")
AGENT_PACKAGES = (b"@anthropic-ai/claude-code", b"@openai/codex")


def agent_ancestor(pid: int | None = None) -> Proc | None:
    """The nearest ancestor of this process (or `pid`) that is a coding agent's own
    program (Claude Code, Codex), or None. A decision made from inside an agent's
    process tree is the agent deciding, whatever its environment says."""
    for proc in ancestors(pid):
        program = name(proc.pid)
        if program == "claude" or program.startswith("codex"):
            return proc
        try:
            with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
                command = f.read(4096)
        except OSError:
            continue
        if any(package in command for package in AGENT_PACKAGES):
            return proc
    return None
