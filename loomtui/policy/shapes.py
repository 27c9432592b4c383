"""The shape of an action, and whether a call matches a pattern of that shape.

`shape(tool, action)` replaces what varies from one call to the next with `*`:
`git push --force origin cart` -> `git push --force origin *`. The inbox groups gates
of one rule and one shape (loomtui/tui/inbox.py), and a grant (loomtui/store/grants.py)
answers allow for later calls of its rule whose shape is the same. `matches(...)` is
that test, with the narrower pattern a supervisor may give a grant.

Stdlib and loomtui.policy.shell only: the hook imports this when a grant may answer.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Mapping
from typing import Any

_NAME = re.compile(r"[A-Za-z][\w.:-]*\Z")  # a subcommand or a remote, not a path or a value
_SUMMARY_MAX = 200  # as loomtui.store.agents.SUMMARY_MAX: an unreadable line is its own shape
FILE_KEYS = ("file_path", "notebook_path")


def _one_line(text: str, limit: int = _SUMMARY_MAX) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def shape(tool: str, action: Mapping[str, Any] | None) -> str:
    """The action with what varies from one call to the next replaced by `*`:
    `git push --force origin cart` -> `git push --force origin *`.

    Commands are read by the policy's own shell analysis (loomtui/policy/shell): the
    program by its base name, wrappers and git's global options dropped, each simple
    command of a line in turn. Per command: the program, its subcommand (a name right
    after it), its options, then the operands: after a subcommand the first kept when
    more follow (`origin` in `git push origin cart`), the rest `*`. A line the analysis
    cannot read is its own shape. Edits are shaped by tool and file extension (`Edit *.sql`)."""
    action = action or {}
    if tool == "Bash" and isinstance(action.get("command"), str):
        return command_shape(action["command"])
    path = _file_of(action)
    if path is not None:
        ext = posixpath.splitext(path)[1]
        return f"{tool} *{ext}" if ext else f"{tool} {posixpath.basename(path)}"
    return tool


def _file_of(action: Mapping[str, Any]) -> str | None:
    for key in FILE_KEYS:
        if isinstance(action.get(key), str):
            return action[key]
    return None


@functools.lru_cache(maxsize=256)
def _analysed(command: str):
    """The line's simple commands, or the ShellError's text when it cannot be read: one
    analysis per line for its shape and its match (a grant's lookup asks both)."""
    from loomtui.policy.shell import ShellError, analyse

    try:
        return tuple(analyse(command))
    except ShellError as exc:
        return str(exc)


@functools.lru_cache(maxsize=4096)
def command_shape(command: str) -> str:
    """The shape of one Bash line (see `shape`)."""
    commands = _analysed(command)
    if isinstance(commands, str):
        return _one_line(command)
    shapes = [_simple_shape(cmd.argv, cmd.dynamic) for cmd in commands if cmd.argv]
    return " ; ".join(dict.fromkeys(shapes)) or _one_line(command)


def _simple_shape(argv: tuple[str, ...], dynamic: frozenset[int]) -> str:
    words = [argv[0]]
    rest = list(enumerate(argv[1:], 1))
    subcommand = bool(rest) and not rest[0][1].startswith("-") and rest[0][0] not in dynamic \
        and bool(_NAME.match(rest[0][1]))
    if subcommand:
        words.append(rest.pop(0)[1])  # `git push`, `alembic upgrade`
    options = [word.split("=", 1)[0] + "=*" if "=" in word else word
               for _, word in rest if word.startswith("-") and word != "-"]
    operands = [(i, word) for i, word in rest if not word.startswith("-") or word == "-"]
    words += options
    if subcommand and len(operands) > 1 and operands[0][0] not in dynamic and _NAME.match(operands[0][1]):
        words.append(operands.pop(0)[1])  # `origin` in `git push origin cart`
    if operands:
        words.append("*")
    return " ".join(words)


# -- what a grant may cover -------------------------------------------------------------


def why_unmatchable(tool: str, action: Mapping[str, Any] | None) -> str | None:
    """Why no call "like" this one can be told apart from any other, or None: a Bash
    line the analysis cannot read, or one with words only known at run time (command
    substitution, variables, brace expansion), or what its shape hides (see `_plain`,
    inline code, a tool shaped by its name alone). Such a call never matches a grant
    and no grant may be made from it."""
    action = action or {}
    if tool != "Bash" or not isinstance(action.get("command"), str):
        if _file_of(action) is None and any(value not in (None, "", [], {}) for value in action.values()):
            # WebFetch, WebSearch, MCP tools: the shape drops every argument, so a grant
            # from a fetch of the docs would allow a fetch of any URL (red team, issue 14)
            return (f"its shape is only the tool's name ({tool}): a grant would allow every call of it, "
                    "whatever it asks for")
        return None
    commands = _analysed(action["command"])
    if isinstance(commands, str):
        return f"LoomTUI cannot read this command line ({commands}), so no call is known to be like it"
    if any(cmd.dynamic for cmd in commands) or _globs(action["command"]):
        return ("the command has words only known when it runs (command substitution, variables, "
                "file name patterns), so what a later call like it would do cannot be known")
    if not any(cmd.argv for cmd in commands):
        return "the command runs nothing LoomTUI can name"
    from loomtui.policy.shell import inline_code

    if any(inline_code(cmd) for cmd in commands):  # `python3 -c *` would be any code at all
        return "it runs inline code in another language, which LoomTUI cannot read"
    if not _plain(action["command"], commands) or any(cmd.argv[:1] == ("env",) and len(cmd.argv) > 1 for cmd in commands):
        return ("the command sets variables, gives git options before its subcommand, names its program "
                "by a path or redirects input or output: its shape does not show these, so a call of the same "
                "shape could do something else entirely")
    return None


@functools.lru_cache(maxsize=1024)
def _globs(command: str) -> bool:
    """Whether a word of the line is an unquoted file name pattern (`*`, `?`, `[...]`):
    the shell replaces it with names of files, which the agent makes. `git push origin *`
    where files `--force` and `main` lie runs `git push origin --force main` (red team,
    issue 14). The analysis keeps such a word as written; its lexer knows."""
    from loomtui.policy.shell import ShellError
    from loomtui.policy.shell.lexer import Lexer

    lexer = Lexer(command, 0)
    try:
        while (token := lexer._token()) is not None:
            if token[0] == "word" and token[1].glob:
                return True
    except (ShellError, NotImplementedError):  # a substitution: dynamic, refused already
        return True
    return False


# Between simple commands, the only operators a granted line may have; and redirections
# that write nothing (`2>&1`, `> /dev/null`).
_SEPARATORS = frozenset({";", "&&", "||", "|", "|&", "&"})
_NOWHERE = {">": ("/dev/null",), ">>": ("/dev/null",), "&>": ("/dev/null",), ">&": ("1", "2", "/dev/null")}


@functools.lru_cache(maxsize=1024)  # asked once per candidate grant of a call
def _plain(command: str, commands: tuple) -> bool:
    """Whether the line is its simple commands' words as written, joined by `;` `&&` `||`
    `|` `&` (or newlines): the shape is made from what the analysis reads, which drops
    `VAR=value` prefixes (`GIT_SSH_COMMAND=... git push origin x`), git's global options
    (`git -c core.sshCommand=... push`, `git -C /elsewhere push`), a program's path
    (`./git push` runs the agent's own script) and redirections (`> ~/.bashrc`); `env
    X=...` is refused beside it, its assignments being `*` in the shape. A call
    with any of those would take a grant's shape while doing what the grant never showed
    (red team, issue 14). Read a second way, by shlex: any disagreement is not plain."""
    import shlex

    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: the analysis would have said so already
        return False
    words: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token or any(ch not in "();<>|&" for ch in token):
            words.append(token)
        elif token in _NOWHERE and i + 1 < len(tokens) and tokens[i + 1] in _NOWHERE[token]:
            if words and words[-1] in ("1", "2"):
                words.pop()  # the descriptor of `2>&1` (or an operand: then the words differ below)
            i += 1
        elif token not in _SEPARATORS:
            return False  # any other redirection, a subshell, a here-document
        i += 1
    return words == [word for cmd in commands for word in cmd.argv]


def matches(pattern: str, granted_shape: str, tool: str, action: Mapping[str, Any] | None) -> bool:
    """Whether a call (`tool`, `action`) is covered by a grant of `granted_shape`
    narrowed to `pattern`: its shape is the grant's, it has no dynamic words, and,
    where the pattern is narrower than the shape, every simple command of the line
    matches one `;`-separated part of the pattern word by word (`*` alone is one or
    more words, `*` inside a word any characters of that word but `:`; never across `;`,
    `&&` or `|`, which split commands). A file tool's narrowed pattern is
    `TOOL GLOB`, the glob matched against the whole path (or its name, for a glob
    with no `/`)."""
    action = action or {}
    if shape(tool, action) != granted_shape or why_unmatchable(tool, action) is not None:
        return False
    if pattern == granted_shape:
        return True
    if tool == "Bash":
        parts = [p.split() for p in pattern.split(";") if p.split()]
        commands = [cmd.argv for cmd in _analysed(action["command"]) if cmd.argv]
        return bool(parts) and all(any(_words_match(part, list(argv)) for part in parts)
                                   for argv in commands)
    path = _file_of(action)
    head, _, glob = pattern.partition(" ")
    if path is None or head != tool or not glob.strip():
        return False
    glob = glob.strip()
    path = posixpath.normpath(path)  # `src/*.py` never takes `src/../deploy/hooks.py`
    from fnmatch import fnmatchcase

    return fnmatchcase(path, glob) or ("/" not in glob and fnmatchcase(posixpath.basename(path), glob))


def _words_match(pattern: list[str], words: list[str]) -> bool:
    """Word-wise glob: `*` alone stands for one or more words; a word with `*` in it
    matches one word (its `*` any characters); any other word matches itself."""
    @functools.cache
    def at(p: int, w: int) -> bool:
        if p == len(pattern):
            return w == len(words)
        if w == len(words):
            return False
        if pattern[p] == "*":
            return any(at(p + 1, k) for k in range(w + 1, len(words) + 1))
        return _word_match(pattern[p], words[w]) and at(p + 1, w + 1)

    return at(0, 0)


def _word_match(pattern: str, word: str) -> bool:
    if "*" not in pattern:
        return pattern == word
    # A `*` inside a word never crosses a `:`: `auth*` is the agent's branches, not the
    # refspec `auth:main` that pushes onto main (nor `host*` a `host.evil:/path`).
    regex = "[^:]*".join(re.escape(piece) for piece in pattern.split("*"))
    return re.fullmatch(regex, word, re.DOTALL) is not None
