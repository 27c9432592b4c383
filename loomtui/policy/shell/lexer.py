"""The shell analysis's lexer: a command line's words and operators, left to right.

A word is read the way bash reads it (quotes, backslashes, `$'...'` strings resolved; its
expansions kept as source text and marked `dynamic`). Words can hold whole commands
(`$( )`, backticks, `<( )`, `$(( ))` with substitutions inside): the lexer finds where
they end and hands them to the parser through two hooks, `_subparse` and
`_analyse_nested`, which `parser.Parser` provides.
"""

from __future__ import annotations

from loomtui.policy.shell import ShellError

_META = " \t\n;&|()<>"
_OPERATORS = (";;&", ";;", ";&", "&&", "&>>", "&>", "||", "|&", "<<<", "<<-", "<<", "<>", "<&", ">>",
              ">&", ">|", ";", "&", "|", "(", ")", "<", ">", "\n")


# The analysis's own small records are plain classes: a dataclass costs about half a
# millisecond to create at import, and this package loads on every Bash command.


class Word:
    """One shell word: its text with quoting resolved, and what the shell would do to it."""

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


def is_assignment_name(name: str) -> bool:
    """Whether `name` (the text before `=`) makes `name=value` an assignment: `x`, `x+`, `a[i]`."""
    if name.endswith("+"):
        name = name[:-1]
    if "[" in name and name.endswith("]"):
        name = name[: name.index("[")]
    return bool(name) and (name[0].isalpha() or name[0] == "_") and all(ch.isalnum() or ch == "_" for ch in name)


class Lexer:
    """Reads words and operators from `text`, starting at position `i`.

    `depth` is how deeply the commands being read are nested (in substitutions and
    strings run by a shell); a subclass analyses the commands found inside words."""

    def __init__(self, text: str, depth: int) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.depth = depth

    def _subparse(self) -> None:
        """After `$(` or `<(`: analyse the commands up to the matching `)`, and stop after it."""
        raise NotImplementedError

    def _analyse_nested(self, text: str) -> None:
        """Analyse `text`, the body of a backtick substitution, as commands of this shell."""
        raise NotImplementedError

    def _token(self) -> tuple[str, object] | None:
        """The next token: ("word", Word) or ("op", operator text); None at the end.
        Blanks, line continuations and comments are skipped."""
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

    def _word(self) -> Word:
        """The word at `i` (a `<( )`/`>( )` word included), its expansions analysed."""
        s, n = self.s, self.n
        w = Word()
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
        if 0 < eq < w.literal_end and is_assignment_name(w.text[:eq]):
            w.assign = True
        return w

    def _double_quoted(self, w: Word) -> str:
        """After an opening `"`: the string's text up to the closing one (marks `w` dynamic
        when it expands something)."""
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
                self._double_quoted(Word())
            elif c == "$":
                if self._dollar() is None:
                    self.i += 1
            elif c == "`":
                self._backtick()
            else:
                self.i += 1
        raise ShellError("unbalanced '${'")

    def _backtick(self) -> str:
        """At a backtick: the substitution's source text; its body is analysed."""
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
                self._analyse_nested("".join(body))
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


    def _skip_time_p(self) -> None:
        """After the keyword `time`: skip its `-p` option."""
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

    def _peek_char_after_space(self) -> str:
        """The next character that is not a blank ("" at the end), without moving."""
        j = self.i
        while j < self.n and self.s[j] in " \t":
            j += 1
        return self.s[j] if j < self.n else ""
