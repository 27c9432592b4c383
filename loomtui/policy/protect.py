"""Built-in protection rules: the pod, the agent's own wiring, decisions.

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
import sys

from loomtui.policy.shell import inline_code

POD_FILES = "protect-pod-files"
POD_COMMANDS = "protect-pod-commands"
DECISIONS = "protect-decisions"
WIRING = "protect-agent-wiring"
SANDBOX = "protect-sandbox"
PROCESSES = "protect-processes"
INSTALL = "protect-loomtui-install"
RULES = (POD_FILES, POD_COMMANDS, DECISIONS, WIRING, SANDBOX, PROCESSES, INSTALL)

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
_INSTALL_REASON = ("LoomTUI's own code (the installed package or the `loomtui` script its hooks run), which "
                   "governs this agent; agents do not change it")
_REINSTALL_REASON = ("replaces or removes LoomTUI, whose hooks govern this agent; a supervisor decides "
                     "(upgrading LoomTUI is theirs to do)")
_SOURCE_REASON = ("LoomTUI's own code, run from this source tree (an editable install): a change here changes "
                  "the hooks that govern this agent; a supervisor decides")

# Words resolved as paths per call, at most (the rest get the lexical checks only).
_MAX_REALPATHS = 256
_MAX_TOKENS = 4096
# Distinct glob words matched per call (about 40 us each); more is gated, not skipped.
_MAX_GLOBS = 64
# Programs that only read the files they name: naming the agent's wiring with them is fine.
_READERS = frozenset({"cat", "less", "more", "head", "tail", "grep", "egrep", "fgrep", "rg", "ag", "ls",
                      "stat", "wc", "file", "diff", "cmp", "jq", "bat", "batcat", "md5sum", "sha1sum",
                      "sha256sum", "test", "[", "realpath", "readlink", "basename", "dirname", "echo",
                      "printf", "view", "nl", "od", "xxd", "hexdump", "column", "sort", "uniq", "cut",
                      "cd", "pushd", "tree", "du", "fd", "fdfind", "locate"})
# git subcommands that change no file in the working tree (a commit records, it does not edit).
_GIT_READERS = frozenset({"diff", "log", "show", "status", "blame", "ls-files", "grep", "cat-file", "add",
                          "commit", "ls-tree", "rev-parse", "check-ignore", "check-attr"})
# Programs that run or inspect the files they name (naming LoomTUI's code with them is no change to it).
_RUNNERS = frozenset({"pytest", "py.test", "mypy", "pylint", "flake8", "pyflakes", "pydoc", "pydoc3", "node",
                      "coverage"})
_FIND_ACTIONS = frozenset({"-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls"})
_FIND_NAMES = frozenset({"-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename"})
_SPLIT = str.maketrans({c: " " for c in "'\"`()[]{},;:=<>|&!*?\\\t\n\r"})
# The same, keeping the glob characters (for words that hold a pattern).
_GLOB_SPLIT = str.maketrans({c: " " for c in "'\"`(){},;:=<>|&!\\\t\n\r"})
_GLOB_CHARS = ("*", "?", "[")
# The names a glob is tried against (the store's files; the wiring's).
_STORE_NAMES = ("loom.db", "loom.db-wal", "loom.db-shm", "loom.db-journal")
_STORE_CHARS = frozenset("".join(_STORE_NAMES))
_WIRING_NAMES = (".claude", ".codex", ".mcp.json", ".claude.json")
_SETTINGS_NAMES = ("settings.json", "settings.local.json")
# Claude Code's managed settings (above the user's and the project's).
_MANAGED = ("/etc/claude-code", "/Library/Application Support/ClaudeCode")
_MANAGED_UNDER = tuple(m + "/" for m in _MANAGED)
_FIND_WIRING = ("hooks.json", "managed-settings.json")
_FIND_WIRING_PATHS = (".claude", ".claude/settings.json", ".claude/settings.local.json", ".mcp.json", ".codex",
                      ".codex/config.toml", ".codex/hooks.json")
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

    __slots__ = ("pods", "_home", "claude_dir", "codex_home", "_real_dirs", "_budget", "_seen", "_globs",
                 "too_many_globs", "caller_pid")

    def __init__(self, pod: str | None, protected: tuple[str, ...], home: str | None,
                 claude_config_dir: str | None, codex_home: str | None,
                 caller_pid: int | None = None) -> None:
        # The hook process the call came through (this one on the direct path; the hook
        # client when the pod service classifies): exempt from the kill check, which
        # must still see the service itself.
        self.caller_pid = os.getpid() if caller_pid is None else caller_pid
        self.pods = tuple(posixpath.normpath(os.path.expanduser(str(d))) for d in (pod, *protected)
                          if d and isinstance(d, (str, os.PathLike)))
        self._home = home
        self.claude_dir = _normal(claude_config_dir)
        self.codex_home = _normal(codex_home)
        self._real_dirs: tuple[str, ...] | None = None
        self._budget = _MAX_REALPATHS
        self._seen: dict[str, str] = {}
        self._globs: dict[tuple, tuple[bool, bool, str]] = {}
        self.too_many_globs = False

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

    def install(self, absolute: str) -> str:
        """"deny" when a path is LoomTUI's own installed code (the package, the script
        its hooks run), "gate" when it is the source tree of an editable install, else ""."""
        packages, scripts, source = install_places()
        for path in (absolute, self.real(absolute)):
            if path in scripts:
                return "deny"
            if any(path == d or path.startswith(d + "/") for d in packages):
                return "gate" if source else "deny"
        return ""

    def glob(self, pattern: str, here: str | None) -> tuple[bool, bool, str]:
        """What a word holding * ? or [ could name, without listing a directory:
        (the pod or the store, the agent's wiring, LoomTUI's code as `install` says).

        Its path (relative to `here`, `~` expanded, the literal prefix's symlinks
        resolved) is matched component by component against each place, `**` as
        any number of components; its last component against the store's file names
        when it says more than `*` (`lo?m.db`, `l*.db`, `*.db`: a `find -name`
        pattern or a directory the line does not tell)."""
        key = (pattern, here)
        known = self._globs.get(key)
        if known is not None:
            return known
        if len(self._globs) >= _MAX_GLOBS:
            self.too_many_globs = True  # the caller gates: a decoy list must not hide one
            return False, False, ""
        self._globs[key] = known = self._glob(pattern, here)
        return known

    def _glob(self, pattern: str, here: str | None) -> tuple[bool, bool, str]:
        pattern = pattern.replace("[^", "[!")
        last = pattern.rstrip("/").rsplit("/", 1)[-1]
        pod = _maybe_store(last.lower()) and (_any_match(last, _STORE_NAMES) or _any_match(last.lower(), _STORE_NAMES))
        wiring, install = False, ""
        absolute = self.absolute(pattern, here)
        if absolute is None:
            return pod, _any_match(last, _WIRING_NAMES, dots=True), ""
        forms = [absolute]
        parts = absolute.split("/")[1:]
        k = next((i for i, part in enumerate(parts) if _has_glob(part)), len(parts))
        if k:
            prefix = "/" + "/".join(parts[:k])
            real = self.real(prefix)
            if real != prefix:
                forms.append(posixpath.join(real, *parts[k:]))
        for form in forms:
            names = tuple(form.split("/")[1:])
            if not pod and self.pods:
                pod = any(_walk(names, d) for d in self.dirs())
            wiring = wiring or self._glob_wiring(names)
            if not install:
                packages, scripts, source = install_places()
                if any(_walk(names, f) for f in scripts):
                    install = "deny"
                elif any(_walk(names, d) for d in packages):
                    install = "gate" if source else "deny"
        return pod, wiring, install

    def _glob_wiring(self, names: tuple[str, ...]) -> bool:
        if not names:
            return False
        last = names[-1]
        if _any_match(last, _WIRING_NAMES, dots=True):
            return True
        if len(names) > 1 and _any_match(last, _SETTINGS_NAMES) and _dot_match(".claude", names[-2]):
            return True
        if any(_dot_match(".codex", name) for name in names[:-1]):
            return True
        if any(_walk(names, d) for d in _MANAGED):
            return True
        if self.codex_home and _walk(names, self.codex_home):
            return True
        claude = self.claude_dir
        if claude:
            if len(names) in _walk(names, claude):
                return True
            if (_any_match(last, _SETTINGS_NAMES + (".claude.json",))
                    and len(names) - 1 in _walk(names[:-1], claude)):
                return True
        return False

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


_INSTALL: list = []


def install_places() -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """LoomTUI's own code as this process runs it, found once per process: the
    directories of the `loomtui` package, the `loomtui` script (sys.argv[0] when it is
    that script, else beside the interpreter or on PATH), each as given and as its real path;
    and whether the package is a source tree (an editable install, pyproject.toml
    beside it), where a change is a supervisor's call rather than a flat deny."""
    if not _INSTALL:
        packages: list[str] = []
        scripts: list[str] = []
        source = False
        module = sys.modules.get("loomtui")
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file:
            package = posixpath.dirname(os.path.abspath(file))
            for form in (package, os.path.realpath(package)):
                if form not in packages and form != "/":
                    packages.append(form)
            source = any(os.path.exists(posixpath.join(posixpath.dirname(d), "pyproject.toml")) for d in packages)
        candidates = []
        script = sys.argv[0] if sys.argv else ""
        if isinstance(script, str) and script.endswith("loomtui"):
            candidates.append(script)
        # The hook client's direct path and the pod service do not run as the script
        # (argv[0] is launch.py or __main__.py): look where it is installed too, beside
        # this interpreter and on PATH (a stat per PATH entry, once per process).
        if sys.executable:
            candidates.append(posixpath.join(posixpath.dirname(sys.executable), "loomtui"))
        candidates += [posixpath.join(folder, "loomtui")
                       for folder in os.environ.get("PATH", "").split(":") if folder.startswith("/")]
        for candidate in candidates:
            if candidate != script and not os.path.isfile(candidate):
                continue
            for form in (os.path.abspath(candidate), os.path.realpath(candidate)):
                if form not in scripts:
                    scripts.append(form)
        _INSTALL.append((tuple(packages), tuple(scripts), source))
    return _INSTALL[0]


def _has_glob(word: str) -> bool:
    return "*" in word or "?" in word or "[" in word


def _maybe_store(pattern: str) -> bool:
    """Whether a glob could be one of the store's file names and says more than "any
    name": its literal characters (outside * ? and [...]) include a letter or digit and
    all occur in those names. A cheap test before fnmatch."""
    literal = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[":
            end = pattern.find("]", i + 2)
            if end > 0:
                i = end + 1
                continue
        if c not in "*?":
            if c not in _STORE_CHARS:
                return False
            literal = literal or c.isalnum()
        i += 1
    return literal


def _glob_worth(token: str) -> bool:
    """Whether a glob token of a code string or here-document could be a path or a store name."""
    return "/" in token or token.startswith((".", "~")) or _maybe_store(token.lower())


def _dot_match(name: str, pattern: str) -> bool:
    """fnmatch as the shell globs: a leading dot is matched only by a dot."""
    if name.startswith(".") and not pattern.startswith("."):
        return False
    from fnmatch import fnmatchcase

    return fnmatchcase(name, pattern)


def _any_match(pattern: str, names: tuple[str, ...], dots: bool = False) -> bool:
    from fnmatch import fnmatchcase

    if dots:
        return any(_dot_match(name, pattern) for name in names)
    return any(fnmatchcase(name, pattern) for name in names)


def _walk(patterns: tuple[str, ...], place: str) -> frozenset[int]:
    """Matching path-component patterns along `place` (absolute, normalized): the
    pattern positions reached after its last component, empty when the patterns
    cannot name it or a path inside it (len(patterns) in the result: `place` itself)."""
    from fnmatch import fnmatchcase

    def closure(states: set[int]) -> set[int]:
        for i in list(states):
            while i < len(patterns) and patterns[i] == "**":
                i += 1
                states.add(i)
        return states

    states = closure({0})
    for name in place.split("/")[1:]:
        following: set[int] = set()
        for i in states:
            if i < len(patterns):
                pattern = patterns[i]
                if pattern == "**":
                    following.add(i)
                elif name == pattern or (_has_glob(pattern) and fnmatchcase(name, pattern)):
                    following.add(i + 1)
        if not following:
            return frozenset()
        states = closure(following)
    return frozenset(states)


def _braces(word: str, limit: int = 32) -> list[str]:
    """A word's brace expansion (`.claude{,.bak}` -> .claude, .claude.bak), bounded;
    sequences ({1..3}) are left as written."""
    out = [word]
    done: list[str] = []
    while out and len(done) + len(out) <= limit:
        current = out.pop()
        start = current.find("{")
        depth, end, commas = 0, -1, []
        for i in range(start, len(current)) if start >= 0 else ():
            c = current[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    end = i
                    break
            elif c == "," and depth == 1:
                commas.append(i)
        if start < 0 or end < 0 or not commas:
            done.append(current)
            continue
        cuts = [start, *commas, end]
        head, tail = current[:start], current[end + 1:]
        out.extend(head + current[a + 1:b] + tail for a, b in zip(cuts, cuts[1:], strict=False))
    return done + out


def _normal(directory: str | None) -> str | None:
    if not directory or not isinstance(directory, (str, os.PathLike)):
        return None
    return posixpath.normpath(os.path.expanduser(str(directory)))


def _wiring_path(path: str, guard: Guard) -> bool:
    base = posixpath.basename(path)
    parent = posixpath.dirname(path)
    if base == ".mcp.json" or base == ".claude":
        return True  # .claude: the directory itself (moved, replaced, removed wholesale)
    if path in _MANAGED or path.startswith(_MANAGED_UNDER):
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
    install = guard.install(absolute)
    if install:
        return [_install_finding(install, path)]
    if guard.wiring(absolute):
        return [("gate", WIRING, "high", f"{path} holds {_WIRING_REASON}")]
    return []


def _install_finding(kind: str, what: str) -> Finding:
    if kind == "deny":
        return ("deny", INSTALL, "critical", f"`{_short(what)}` is {_INSTALL_REASON}")
    return ("gate", INSTALL, "high", f"`{_short(what)}` is {_SOURCE_REASON}")


# -- Bash -----------------------------------------------------------------------------


def check_bash(guard: Guard, text: str, commands: tuple, cwd: str | None, tool_input: dict) -> list[Finding]:
    """Findings for one Bash call: `text` as written, `commands` as the shell analysis read it."""
    found: list[Finding] = []
    flag = tool_input.get("dangerouslyDisableSandbox")
    if flag and flag not in ("false", "0", "no"):
        found.append(("gate", SANDBOX, "high", _SANDBOX_REASON))
    if not isinstance(text, str):
        return found
    codes = [inline_code(cmd) for cmd in commands]
    code = any(codes)
    why = _names_store(text, code)
    if why:
        found.append(("deny", POD_COMMANDS, "critical", f"the command {why}: {_POD_REASON}"))
    wiring_hit = ""
    install_hit, install_kind = "", ""
    globbing = "*" in text or "?" in text or "[" in text  # only lines with a glob pay for them
    rare = None
    # Every decision and kill check needs one of these words; quotes and backslashes
    # go first so `lo''omtui` or `k\\ill` cannot hide the word from this pre-filter.
    bare = text.replace("'", "").replace('"', "").replace("\\", "")
    if "loomtui" in bare or "kill" in bare:
        from loomtui.policy import protect_commands as rare
    for cmd, inline in zip(commands, codes, strict=False):
        here = _here(cmd, cwd)
        reader = _reader(cmd)
        # naming LoomTUI's code to run or inspect it changes nothing
        runs = reader or (not inline and (cmd.program in _RUNNERS or cmd.program.startswith("python")))
        if cmd.program == "find":
            hit = _find_names(cmd, reader, guard)
            if hit == "pod":
                found.append(("deny", POD_COMMANDS, "critical", f"`{_short(cmd.line)}` searches for LoomTUI's store: {_POD_REASON}"))
                return found
            if hit and not wiring_hit:
                wiring_hit = cmd.line
        for index, word in enumerate(cmd.argv):
            dynamic = index in cmd.dynamic
            # a sentence (a commit message) names files only when it is code
            prose = not inline and (" " in word or "\n" in word)
            for part in _path_parts(word, index):
                if dynamic and _expands(part):
                    continue
                if globbing and _has_glob(part):
                    pod, wiring, install = guard.glob(part, here)
                    if pod:
                        found.append(("deny", POD_COMMANDS, "critical", f"`{_short(word)}` could name the pod directory or its store: {_POD_REASON}"))
                        return found
                    if wiring and not wiring_hit and not reader and not prose:
                        wiring_hit = word
                    if install and not install_hit and not runs and not prose:
                        install_hit, install_kind = word, install
                absolute = guard.absolute(part, here)
                if absolute is None:
                    continue
                if guard.protected_path(absolute):
                    found.append(("deny", POD_COMMANDS, "critical", f"`{_short(word)}` is in the pod directory: {_POD_REASON}"))
                    return found
                if not wiring_hit and not reader and not prose and guard.wiring(absolute):
                    wiring_hit = word
                if not install_hit and not runs and not prose:
                    install_kind = guard.install(absolute)
                    install_hit = word if install_kind else ""
        for target in cmd.writes:
            if globbing and _has_glob(target):
                pod, wiring, install = guard.glob(target, here)
                if pod:
                    found.append(("deny", POD_COMMANDS, "critical", f"`> {_short(target)}` could name the pod directory: {_POD_REASON}"))
                    return found
                wiring_hit = wiring_hit or (target if wiring else "")
                if install and not install_hit:
                    install_hit, install_kind = target, install
            absolute = guard.absolute(target, here)
            if absolute is None:
                continue
            if guard.protected_path(absolute):
                found.append(("deny", POD_COMMANDS, "critical", f"`> {_short(target)}` is in the pod directory: {_POD_REASON}"))
                return found
            if not wiring_hit and guard.wiring(absolute):
                wiring_hit = target
            if not install_hit:
                install_kind = guard.install(absolute)
                install_hit = target if install_kind else ""
        if rare is not None:
            kind, what = rare.loomtui_decision(cmd)
            if kind == "deny":
                found.append(("deny", DECISIONS, "critical", f"`{what}` is {_DECISION_REASON}"))
            elif kind == "wiring" and not wiring_hit:
                wiring_hit = what
            if cmd.program in rare.KILLERS:
                hit = rare.kills_loomtui(cmd, text, guard.caller_pid)
                if hit:
                    found.append(("deny", PROCESSES, "critical", f"{hit}: {_KILL_REASON}"))
        if cmd.program.startswith("pip") or cmd.program == "uv" or (
                cmd.program.startswith("python") and ("pip" in cmd.argv or "-mpip" in cmd.argv)):
            from loomtui.policy import protect_commands

            hit = protect_commands.reinstalls_loomtui(cmd)
            if hit:
                found.append(("gate", INSTALL, "high", f"{hit}: {_REINSTALL_REASON}"))
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
        if code and not install_hit:
            install_kind = guard.install(absolute)
            install_hit = token if install_kind else ""
    if globbing:
        for token in _glob_tokens(text, guard):
            pod, wiring, install = guard.glob(token, cwd)
            if pod:
                found.append(("deny", POD_COMMANDS, "critical", f"`{_short(token)}` could name the pod directory or its store: {_POD_REASON}"))
                return found
            if code and wiring and not wiring_hit:
                wiring_hit = token
            if code and install and not install_hit:
                install_hit, install_kind = token, install
    if code and rare is not None and rare.code_decides(text):
        found.append(("deny", DECISIONS, "critical",
                      f"inline code calling loomtui's decision commands: that is {_DECISION_REASON}"))
    if guard.too_many_globs:
        found.append(("gate", POD_COMMANDS, "high", f"more than {_MAX_GLOBS} glob patterns in one command, more "
                      "than LoomTUI checks against its pod; a supervisor decides (or split the command)"))
    if install_hit:
        found.append(_install_finding(install_kind, install_hit))
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
        from loomtui.policy.rules import home_dir

        where = home_dir() + where[1:]
    if where.startswith("/"):
        return posixpath.normpath(where)
    return posixpath.normpath(posixpath.join(cwd, where)) if cwd else None


def _path_parts(word: str, index: int) -> list[str]:
    """The parts of an argv word that may be paths: the word (each of its brace
    expansions), the value of `--opt=value` / `if=value`, and the path-like tokens of a
    code string (its globs too)."""
    if not word:
        return []
    if " " in word or "\n" in word or "'" in word or '"' in word or "(" in word:
        parts = [t for t in word.translate(_SPLIT).split() if "/" in t or t.startswith((".", "~"))][:64]
        if "*" in word or "?" in word or "[" in word:
            parts += [t for t in word.translate(_GLOB_SPLIT).split() if _has_glob(t) and _glob_worth(t)][:64]
        return parts
    parts = []
    for each in (_braces(word) if "{" in word and "," in word else (word,)):
        parts.append(each)
        if "=" in each:
            parts.append(each.split("=", 1)[1])
        if index and each.startswith("-") and "=" not in each and len(each) > 2 and "/" in each:
            parts.append(each[2:])  # -o/path
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


def _glob_tokens(text: str, guard: Guard):
    """The raw line's tokens holding * ? or [ (bounded): globs in code strings,
    here-documents and assignments."""
    home = guard.home
    if "$" in text:
        text = text.replace("${HOME}", home).replace("$HOME", home)
    for count, token in enumerate(text.translate(_GLOB_SPLIT).split()):
        if count >= _MAX_TOKENS:
            return
        if _has_glob(token) and _glob_worth(token):
            yield token


def _find_names(cmd, reader: bool, guard: Guard) -> str:
    """"pod" when a `find` looks for the store by name (`-iname LOOM.DB`, `-name 'lo?m.db'`)
    or deletes or runs commands on a directory named as the pod is (`-name 'loomt*' -exec
    rm -rf {} +`), "wiring" when such a `find` picks the agent's wiring by name or path
    (`-name settings.json -delete`), else ""."""
    from fnmatch import fnmatchcase

    argv = cmd.argv
    starts = []
    for word in argv[1:]:
        if word.startswith(("-", "(", "!")):
            break
        starts.append(word.rstrip("/") or "/")
    wiring = ""
    for i in range(1, len(argv) - 1):
        test = argv[i]
        if test not in _FIND_NAMES:
            continue
        pattern = argv[i + 1].replace("[^", "[!")
        fold = test.startswith("-i")
        if fold:
            pattern = pattern.lower()
        if test.endswith("name") and test != "-wholename" and test != "-iwholename":
            if _any_match(pattern, _STORE_NAMES):
                return "pod"
            if not reader and _any_match(pattern, tuple(posixpath.basename(d) for d in guard.dirs())):
                return "pod"
            if not reader and _any_match(pattern, _WIRING_NAMES + _SETTINGS_NAMES + _FIND_WIRING):
                wiring = "wiring"
            continue
        last = pattern.rstrip("/").rsplit("/", 1)[-1]
        if _maybe_store(last) and _any_match(last, _STORE_NAMES):
            return "pod"
        if not reader:
            paths = [posixpath.join(start, rel) for start in starts or ["."] for rel in _FIND_WIRING_PATHS]
            if any(fnmatchcase(path, pattern) for path in paths):
                wiring = "wiring"
    return wiring


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
    if cmd.program == "find":
        return not any(w in _FIND_ACTIONS for w in cmd.argv)
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
