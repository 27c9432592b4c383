"""Claude Code transcript lines -> usage records, counted exactly as ccusage counts them.

Pure parsing (stdlib only): no store, no tailing, no prices. Rules
(../shared/reference/agent-formats.md, section 2):

- usage lives only on `assistant` lines, in `message.usage`; `input_tokens` and
  `output_tokens` must be there (ccusage's schema requires both) and so must a timestamp;
- cache writes are the sum of the `cache_creation` object's fields where that object is
  present, else `cache_creation_input_tokens`;
- the model `<synthetic>` (Claude Code's own placeholder messages) is skipped;
- `usage.speed == "fast"` marks fast mode (priced as `<model>-fast` later);
- one API response may be written on several lines: the dedupe key is
  `message.id:requestId`, and `dedupe` keeps the entry with the larger token total. Lines
  lacking either id are never merged with others (their key is unique to the line);
- `cost-state` lines: Claude Code's own cost per model, kept on the `ClaudeSession` as a
  fallback for models the price table lacks;
- any other `type` is skipped and counted; malformed JSON, truncated lines and invalid
  UTF-8 are counted as bad. Nothing here raises on input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from loomtui.ingest.records import (
    Activity,
    BadNumber,
    ParseStats,
    UsageRecord,
    as_cost,
    as_int,
    decode_line,
    parse_ts,
    read_object,
    scan_lines,
)

SYNTHETIC_MODEL = "<synthetic>"



class ClaudeSession:
    """State for one transcript file: the records' fallback session id, the latest activity
    and the agent-reported cost per model (from `cost-state` lines)."""

    __slots__ = ("default_session_id", "stats", "reported_costs", "reported_total_usd",
                 "activity", "calls", "excused", "version")

    def __init__(self, default_session_id: str = "", stats: ParseStats | None = None) -> None:
        self.default_session_id = default_session_id
        self.stats = stats if stats is not None else ParseStats()
        self.reported_costs: dict[str, float] = {}  # model -> USD, as Claude Code last said
        self.reported_total_usd: float | None = None
        self.activity: Activity | None = None
        # The tool calls seen, (session id, tool_use id, tool, line time), and the ids Claude
        # Code refused itself before any hook ran (`<tool_use_error>`): store/unreported.py.
        self.calls: list[tuple[str, str, str, float]] = []
        self.excused: list[str] = []
        self.version = ""  # Claude Code's version, as the newest user or assistant line says

    def feed(self, line: bytes | str) -> UsageRecord | None:
        return parse_line(line, self.stats, self)

    def feed_chunk(self, data: bytes, end: int | None = None) -> list[UsageRecord]:
        """The records of every line of `data[:end]` (lines as `split(b"\\n")` cuts them), in
        order: what `feed` gives line by line, with the same records, activity and reported
        costs, but without decoding most tool results.

        Tool results are most of a transcript's bytes and carry no usage: their only effect
        is the activity (session, time, cwd, branch), which the next line that has those
        fields overwrites. So a long line that is plainly such a `user` line (see
        `_DEFERRED`) is set aside, and parsed only when a later line leaves a field to it
        or it is among the last of the chunk (the latest of them first, as few as settle
        the activity). A line set aside and never parsed is counted in `stats.lines` but is
        not checked: if it was malformed it is not counted as bad, and if its type was not
        `user` it is not counted as skipped."""
        stats = self.stats
        found: list[UsageRecord] = []
        pending: list[tuple[int, int]] = []  # lines set aside since the activity was settled
        for pos, stop, deferrable in scan_lines(data, end, DEFER_MIN_BYTES, _DEFERRED, _NOT_DEFERRED):
            if deferrable:
                stats.lines += 1
                pending.append((pos, stop))
                continue
            line = data[pos:stop]
            obj = read_object(line, stats)
            if obj is not None:
                if pending:
                    kind = obj.get("type")
                    if kind == "user" or kind == "assistant":
                        self._settle(data, pending, _ALL & ~_fields_set(obj))
                rec = _parse_object(obj, line, stats, self)
                if rec is not None:
                    found.append(rec)
        if pending:
            self._settle(data, pending, _ALL)
        return found

    def _settle(self, data: bytes, pending: list[tuple[int, int]], need: int) -> None:
        """Parse the lines set aside that the activity still needs (`need`: the fields no
        later line sets), latest first, then apply them in their order."""
        stats = self.stats
        parsed = []
        none_yet = self.activity is None  # then any user line makes one: none is skipped
        for start, stop in reversed(pending):
            if not need:
                break
            if not none_yet and not _may_set(data, start, stop, need):
                continue
            line = data[start:stop]
            stats.lines -= 1  # counted when set aside; read_object counts it again
            obj = read_object(line, stats)
            if obj is None:
                continue
            parsed.append((obj, line))
            kind = obj.get("type")
            if kind == "user" or kind == "assistant":
                need &= ~_fields_set(obj)
        for obj, line in reversed(parsed):
            _parse_object(obj, line, stats, self)  # no usage: `scan_lines` made sure
        pending.clear()


# Which lines `feed_chunk` may leave unparsed (see `scan_lines`). A line without the bytes
# `"assistant"`, `"cost-state"` and `"tool_use"` is neither an assistant line (usage) nor a
# cost-state line, and holds no tool_use block (the activity's tool): parsed, it could only
# set the activity's session, time, cwd and branch (or count as skipped or bad).
# `"type":"user"`, `{...}` and the length pick the long tool-result lines this is meant for.
DEFER_MIN_BYTES = 1024
# How Claude Code wraps the result of a call it refused before running any hook (an input
# that fails the tool's schema, an unknown tool): no hook could report such a call.
TOOL_USE_ERROR = "<tool_use_error>"
_DEFERRED = (b'"type":"user"',)
_NOT_DEFERRED = (b'"assistant"', b'"tool_use"', b'"cost-state"', b"\\u00", TOOL_USE_ERROR.encode())
_SID, _TS, _CWD, _BRANCH = 1, 2, 4, 8
_ALL = _SID | _TS | _CWD | _BRANCH
_KEYS = ((_SID, b'"sessionId"', b'"sessionId":""'), (_TS, b'"timestamp"', b'"timestamp":""'),
         (_CWD, b'"cwd"', b'"cwd":""'), (_BRANCH, b'"gitBranch"', b'"gitBranch":""'))


def _may_set(data: bytes, start: int, stop: int, need: int) -> bool:
    """False when a deferrable line cannot set any field in `need`: every occurrence of the
    field's key (at any depth) has the value "" (e.g. `"gitBranch":""` outside a repository)."""
    count = data.count
    for bit, key, empty in _KEYS:
        if need & bit and count(key, start, stop) > count(empty, start, stop):
            return True
    return False


def _fields_set(obj: dict) -> int:
    """The activity fields a user or assistant line sets itself (see `_activity`)."""
    got = 0
    sid = obj.get("sessionId")
    if isinstance(sid, str) and sid:
        got |= _SID
    if parse_ts(obj.get("timestamp")) is not None:
        got |= _TS
    cwd = obj.get("cwd")
    if isinstance(cwd, str) and cwd:
        got |= _CWD
    branch = obj.get("gitBranch")
    if isinstance(branch, str) and branch:
        got |= _BRANCH
    return got


def _cost_state(obj: dict, session: ClaudeSession) -> None:
    """Take `totalCostUSD` and `modelUsage.<model>.costUSD` wherever the line keeps them (at
    the top level or one object down)."""
    candidates = [obj]
    candidates.extend(v for v in obj.values() if isinstance(v, dict))
    for c in candidates:
        total = as_cost(c.get("totalCostUSD"))
        if total is not None:
            session.reported_total_usd = total
        models = c.get("modelUsage")
        if isinstance(models, dict):
            for model, figures in models.items():
                if isinstance(figures, dict):
                    cost = as_cost(figures.get("costUSD"))
                    if cost is not None:
                        session.reported_costs[str(model)] = cost


def _activity(obj: dict, session: ClaudeSession, ts: float | None) -> None:
    prev = session.activity
    version = obj.get("version")
    if isinstance(version, str) and version:
        session.version = version
    cwd = obj.get("cwd")
    branch = obj.get("gitBranch")
    tool = ""
    calls = []
    message = obj.get("message")
    if isinstance(message, dict):
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if not isinstance(block, dict):
                    continue
                kind = block.get("type")
                if kind == "tool_use":
                    name = block.get("name")
                    if isinstance(name, str):
                        tool = name
                    use_id = block.get("id")
                    if isinstance(use_id, str) and use_id:
                        calls.append((use_id, name if isinstance(name, str) else ""))
                elif kind == "tool_result" and block.get("is_error") is True:
                    use_id = block.get("tool_use_id")
                    if isinstance(use_id, str) and TOOL_USE_ERROR in _text(block.get("content")):
                        session.excused.append(use_id)
    sid = obj.get("sessionId")
    session.activity = Activity(  # positional: cheaper, this runs for most lines
        sid if isinstance(sid, str) and sid else
        (prev.session_id if prev else session.default_session_id),
        ts if ts is not None else (prev.ts if prev else 0.0),
        cwd if isinstance(cwd, str) and cwd else (prev.cwd if prev else ""),
        branch if isinstance(branch, str) and branch else (prev.branch if prev else ""),
        tool or (prev.tool if prev else ""),
    )
    if calls:
        act = session.activity
        session.calls.extend((act.session_id, use_id, name, act.ts) for use_id, name in calls)


def _text(content: object) -> str:
    """A tool result's text: a string, or the text blocks of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content
                       if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def parse_line(line: bytes | str, stats: ParseStats,
               session: ClaudeSession | None = None) -> UsageRecord | None:
    """One transcript line -> its usage record, or None (stats say why). Never raises."""
    obj = read_object(line, stats)
    if obj is None:
        return None
    return _parse_object(obj, line, stats, session)


def _parse_object(obj: dict, line: bytes | str, stats: ParseStats,
                  session: ClaudeSession | None) -> UsageRecord | None:
    kind = obj.get("type")
    if kind != "assistant":
        if kind == "cost-state":
            if session is not None:
                try:
                    _cost_state(obj, session)
                except BadNumber:
                    stats.bad_lines += 1
        elif kind == "user":
            if session is not None:
                _activity(obj, session, parse_ts(obj.get("timestamp")))
        else:
            stats.skip(kind if isinstance(kind, str) else repr(kind))
        return None
    ts = parse_ts(obj.get("timestamp"))
    if session is not None:
        _activity(obj, session, ts)
    message = obj.get("message")
    if not isinstance(message, dict):
        stats.bad_lines += 1
        return None
    usage = message.get("usage")
    if not isinstance(usage, dict):
        return None  # an assistant line without usage carries no tokens
    if "input_tokens" not in usage or "output_tokens" not in usage:
        return None
    if ts is None:
        stats.bad_lines += 1
        return None
    model = message.get("model")
    model = model if isinstance(model, str) else ""
    if model == SYNTHETIC_MODEL:
        return None
    try:
        return _record(obj, line, usage, message, model, ts, session)
    except BadNumber:
        stats.bad_lines += 1
        return None


def _record(obj: dict, line: bytes | str, usage: dict, message: dict, model: str, ts: float,
            session: ClaudeSession | None) -> UsageRecord:
    creation = usage.get("cache_creation")
    if isinstance(creation, dict):
        cache_write = 0
        for v in creation.values():
            cache_write += as_int(v)
        cache_write_1h = as_int(creation.get("ephemeral_1h_input_tokens"))
    else:
        cache_write = as_int(usage.get("cache_creation_input_tokens"))
        cache_write_1h = 0
    message_id = message.get("id")
    request_id = obj.get("requestId")
    if isinstance(message_id, str) and message_id and isinstance(request_id, str) and request_id:
        key = f"{message_id}:{request_id}"
    else:
        uuid = obj.get("uuid")
        if isinstance(uuid, str) and uuid:
            key = f"line:{uuid}"
        else:  # stable across runs (str hash() is not), so restarts cannot double count
            text = (decode_line(line) or "").strip()  # read_object accepted it, so it decodes
            key = "line:" + hashlib.blake2b(text.encode("utf-8", "surrogatepass"),
                                            digest_size=12).hexdigest()
    sid = obj.get("sessionId")
    if not (isinstance(sid, str) and sid):
        sid = session.default_session_id if session is not None else ""
    cost = as_cost(obj.get("costUSD"))
    return UsageRecord(
        session_id=sid,
        ts=ts,
        model=model,
        input_tokens=as_int(usage.get("input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        cache_write_tokens=cache_write,
        cache_read_tokens=as_int(usage.get("cache_read_input_tokens")),
        dedupe_key=key,
        speed="fast" if usage.get("speed") == "fast" else "",
        reported_cost_usd=cost,
        cache_write_1h_tokens=cache_write_1h,
    )


def dedupe(records: Iterable[UsageRecord]) -> list[UsageRecord]:
    """One record per dedupe key: the one with the larger token total (the first on a tie),
    in the order the keys first appeared."""
    best: dict[str, UsageRecord] = {}
    for rec in records:
        held = best.get(rec.dedupe_key)
        if held is None:
            best[rec.dedupe_key] = rec
        elif rec.total_tokens > held.total_tokens:
            best[rec.dedupe_key] = rec  # dicts keep the key's first position
    return list(best.values())
