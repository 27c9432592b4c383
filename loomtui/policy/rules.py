"""Policy rules: reading `[[rule]]` tables and matching them against one action.

Matching is pure (no file system, no git): paths are resolved lexically against the
agent's cwd and repository. Patterns are compiled on first use and cached, so
loading a policy stays cheap on the hook path.
"""

# No `from __future__ import annotations`: this module is on the hook path, where
# NamedTuple would compile() each string annotation (see loomtui/policy/shell/__init__.py).
import functools
import os
import posixpath
import re
from collections.abc import Mapping
from contextvars import ContextVar
from typing import NamedTuple

from loomtui.policy.shell import SimpleCommand

ACTIONS = ("allow", "pass", "gate", "deny")
RISKS = ("low", "medium", "high", "critical")
FILE_TOOLS = ("Edit", "Write", "MultiEdit", "NotebookEdit")
TARGETS = ("inside", "outside", "root")
STDIN_KINDS = ("pipe", "heredoc", "herestring", "file", "none")

_RULE_KEYS = ("name", "action", "risk", "reason", "expires_after", "tool", "command", "command_regex",
              "path", "repo", "agent", "flags", "target", "stdin")
_BASH_KEYS = ("command", "command_regex", "flags", "target", "stdin")


class PolicyError(Exception):
    """The policy file cannot be used; the message names the file and the rule."""


class Rule(NamedTuple):
    """One `[[rule]]`: all the matchers it sets must match (an unset one matches anything)."""

    name: str
    action: str
    risk: str = "medium"
    reason: str = ""
    expires_after: float | None = None
    tool: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    command_regex: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    repo: tuple[str, ...] = ()
    agent: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    target: str = ""
    stdin: tuple[str, ...] = ()

    @property
    def bash_only(self) -> bool:
        return bool(self.command or self.command_regex or self.flags or self.target or self.stdin)

    def applies_to_tool(self, tool: str) -> bool:
        if self.tool:
            return any(_name_re(p).match(tool) for p in self.tool)
        if self.bash_only:
            return tool == "Bash"
        if self.path:
            return tool in FILE_TOOLS or tool == "Bash"
        return True

    def applies_to_context(self, repo: str | None, agent: str | None) -> bool:
        if self.repo and not (repo and any(_name_match(p, repo.rstrip("/"), path=True) for p in self.repo)):
            return False
        if self.agent and not (agent and any(_name_re(p).match(agent) for p in self.agent)):
            return False
        return True

    def matches_file(self, path: str | None, cwd: str | None, repo: str | None) -> bool:
        """For Edit/Write/...: the rule's path globs (if any) against the file, relative to the repo."""
        if self.bash_only:
            return False
        if not self.path:
            return True
        return path is not None and _path_matches(self.path, path, cwd, repo)

    def matches_command(self, cmd: SimpleCommand, cwd: str | None, repo: str | None, *,
                        wild: bool = False) -> bool:
        """For one simple command of a Bash line. With `wild`, words only known at run
        time match anything (the question is then "could this rule match?")."""
        if self.command or self.command_regex:
            hit = any(r.search(cmd.line) for r in map(_regex, self.command_regex))
            if not hit:
                # The program is always known (else the line is unanalysable), so
                # globs naming another program are skipped without compiling them.
                globs = [p for p in self.command if _program_may_match(p, cmd.program)]
                if wild:
                    subject = _wild_subject(cmd)
                    hit = any(_could_match(p, subject) for p in globs)
                else:
                    hit = any(_command_re(p).match(cmd.line) for p in globs)
            if not hit:
                return False
        if self.flags and not _has_flag(cmd, self.flags, wild):
            return False
        if self.stdin and (cmd.stdin or "none") not in self.stdin:
            return False
        if self.target and not _target_matches(self.target, cmd, cwd, repo):
            return False
        if self.path and not any(_path_matches(self.path, w, _cmd_dir(cmd, cwd, repo), repo) for w in cmd.writes):
            return False
        return True


# -- reading rules ----------------------------------------------------------------


def parse_rules(raw: object, where: str) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PolicyError(f"{where}: `rule` must be an array of tables ([[rule]])")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, table in enumerate(raw, 1):
        rule = _parse_rule(table, f"{where}: rule {index}")
        if rule.name in seen:
            raise PolicyError(f"{where}: rule {index} ({rule.name!r}): another rule has the same name")
        seen.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def _parse_rule(table: object, at: str) -> Rule:
    if not isinstance(table, Mapping):
        raise PolicyError(f"{at}: must be a table")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PolicyError(f"{at}: needs a `name` (a non-empty string)")
    at = f"{at} ({name!r})"
    for key in table:
        if key not in _RULE_KEYS:
            raise PolicyError(f"{at}: unknown key {key!r} (known: {', '.join(_RULE_KEYS)})")
    action = table.get("action")
    if action not in ACTIONS:
        raise PolicyError(f"{at}: action must be one of {', '.join(ACTIONS)}, not {action!r}")
    risk = table.get("risk", "medium")
    if risk not in RISKS:
        raise PolicyError(f"{at}: risk must be one of {', '.join(RISKS)}, not {risk!r}")
    reason = table.get("reason", "")
    if not isinstance(reason, str):
        raise PolicyError(f"{at}: reason must be a string")
    expires = table.get("expires_after")
    if expires is not None:
        if isinstance(expires, bool) or not isinstance(expires, (int, float)) or not expires > 0:
            raise PolicyError(f"{at}: expires_after must be a positive number of seconds, not {expires!r}")
        expires = float(expires)
    target = table.get("target", "")
    if target and target not in TARGETS:
        raise PolicyError(f"{at}: target must be one of {', '.join(TARGETS)}, not {target!r}")
    rule = Rule(
        name=name.strip(), action=action, risk=risk, reason=reason.strip(), expires_after=expires,
        tool=_strings(table, "tool", at, split=True),
        command=_strings(table, "command", at),
        command_regex=_strings(table, "command_regex", at),
        path=_strings(table, "path", at),
        repo=_strings(table, "repo", at, split=True),
        agent=_strings(table, "agent", at, split=True),
        flags=_strings(table, "flags", at),
        target=target,
        stdin=_strings(table, "stdin", at),
    )
    for flag in rule.flags:
        if not flag.startswith("-") or flag in ("-", "--"):
            raise PolicyError(f"{at}: flags are options such as \"-f\" or \"--force\", not {flag!r}")
    for kind in rule.stdin:
        if kind not in STDIN_KINDS:
            raise PolicyError(f"{at}: stdin must be among {', '.join(STDIN_KINDS)}, not {kind!r}")
    for pattern in rule.command_regex:
        try:
            _regex(pattern)
        except re.error as exc:
            raise PolicyError(f"{at}: command_regex {pattern!r} is not a valid regular expression: {exc}") from None
    if rule.tool and rule.bash_only and not rule.applies_to_tool("Bash"):
        raise PolicyError(f"{at}: command matchers only apply to Bash, but tool is {'|'.join(rule.tool)!r}")
    return rule


def _strings(table: Mapping[str, object], key: str, at: str, *, split: bool = False) -> tuple[str, ...]:
    value = table.get(key)
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise PolicyError(f"{at}: {key} must be a non-empty string or a list of non-empty strings")
    out: list[str] = []
    for item in items:
        if split:
            out.extend(part.strip() for part in item.split("|") if part.strip())
        else:
            out.append(item.strip())
    return tuple(out)


# -- patterns -----------------------------------------------------------------------


def _class_end(pattern: str, i: int) -> int:
    """The index of the `]` closing the class opened at `i`, or -1 (then `[` is literal)."""
    j = i + 1
    if pattern[j:j + 1] in ("!", "^"):
        j += 1
    if pattern[j:j + 1] == "]":
        j += 1
    return pattern.find("]", j)


def _translate(pattern: str, *, path: bool) -> str:
    """A glob as a regular expression: `*` any text (within one path part for paths),
    `**` any text across parts, `?` one character, `[...]` a class."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if path and pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*" if path else ".*")
        elif c == "?":
            out.append("[^/]" if path else ".")
        elif c == "[" and _class_end(pattern, i) > 0:
            end = _class_end(pattern, i)
            body = pattern[i + 1:end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\").replace("[", "\\[")
            if body.startswith("^"):
                body = "\\" + body
            out.append("[" + ("^" if negate else "") + body + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _program_may_match(pattern: str, program: str) -> bool:
    first = pattern.split(" ", 1)[0]
    return first == program or any(ch in first for ch in "*?[")


@functools.lru_cache(maxsize=1024)
def _command_re(pattern: str) -> re.Pattern[str]:
    # A command glob matches the leading words of a line: "git push" matches
    # "git push origin main" but not "git pushd".
    return re.compile(r"\A" + _translate(pattern, path=False) + r"(?: .*)?\Z", re.S)


@functools.lru_cache(maxsize=1024)
def _name_re(pattern: str) -> re.Pattern[str]:
    return re.compile(r"\A" + _translate(pattern, path=False) + r"\Z", re.S)


@functools.lru_cache(maxsize=1024)
def _path_re(pattern: str) -> re.Pattern[str]:
    return re.compile(r"\A" + _translate(pattern, path=True) + r"\Z", re.S)


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _name_match(pattern: str, value: str, *, path: bool = False) -> bool:
    if path and "/" not in pattern:
        value = posixpath.basename(value)
    return bool(_path_re(pattern).match(value) if path else _name_re(pattern).match(value))


def _path_matches(patterns: tuple[str, ...], path: str, cwd: str | None, repo: str | None) -> bool:
    rel = _relative(path, cwd, repo)
    base = posixpath.basename(rel)
    for pattern in patterns:
        if "/" not in pattern:
            if _path_re(pattern).match(base):
                return True
        elif _path_re(pattern.lstrip("/") if pattern.startswith("/") and not rel.startswith("/") else pattern).match(rel):
            return True
    return False


# -- wildcard matching: "could this glob match, whatever the unknown words are?" --------

_WILD = None


def _wild_subject(cmd: SimpleCommand) -> list[str | None]:
    subject: list[str | None] = []
    for index, word in enumerate(cmd.argv):
        if index:
            subject.append(" ")
        if index in cmd.dynamic:
            subject.append(_WILD)
        else:
            subject.extend(word)
    return subject


@functools.lru_cache(maxsize=1024)
def _glob_elements(pattern: str) -> tuple[tuple[str, object], ...]:
    elems: list[tuple[str, object]] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            elems.append(("star", None))
        elif c == "?":
            elems.append(("any", None))
        elif c == "[" and _class_end(pattern, i) > 0:
            end = _class_end(pattern, i)
            elems.append(("class", re.compile(_translate(pattern[i:end + 1], path=False))))
            i = end
        else:
            elems.append(("lit", c))
        i += 1
    return tuple(elems)


def _could_match(pattern: str, subject: list[str | None]) -> bool:
    elems = _glob_elements(pattern)
    return _nfa(elems, subject) or _nfa(elems + (("lit", " "), ("star", None)), subject)


def _nfa(elems: tuple[tuple[str, object], ...], subject: list[str | None]) -> bool:
    m = len(elems)

    def closure(states: set[int]) -> set[int]:
        stack = list(states)
        while stack:
            i = stack.pop()
            if i < m and elems[i][0] == "star" and i + 1 not in states:
                states.add(i + 1)
                stack.append(i + 1)
        return states

    states = closure({0})
    for item in subject:
        if not states:
            return False
        if item is _WILD:  # any text: it may stand for any run of the pattern
            states = closure(set(range(min(states), m + 1)))
            continue
        nxt: set[int] = set()
        for i in states:
            if i == m:
                continue
            kind, value = elems[i]
            if kind == "star":
                nxt.add(i)
            elif kind == "any" or (kind == "lit" and value == item) or (kind == "class" and value.match(item)):
                nxt.add(i + 1)
        states = closure(nxt)
    return m in states


# -- flags and targets ------------------------------------------------------------------


def _has_flag(cmd: SimpleCommand, flags: tuple[str, ...], wild: bool) -> bool:
    """Any of `flags` among the options: "-f" also inside clusters ("-fu"), "--force" also
    as "--force=x" or an unambiguous prefix ("--forc"), "-destroy" as written."""
    for index, word in enumerate(cmd.argv[1:], 1):
        if word == "--":
            break
        if wild and index in cmd.dynamic:
            return True
        if not word.startswith("-") or word == "-":
            continue
        name = word.split("=", 1)[0]
        for flag in flags:
            if flag.startswith("--"):
                if name == flag or (name.startswith("--") and len(name) >= 4 and flag.startswith(name)):
                    return True
            elif len(flag) == 2:
                if not word.startswith("--") and flag[1] in word[1:]:
                    return True
            elif name == flag:
                return True
    return False


def _operands(cmd: SimpleCommand) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    options = True
    for index, word in enumerate(cmd.argv[1:], 1):
        if options and word == "--":
            options = False
            continue
        if options and word.startswith("-") and word != "-":
            continue
        out.append((word, index in cmd.dynamic))
    return out


# The home directory of the agent whose call is being classified: `classify` sets it for
# the call (the pod service classifies for many agents, whose $HOME need not be its own).
CALLER_HOME: ContextVar[str | None] = ContextVar("loomtui_caller_home", default=None)


def home_dir() -> str:
    """`~` for the call being classified: the caller's $HOME, else this process's."""
    home = CALLER_HOME.get()
    return posixpath.normpath(home if home else os.path.expanduser("~"))


_home = home_dir


_NOWHERE = "/\x00worktree"  # stands for an unknown cwd: relative paths stay relative to it


def _cmd_dir(cmd: SimpleCommand, cwd: str | None, repo: str | None) -> str | None:
    """The directory `cmd` runs in, absolute; None if unknown."""
    start = cwd or repo or _NOWHERE
    if cmd.cwd is None:
        return None
    where = cmd.cwd
    if where == "~" or where.startswith("~/"):
        where = _home() + where[1:]
    return posixpath.normpath(posixpath.join(start, where))


def _relative(path: str, cwd: str | None, repo: str | None) -> str:
    """`path` relative to the repository (else cwd) when inside it, else absolute."""
    if path == "~" or path.startswith("~/"):
        path = _home() + path[1:]
    start = cwd or repo
    absolute = posixpath.normpath(posixpath.join(start, path)) if start else posixpath.normpath(path)
    for base in (repo, cwd):
        if base:
            base = posixpath.normpath(base)
            if absolute.startswith(base.rstrip("/") + "/"):
                return absolute[len(base.rstrip("/")) + 1:]
    return absolute


def location(text: str, dynamic: bool, here: str | None, root: str) -> str:
    """Where an operand points: "inside" the worktree `root` (strictly below it),
    "root" (/, the home directory or one of its parents, or a glob right under them),
    else "outside" (also whenever it cannot be known)."""
    home = _home()
    for var in ("${HOME}", "$HOME"):
        if text == var or text.startswith(var + "/"):
            text = "~" + text[len(var):]
            break
    if "$" in text or "`" in text or (dynamic and ("{" in text or "<(" in text)):
        return "outside"
    if text.startswith("~"):
        if text != "~" and not text.startswith("~/"):
            return "outside"  # another user's home
        text = home + text[1:]
    globbed = False
    parts = text.split("/")
    for k, part in enumerate(parts):
        if any(ch in part for ch in "*?["):
            globbed = True
            text = "/".join(parts[:k]) or ("/" if text.startswith("/") else ".")
            break
    if here is None and not text.startswith("/"):
        return "outside"
    absolute = posixpath.normpath(posixpath.join(here or "/", text))
    protected = {"/", home}
    parent = home
    while parent not in ("/", ""):
        parent = posixpath.dirname(parent)
        protected.add(parent)
    if absolute in protected:
        return "root"
    if globbed:
        absolute = posixpath.join(absolute, "x")
    root = posixpath.normpath(root)
    if root in protected:
        return "outside"
    return "inside" if absolute.startswith(root.rstrip("/") + "/") else "outside"


def _target_matches(target: str, cmd: SimpleCommand, cwd: str | None, repo: str | None) -> bool:
    operands = _operands(cmd)
    if not operands:
        return False
    here = _cmd_dir(cmd, cwd, repo)
    root = repo or cwd or _NOWHERE
    places = [location(text, dyn, here, root) for text, dyn in operands]
    if target == "inside":
        return all(p == "inside" for p in places)
    if target == "root":
        return "root" in places
    return any(p != "inside" for p in places)
