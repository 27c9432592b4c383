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
"""

from __future__ import annotations

import posixpath

MAX_DEPTH = 24

_META = " \t\n;&|()<>"
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "yash", "fish"})
_KEYWORDS_SKIP = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "{", "fi", "done", "}"})
_INTERPRETERS = ("python", "pypy", "node", "nodejs", "ruby", "perl", "php", "lua", "rscript", "bun", "deno")
from typing import NamedTuple


class ShellError(ValueError):
    """The command line cannot be analysed; the message says why, for a person.

    `partial` holds the simple commands found before the analysis gave up (a policy
    may still deny on them: `` `rm -rf /` `` is unanalysable and also an `rm -rf /`).
    """

    partial: tuple[SimpleCommand, ...] = ()


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


def analyse(text: str) -> tuple[SimpleCommand, ...]:
    """Every simple command `text` would run, in order of appearance; ShellError if unsure."""
    ctx = _Context()
    try:
        _analyse_into(text, ctx, 0)
    except ShellError as exc:
        exc.partial = tuple(ctx.out)
        raise
    except RecursionError:
        error = ShellError("commands nested too deeply")
        error.partial = tuple(ctx.out)
        raise error from None
    return tuple(ctx.out)


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


# -- internals ------------------------------------------------------------------


# The parser's own small records are plain classes: a dataclass costs about half a
# millisecond to create at import, and this module loads on every hook call.


class _Word:
    __slots__ = ("text", "quoted", "dynamic", "glob", "brace", "assign", "procsub", "literal_end")

    def __init__(self, text: str = "", quoted: bool = False, dynamic: bool = False, glob: bool = False,
                 assign: bool = False, procsub: bool = False) -> None:
        self.text = text
        self.quoted = quoted      # any quoting or escaping
        self.dynamic = dynamic    # holds an expansion: $x, ${x}, $( ), backticks, <( )
        self.glob = glob          # unquoted * ? [ or a brace expansion
        self.brace = False        # unquoted {a,b} or {1..3}: one word becomes several
        self.assign = assign      # NAME=value with an unquoted name
        self.procsub = procsub    # the whole word is <( ) or >( )
        self.literal_end = -1     # length of the leading unquoted, unexpanded text


class _Context:
    __slots__ = ("out", "cwd")

    def __init__(self, out: list[SimpleCommand] | None = None, cwd: str | None = ".") -> None:
        self.out = [] if out is None else out
        self.cwd = cwd


class _Heredoc:
    __slots__ = ("delimiter", "strip_tabs", "quoted", "owner")

    def __init__(self, delimiter: str, strip_tabs: bool, quoted: bool, owner: dict) -> None:
        self.delimiter = delimiter
        self.strip_tabs = strip_tabs
        self.quoted = quoted
        self.owner = owner


def _analyse_into(text: str, ctx: _Context, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ShellError("commands nested too deeply")
    parser = _Parser(text, ctx, depth)
    parser.parse(closer=None)


class _Parser:
    def __init__(self, text: str, ctx: _Context, depth: int) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.ctx = ctx
        self.depth = depth
        self.heredocs: list[_Heredoc] = []

    # -- the command structure

    def parse(self, closer: str | None) -> None:
        """Read commands until the end, or until the unmatched `)` closing `$(`/`<(`."""
        words: list[_Word] = []
        redirs = _Redirs()
        stdin_next = ""
        parens = 0
        mode = "cmd"          # cmd | skip_to_do | case_word | case_pattern
        case_depth = 0
        skip_name = False     # after `function`
        while True:
            tok = self._token()
            if tok is None:
                break
            kind, value = tok
            if kind == "word":
                word: _Word = value
                if mode == "skip_to_do":
                    if not word.quoted and word.text == "do":
                        mode = "cmd"
                    continue
                if mode == "case_word":
                    if not word.quoted and word.text == "in":
                        mode = "case_pattern"
                    continue
                if mode == "case_pattern":
                    if not word.quoted and word.text == "esac":
                        case_depth -= 1
                        mode = "case_pattern" if case_depth else "cmd"
                    continue
                if skip_name:
                    skip_name = False
                    continue
                if not words and not word.quoted:
                    t = word.text
                    if t in _KEYWORDS_SKIP:
                        continue
                    if t == "esac" and case_depth:
                        case_depth -= 1
                        mode = "case_pattern" if case_depth else "cmd"
                        continue
                    if t in ("for", "select"):
                        mode = "skip_to_do"
                        continue
                    if t == "case":
                        case_depth += 1
                        mode = "case_word"
                        continue
                    if t == "function":
                        skip_name = True
                        continue
                    if t == "time":
                        self._skip_time_p()
                        continue
                words.append(word)
                continue
            op = value
            if mode == "skip_to_do" or mode == "case_word":
                continue
            if mode == "case_pattern":
                if op == ")":
                    mode = "cmd"
                continue
            if words and words[0].text == "[[" and not words[0].quoted and words[-1].text != "]]" and op in ("(", ")", "&&", "||", "<", ">", "!"):
                if op in ("<", ">"):
                    continue  # a comparison inside [[ ]], not a redirection
                words.append(_Word(text=op))
                continue
            if op in _REDIRECTS:
                self._redirect(op, redirs, words)
                continue
            if op == "(" and not words and self.s.startswith("(", self.i) and self._arith():
                continue  # (( arithmetic ))
            if op == "(":
                if words:
                    if len(words) == 1 and words[0].assign and words[0].text.endswith("="):
                        self._skip_array()
                        continue
                    if self._peek_char_after_space() == ")":
                        self._token()  # name() { ...; }: a function definition
                        words = []
                        redirs = _Redirs()
                        continue
                    raise ShellError("syntax error near '(' in the command")
                parens += 1
                continue
            # Every other operator ends the simple command being read.
            self._emit(words, redirs, stdin_next)
            words = []
            redirs = _Redirs()
            stdin_next = "pipe" if op in ("|", "|&") else ""
            if op == ")":
                if parens:
                    parens -= 1
                elif closer == ")":
                    if case_depth or mode != "cmd":
                        raise ShellError("unterminated case in a command substitution")
                    return
                else:
                    raise ShellError("unbalanced ')'")
            elif op in (";;", ";&", ";;&"):
                if not case_depth:
                    raise ShellError(f"'{op}' outside a case statement")
                mode = "case_pattern"
            elif op == "\n":
                self._read_heredocs()
        if closer is not None:
            raise ShellError("unbalanced '$(' or '(' : missing ')'")
        self._emit(words, redirs, stdin_next)
        if parens:
            raise ShellError("unbalanced '(' : missing ')'")
        if case_depth:
            raise ShellError("case without esac")
        if mode == "skip_to_do":
            raise ShellError("for/select without do")
        if self.heredocs:
            self._read_heredocs()

    def _skip_time_p(self) -> None:
        j = self.i
        while j < self.n and self.s[j] in " \t":
            j += 1
        if self.s.startswith("-p", j) and (j + 2 == self.n or self.s[j + 2] in _META):
            self.i = j + 2

    def _arith(self) -> bool:
        """At the second `(` of `((` or `$((`: skip an arithmetic expression up to `))`,
        analysing substitutions in it. False (position unchanged) if it is not one:
        `$((cmd) )` is a command substitution of a subshell, as bash reads it."""
        s, n, save = self.s, self.n, self.i
        self.i += 1
        depth = 0
        while self.i < n:
            c = s[self.i]
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    if s.startswith("))", self.i):
                        self.i += 2
                        return True
                    break
                depth -= 1
            elif c == "$":
                if self._dollar() is None:
                    self.i += 1
                continue
            elif c == "`":
                self._backtick()
                continue
            elif c in "'\"":
                break
            self.i += 1
        self.i = save
        return False

    def _skip_array(self) -> None:
        while True:
            tok = self._token()
            if tok is None:
                raise ShellError("unbalanced '(' in an array assignment")
            if tok == ("op", ")"):
                return

    def _peek_char_after_space(self) -> str:
        j = self.i
        while j < self.n and self.s[j] in " \t":
            j += 1
        return self.s[j] if j < self.n else ""

    def _redirect(self, op: str, redirs: _Redirs, words: list[_Word]) -> None:
        tok = self._token()
        if tok is None or tok[0] != "word":
            raise ShellError(f"redirection '{op}' without a target")
        target: _Word = tok[1]
        if op in ("<<", "<<-"):
            redirs.stdin = "heredoc"
            doc = _Heredoc(target.text, op == "<<-", target.quoted, owner={})
            redirs.heredocs.append(doc)
            self.heredocs.append(doc)
        elif op == "<<<":
            redirs.stdin = "herestring"
            redirs.herestring = target
        elif op == "<":
            redirs.stdin = "file"
        elif op in (">&", "<&"):
            if op == ">&" and not (target.text.isdigit() or target.text == "-"):
                redirs.writes.append(target)
        elif op in (">", ">>", ">|", "&>", "&>>", "<>"):
            redirs.writes.append(target)

    def _read_heredocs(self) -> None:
        docs, self.heredocs = self.heredocs, []
        for doc in docs:
            lines = []
            while self.i < self.n:
                end = self.s.find("\n", self.i)
                if end < 0:
                    end = self.n
                line = self.s[self.i:end]
                self.i = min(end + 1, self.n)
                if (line.lstrip("\t") if doc.strip_tabs else line) == doc.delimiter:
                    break
                lines.append(line)
            body = "\n".join(lines)
            if doc.owner.get("shell"):
                _analyse_into(body, self.ctx, self.depth + 1)
            elif not doc.quoted:
                _scan_expansions(body, self.ctx, self.depth + 1)

    # -- turning words into commands

    def _emit(self, words: list[_Word], redirs: _Redirs, stdin: str) -> None:
        if redirs.stdin:
            stdin = redirs.stdin
        if not words:
            return
        _normalize(words, redirs, stdin, self.ctx, self.depth, self.ctx.cwd)

    # -- the lexer

    def _token(self) -> tuple[str, object] | None:
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c in " \t":
                self.i += 1
            elif c == "\\" and s.startswith("\\\n", self.i):
                self.i += 2
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end
            else:
                break
        if self.i >= n:
            return None
        c = s[self.i]
        if c in "<>" and s.startswith("(", self.i + 1):
            return "word", self._word()
        if c in _META:
            for op in _OPERATORS:
                if s.startswith(op, self.i):
                    self.i += len(op)
                    return "op", op
            raise ShellError(f"unexpected {c!r}")  # pragma: no cover - every meta char is an operator
        word = self._word()
        if self.i < n and s[self.i] in "<>" and not word.quoted and word.text.isdigit():
            return self._token()  # 2>file: the digits are a file descriptor
        if self.i < n and s[self.i] in "<>" and word.text.startswith("{") and word.text.endswith("}"):
            return self._token()  # {fd}>file
        return "word", word

    def _word(self) -> _Word:
        s, n = self.s, self.n
        w = _Word()
        parts: list[str] = []
        literal = True
        brace = False

        def mark_not_literal() -> None:
            nonlocal literal
            if literal:
                w.literal_end = len("".join(parts))
                literal = False

        start = self.i
        if s[self.i] in "<>" and s.startswith("(", self.i + 1):
            self.i += 2
            self._subparse()
            w.text = s[start:self.i]
            w.dynamic = w.procsub = True
            w.literal_end = 0
            return w
        while self.i < n:
            c = s[self.i]
            if c in _META:
                break
            if c == "\\":
                mark_not_literal()
                w.quoted = True
                if self.i + 1 < n:
                    if s[self.i + 1] == "\n":
                        self.i += 2
                        continue
                    parts.append(s[self.i + 1])
                    self.i += 2
                else:
                    self.i += 1
                continue
            if c == "'":
                mark_not_literal()
                w.quoted = True
                end = s.find("'", self.i + 1)
                if end < 0:
                    raise ShellError("unbalanced single quote")
                parts.append(s[self.i + 1:end])
                self.i = end + 1
                continue
            if c == '"':
                mark_not_literal()
                w.quoted = True
                self.i += 1
                parts.append(self._double_quoted(w))
                continue
            if c == "$":
                if s.startswith("$'", self.i):
                    mark_not_literal()
                    w.quoted = True
                    parts.append(self._ansi_c())
                    continue
                if s.startswith('$"', self.i):
                    self.i += 1
                    continue  # locale string: same as "..."
                expansion = self._dollar()
                if expansion is not None:
                    mark_not_literal()
                    w.dynamic = True
                    parts.append(expansion)
                    continue
                parts.append("$")
                self.i += 1
                continue
            if c == "`":
                mark_not_literal()
                w.dynamic = True
                parts.append(self._backtick())
                continue
            if c in "*?[":
                w.glob = True
            elif c == "{":
                brace = True
            elif c == "}" and brace:
                inner = "".join(parts)
                if "," in inner or ".." in inner:
                    w.glob = w.brace = True
            parts.append(c)
            self.i += 1
        w.text = "".join(parts)
        if w.text in ("[", "[[", "]", "]]"):
            w.glob = False
        if literal:
            w.literal_end = len(w.text)
        eq = w.text.find("=")
        if 0 < eq < w.literal_end and _is_assignment_name(w.text[:eq]):
            w.assign = True
        return w

    def _double_quoted(self, w: _Word) -> str:
        s, n = self.s, self.n
        parts: list[str] = []
        while True:
            if self.i >= n:
                raise ShellError("unbalanced double quote")
            c = s[self.i]
            if c == '"':
                self.i += 1
                return "".join(parts)
            if c == "\\" and self.i + 1 < n and s[self.i + 1] in '$`"\\\n':
                if s[self.i + 1] != "\n":
                    parts.append(s[self.i + 1])
                self.i += 2
                continue
            if c == "$":
                expansion = self._dollar()
                if expansion is not None:
                    w.dynamic = True
                    parts.append(expansion)
                    continue
            if c == "`":
                w.dynamic = True
                parts.append(self._backtick())
                continue
            parts.append(c)
            self.i += 1

    def _dollar(self) -> str | None:
        """An expansion starting at `$`: its source text, sub-commands analysed; None if `$` is literal."""
        s, start = self.s, self.i
        nxt = s[start + 1] if start + 1 < self.n else ""
        if nxt == "(":
            self.i += 1
            if s.startswith("(", self.i + 1):
                self.i += 1
                if self._arith():
                    return s[start:self.i]
                self.i -= 1
            self.i += 1
            self._subparse()
            return s[start:self.i]
        if nxt == "{":
            self.i += 2
            self._braced()
            return s[start:self.i]
        if nxt and (nxt.isalnum() or nxt == "_"):
            j = start + 1
            if nxt.isdigit():
                j += 1
            else:
                while j < self.n and (s[j].isalnum() or s[j] == "_"):
                    j += 1
            self.i = j
            return s[start:j]
        if nxt and nxt in "@*#?$!-":
            self.i += 2
            return s[start:self.i]
        return None

    def _subparse(self) -> None:
        """After `$(` or `<(`: analyse the commands up to the matching `)`."""
        if self.depth + 1 > MAX_DEPTH:
            raise ShellError("commands nested too deeply")
        inner = _Parser(self.s, self.ctx, self.depth + 1)
        inner.i = self.i
        inner.parse(closer=")")
        self.i = inner.i

    def _braced(self) -> None:
        """After `${`: skip to the matching `}`, analysing any `$( )` or backticks inside."""
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c == "}":
                self.i += 1
                return
            if c == "\\":
                self.i += 2
            elif c == "'":
                end = s.find("'", self.i + 1)
                if end < 0:
                    raise ShellError("unbalanced single quote")
                self.i = end + 1
            elif c == '"':
                self.i += 1
                self._double_quoted(_Word())
            elif c == "$":
                if self._dollar() is None:
                    self.i += 1
            elif c == "`":
                self._backtick()
            else:
                self.i += 1
        raise ShellError("unbalanced '${'")

    def _backtick(self) -> str:
        s, n = self.s, self.n
        start = self.i
        self.i += 1
        body: list[str] = []
        while self.i < n:
            c = s[self.i]
            if c == "\\" and self.i + 1 < n and s[self.i + 1] in "$`\\":
                body.append(s[self.i + 1])
                self.i += 2
                continue
            if c == "`":
                self.i += 1
                _analyse_into("".join(body), self.ctx, self.depth + 1)
                return s[start:self.i]
            body.append(c)
            self.i += 1
        raise ShellError("unbalanced backtick")

    def _ansi_c(self) -> str:
        """A `$'...'` string, escapes decoded."""
        s, n = self.s, self.n
        self.i += 2
        out: list[str] = []
        simple = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b",
                  "E": "\x1b", "f": "\f", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
        while self.i < n:
            c = s[self.i]
            if c == "'":
                self.i += 1
                return "".join(out)
            if c == "\\" and self.i + 1 < n:
                e = s[self.i + 1]
                self.i += 2
                if e in simple:
                    out.append(simple[e])
                elif e in "xuU01234567":
                    if e in "01234567":
                        digits, base, limit = e, 8, 2
                    else:
                        digits, base, limit = "", 16, {"x": 2, "u": 4, "U": 8}[e]
                    valid = "01234567" if base == 8 else "0123456789abcdefABCDEF"
                    while limit and self.i < n and s[self.i] in valid:
                        digits += s[self.i]
                        self.i += 1
                        limit -= 1
                    out.append(chr(int(digits, base)) if digits else "\\" + e)
                elif e == "c" and self.i < n:
                    out.append(chr(ord(s[self.i]) & 0x1F))
                    self.i += 1
                else:
                    out.append("\\" + e)
                continue
            out.append(c)
            self.i += 1
        raise ShellError("unbalanced $'...' string")


_OPERATORS = (";;&", ";;", ";&", "&&", "&>>", "&>", "||", "|&", "<<<", "<<-", "<<", "<>", "<&", ">>",
              ">&", ">|", ";", "&", "|", "(", ")", "<", ">", "\n")
_REDIRECTS = frozenset({"<", ">", ">>", ">|", "&>", "&>>", "<>", "<<", "<<-", "<<<", "<&", ">&"})


class _Redirs:
    __slots__ = ("stdin", "writes", "heredocs", "herestring")

    def __init__(self) -> None:
        self.stdin = ""
        self.writes: list[_Word] = []
        self.heredocs: list[_Heredoc] = []
        self.herestring: _Word | None = None


def _is_assignment_name(name: str) -> bool:
    if name.endswith("+"):
        name = name[:-1]
    if "[" in name and name.endswith("]"):
        name = name[: name.index("[")]
    return bool(name) and (name[0].isalpha() or name[0] == "_") and all(ch.isalnum() or ch == "_" for ch in name)


def _scan_expansions(text: str, ctx: _Context, depth: int) -> None:
    """Analyse the `$( )` and backticks in an unquoted here-document body (the rest is data)."""
    parser = _Parser(text, ctx, depth)
    s, n = text, len(text)
    while parser.i < n:
        c = s[parser.i]
        if c == "\\":
            parser.i += 2
        elif c == "$":
            if parser._dollar() is None:
                parser.i += 1
        elif c == "`":
            parser._backtick()
        else:
            parser.i += 1


# -- normalization: wrappers, shells, git -------------------------------------------


def _join_cwd(base: str | None, path: _Word | str | None) -> str | None:
    if base is None:
        return None
    if path is None:
        return "~"
    if isinstance(path, _Word):
        if path.dynamic or path.glob:
            return None
        path = path.text
    if path == "-":
        return None
    if path.startswith("~"):
        return path if path == "~" or path.startswith("~/") else None
    return posixpath.normpath(posixpath.join(base, path))


def _make(words: list[_Word], redirs: _Redirs, stdin: str, cwd: str | None) -> SimpleCommand:
    argv = [w.text for w in words]
    argv[0] = posixpath.basename(argv[0]) or argv[0]
    dynamic = frozenset(i for i, w in enumerate(words) if w.dynamic or w.brace)
    writes = tuple(w.text for w in redirs.writes)
    return SimpleCommand(tuple(argv), dynamic, stdin, writes, cwd)


def _skip_options(words: list[_Word], start: int, short_arg: str = "", long_arg: tuple[str, ...] = (),
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


def _option_value(words: list[_Word], start: int, end: int, short: str, long: str) -> _Word | None:
    """The value of option -short / --long among words[start:end], if given."""
    i = start
    end = min(end, len(words))
    found = None
    while i < end:
        t = words[i].text
        if t == "--":
            break
        if t.startswith("--" + long + "=") and long:
            found = _Word(text=t.split("=", 1)[1], dynamic=words[i].dynamic)
        elif t == "--" + long and long and i + 1 < end:
            found = words[i + 1]
        elif short and t.startswith("-") and not t.startswith("--") and t[1:2] == short:
            found = _Word(text=t[2:], dynamic=words[i].dynamic) if len(t) > 2 else (words[i + 1] if i + 1 < end else None)
        i += 1
    return found


def _normalize(words: list[_Word], redirs: _Redirs, stdin: str, ctx: _Context, depth: int,
               cwd: str | None) -> None:
    """Emit the command `words` runs, looking through wrappers (each emitted too)."""
    if depth > MAX_DEPTH:
        raise ShellError("commands nested too deeply")
    i = 0
    while i < len(words) and words[i].assign:
        i += 1
    words = words[i:]
    if not words:
        return
    head = words[0]
    if head.dynamic:
        raise ShellError(f"the program name {head.text!r} is only known at run time")
    if head.glob:
        raise ShellError(f"the program name {head.text!r} is a pattern the shell expands")
    if head.text == "":
        raise ShellError("the program name is empty")
    name = posixpath.basename(head.text) or head.text

    def wrapper(end: int, inner_from: int, inner_cwd: str | None = cwd) -> None:
        ctx.out.append(_make(words[:end], _Redirs(), stdin, cwd))
        if inner_from < len(words):
            _normalize(words[inner_from:], redirs, stdin, ctx, depth + 1, inner_cwd)

    if name == "env":
        j = _skip_options(words, 1, short_arg="uCSP", long_arg=("unset", "chdir", "split-string"))
        split = _option_value(words, 1, j, "S", "split-string")
        chdir = _option_value(words, 1, j, "C", "chdir")
        inner_cwd = _join_cwd(cwd, chdir) if chdir is not None else cwd
        k = j
        while k < len(words) and "=" in words[k].text and not words[k].text.startswith("="):
            k += 1
        if split is not None:
            if split.dynamic:
                raise ShellError("env -S with a string only known at run time")
            ctx.out.append(_make(words[:k], _Redirs(), stdin, cwd))
            rest = " ".join(_quote(w.text) for w in words[k:])
            _analyse_into(split.text + " " + rest, _Context(out=ctx.out, cwd=inner_cwd), depth + 1)
            return
        wrapper(k, k, inner_cwd)
        return
    if name in ("sudo", "doas"):
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
        wrapper(k, k, _join_cwd(cwd, chdir) if chdir is not None else cwd)
        return
    if name in ("nohup", "builtin", "chronic", "unbuffer"):
        wrapper(1, 1)
        return
    if name == "command":
        j = _skip_options(words, 1)
        if any(w.text.startswith("-") and not w.text.startswith("--") and ("v" in w.text or "V" in w.text)
               for w in words[1:j]):
            ctx.out.append(_make(words, redirs, stdin, cwd))  # command -v: a lookup, runs nothing
            return
        wrapper(j, j)
        return
    if name == "exec":
        j = _skip_options(words, 1, short_arg="a")
        wrapper(j, j)
        return
    if name == "time":
        j = _skip_options(words, 1, short_arg="fo", long_arg=("format", "output"))
        wrapper(j, j)
        return
    if name == "nice":
        j = _skip_options(words, 1, short_arg="n", long_arg=("adjustment",), numeric=True)
        wrapper(j, j)
        return
    if name == "setsid":
        j = _skip_options(words, 1)
        wrapper(j, j)
        return
    if name == "stdbuf":
        j = _skip_options(words, 1, short_arg="ioe", long_arg=("input", "output", "error"))
        wrapper(j, j)
        return
    if name == "ionice":
        j = _skip_options(words, 1, short_arg="cnp", long_arg=("class", "classdata", "pid"))
        wrapper(j, j)
        return
    if name == "timeout":
        j = _skip_options(words, 1, short_arg="sk", long_arg=("signal", "kill-after"))
        wrapper(min(j + 1, len(words)), j + 1)  # the operand after the options is the duration
        return
    if name == "xargs":
        j = _skip_options(words, 1, short_arg="adEILnPs",
                          long_arg=("arg-file", "delimiter", "max-lines", "max-args", "max-procs",
                                    "max-chars", "process-slot-var"))
        wrapper(j, j)
        return
    if name == "npx":
        j = _skip_options(words, 1, short_arg="pc", long_arg=("package", "call"))
        wrapper(j, j)
        return
    if name in ("bundle", "poetry", "pipenv", "uv") and len(words) > 1 and words[1].text in ("exec", "run"):
        j = _skip_options(words, 2, long_arg=("with", "python", "project", "directory", "package", "extra",
                                             "group", "env-file", "index", "from"), short_arg="p")
        wrapper(j, j)
        return
    if name == "watch":
        j = _skip_options(words, 1, short_arg="n", long_arg=("interval",))
        exec_direct = any(w.text in ("-x", "--exec") for w in words[1:j])
        ctx.out.append(_make(words[:j], _Redirs(), stdin, cwd))
        if j < len(words):
            if exec_direct:
                _normalize(words[j:], redirs, stdin, ctx, depth + 1, cwd)
            else:
                _run_string(words[j:], ctx, depth, cwd, "watch")
        return
    if name == "eval":
        ctx.out.append(_make(words[:1], _Redirs(), stdin, cwd))
        _run_string(words[1:], ctx, depth, cwd, "eval")
        return
    if name == "su":
        j = _skip_options(words, 1, short_arg="csgGw", long_arg=("command", "shell", "group",
                                                                 "supp-group", "whitelist-environment"))
        string = _option_value(words, 1, j, "c", "command")
        ctx.out.append(_make(words[:1], _Redirs(), stdin, cwd))
        if string is not None:
            _run_string([string], ctx, depth, cwd, "su -c")
        return
    if name in _SHELLS:
        _shell(words, redirs, stdin, ctx, depth, cwd, name)
        return
    if name in ("source", "."):
        if len(words) > 1 and words[1].procsub:
            stdin = "pipe"
        ctx.out.append(_make(words, redirs, stdin, cwd))
        return
    if name == "git":
        _git(words, redirs, stdin, ctx, cwd)
        return
    if name == "find":
        _find(words, redirs, stdin, ctx, depth, cwd)
        return
    if name in ("cd", "pushd", "popd"):
        ctx.out.append(_make(words, redirs, stdin, cwd))
        if name == "popd":
            ctx.cwd = None
        else:
            operands = [w for w in words[1:] if not w.text.startswith("-") or w.text == "-"]
            ctx.cwd = _join_cwd(ctx.cwd, operands[0] if operands else None)
        return
    cmd = _make(words, redirs, stdin, cwd)
    if name == "tee":
        operands = [w.text for w in words[1:] if not w.text.startswith("-")]
        cmd = SimpleCommand(cmd.argv, cmd.dynamic, cmd.stdin, cmd.writes + tuple(operands), cmd.cwd)
    ctx.out.append(cmd)


def _run_string(words: list[_Word], ctx: _Context, depth: int, cwd: str | None, what: str) -> None:
    for w in words:
        if w.dynamic:
            raise ShellError(f"{what} of a string only known at run time ({w.text})")
    # The string runs in its own shell: a `cd` in it does not move this one.
    _analyse_into(" ".join(w.text for w in words), _Context(out=ctx.out, cwd=cwd), depth + 1)


def _shell(words: list[_Word], redirs: _Redirs, stdin: str, ctx: _Context, depth: int, cwd: str | None,
           name: str) -> None:
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
    if has_c:
        ctx.out.append(_make(words[:i], _Redirs(), "", cwd))
        if i >= len(words):
            raise ShellError(f"{name} -c without a command string")
        _run_string([words[i]], ctx, depth, cwd, f"{name} -c")
        return
    if i < len(words) and not reads_stdin:
        script = words[i]
        if script.procsub:  # bash <(curl ...): commands from another command's output
            ctx.out.append(_make(words[:i], _Redirs(), "pipe", cwd))
        else:
            ctx.out.append(_make(words, redirs, "", cwd))  # a script run by name: not visible
        return
    # The shell reads its commands from standard input.
    ctx.out.append(_make(words[:i], redirs, stdin, cwd))
    if redirs.herestring is not None:
        if redirs.herestring.dynamic:
            raise ShellError(f"{name} <<< of a string only known at run time")
        _analyse_into(redirs.herestring.text, _Context(cwd=cwd, out=ctx.out), depth + 1)
    for doc in redirs.heredocs:
        doc.owner["shell"] = True


_GIT_ARG_OPTIONS = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env",
                              "--super-prefix", "--exec-path", "--list-cmds", "--attr-source"})


def _git(words: list[_Word], redirs: _Redirs, stdin: str, ctx: _Context, cwd: str | None) -> None:
    """git [global options] SUBCOMMAND ...  ->  git SUBCOMMAND ..."""
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
    kept = [words[0]] + words[i:]
    ctx.out.append(_make(kept, redirs, stdin, cwd))


def _find(words: list[_Word], redirs: _Redirs, stdin: str, ctx: _Context, depth: int, cwd: str | None) -> None:
    ctx.out.append(_make(words, redirs, stdin, cwd))
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
            inner = [_Word(text=w.text.replace("{}", posixpath.join(root, "{}")), quoted=w.quoted,
                           dynamic=w.dynamic, glob=w.glob, assign=False, procsub=w.procsub)
                     for w in words[i + 1:j]]
            if inner:
                _normalize(inner, _Redirs(), "", ctx, depth + 1, cwd)
            i = j
        i += 1


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
