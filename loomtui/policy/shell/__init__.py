"""Shell analysis: a Bash command line -> the simple commands it would run.

`analyse(text)` reads the line the way bash would, closely enough for policy, and
returns every simple command in it, normalized:

- split through `;` `&&` `||` `|` `|&` `&`, newlines, `( )`, `{ }`, `$( )`, `$(( ))`,
  backticks, `<( )` / `>( )`, the bodies of if/while/until/for/select/case and
  function definitions (keywords are skipped; `for x in ...` lists are data);
- quotes, backslashes and `$'...'` strings resolved as the shell would (`"git" push`,
  `\\git`, `'g'it`, `$'\\x67it'`);
- wrappers looked through, each also reported as a command of its own so a rule can
  name it: `env` (flags, `-C`, `-S`, `VAR=val`), `sudo`/`doas` (flags), `nohup`, `time`,
  `command`, `builtin`, `exec`, `nice`, `timeout`, `stdbuf`, `ionice`, `setsid`,
  `xargs`, `watch`, `npx`, `bundle exec`, `poetry run`, `pipenv run`, `uv run`, and
  `VAR=value` prefixes;
- strings run by a shell analysed recursively: `bash|sh|zsh|dash|ksh -c STRING`,
  `eval ...`, `su -c STRING`, `watch CMD`, `find ... -exec CMD ;`, a shell fed a
  here-document or here-string;
- the program is matched by its base name (`/usr/bin/git` -> `git`); git's global
  options (`-C dir`, `-c k=v`, `--git-dir=...`, `--no-pager`, ...) are dropped, so
  `git -C /tmp push` reads `git push`;
- `cd`/`pushd` are followed, so `cd / && rm -rf *` knows where it runs;
- here-document bodies are data (an unquoted one is still searched for `$( )`).

What it cannot see, by design (a policy should not pretend otherwise):

- code in other languages: `python -c "os.system('git push')"`, `node -e ...`,
  `perl -e ...` (set `strict_interpreters = true` to gate interpreters given inline code);
- scripts run by name (`./deploy.sh`, `bash deploy.sh`, `make release`, `npm run x`),
  shell aliases and functions defined elsewhere, git aliases from git config, and
  commands run by tools that are not listed above (`ssh host CMD`, `strace CMD`, ...);
- the value of variables: a word such as `$BRANCH` is only known at run time. As the
  program name (`$CMD push`, `$(echo git) push`) it makes the line unanalysable; as an
  argument the policy treats it as "could be anything" (see the policy module);
- the file system: paths are resolved lexically (no symlinks, no globbing).

A line that cannot be analysed (unbalanced quotes or brackets, a program name that is
a variable, `eval` or `bash -c` of a string known only at run time, a git alias defined
with `-c alias.x=...`, nesting too deep) raises `ShellError`; the policy gates it.

This module is the public face of the analysis: `analyse`, `inline_code` and the two
records they give, `SimpleCommand` and `ShellError`. The work is done in three parts,
one stage each, loaded by the first `analyse` (the hook imports the policy on every tool
call, and most tool calls run no shell command):

- `lexer.py`: words and operators, quotes and expansions resolved (`Lexer`, `Word`);
- `parser.py`: the command structure down to simple commands, here-documents, the
  commands inside words (`Parser`, `Context`);
- `normalize.py`: what a simple command runs, through wrappers, shells, git's global
  options, `find -exec` and `cd` (`normalize`).
"""

# No `from __future__ import annotations` here: typing.NamedTuple turns string annotations
# into ForwardRefs, each a compile() call, and the first compile() of a process costs about
# a millisecond (it sets up the ast module's types). This module loads on every hook call.
from typing import NamedTuple

MAX_DEPTH = 24  # how deeply commands may nest (substitutions, strings run by a shell)
_INTERPRETERS = ("python", "pypy", "node", "nodejs", "ruby", "perl", "php", "lua", "rscript", "bun", "deno")


class SimpleCommand(NamedTuple):
    """One simple command after analysis.

    `argv[0]` is the program's base name, wrappers and assignments removed (git's
    global options too). `dynamic` holds the indexes of words only known at run time
    (their text is the shell source, e.g. `$BRANCH`). `stdin` says where standard
    input comes from: "" (inherited), "pipe", "heredoc", "herestring" or "file"; for a
    shell it is set only when the shell reads its commands from there. `writes` are
    files written through redirections (`>`, `>>`, `&>`, `>|`) and `tee`. `cwd` is
    where the command runs, relative to the starting directory ("." unchanged; an
    absolute path after `cd /x`; None when unknown, e.g. after `cd "$DIR"`).
    """

    argv: tuple[str, ...]
    dynamic: frozenset[int] = frozenset()
    stdin: str = ""
    writes: tuple[str, ...] = ()
    cwd: str | None = "."

    @property
    def program(self) -> str:
        return self.argv[0] if self.argv else ""

    @property
    def line(self) -> str:
        """The normalized command line that `command` globs are matched against."""
        return " ".join(self.argv)


class ShellError(ValueError):
    """The command line cannot be analysed; the message says why, for a person.

    `partial` holds the simple commands found before the analysis gave up (a policy
    may still deny on them: `` `rm -rf /` `` is unanalysable and also an `rm -rf /`).
    """

    partial: tuple[SimpleCommand, ...] = ()


def analyse(text: str) -> tuple[SimpleCommand, ...]:
    """Every simple command `text` would run, in order of appearance; ShellError if unsure."""
    global _analyse_line
    if _analyse_line is None:  # the first call loads the three parts (see above), once
        from loomtui.policy.shell.parser import analyse_line as _analyse_line
    return _analyse_line(text)


_analyse_line = None  # parser.analyse_line once loaded (no annotation: it would be evaluated here)


def inline_code(cmd: SimpleCommand) -> bool:
    """Whether `cmd` is an interpreter given code inline (`python -c`, `node -e`,
    `perl -ne`, `python - <<EOF`, `... | python`), which the analysis cannot read."""
    name = cmd.program.lower()
    base = name.rstrip("0123456789.")
    if base not in _INTERPRETERS:
        return False
    args = cmd.argv[1:]
    if base == "deno":
        return bool(args) and args[0] == "eval"
    inline_flags = {"python": "c", "pypy": "c", "php": "r"}.get(base, "e")
    if base in ("node", "nodejs", "bun"):
        inline_flags = "ep"
    if base == "perl":
        inline_flags = "eE"
    takes_value = {"python": "mWXQ", "pypy": "mWXQ", "perl": "IMmdx", "ruby": "IrCEF",
                   "node": "r", "nodejs": "r", "php": "cdfz"}.get(base, "")
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            i += 1
            break
        if word in ("--eval", "--print") and base in ("node", "nodejs", "bun"):
            return True
        if word == "-" or not word.startswith("-"):
            break
        if word.startswith("--"):
            i += 1
            continue
        letters = word[1:]
        for pos, letter in enumerate(letters):
            if letter in inline_flags:
                return True
            if letter in takes_value:
                if letter == "m" and base in ("python", "pypy"):
                    return False  # python -m module: runs a module, not inline code
                if pos == len(letters) - 1:
                    i += 1
                break
        i += 1
    operand = args[i] if i < len(args) else None
    if operand == "-":
        return True
    return operand is None and cmd.stdin in ("pipe", "heredoc", "herestring")
