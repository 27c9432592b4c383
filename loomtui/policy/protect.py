"""Built-in protection rules (issue 10): the pod, the agent's own wiring, decisions.

These run before the rules of `policy.toml` and no policy file can drop them (an old
pod's file written by an earlier `init` included): their answers join the rules'
answers and the strictest wins, so a rule can make them stricter, never looser.

- protect-pod-files      deny Edit/Write/MultiEdit/NotebookEdit of a file inside the pod
                         directory or another protected directory (`..`, `~` and symlinks
                         resolved; a new file by its parent);
- protect-pod-commands   deny a Bash line that names the pod directory or a file in it (any
                         word, a `python -c` string, a redirection, a here-document; relative
                         words resolved against the command's directory, symlinks followed),
                         that reads `$LOOM_HOME`, or that names `loom.db` (-wal, -shm);
- protect-decisions      deny `loomtui` decision commands (approve, reject, grant, revoke,
                         budget changes, policy changes, init, memory accept/reject/pin/unpin/
                         retire, memory add --pin), however `loomtui` is reached;
- protect-agent-wiring   gate (high) changes to the agent's own hooks, permissions and MCP
                         servers: `.claude/settings*.json`, `~/.claude.json`, the Claude
                         config directory's settings, anything under `.codex/` or the Codex
                         home, `.mcp.json`;
- protect-sandbox        gate (high) a Bash call with `dangerouslyDisableSandbox: true`;
- protect-processes      deny kill/pkill/killall aimed at LoomTUI's processes.

This is the policy's line, the second one: it stops honest mistakes and the obvious
attempts. The first line is the agent's OS sandbox, which keeps its commands out of
the pod directory whatever they look like (a path assembled at run time, base64, ...).

Cheap on the hook path: string work and a few `realpath` calls; /proc is read only
when a kill command is in the line. Findings are plain tuples (action, rule, risk,
reason); `loomtui.policy` turns them into Decisions.
"""

from __future__ import annotations

import os
import posixpath

POD_FILES = "protect-pod-files"
POD_COMMANDS = "protect-pod-commands"
DECISIONS = "protect-decisions"
WIRING = "protect-agent-wiring"
SANDBOX = "protect-sandbox"
PROCESSES = "protect-processes"
RULES = (POD_FILES, POD_COMMANDS, DECISIONS, WIRING, SANDBOX, PROCESSES)

Finding = tuple  # (action, rule, risk, reason)

_POD_REASON = ("LoomTUI's pod directory holds its store, policy and config, which agents do not read or "
               "change; ask a supervisor, or use `loomtui status`, `loomtui gates` and the loomtui MCP tools")
_WIRING_REASON = ("the agent's own hooks, permissions or MCP servers; a supervisor reviews changes to "
                  "them (keep LoomTUI's hooks in place)")
_SANDBOX_REASON = ("asks to run outside the agent's sandbox (dangerouslyDisableSandbox); a supervisor "
                   "decides; run it inside the sandbox if you can")
_DECISION_REASON = ("a supervisor's decision, which an agent cannot make; say in your reply what "
                    "you need and wait for the supervisor")
_KILL_REASON = "would stop LoomTUI's own processes (its hooks, console or service); agents leave them running"

# Words resolved as paths per call, at most (the rest get the lexical checks only).
_MAX_REALPATHS = 256
_MAX_TOKENS = 4096
# Programs that only read the files they name: naming the agent's wiring with them is fine.
_READERS = frozenset({"cat", "less", "more", "head", "tail", "grep", "egrep", "fgrep", "rg", "ag", "ls",
                      "stat", "wc", "file", "diff", "cmp", "jq", "bat", "batcat", "md5sum", "sha1sum",
                      "sha256sum", "test", "[", "realpath", "readlink", "basename", "dirname", "echo",
                      "printf", "view", "nl", "od", "xxd", "hexdump", "column", "sort", "uniq", "cut"})
_GIT_READERS = frozenset({"diff", "log", "show", "status", "blame", "ls-files", "grep", "cat-file"})
_SPLIT = str.maketrans({c: " " for c in "'\"`()[]{},;:=<>|&!*?\\\t\n\r"})
_DB_NAME = "loom.db"
_DB_SUFFIXES = ("-wal", "-shm", "-journal")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def context(pod: str | os.PathLike | None, environ=None) -> dict:
    """The keyword arguments of `classify()` that say what to protect, from the pod
    directory and the environment the agent's hook sees:

        classify(policy, tool, tool_input, cwd=..., repo=..., agent=..., **context(pod, os.environ))

    `protected` holds the audit witness directory ($XDG_STATE_HOME/loomtui, else
    ~/.local/state/loomtui, as loomtui.store.witness.witness_dir)."""
    env = os.environ if environ is None else environ
    home = env.get("HOME") or os.path.expanduser("~")
    state = env.get("XDG_STATE_HOME")
    witness = posixpath.join(os.path.expanduser(state) if state else posixpath.join(home, ".local", "state"),
                             "loomtui")
    return {"pod": str(pod) if pod is not None else None, "protected": (witness,), "home": home,
            "claude_config_dir": env.get("CLAUDE_CONFIG_DIR") or None, "codex_home": env.get("CODEX_HOME") or None}


class Guard:
    """The protected places for one call, resolved once (and lazily)."""

    __slots__ = ("pods", "_home", "claude_dir", "codex_home", "_real_dirs", "_budget", "_seen")

    def __init__(self, pod: str | None, protected: tuple[str, ...], home: str | None,
                 claude_config_dir: str | None, codex_home: str | None) -> None:
        self.pods = tuple(posixpath.normpath(os.path.expanduser(str(d))) for d in (pod, *protected)
                          if d and isinstance(d, (str, os.PathLike)))
        self._home = home
        self.claude_dir = _normal(claude_config_dir)
        self.codex_home = _normal(codex_home)
        self._real_dirs: tuple[str, ...] | None = None
        self._budget = _MAX_REALPATHS
        self._seen: dict[str, str] = {}

    @property
    def home(self) -> str:
        if self._home is None:
            self._home = posixpath.normpath(os.path.expanduser("~"))
        return self._home

    # -- places

    def dirs(self) -> tuple[str, ...]:
        """Each protected directory as given and as its real path."""
        if self._real_dirs is None:
            found: list[str] = []
            for d in self.pods:
                for form in (d, os.path.realpath(d)):
                    if form not in found and form != "/":
                        found.append(form)
            self._real_dirs = tuple(found)
        return self._real_dirs

    def inside(self, path: str) -> bool:
        return any(path == d or path.startswith(d + "/") for d in self.dirs())

    def real(self, path: str) -> str:
        if path in self._seen:
            return self._seen[path]
        if self._budget <= 0:
            return path
        self._budget -= 1
        try:
            real = os.path.realpath(path)
        except (OSError, ValueError):
            real = path
        self._seen[path] = real
        return real

    def protected_path(self, absolute: str) -> bool:
        """Whether an absolute, normalized path is in a protected directory (lexically or for real)."""
        if not self.pods:
            return False
        return self.inside(absolute) or self.inside(self.real(absolute))

    def wiring(self, absolute: str) -> bool:
        """Whether a path is one of the agent's own hook / permission / MCP files."""
        return _wiring_path(absolute, self) or _wiring_path(self.real(absolute), self)

    def absolute(self, word: str, here: str | None) -> str | None:
        """`word` as an absolute normalized path (~ and $HOME expanded), None if unknowable."""
        if not word or "\x00" in word or len(word) > 4096:
            return None
        for var in ("${HOME}", "$HOME"):
            if word == var or word.startswith(var + "/"):
                word = "~" + word[len(var):]
                break
        if word == "~" or word.startswith("~/"):
            word = self.home + word[1:]
        elif word.startswith("~"):
            return None
        if word.startswith("/"):
            return posixpath.normpath(word)
        if here is None:
            return None
        return posixpath.normpath(posixpath.join(here, word))


def _normal(directory: str | None) -> str | None:
    if not directory or not isinstance(directory, (str, os.PathLike)):
        return None
    return posixpath.normpath(os.path.expanduser(str(directory)))


def _wiring_path(path: str, guard: Guard) -> bool:
    base = posixpath.basename(path)
    parent = posixpath.dirname(path)
    if base == ".mcp.json":
        return True
    settings = base.startswith("settings") and base.endswith(".json")
    if settings and posixpath.basename(parent) == ".claude":
        return True
    if base == ".claude.json" and parent == guard.home:
        return True
    if guard.claude_dir and parent == guard.claude_dir and (settings or base == ".claude.json"):
        return True
    if "/.codex/" in path + "/":
        return True
    codex = guard.codex_home
    return bool(codex) and (path == codex or path.startswith(codex + "/"))


# -- file tools -----------------------------------------------------------------------


def check_file(guard: Guard, path: str | None, cwd: str | None) -> list[Finding]:
    if not path:
        return []
    absolute = guard.absolute(path, cwd)
    if absolute is None:
        absolute = guard.absolute(path, "/")  # unknown cwd: judge the path as written
        if absolute is None:
            return []
    if guard.protected_path(absolute):
        return [("deny", POD_FILES, "critical", f"{path} is inside LoomTUI's pod directory: {_POD_REASON}")]
    if guard.wiring(absolute):
        return [("gate", WIRING, "high", f"{path} holds {_WIRING_REASON}")]
    return []


# -- Bash -----------------------------------------------------------------------------


def check_bash(guard: Guard, text: str, commands: tuple, cwd: str | None, tool_input: dict) -> list[Finding]:
    """Findings for one Bash call: `text` as written, `commands` as the shell analysis read it."""
    found: list[Finding] = []
    flag = tool_input.get("dangerouslyDisableSandbox")
    if flag and flag not in ("false", "0", "no"):
        found.append(("gate", SANDBOX, "high", _SANDBOX_REASON))
    if not isinstance(text, str):
        return found
    from loomtui.policy.shell import inline_code

    code = any(inline_code(cmd) for cmd in commands)
    why = _names_store(text, code)
    if why:
        found.append(("deny", POD_COMMANDS, "critical", f"the command {why}: {_POD_REASON}"))
    wiring_hit = ""
    rare = None
    # Every decision and kill check needs one of these words; quotes and backslashes
    # go first so `lo''omtui` or `k\\ill` cannot hide the word from this pre-filter.
    bare = text.replace("'", "").replace('"', "").replace("\\", "")
    if "loomtui" in bare or "kill" in bare:
        from loomtui.policy import protect_commands as rare
    for cmd in commands:
        here = _here(cmd, cwd)
        reader = _reader(cmd)
        for index, word in enumerate(cmd.argv):
            dynamic = index in cmd.dynamic
            for part in _path_parts(word, index):
                if dynamic and _expands(part):
                    continue
                absolute = guard.absolute(part, here)
                if absolute is None:
                    continue
                if guard.protected_path(absolute):
                    found.append(("deny", POD_COMMANDS, "critical", f"`{_short(word)}` is in the pod directory: {_POD_REASON}"))
                    return found
                if not wiring_hit and not reader and guard.wiring(absolute):
                    wiring_hit = word
        for target in cmd.writes:
            absolute = guard.absolute(target, here)
            if absolute is None:
                continue
            if guard.protected_path(absolute):
                found.append(("deny", POD_COMMANDS, "critical", f"`> {_short(target)}` is in the pod directory: {_POD_REASON}"))
                return found
            if not wiring_hit and guard.wiring(absolute):
                wiring_hit = target
        if rare is not None:
            kind, what = rare.loomtui_decision(cmd)
            if kind == "deny":
                found.append(("deny", DECISIONS, "critical", f"`{what}` is {_DECISION_REASON}"))
            elif kind == "wiring" and not wiring_hit:
                wiring_hit = what
            if cmd.program in rare.KILLERS:
                hit = rare.kills_loomtui(cmd, text)
                if hit:
                    found.append(("deny", PROCESSES, "critical", f"{hit}: {_KILL_REASON}"))
    # The whole line as written: assignments, `< file`, here-documents and code strings
    # are not argv words; their path-like tokens are judged relative to the agent's cwd.
    for token in _tokens(text, guard):
        absolute = guard.absolute(token, cwd)
        if absolute is None:
            continue
        if guard.protected_path(absolute):
            found.append(("deny", POD_COMMANDS, "critical", f"`{_short(token)}` is in the pod directory: {_POD_REASON}"))
            return found
        if code and not wiring_hit and guard.wiring(absolute):
            wiring_hit = token
    if code and rare is not None and rare.code_decides(text):
        found.append(("deny", DECISIONS, "critical",
                      f"inline code calling loomtui's decision commands: that is {_DECISION_REASON}"))
    if wiring_hit:
        found.append(("gate", WIRING, "high", f"`{_short(wiring_hit)}` changes {_WIRING_REASON}"))
    return found


def _expands(word: str) -> bool:
    """Whether a word holds an expansion other than a leading $HOME."""
    for var in ("${HOME}", "$HOME"):
        if word == var or word.startswith(var + "/"):
            word = word[len(var):]
            break
    return "$" in word or "`" in word


def _here(cmd, cwd: str | None) -> str | None:
    if cmd.cwd is None:
        return None
    if cmd.cwd == ".":
        return cwd
    where = cmd.cwd
    if where == "~" or where.startswith("~/"):
        where = posixpath.normpath(os.path.expanduser("~")) + where[1:]
    if where.startswith("/"):
        return posixpath.normpath(where)
    return posixpath.normpath(posixpath.join(cwd, where)) if cwd else None


def _path_parts(word: str, index: int) -> list[str]:
    """The parts of an argv word that may be paths: the word, the value of
    `--opt=value` / `if=value`, and the path-like tokens of a code string."""
    if not word:
        return []
    if " " in word or "\n" in word or "'" in word or '"' in word or "(" in word:
        return [t for t in word.translate(_SPLIT).split() if "/" in t or t.startswith((".", "~"))][:64]
    parts = [word]
    if "=" in word:
        parts.append(word.split("=", 1)[1])
    if index and word.startswith("-") and "=" not in word and len(word) > 2 and "/" in word:
        parts.append(word[2:])  # -o/path
    return parts


def _tokens(text: str, guard: Guard):
    """Path-like tokens of the raw line (bounded)."""
    if not guard.pods:
        return
    home = guard.home
    if "$" in text:
        text = text.replace("${HOME}", home).replace("$HOME", home)
    # A bare name (no "/") is in a protected directory only when the line runs in
    # one, and then its argv words (all of them resolved) say so already.
    for count, token in enumerate(text.translate(_SPLIT).split()):
        if count >= _MAX_TOKENS:
            return
        if "/" in token or token.startswith("~") or token in (".", ".."):
            yield token


def _names_store(text: str, code: bool) -> str:
    """Why the raw line names LoomTUI's store or pod variable, or ""."""
    start = 0
    while True:
        at = text.find(_DB_NAME, start)
        if at < 0:
            break
        start = at + 1
        before = text[at - 1] if at else " "
        end = at + len(_DB_NAME)
        for suffix in _DB_SUFFIXES:
            if text.startswith(suffix, end):
                end += len(suffix)
                break
        after = text[end] if end < len(text) else " "
        if before not in _NAME_CHARS and after not in _NAME_CHARS:
            return "names loom.db, LoomTUI's store"
    start = 0
    while True:
        at = text.find("LOOM_HOME", start)
        if at < 0:
            break
        start = at + 1
        before = text[at - 1] if at else " "
        after = text[at + 9] if at + 9 < len(text) else " "
        if before in _NAME_CHARS and before not in ".-":
            continue  # MY_LOOM_HOME
        if after in _NAME_CHARS and after not in ".-":
            continue  # LOOM_HOMES
        if before in "${" or code:
            return "reads $LOOM_HOME, the pod directory"
        if after == "=" and not text.startswith("==", at + 9):
            continue  # LOOM_HOME=/elsewhere: another pod (its path is checked on its own)
        return "names LOOM_HOME, the pod directory"
    return ""


def _reader(cmd) -> bool:
    if cmd.program in _READERS:
        return cmd.program != "sed"
    if cmd.program == "sed":
        return not any(w.startswith("-i") or w.startswith("--in-place") or (w.startswith("-") and not w.startswith("--") and "i" in w)
                       for w in cmd.argv[1:])
    if cmd.program == "git":
        return len(cmd.argv) > 1 and cmd.argv[1] in _GIT_READERS
    return False


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
