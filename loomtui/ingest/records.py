"""The records the transcript parsers produce, and the reading they share (stdlib only,
no store access).

`NamedTuple`s rather than dataclasses: `dataclasses` imports `inspect` and `exec`s code
per class, and the ingest loop is meant to stay lean (see docs/architecture.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple


class UsageRecord(NamedTuple):
    """One model response's token usage, counted as ccusage counts it.

    `input_tokens` is the non-cached input (for Codex: input - cached), `cache_read_tokens`
    the cached input, `cache_write_tokens` the cache creation (Claude only).
    """

    session_id: str
    ts: float  # UTC epoch seconds
    model: str
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    dedupe_key: str
    speed: str = ""  # "" or "fast"
    reported_cost_usd: float | None = None
    cache_write_1h_tokens: int = 0  # the part of cache_write_tokens written with a 1-hour TTL

    @property
    def total_tokens(self) -> int:
        return (self.input_tokens + self.output_tokens + self.cache_write_tokens
                + self.cache_read_tokens)


class Activity(NamedTuple):
    """What a transcript line says about what the agent is doing (any field may be "")."""

    session_id: str
    ts: float
    cwd: str = ""
    branch: str = ""
    tool: str = ""


class ParseStats:
    """Counters for one parser: lines seen, bad lines, and skipped record types by name."""

    __slots__ = ("lines", "bad_lines", "skipped_types")

    def __init__(self) -> None:
        self.lines = 0
        self.bad_lines = 0
        self.skipped_types: dict[str, int] = {}

    def skip(self, kind: str) -> None:
        self.skipped_types[kind] = self.skipped_types.get(kind, 0) + 1

    @property
    def skipped(self) -> int:
        return sum(self.skipped_types.values())

    def __repr__(self) -> str:
        return (f"ParseStats(lines={self.lines}, bad_lines={self.bad_lines}, "
                f"skipped_types={self.skipped_types!r})")


def parse_ts(value: object) -> float | None:
    """ISO 8601 (with `Z` or an offset; naive means UTC) to UTC epoch seconds, else None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


MAX_COUNT = 10**13  # no response has ever used this many tokens; more is a broken line


class BadNumber(ValueError):
    """A token count or cost no real line carries (infinite, NaN, absurdly large): the
    line is counted as bad, never stored (it would overflow the store or poison sums)."""


def as_int(value: object) -> int:
    """A token count from JSON: ints and integral floats; anything else (None, bool, str) is 0.
    Raises BadNumber for a count past MAX_COUNT or a non-finite float."""
    if type(value) is int:  # the usual case first (bool is not `int` here)
        if value > MAX_COUNT:
            raise BadNumber(f"token count {value} is out of range")
        return value if value > 0 else 0
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        if value > MAX_COUNT:
            raise BadNumber(f"token count {value} is out of range")
        return value if value > 0 else 0
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")) or value > MAX_COUNT:
            raise BadNumber(f"token count {value} is out of range")
        return int(value) if value > 0 else 0
    return 0


def as_cost(value: object) -> float | None:
    """A USD figure from JSON, or None. Raises BadNumber for a non-finite or absurd one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    cost = float(value) if -1e12 < value < 1e12 else float("inf")
    if cost != cost or cost in (float("inf"), float("-inf")):
        raise BadNumber(f"cost {value!r} is out of range")
    return cost


def decode_line(line: bytes | str) -> str | None:
    """A transcript line as text, or None if it is not valid UTF-8."""
    if isinstance(line, str):
        return line
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


_scan = json.JSONDecoder().scan_once  # what json.loads uses, minus the checks around it


def read_object(line: bytes | str, stats: ParseStats) -> dict | None:
    """One JSONL line as a JSON object, counting it (and counting it bad when it is
    not valid UTF-8, not JSON, or not an object). Blank lines give None, uncounted as
    bad. Never raises."""
    stats.lines += 1
    text = decode_line(line)
    if text is None:
        stats.bad_lines += 1
        return None
    text = text.strip()
    if not text:
        return None
    try:  # json.loads(text) without its wrapping: no whitespace is left around the value
        obj, end = _scan(text, 0)
    except (ValueError, RecursionError, StopIteration):
        stats.bad_lines += 1
        return None
    if end != len(text) or not isinstance(obj, dict):
        stats.bad_lines += 1
        return None
    return obj


def scan_lines(data: bytes, end: int | None, min_bytes: int, kinds: tuple[bytes, ...],
               telling: tuple[bytes, ...]) -> Iterator[tuple[int, int, bool]]:
    """(start, stop, skippable) for every line of `data[:end]` (None: all of it), as
    `split(b"\\n")` cuts them (the part after the last newline included), without decoding.

    A transcript parser feeds its lines one by one, except the lines that plainly can tell
    it nothing, which it may count or set aside unparsed: `skippable` is True for a line of
    at least `min_bytes` that looks like one JSON object (`{...}`) holding one of the bytes
    `kinds` (its type) and none of `telling` (what would matter to the parser). Without
    `\\u00..` escapes (put `b"\\\\u00"` in `telling`) a JSON text spells every ASCII
    character of its keys and string values literally (no other escape can stand for one),
    so a search for their bytes is enough."""
    find = data.find
    end = len(data) if end is None else end
    pos = 0
    while True:
        nl = find(b"\n", pos, end)
        stop = end if nl < 0 else nl
        yield pos, stop, (stop - pos >= min_bytes and _holds(data, pos, stop, kinds, telling))
        if nl < 0:
            return
        pos = nl + 1


def _holds(data: bytes, start: int, stop: int, kinds: tuple[bytes, ...], telling: tuple[bytes, ...]) -> bool:
    """Whether `data[start:stop]` is `{...}` with one of `kinds` in it and none of `telling`."""
    if not (data.startswith(b"{", start) and data.endswith(b"}", start, stop)):
        return False
    find = data.find
    for kind in kinds:
        if find(kind, start, stop) >= 0:
            break
    else:
        return False
    for needle in telling:
        if find(needle, start, stop) >= 0:
            return False
    return True
