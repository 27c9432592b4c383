"""The shell analysis's normaliser: a simple command's words -> the commands it runs.

`normalize` gets each simple command the parser finds and appends what it runs to the
analysis, as `SimpleCommand`s: the program by its base name, `VAR=value` prefixes
dropped; a wrapper (env, sudo, timeout, xargs, ...) reported as a command of its own and
looked through to the command it runs; strings run as shell code (`bash -c`, `eval`,
`su -c`, `watch`, `env -S`, a here-string fed to a shell) handed back to the parser
through `Context.analyse_nested`; git's global options dropped; `find -exec` commands;
`cd` followed. Each program that needs more than the plain report has one step here,
looked up by name in `_PROGRAMS`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING

from loomtui.policy.shell import MAX_DEPTH, ShellError, SimpleCommand
from loomtui.policy.shell.lexer import Word

if TYPE_CHECKING:
    from loomtui.policy.shell.parser import Context, Heredoc

_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "yash", "fish"})


class Redirections:
    """What the redirections of one simple command say: where its standard input comes
    from ("" inherited, "heredoc", "herestring", "file"), the files it writes, its
    here-documents and its here-string."""

    __slots__ = ("stdin", "writes", "heredocs", "herestring")

    def __init__(self) -> None:
        self.stdin = ""
        self.writes: list[Word] = []
        self.heredocs: list[Heredoc] = []
        self.herestring: Word | None = None


# -- the normaliser: one step per program with something to look through -----------------


def normalize(words: list[Word], redirs: Redirections, stdin: str, ctx: Context, depth: int,
              cwd: str | None) -> None:
    """Append to `ctx.out` what the simple command `words` runs: the command, and the
    commands its wrappers and shells run in turn. `cwd` is where it runs, `depth` how
    deeply it is nested; ShellError when the program is known only at run time."""
    if depth > MAX_DEPTH:
        raise ShellError("commands nested too deeply")
    words = _without_assignments(words)
    if not words:
        return
    name = _program_name(words[0])
    _PROGRAMS.get(name, _report_plain)(_Command(words, redirs, stdin, ctx, depth, cwd), name)


def _without_assignments(words: list[Word]) -> list[Word]:
    """The words after the `VAR=value` prefixes (a line of only assignments runs nothing)."""
    i = 0
    while i < len(words) and words[i].assign:
        i += 1
    return words[i:]


def _program_name(head: Word) -> str:
    """The base name of the program `head` names (`/usr/bin/git` -> `git`); ShellError when
    the shell would only know it at run time."""
    if head.dynamic:
        raise ShellError(f"the program name {head.text!r} is only known at run time")
    if head.glob:
        raise ShellError(f"the program name {head.text!r} is a pattern the shell expands")
    if head.text == "":
        raise ShellError("the program name is empty")
    return posixpath.basename(head.text) or head.text


class _Command:
    """The simple command a step works on (assignments dropped), and the analysis it
    reports to."""

    __slots__ = ("words", "redirs", "stdin", "ctx", "depth", "cwd")

    def __init__(self, words: list[Word], redirs: Redirections, stdin: str, ctx: Context, depth: int,
                 cwd: str | None) -> None:
        self.words = words
        self.redirs = redirs
        self.stdin = stdin
        self.ctx = ctx
        self.depth = depth
        self.cwd = cwd

    def report(self, words: list[Word] | None = None, stdin: str | None = None) -> None:
        """Report the command (or `words`, the part of it that counts) with the files its
        redirections write; `stdin` when given replaces where its input comes from."""
        self.ctx.out.append(_make(self.words if words is None else words, self.redirs.writes,
                                  self.stdin if stdin is None else stdin, self.cwd))

    def report_wrapper(self, end: int, stdin: str | None = None) -> None:
        """Report `words[:end]`, a wrapper's own part of the line, as a command of its own,
        without the redirections: they belong to the command it runs."""
        self.ctx.out.append(_make(self.words[:end], (), self.stdin if stdin is None else stdin, self.cwd))

    def look_through(self, start: int, cwd: str | None) -> None:
        """Report `words[:start]` as a wrapper, and normalize `words[start:]`, the command it
        runs (in `cwd`, with the redirections), when there is one."""
        self.report_wrapper(start)
        if start < len(self.words):
            normalize(self.words[start:], self.redirs, self.stdin, self.ctx, self.depth + 1, cwd)


def _report_plain(c: _Command, name: str) -> None:
    """A program with nothing to look through: reported as it is."""
    c.report()


def _report_tee(c: _Command, name: str) -> None:
    """`tee FILE...` writes its operands, as a redirection would."""
    cmd = _make(c.words, c.redirs.writes, c.stdin, c.cwd)
    operands = [w.text for w in c.words[1:] if not w.text.startswith("-")]
    c.ctx.out.append(cmd._replace(writes=cmd.writes + tuple(operands)))


def _report_source(c: _Command, name: str) -> None:
    """`source FILE` / `. FILE`: a script run by name (not visible); `source <(CMD)` reads
    its commands from another command's output, as a pipe."""
    c.report(stdin="pipe" if len(c.words) > 1 and c.words[1].procsub else None)


def _follow_cd(c: _Command, name: str) -> None:
    """`cd`/`pushd DIR` moves the shell for the commands after it; after `popd` the
    directory is unknown."""
    c.report()
    if name == "popd":
        c.ctx.cwd = None
    else:
        operands = [w for w in c.words[1:] if not w.text.startswith("-") or w.text == "-"]
        c.ctx.cwd = _join_cwd(c.ctx.cwd, operands[0] if operands else None)


def _look_through_env(c: _Command, name: str) -> None:
    """`env [options] [VAR=value...] COMMAND`: `-C DIR` runs it elsewhere, `-S STRING`
    splits a string into the command's words (analysed as shell code)."""
    words = c.words
    j = _skip_options(words, 1, short_arg="uCSP", long_arg=("unset", "chdir", "split-string"))
    split = _option_value(words, 1, j, "S", "split-string")
    chdir = _option_value(words, 1, j, "C", "chdir")
    inner_cwd = _join_cwd(c.cwd, chdir) if chdir is not None else c.cwd
    k = j
    while k < len(words) and "=" in words[k].text and not words[k].text.startswith("="):
        k += 1
    if split is not None:
        if split.dynamic:
            raise ShellError("env -S with a string only known at run time")
        c.report_wrapper(k)
        rest = " ".join(_quote(w.text) for w in words[k:])
        c.ctx.analyse_nested(split.text + " " + rest, inner_cwd, c.depth + 1)
        return
    c.look_through(k, inner_cwd)


def _look_through_sudo(c: _Command, name: str) -> None:
    """`sudo`/`doas [options] [VAR=value...] COMMAND` (`sudo -D DIR` runs it elsewhere)."""
    words = c.words
    if name == "sudo":
        j = _skip_options(words, 1, short_arg="ugpCDrtTUR",
                          long_arg=("user", "group", "host", "prompt", "close-from", "chdir", "role",
                                    "type", "command-timeout", "other-user", "chroot"))
        chdir = _option_value(words, 1, j, "D", "chdir")
    else:
        j = _skip_options(words, 1, short_arg="uC")
        chdir = None
    k = j
    while k < len(words) and words[k].assign:
        k += 1
    c.look_through(k, _join_cwd(c.cwd, chdir) if chdir is not None else c.cwd)


def _look_through_bare(c: _Command, name: str) -> None:
    """A wrapper without options (`nohup`, `builtin`, ...): the next word is the command."""
    c.look_through(1, c.cwd)


def _look_through_command(c: _Command, name: str) -> None:
    """`command [-p] COMMAND` runs it; `command -v`/`-V` only looks the name up."""
    j = _skip_options(c.words, 1)
    if any(w.text.startswith("-") and not w.text.startswith("--") and ("v" in w.text or "V" in w.text)
           for w in c.words[1:j]):
        c.report()  # command -v: a lookup, runs nothing
        return
    c.look_through(j, c.cwd)


# Wrappers that run the command after their options: name -> (the short options that take a
# value, the long ones that do, whether `-N` (a number) is an option as in `nice -10`).
_OPTIONS_BEFORE_COMMAND: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "exec": ("a", (), False),
    "time": ("fo", ("format", "output"), False),
    "nice": ("n", ("adjustment",), True),
    "setsid": ("", (), False),
    "stdbuf": ("ioe", ("input", "output", "error"), False),
    "ionice": ("cnp", ("class", "classdata", "pid"), False),
    "xargs": ("adEILnPs", ("arg-file", "delimiter", "max-lines", "max-args", "max-procs",
                           "max-chars", "process-slot-var"), False),
    "npx": ("pc", ("package", "call"), False),
}


def _look_through_options(c: _Command, name: str) -> None:
    """A wrapper of `_OPTIONS_BEFORE_COMMAND`: the command starts after its options."""
    short_arg, long_arg, numeric = _OPTIONS_BEFORE_COMMAND[name]
    j = _skip_options(c.words, 1, short_arg=short_arg, long_arg=long_arg, numeric=numeric)
    c.look_through(j, c.cwd)


def _look_through_timeout(c: _Command, name: str) -> None:
    """`timeout [options] DURATION COMMAND`."""
    j = _skip_options(c.words, 1, short_arg="sk", long_arg=("signal", "kill-after"))
    c.look_through(j + 1, c.cwd)  # the operand after the options is the duration


def _look_through_runner(c: _Command, name: str) -> None:
    """`bundle exec`, `poetry run`, `pipenv run`, `uv run` [options] COMMAND; any other
    subcommand of these is a plain command."""
    words = c.words
    if len(words) < 2 or words[1].text not in ("exec", "run"):
        c.report()
        return
    j = _skip_options(words, 2, long_arg=("with", "python", "project", "directory", "package", "extra",
                                         "group", "env-file", "index", "from"), short_arg="p")
    c.look_through(j, c.cwd)


def _run_watched(c: _Command, name: str) -> None:
    """`watch [options] COMMAND...`: the words are joined and run as shell code, or run
    directly with `-x`/`--exec`."""
    words = c.words
    j = _skip_options(words, 1, short_arg="n", long_arg=("interval",))
    if any(w.text in ("-x", "--exec") for w in words[1:j]):
        c.look_through(j, c.cwd)
        return
    c.report_wrapper(j)
    if j < len(words):
        _run_string(words[j:], c, "watch")


def _run_eval(c: _Command, name: str) -> None:
    """`eval WORDS...`: the words joined, run as shell code."""
    c.report_wrapper(1)
    _run_string(c.words[1:], c, "eval")


def _run_su(c: _Command, name: str) -> None:
    """`su [options] [USER]`: runs the string of `-c`/`--command` as shell code, if given."""
    words = c.words
    j = _skip_options(words, 1, short_arg="csgGw", long_arg=("command", "shell", "group",
                                                             "supp-group", "whitelist-environment"))
    string = _option_value(words, 1, j, "c", "command")
    c.report_wrapper(1)
    if string is not None:
        _run_string([string], c, "su -c")


def _run_string(words: list[Word], c: _Command, what: str) -> None:
    """Analyse `words`, joined, as shell code `what` runs; ShellError if only known at run time."""
    for w in words:
        if w.dynamic:
            raise ShellError(f"{what} of a string only known at run time ({w.text})")
    # The string runs in its own shell: a `cd` in it does not move this one.
    c.ctx.analyse_nested(" ".join(w.text for w in words), c.cwd, c.depth + 1)


def _run_shell(c: _Command, name: str) -> None:
    """A shell runs the string of `-c`, a script named by its first operand, or else the
    commands it reads on standard input (a here-string or here-document, a pipe)."""
    words = c.words
    i, has_c, reads_stdin = _shell_options(words)
    if has_c:
        c.report_wrapper(i, stdin="")
        if i >= len(words):
            raise ShellError(f"{name} -c without a command string")
        _run_string([words[i]], c, f"{name} -c")
        return
    if i < len(words) and not reads_stdin:
        script = words[i]
        if script.procsub:  # bash <(curl ...): commands from another command's output
            c.report_wrapper(i, stdin="pipe")
        else:
            c.report(stdin="")  # a script run by name: not visible
        return
    # The shell reads its commands from standard input.
    c.report(words[:i])
    redirs = c.redirs
    if redirs.herestring is not None:
        if redirs.herestring.dynamic:
            raise ShellError(f"{name} <<< of a string only known at run time")
        c.ctx.analyse_nested(redirs.herestring.text, c.cwd, c.depth + 1)
    for doc in redirs.heredocs:
        doc.owner["shell"] = True  # the parser analyses the body when it reads it


def _shell_options(words: list[Word]) -> tuple[int, bool, bool]:
    """A shell's options: the index of its first operand, whether `-c` was given, whether
    `-s` (read commands from standard input) was."""
    i = 1
    has_c = reads_stdin = False
    while i < len(words):
        t = words[i].text
        if t == "--" or t == "-":
            i += 1
            break
        if t in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if t.startswith("--"):
            i += 1
            continue
        if t[:1] in "-+" and len(t) > 1:
            has_c = has_c or (t[0] == "-" and "c" in t[1:])
            reads_stdin = reads_stdin or (t[0] == "-" and "s" in t[1:])
            i += 1
            continue
        break
    return i, has_c, reads_stdin


_GIT_ARG_OPTIONS = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env",
                              "--super-prefix", "--exec-path", "--list-cmds", "--attr-source"})


def _drop_git_options(c: _Command, name: str) -> None:
    """git [global options] SUBCOMMAND ...  ->  git SUBCOMMAND ...; ShellError for an alias
    defined on the command line (`-c alias.x=...`), which could be any command."""
    words = c.words
    i = 1
    while i < len(words):
        t = words[i].text
        if not t.startswith("-"):
            break
        if t in _GIT_ARG_OPTIONS and t not in ("--exec-path", "--list-cmds"):
            value = words[i + 1] if i + 1 < len(words) else None
            if t == "-c" and value is not None and value.text.lower().startswith("alias."):
                raise ShellError("a git alias defined on the command line (-c alias...)")
            if t == "--config-env" and value is not None and value.text.lower().startswith("alias."):
                raise ShellError("a git alias defined on the command line (--config-env alias...)")
            i += 2
            continue
        if t.startswith("-c") and t[2:].lower().startswith("alias."):
            raise ShellError("a git alias defined on the command line (-c alias...)")
        i += 1
    c.report([words[0]] + words[i:])


def _run_find_exec(c: _Command, name: str) -> None:
    """`find ROOTS... -exec COMMAND ;` (and -execdir, -ok, -okdir): each COMMAND is
    normalized with `{}` read as a path under the first root."""
    words = c.words
    c.report()
    roots = []
    i = 1
    while i < len(words) and words[i].text[:1] not in ("-", "(", "!"):
        roots.append(words[i].text)
        i += 1
    root = roots[0] if roots else "."
    while i < len(words):
        if words[i].text in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < len(words) and words[j].text not in (";", "+"):
                j += 1
            inner = [Word(text=w.text.replace("{}", posixpath.join(root, "{}")), quoted=w.quoted,
                          dynamic=w.dynamic, glob=w.glob, assign=False, procsub=w.procsub)
                     for w in words[i + 1:j]]
            if inner:
                normalize(inner, Redirections(), "", c.ctx, c.depth + 1, c.cwd)
            i = j
        i += 1


# What `normalize` does with each program it knows; any other is reported as it is.
_PROGRAMS: dict[str, Callable[[_Command, str], None]] = {
    "env": _look_through_env,
    "sudo": _look_through_sudo,
    "doas": _look_through_sudo,
    "nohup": _look_through_bare,
    "builtin": _look_through_bare,
    "chronic": _look_through_bare,
    "unbuffer": _look_through_bare,
    "command": _look_through_command,
    **dict.fromkeys(_OPTIONS_BEFORE_COMMAND, _look_through_options),
    "timeout": _look_through_timeout,
    **dict.fromkeys(("bundle", "poetry", "pipenv", "uv"), _look_through_runner),
    "watch": _run_watched,
    "eval": _run_eval,
    "su": _run_su,
    **dict.fromkeys(_SHELLS, _run_shell),
    "source": _report_source,
    ".": _report_source,
    "git": _drop_git_options,
    "find": _run_find_exec,
    "cd": _follow_cd,
    "pushd": _follow_cd,
    "popd": _follow_cd,
    "tee": _report_tee,
}


# -- helpers ------------------------------------------------------------------------------


def _join_cwd(base: str | None, path: Word | str | None) -> str | None:
    """Where `cd path` from `base` goes: lexically, "~" for a bare `cd`, None when unknown."""
    if base is None:
        return None
    if path is None:
        return "~"
    if isinstance(path, Word):
        if path.dynamic or path.glob:
            return None
        path = path.text
    if path == "-":
        return None
    if path.startswith("~"):
        return path if path == "~" or path.startswith("~/") else None
    return posixpath.normpath(posixpath.join(base, path))


def _make(words: list[Word], writes: list[Word] | tuple[()], stdin: str, cwd: str | None) -> SimpleCommand:
    """The SimpleCommand of `words` (the program by its base name), writing to `writes`."""
    argv = [w.text for w in words]
    argv[0] = posixpath.basename(argv[0]) or argv[0]
    dynamic = frozenset(i for i, w in enumerate(words) if w.dynamic or w.brace)
    return SimpleCommand(tuple(argv), dynamic, stdin, tuple(w.text for w in writes), cwd)


def _skip_options(words: list[Word], start: int, short_arg: str = "", long_arg: tuple[str, ...] = (),
                  numeric: bool = False) -> int:
    """Index of the first operand at or after `start`, getopt style ("--" ends options)."""
    i = start
    while i < len(words):
        t = words[i].text
        if t == "--":
            return i + 1
        if not t.startswith("-") or t == "-":
            return i
        if t.startswith("--"):
            name = t[2:].split("=", 1)[0]
            i += 1
            if "=" not in t and name in long_arg:
                i += 1
            continue
        if numeric and t[1:].isdigit():
            i += 1
            continue
        letters = t[1:]
        i += 1
        for pos, letter in enumerate(letters):
            if letter in short_arg:
                if pos == len(letters) - 1:
                    i += 1
                break
    return min(i, len(words))


def _option_value(words: list[Word], start: int, end: int, short: str, long: str) -> Word | None:
    """The value of option -short / --long among words[start:end], if given."""
    i = start
    end = min(end, len(words))
    found = None
    while i < end:
        t = words[i].text
        if t == "--":
            break
        if t.startswith("--" + long + "=") and long:
            found = Word(text=t.split("=", 1)[1], dynamic=words[i].dynamic)
        elif t == "--" + long and long and i + 1 < end:
            found = words[i + 1]
        elif short and t.startswith("-") and not t.startswith("--") and t[1:2] == short:
            found = Word(text=t[2:], dynamic=words[i].dynamic) if len(t) > 2 else (words[i + 1] if i + 1 < end else None)
        i += 1
    return found


def _quote(text: str) -> str:
    """`text` single-quoted for the shell."""
    return "'" + text.replace("'", "'\\''") + "'"
