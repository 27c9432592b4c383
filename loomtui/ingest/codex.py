"""Codex CLI rollout lines -> usage records, counted as ccusage counts them.

Pure parsing (stdlib only). A `CodexRollout` is fed one file's lines in order; it keeps the
state the format needs (../shared/reference/agent-formats.md, sections 3 and 8):

- the session id is `session_meta.payload.id` (until one is seen: the id given from the
  file name);
- the model is the latest `turn_context.payload.model` (a `model` inside the token event
  wins when present); unknown -> "" (left unpriced later, never guessed);
- usage comes only from `event_msg` payloads of type `token_count`; `info` may be null
  (nothing counted). `last_token_usage` is the response's delta; where only
  `total_token_usage` exists the delta is the difference from the previous total (clamped
  at zero per field);
- an event whose cumulative total equals the previous one is a repeat of the same response
  (Codex writes several) and counts nothing;
- `input_tokens` includes `cached_input_tokens`: records carry input - cached as input and
  cached as cache reads; `reasoning_output_tokens` is already inside `output_tokens`;
- subagent rollouts replay their parent's token events with the same timestamps: the
  dedupe key is made of the event's timestamp and its usage figures only (no session, no
  file), so the replay has the parent's key. Pass one `seen` set to every rollout, or let
  the store's UNIQUE key drop it;
- 0.169's `token_usage_record` lines repeat what the `token_count` events say (each
  response once): skipped, counted as skipped, like any other type.
"""

from __future__ import annotations

from loomtui.ingest.records import (
    Activity,
    BadNumber,
    ParseStats,
    UsageRecord,
    as_int,
    parse_ts,
    read_object,
    scan_lines,
)

_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens",
           "total_tokens")


def _usage(value: object) -> tuple[int, int, int, int, int] | None:
    """A usage object as (input, cached, output, reasoning, total), or None if it is not one."""
    if not isinstance(value, dict):
        return None
    fields = tuple(as_int(value.get(f)) for f in _FIELDS)
    if "input_tokens" not in value and "output_tokens" not in value and "total_tokens" not in value:
        return None
    return fields  # type: ignore[return-value]


# Lines `feed_chunk` may leave unparsed (see `scan_lines`). A line without any of the bytes
# `_NOT_INERT` holds no token count, turn context, session meta or tool call: parsed, a
# `response_item` or `event_msg` line like that changes nothing (it could only count as bad,
# or as skipped if its type was some other one).
INERT_MIN_BYTES = 1024
_INERT_TYPES = (b'"type":"response_item"', b'"type":"event_msg"')
_NOT_INERT = (b'"token_count"', b'"turn_context"', b'"session_meta"', b'"function_call"',
              b'"custom_tool_call"', b"\\u00")


class CodexRollout:
    """One rollout file's parser: `feed(line)` returns the line's usage record or None."""

    __slots__ = ("session_id", "model", "stats", "seen", "activity", "calls", "_prev_total", "version")

    def __init__(self, default_session_id: str = "", stats: ParseStats | None = None,
                 seen: set[str] | None = None) -> None:
        self.session_id = default_session_id
        self.model = ""
        self.version = ""  # session_meta's cli_version
        self.stats = stats if stats is not None else ParseStats()
        self.seen = seen if seen is not None else set()  # keys counted (share across files)
        self.activity: Activity | None = None
        # The tool calls seen, (session id, call_id, tool, line time): store/unreported.py.
        self.calls: list[tuple[str, str, str, float]] = []
        self._prev_total: tuple[int, int, int, int, int] | None = None

    def _act(self, ts: float | None, cwd: object = "", branch: object = "",
             tool: object = "") -> None:
        prev = self.activity
        self.activity = Activity(
            session_id=self.session_id,
            ts=ts if ts is not None else (prev.ts if prev else 0.0),
            cwd=cwd if isinstance(cwd, str) and cwd else (prev.cwd if prev else ""),
            branch=branch if isinstance(branch, str) and branch else (prev.branch if prev else ""),
            tool=tool if isinstance(tool, str) and tool else (prev.tool if prev else ""),
        )

    def feed_chunk(self, data: bytes, end: int | None = None) -> list[UsageRecord]:
        """The records of every line of `data[:end]` (lines as `split(b"\\n")` cuts them), in
        order: what `feed` gives line by line, without decoding the long lines that can
        change nothing (`_NOT_INERT`: a model's messages, reasoning and tool output). Such a
        line is counted in `stats.lines` but not checked: if it was malformed it is not
        counted as bad."""
        stats = self.stats
        feed = self.feed
        found: list[UsageRecord] = []
        for pos, stop, inert in scan_lines(data, end, INERT_MIN_BYTES, _INERT_TYPES, _NOT_INERT):
            if inert:
                stats.lines += 1
                continue
            rec = feed(data[pos:stop])
            if rec is not None:
                found.append(rec)
        return found

    def feed(self, line: bytes | str) -> UsageRecord | None:
        """Never raises; bad lines and skipped types are counted in `stats`."""
        stats = self.stats
        obj = read_object(line, stats)
        if obj is None:
            return None
        kind = obj.get("type")
        payload = obj.get("payload")
        if kind == "event_msg":
            if not isinstance(payload, dict):
                stats.bad_lines += 1
                return None
            if payload.get("type") == "token_count":
                return self._token_count(obj, payload)
            return None
        if kind == "turn_context":
            if isinstance(payload, dict):
                model = payload.get("model")
                if isinstance(model, str) and model:
                    self.model = model
                self._act(parse_ts(obj.get("timestamp")), payload.get("cwd"))
            return None
        if kind == "session_meta":
            if isinstance(payload, dict):
                sid = payload.get("id")
                if isinstance(sid, str) and sid:
                    self.session_id = sid
                version = payload.get("cli_version")
                if isinstance(version, str) and version:
                    self.version = version
                git = payload.get("git")
                self._act(parse_ts(obj.get("timestamp")), payload.get("cwd"),
                          git.get("branch") if isinstance(git, dict) else "")
            return None
        if kind == "response_item":
            if isinstance(payload, dict) and payload.get("type") in ("function_call",
                                                                     "custom_tool_call"):
                self._act(parse_ts(obj.get("timestamp")), tool=payload.get("name"))
                call_id, name = payload.get("call_id"), payload.get("name")
                if isinstance(call_id, str) and call_id and self.activity is not None:
                    self.calls.append((self.session_id, call_id, name if isinstance(name, str) else "",
                                       self.activity.ts))
            return None
        if kind == "compacted":
            return None
        stats.skip(kind if isinstance(kind, str) else repr(kind))
        return None

    def _token_count(self, obj: dict, payload: dict) -> UsageRecord | None:
        info = payload.get("info")
        if not isinstance(info, dict):
            return None  # info: null (e.g. only rate limits) counts nothing
        try:
            total = _usage(info.get("total_token_usage"))
            last = _usage(info.get("last_token_usage"))
        except BadNumber:
            self.stats.bad_lines += 1
            return None
        prev = self._prev_total
        if total is not None:
            if total == prev:
                return None  # the same response reported again
            self._prev_total = total
        if last is not None:
            delta = last
        elif total is not None:
            delta = total if prev is None else tuple(max(0, a - b) for a, b in zip(total, prev, strict=False))
        else:
            return None
        inp, cached, out, reasoning, tot = delta
        if not (inp or cached or out or reasoning):
            return None
        raw_ts = obj.get("timestamp")
        ts = parse_ts(raw_ts)
        if ts is None:
            self.stats.bad_lines += 1
            return None
        ident = total if total is not None else delta
        key = f"codex:{raw_ts}:" + ":".join(map(str, ident))
        if last is not None and total is not None:
            key += "/" + ":".join(map(str, last))
        if key in self.seen:
            return None
        self.seen.add(key)
        model = info.get("model") or payload.get("model") or self.model
        cached = min(cached, inp)
        return UsageRecord(
            session_id=self.session_id,
            ts=ts,
            model=model if isinstance(model, str) else "",
            input_tokens=inp - cached,
            output_tokens=out,
            cache_write_tokens=0,
            cache_read_tokens=cached,
            dedupe_key=key,
        )
