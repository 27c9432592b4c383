"""The rarer protection checks, imported only when a Bash line mentions `loomtui` or
`kill`: loomtui's decision commands (protect-decisions) and kills aimed at LoomTUI's
processes (protect-processes). See loomtui.policy.protect."""

from __future__ import annotations

import os
import posixpath

KILLERS = frozenset({"kill", "pkill", "killall", "skill", "tkill"})
_CODE_DECISION_WORDS = ("approve", "reject", "grant", "revoke", "budget", "policy", "accept", "pin",
                        "retire", "init", "decide", "edit")
# `memory edit` too: an agent changes its own proposals through the MCP tool, and an
# accepted entry is a supervisor's to change.
_MEMORY_DECISIONS = frozenset({"accept", "reject", "pin", "unpin", "retire", "edit"})
_ALWAYS_DECISIONS = frozenset({"approve", "reject", "grant", "revoke"})
_LOOM_MODULES = frozenset({"loomtui", "loomtui.cli", "loomtui.__main__"})


# -- loomtui's decision commands ---------------------------------------------------------


def loomtui_decision(cmd) -> tuple[str, str]:
    """("deny", the command) for a decision `cmd` runs through loomtui, ("wiring", ...)
    for `loomtui init AGENT`, which rewrites the agent's hooks; else ("", "")."""
    argv = cmd.argv
    for k, word in enumerate(argv):
        start = -1
        if posixpath.basename(word) == "loomtui" and (k == 0 or not argv[k - 1] == "-m"):
            start = k + 1
        elif word in _LOOM_MODULES and k and argv[k - 1] == "-m":
            start = k + 1
        elif word.startswith("-m") and word[2:] in _LOOM_MODULES:
            start = k + 1
        if start < 0:
            continue
        verdict = _decides(argv, start, cmd.dynamic)
        if verdict:
            return verdict, " ".join(("loomtui", *argv[start:start + 3]))
    return "", ""


def _decides(argv: tuple, start: int, dynamic) -> str:
    rest = list(argv[start:])
    words = [(i + start, w) for i, w in enumerate(rest)]
    operands = [(i, w) for i, w in words if not w.startswith("-")]
    if not operands:
        return ""
    index, sub = operands[0]
    if index in dynamic:
        return "deny"  # which command runs is only known at run time
    nxt = operands[1][1] if len(operands) > 1 else ""
    deny = False
    if sub in _ALWAYS_DECISIONS:
        deny = True
    elif sub == "budget":
        deny = nxt not in ("", "show", "list")
    elif sub == "policy":
        deny = nxt not in ("", "check")
    elif sub == "memory":
        deny = nxt in _MEMORY_DECISIONS or (nxt == "add" and any(w == "--pin" for _, w in words))
    elif sub == "init":
        if any(w == "--shared" or w.startswith("--shared=") or w == "--no-sandbox" for w in rest):
            deny = True  # who may read the pod, or turning the sandbox off: a person's call
        elif nxt and "--print" not in rest:
            return "wiring"
    return "deny" if deny else ""


def code_decides(text: str) -> bool:
    if "loomtui" not in text:
        return False
    return any(word in text for word in _CODE_DECISION_WORDS)


# -- replacing LoomTUI ----------------------------------------------------------------------

_PIP_CHANGES = frozenset({"install", "uninstall", "reinstall", "upgrade", "inject", "uninject", "runpip",
                          "reinstall-all", "uninstall-all", "upgrade-all", "sync"})


def reinstalls_loomtui(cmd) -> str:
    """Why `cmd` (pip, `python -m pip`, `uv pip`, `uv tool`, pipx) replaces or removes
    LoomTUI, or "": installing or removing a `loomtui` requirement, a forced reinstall,
    pipx's *-all commands."""
    argv = list(cmd.argv)
    program = argv[0]
    words = argv[1:]
    if program.startswith("python"):
        if "-mpip" in words:
            words = words[words.index("-mpip") + 1:]
        elif "pip" in words and words.index("pip") and words[words.index("pip") - 1] == "-m":
            words = words[words.index("pip") + 1:]
        else:
            return ""
    elif program == "uv":
        if not words or words[0] not in ("pip", "tool"):
            return ""
        words = words[1:]
    elif not program.startswith("pip"):
        return ""
    operands = [w for w in words if not w.startswith("-")]
    sub = operands[0] if operands else ""
    if sub not in _PIP_CHANGES:
        return ""
    if sub.endswith("-all"):
        return f"`{short(cmd.line)}` reinstalls or removes every pipx tool, LoomTUI too"
    if any(_names_loomtui(w) for w in words[1:]):
        return f"`{short(cmd.line)}` installs or removes LoomTUI"
    if sub in ("install", "reinstall") and ("--force-reinstall" in words or program.startswith("pipx") and "--force" in words):
        return f"`{short(cmd.line)}` reinstalls packages in place, LoomTUI's among them if it lives there"
    return ""


def _names_loomtui(word: str) -> bool:
    base = word.lower().rstrip("/").rsplit("/", 1)[-1]
    base = base.split("#egg=", 1)[-1] if "#egg=" in base else base
    return base == "loomtui" or base.startswith(("loomtui=", "loomtui<", "loomtui>", "loomtui~", "loomtui!",
                                                 "loomtui[", "loomtui@", "loomtui-", "loomtui.git", "loomtui;",
                                                 "loomtui "))


# -- LoomTUI's processes -------------------------------------------------------------------


def kills_loomtui(cmd, text: str, caller_pid: int) -> str:
    """Why `cmd` would signal a LoomTUI process, or ''. `caller_pid` (the hook the call
    came through) is not counted: a pattern matching only it stops nobody else."""
    argv = cmd.argv
    program = cmd.program
    if any("loom" in w.lower() for w in argv[1:]):
        return f"`{short(cmd.line)}` names loomtui"
    if program == "kill":
        pids = _kill_pids(argv)
        if not pids and "loom" in text.lower():
            return "a kill fed by a search for loomtui"
        for pid in pids:
            if pid == -1:
                return "`kill -1` signals every process of the user"
            if pid > 0 and _is_loomtui(pid):
                return f"process {pid} is LoomTUI"
        if "loom" in text.lower() and any(i in cmd.dynamic for i in range(1, len(argv))):
            return "a kill of pids found by a search for loomtui"
        return ""
    # pkill / killall: does a pattern match a running LoomTUI process?
    patterns = [w for w in argv[1:] if not w.startswith("-")]
    full = any(w.startswith("-") and not w.startswith("--") and "f" in w for w in argv[1:]) or "--full" in argv
    if not patterns:
        return ""
    for pid, cmdline, comm in _loomtui_processes(caller_pid):
        for pattern in patterns:
            subject = cmdline if full else comm
            if program == "killall":
                hit = pattern == comm or posixpath.basename(pattern) == comm
            else:
                hit = _search(pattern, subject)
            if hit:
                return f"`{short(cmd.line)}` matches LoomTUI's process {pid}"
    return ""


def _kill_pids(argv: tuple) -> list[int]:
    pids: list[int] = []
    options = True
    signal_given = False
    i = 1
    while i < len(argv):
        word = argv[i]
        i += 1
        if options and word == "--":
            options = False
            continue
        if options and word in ("-s", "-n", "--signal"):
            i += 1
            signal_given = True
            continue
        if options and word in ("-l", "-L", "--list", "--table"):
            return []
        if options and word.startswith("-") and not signal_given and not pids:
            signal_given = True  # -9, -KILL, -SIGTERM
            continue
        try:
            pids.append(int(word))
        except ValueError:
            continue
    return [abs(p) if p < -1 else p for p in pids]


def _is_loomtui(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"loomtui" in handle.read(65536)
    except OSError:
        return False


def _loomtui_processes(me: int) -> list[tuple[int, str, str]]:
    out: list[tuple[int, str, str]] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                raw = handle.read(65536)
            if b"loomtui" not in raw:
                continue
            with open(f"/proc/{entry}/comm", "rb") as handle:
                comm = handle.read().decode("utf-8", "replace").strip()
        except OSError:
            continue
        out.append((int(entry), raw.replace(b"\x00", b" ").decode("utf-8", "replace").strip(), comm))
    return out


def _search(pattern: str, subject: str) -> bool:
    import re

    try:
        return re.search(pattern, subject) is not None
    except re.error:
        return pattern in subject




def short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
