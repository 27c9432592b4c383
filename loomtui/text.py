"""Text an agent wrote, made safe to show on a terminal (stdlib only).

Anything an agent wrote (memory, commands, summaries, reasons, file names) may
hold terminal control sequences: `\\x1b[2J` clears the supervisor's screen,
`\\x1b]0;...\\x07` retitles the window, a bidi override makes a command read
backwards. `printable` shows those characters escaped, the way Python writes
them (`\\x1b`, `\\u202e`), so the text stays readable and nothing reaches the
terminal raw. JSON output does not need it: `json.dumps` escapes by itself.

Backslashes are left as they are, so a literal `\\x1b` typed by an agent reads
the same as an escaped ESC: ambiguous to the eye, harmless to the terminal.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls, DEL, C1 controls, the bidi embeddings/overrides (U+202A-U+202E)
# and isolates (U+2066-U+2069), and lone surrogates (undecodable bytes from
# surrogateescape, which would make print() raise).
_RISKY = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_ONE_LINE = re.compile(f"[\t\n{_RISKY}]")
_MULTILINE = re.compile(f"[{_RISKY}]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, multiline: bool = False) -> str:
    """`text` with every control character escaped; with `multiline`, newlines
    and tabs stay as they are (a carriage return is still escaped: it would
    let a line overwrite itself)."""
    if text.isprintable():  # the common case: no control character at all, in C
        return text
    return (_MULTILINE if multiline else _ONE_LINE).sub(_escape, text)
