"""Reach an agent's terminal: switch the supervisor's tmux client to the pane the
agent runs in (its hooks recorded `$TMUX_PANE` and the server's socket, see
store/agents.tmux_place), or say why that cannot be done.

Plain Python around the `tmux` command (no textual): the console's jump key calls
`reach` off the event loop and shows its message. tmux decides everything itself; we
only read `$TMUX` / `$TMUX_PANE` of the console to find its server and session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from typing import NamedTuple

TIMEOUT = 5.0  # seconds for one tmux command: a wedged server must not hang the console


class Reached(NamedTuple):
    ok: bool
    message: str


def reach(name: str, pane: str, socket: str, environ: Mapping[str, str]) -> Reached:
    """Show the agent's pane (`pane` on the server at `socket`) in the tmux client the
    console (whose environment is `environ`) is displayed in: `select-window` and
    `select-pane` when the pane is in the console's own session, else `switch-client`.
    Never raises: every way it cannot is a sentence in `message`."""
    if not pane or not socket:
        return Reached(False, f"{name} does not run in tmux (its hooks saw no $TMUX_PANE).")
    if shutil.which("tmux") is None:
        return Reached(False, f"tmux is not installed here; {name} is in pane {pane} of {socket}.")
    ours = environ.get("TMUX", "").split(",", 1)[0]
    if not ours:
        return Reached(False, f"The console is not running in tmux. {name} is in pane {pane}: "
                              f"tmux -S {socket} attach -t {pane}")
    if not _same_file(ours, socket):
        return Reached(False, f"{name} runs on another tmux server ({socket}) than the console "
                              f"({ours}); a client cannot switch servers: tmux -S {socket} attach -t {pane}")
    found = _tmux(socket, "display-message", "-p", "-t", pane, "#{session_id} #{window_id} #{pane_id}")
    if found.returncode != 0 or found.stdout.split()[2:3] != [pane]:
        return Reached(False, f"{name}'s pane {pane} is gone (the agent's terminal was closed).")
    session, window = found.stdout.split()[:2]
    my_pane = environ.get("TMUX_PANE", "")
    mine = _tmux(socket, "display-message", "-p", "-t", my_pane, "#{session_id}") if my_pane else None
    my_session = mine.stdout.strip() if mine is not None and mine.returncode == 0 else ""
    if session == my_session:
        steps = [("select-window", "-t", window), ("select-pane", "-t", pane)]
    else:
        client = _client_of(socket, my_session)
        steps = [("switch-client", *(("-c", client) if client else ()), "-t", pane)]
    for step in steps:
        done = _tmux(socket, *step)
        if done.returncode != 0:
            return Reached(False, f"tmux {step[0]}: {done.stderr.strip() or 'failed'}")
    return Reached(True, f"Switched to {name} (pane {pane}).")


def _client_of(socket: str, session: str) -> str:
    """The tty of the client showing `session` (the most recently active one), or ''
    (tmux then picks the current client itself)."""
    if not session:
        return ""
    listed = _tmux(socket, "list-clients", "-t", session, "-F", "#{client_activity} #{client_tty}")
    clients = sorted((line.split(" ", 1) for line in listed.stdout.splitlines() if " " in line),
                     key=lambda c: int(c[0]) if c[0].isdigit() else 0)
    return clients[-1][1] if listed.returncode == 0 and clients else ""


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["tmux", "-S", socket, *args], capture_output=True, text=True,
                              timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(args, 1, "", f"{type(exc).__name__}: {exc}")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
