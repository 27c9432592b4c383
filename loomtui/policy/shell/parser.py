"""The shell analysis's parser: the command structure of a line, down to simple commands.

`Parser` (a `Lexer`) reads separators, pipes, subshells, groups, the bodies of control
flow and function definitions (keywords skipped, `for x in ...` lists and case patterns
are data), redirections and here-documents; each simple command it finds goes to
`normalize.normalize` with its redirections and where its standard input comes from.
Substitutions in words, backtick bodies and unquoted here-document bodies are analysed
by nested parsers; strings a command hands to a shell come back through
`Context.analyse_nested`.
"""

from __future__ import annotations

from loomtui.policy.shell import MAX_DEPTH, ShellError, SimpleCommand
from loomtui.policy.shell.lexer import Lexer, Word
from loomtui.policy.shell.normalize import Redirections, normalize

_KEYWORDS_SKIP = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "{", "fi", "done", "}"})
_REDIRECTS = frozenset({"<", ">", ">>", ">|", "&>", "&>>", "<>", "<<", "<<-", "<<<", "<&", ">&"})


def analyse_line(text: str) -> tuple[SimpleCommand, ...]:
    """What `loomtui.policy.shell.analyse` does: every simple command `text` would run."""
    ctx = Context()
    try:
        analyse_into(text, ctx, 0)
    except ShellError as exc:
        exc.partial = tuple(ctx.out)
        raise
    except RecursionError:
        error = ShellError("commands nested too deeply")
        error.partial = tuple(ctx.out)
        raise error from None
    return tuple(ctx.out)


class Context:
    """One shell's state in an analysis: `out`, the list every command found is appended to
    (shared with the shells nested in it), and `cwd`, the directory it is in now."""

    __slots__ = ("out", "cwd")

    def __init__(self, out: list[SimpleCommand] | None = None, cwd: str | None = ".") -> None:
        self.out = [] if out is None else out
        self.cwd = cwd

    def analyse_nested(self, text: str, cwd: str | None, depth: int) -> None:
        """Analyse `text` as the code of another shell started in `cwd` (`bash -c`, `eval`,
        `env -S`, a here-string fed to a shell): its commands join `out`, its `cd` stays in it."""
        analyse_into(text, Context(out=self.out, cwd=cwd), depth)


class Heredoc:
    """A here-document whose body is still to be read, after the line that opened it.
    `owner["shell"]` is set by the normaliser when a shell reads its commands from it:
    the body is then analysed as commands, not as data."""

    __slots__ = ("delimiter", "strip_tabs", "quoted", "owner")

    def __init__(self, delimiter: str, strip_tabs: bool, quoted: bool, owner: dict) -> None:
        self.delimiter = delimiter
        self.strip_tabs = strip_tabs
        self.quoted = quoted
        self.owner = owner


def analyse_into(text: str, ctx: Context, depth: int) -> None:
    """Append the commands of `text` to `ctx.out`; `depth` is how deeply it is nested."""
    if depth > MAX_DEPTH:
        raise ShellError("commands nested too deeply")
    parser = Parser(text, ctx, depth)
    parser.parse(closer=None)


class Parser(Lexer):
    """Reads the commands of `text` from position `i` (see `parse`), emitting each simple
    command to `normalize` as soon as it ends."""

    def __init__(self, text: str, ctx: Context, depth: int) -> None:
        super().__init__(text, depth)
        self.ctx = ctx
        self.heredocs: list[Heredoc] = []

    def parse(self, closer: str | None) -> None:
        """Read commands until the end, or until the unmatched `)` closing `$(`/`<(`."""
        words: list[Word] = []
        redirs = Redirections()
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
                word: Word = value
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
                words.append(Word(text=op))
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
                        redirs = Redirections()
                        continue
                    raise ShellError("syntax error near '(' in the command")
                parens += 1
                continue
            # Every other operator ends the simple command being read.
            self._emit(words, redirs, stdin_next)
            words = []
            redirs = Redirections()
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


    def _skip_array(self) -> None:
        while True:
            tok = self._token()
            if tok is None:
                raise ShellError("unbalanced '(' in an array assignment")
            if tok == ("op", ")"):
                return

    def _redirect(self, op: str, redirs: Redirections, words: list[Word]) -> None:
        tok = self._token()
        if tok is None or tok[0] != "word":
            raise ShellError(f"redirection '{op}' without a target")
        target: Word = tok[1]
        if op in ("<<", "<<-"):
            redirs.stdin = "heredoc"
            doc = Heredoc(target.text, op == "<<-", target.quoted, owner={})
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
                analyse_into(body, self.ctx, self.depth + 1)
            elif not doc.quoted:
                _scan_expansions(body, self.ctx, self.depth + 1)

    def _emit(self, words: list[Word], redirs: Redirections, stdin: str) -> None:
        """Hand a simple command that just ended to the normaliser (a redirection of its
        standard input wins over the pipe)."""
        if redirs.stdin:
            stdin = redirs.stdin
        if not words:
            return
        normalize(words, redirs, stdin, self.ctx, self.depth, self.ctx.cwd)

    # -- the lexer's hooks: commands inside words

    def _subparse(self) -> None:
        """After `$(` or `<(`: analyse the commands up to the matching `)`."""
        if self.depth + 1 > MAX_DEPTH:
            raise ShellError("commands nested too deeply")
        inner = Parser(self.s, self.ctx, self.depth + 1)
        inner.i = self.i
        inner.parse(closer=")")
        self.i = inner.i

    def _analyse_nested(self, text: str) -> None:
        analyse_into(text, self.ctx, self.depth + 1)


def _scan_expansions(text: str, ctx: Context, depth: int) -> None:
    """Analyse the `$( )` and backticks in an unquoted here-document body (the rest is data)."""
    parser = Parser(text, ctx, depth)
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
