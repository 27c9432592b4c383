"""A fast reader for the plain subset of TOML that policy files are written in.

The hook reads `policy.toml` on every tool call and trusts no derived file (a cache
in the pod could be rewritten by an agent), so the text is parsed each time.
`tomllib` costs ~5 ms to import (datetime, its compiled regexes); this reader costs
almost nothing and reads exactly what policy files hold:

- comments, blank lines, `[[rule]]` headers;
- `key = value` with a bare key; a value is a basic string ("..." with the standard
  escapes), a literal string ('...'), true/false, a decimal integer, or an array of
  strings (over several lines, with comments and a trailing comma).

Anything else (floats, dates, tables, dotted or quoted keys, multi-line strings,
duplicate keys, control characters, ...) raises `Unsupported` and the caller uses
`tomllib`, which also gives the proper error for a broken file. The result is the
same dict `tomllib.loads` gives (tests compare them on every policy the project
ships and on mutated ones).
"""

from __future__ import annotations


class Unsupported(Exception):
    """Not in the subset: parse with tomllib instead."""


_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_DIGITS = frozenset("0123456789")


def loads(text: str) -> dict:
    if not text.replace("\n", "").replace("\t", "").isprintable():
        raise Unsupported("control or unusual character")  # tomllib judges those
    root: dict = {}
    table = root
    i, n = 0, len(text)
    while i < n:
        eol = text.find("\n", i)
        line = text[i:] if eol < 0 else text[i:eol]
        body = line.lstrip(" \t")
        if not body or body[0] == "#":  # blank lines and comments, most of a policy file
            i = n if eol < 0 else eol + 1
            continue
        i += len(line) - len(body)
        c = text[i]
        if c == "[":
            if not text.startswith("[[rule]]", i):
                raise Unsupported("table header")
            rules = root.setdefault("rule", [])
            table = {}
            rules.append(table)
            i = _after_value(text, i + 8)
            continue
        start = i
        while i < n and text[i] in _BARE:
            i += 1
        key = text[start:i]
        if not key:
            raise Unsupported("key")
        i = _space(text, i)
        if i >= n or text[i] != "=":
            raise Unsupported("key = value")
        if key in table or (table is root and key == "rule"):
            raise Unsupported("duplicate key")
        i = _space(text, i + 1)
        value, i = _value(text, i)
        table[key] = value
        i = _after_value(text, i)
    return root


def _space(text: str, i: int) -> int:
    if text[i:i + 1] not in (" ", "\t"):
        return i
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    return i


def _end_of_line(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end + 1


def _after_value(text: str, i: int) -> int:
    """After a value or header: spaces, an optional comment, then the end of the line."""
    i = _space(text, i)
    if i >= len(text):
        return i
    if text[i] == "\n":
        return i + 1
    if text[i] == "#":
        return _end_of_line(text, i)
    raise Unsupported("text after a value")


def _value(text: str, i: int):
    n = len(text)
    if i >= n:
        raise Unsupported("missing value")
    c = text[i]
    if c == '"':
        return _basic(text, i)
    if c == "'":
        return _literal(text, i)
    if c == "[":
        return _array(text, i)
    if text.startswith("true", i) and (i + 4 >= n or text[i + 4] not in _BARE):
        return True, i + 4
    if text.startswith("false", i) and (i + 5 >= n or text[i + 5] not in _BARE):
        return False, i + 5
    start = i
    if c in "+-":
        i += 1
    digits = i
    while i < n and text[i] in _DIGITS:
        i += 1
    if i == digits or (i < n and text[i] not in " \t\n#,]"):
        raise Unsupported("value")
    body = text[digits:i]
    if len(body) > 1 and body[0] == "0":
        raise Unsupported("leading zero")
    return int(text[start:i]), i


def _basic(text: str, i: int):
    if text.startswith('"""', i):
        raise Unsupported("multi-line string")
    end = text.find('"', i + 1)
    if end > 0:
        body = text[i + 1:end]
        if "\\" not in body and "\n" not in body:
            return body, end + 1  # the common case: no escapes
    out: list[str] = []
    i += 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\n":
            raise Unsupported("newline in a string")
        if c == "\\":
            e = text[i + 1:i + 2]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                i += 2
                continue
            if e in ("u", "U"):
                width = 4 if e == "u" else 8
                digits = text[i + 2:i + 2 + width]
                if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                    raise Unsupported("escape")
                code = int(digits, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise Unsupported("escape")
                out.append(chr(code))
                i += 2 + width
                continue
            raise Unsupported("escape")
        out.append(c)
        i += 1
    raise Unsupported("unterminated string")


def _literal(text: str, i: int):
    if text.startswith("'''", i):
        raise Unsupported("multi-line string")
    end = text.find("'", i + 1)
    if end < 0 or "\n" in text[i + 1:end]:
        raise Unsupported("unterminated string")
    return text[i + 1:end], end + 1


def _array(text: str, i: int):
    items: list = []
    i += 1
    n = len(text)
    while True:
        while i < n and text[i] in " \t\n":
            i += 1
        if i < n and text[i] == "#":
            i = _end_of_line(text, i)
            continue
        if i >= n:
            raise Unsupported("unterminated array")
        if text[i] == "]":
            return items, i + 1
        if text[i] not in "\"'":
            raise Unsupported("array of non-strings")
        value, i = _value(text, i)
        items.append(value)
        while True:
            while i < n and text[i] in " \t\n":
                i += 1
            if i < n and text[i] == "#":
                i = _end_of_line(text, i)
                continue
            break
        if i < n and text[i] == ",":
            i += 1
            continue
        if i < n and text[i] == "]":
            return items, i + 1
        raise Unsupported("array")
