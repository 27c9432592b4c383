"""The ingester's fast path (`feed_chunk`: long tool-result lines set aside unless the
activity needs them) gives exactly what feeding the same lines one by one gives: records,
activity, reported costs and line counts, on random transcripts (drawn by hypothesis)
that mix every kind of line, valid and not."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from loomtui.ingest.claude import ClaudeSession
from loomtui.ingest.codex import CodexRollout

# Modest example counts keep the suite fast; each example is up to 30 lines. No example
# database: nothing is written into the repository (a failure prints its example).
FAST = settings(max_examples=300, deadline=None, database=None)


def dumps(o: dict) -> str:
    return json.dumps(o, separators=(",", ":"))


# -- Claude Code transcripts ------------------------------------------------------

BIG = "x\n" * 700
# built once: hypothesis strategies cost something to make
USER_SID = st.sampled_from(["s1", "s2", "s3"])
USER_CWD = st.sampled_from(["/a", "/b", ""])
USER_BRANCH = st.sampled_from(["main", "", "dev"])
USER_TOOL = st.sampled_from(["Bash", "Read"])
USER_TS = st.sampled_from(["bad", ""]) | st.integers(0, 59).map(lambda s: "2026-11-20T09:14:%02d.000Z" % s)
TURN_SID = st.sampled_from(["s1", "", "s9"])
TURN_CWD = st.sampled_from(["/c", ""])
TURN_BRANCH = st.sampled_from(["x", ""])
TURN_TS = st.sampled_from(["nope"]) | st.integers(0, 59).map(lambda s: "2026-11-21T01:00:%02dZ" % s)
TURN_DROPS = st.sets(st.sampled_from(["sessionId", "cwd", "gitBranch", "timestamp"]))
TOKENS = st.integers(0, 9)


@st.composite
def user(draw, sid=True, ts=True, cwd=True, branch=True, big=True, tool=False, extra=None) -> str:
    o = {"parentUuid": None, "type": "user"}
    if sid:
        o["sessionId"] = draw(USER_SID)
    if cwd:
        o["cwd"] = draw(USER_CWD)
    if branch:
        o["gitBranch"] = draw(USER_BRANCH)
    content = [{"type": "tool_result", "tool_use_id": "t", "content": BIG if big else "small"}]
    if tool:
        content.append({"type": "tool_use", "name": draw(USER_TOOL)})
    o["message"] = {"role": "user", "content": content}
    if ts:
        o["timestamp"] = draw(USER_TS)
    if extra:
        o.update(extra)
    return dumps(o)


@st.composite
def user_with_some_fields(draw) -> str:
    """A user line with a long tool result, any of its context fields left out."""
    fields = {k: draw(st.booleans()) for k in ("sid", "ts", "cwd", "branch", "big")}
    return draw(user(**fields, tool=draw(st.booleans())))


@st.composite
def assistant(draw) -> str:
    """An assistant turn; message and request ids repeat, as streamed turns do."""
    i = draw(st.integers(0, 40))
    o = {"type": "assistant", "sessionId": draw(TURN_SID), "cwd": draw(TURN_CWD),
         "gitBranch": draw(TURN_BRANCH), "timestamp": draw(TURN_TS),
         "requestId": "r%d" % (i // 2),
         "message": {"id": "m%d" % (i // 2), "model": "claude-sonnet-4-5",
                     "content": [{"type": "tool_use", "name": "Grep"}] if draw(st.booleans()) else [],
                     "usage": {"input_tokens": draw(TOKENS), "output_tokens": draw(TOKENS)}}}
    for k in draw(TURN_DROPS):
        del o[k]
    return dumps(o)


def claude_line(adversarial: bool) -> st.SearchStrategy[str]:
    """Every kind of line; `adversarial`: system lines hide a nested "type":"user"."""
    return st.one_of(
        user_with_some_fields(),
        user(big=False),
        user(extra={"x": "\\u0041"}),  # \u escapes: parsed
        assistant(),
        st.just(dumps({"type": "system", "nested": {"type": "user" if adversarial else "x"}, "pad": BIG})),
        st.floats(0, 1).map(lambda c: json.dumps({"type": "cost-state", "modelUsage": {"m": {"costUSD": c}}})),
        st.just('{"type":"summary"}'),
        st.just(""),
        st.just('{"type":"user","bad' + BIG.replace("\n", " ")),  # malformed (never deferred: no closing })
    )


CLAUDE_LINES = {adversarial: st.lists(claude_line(adversarial), min_size=1, max_size=30)
                for adversarial in (False, True)}


@st.composite
def claude_transcript(draw) -> tuple[bool, list[str]]:
    adversarial = draw(st.booleans())
    return adversarial, draw(CLAUDE_LINES[adversarial])


@FAST
@given(claude_transcript())
def test_claude_feed_chunk_equals_feeding_line_by_line(transcript: tuple[bool, list[str]]) -> None:
    adversarial, lines = transcript
    a, b = ClaudeSession("dflt"), ClaudeSession("dflt")
    ra = [r for r in map(a.feed, [line.encode() for line in lines]) if r is not None]
    data = "\n".join(lines).encode()
    rb = b.feed_chunk(data + b"\npartial", len(data))
    assert ra == rb, (ra, rb)
    assert a.activity == b.activity, (a.activity, b.activity)
    assert a.stats.lines == b.stats.lines, (a.stats, b.stats)
    assert a.stats.bad_lines == b.stats.bad_lines, (a.stats, b.stats)
    assert a.reported_costs == b.reported_costs
    # a nested "type":"user" may be counted as skipped by one path and not the other
    assert adversarial or a.stats.skipped_types == b.stats.skipped_types, (a.stats, b.stats)


# -- Codex rollouts ---------------------------------------------------------------

CBIG = "y" * 1500


def codex_tc(i: int, ts: str) -> dict:
    return {"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": {
        "total_token_usage": {"input_tokens": i * 100, "cached_input_tokens": i * 10, "output_tokens": i,
                              "total_tokens": i * 101},
        "last_token_usage": {"input_tokens": 100, "cached_input_tokens": 10, "output_tokens": 1,
                             "total_tokens": 101}}}}


def stamp(i: int) -> str:
    return "2026-11-20T09:%02d:%02d.000Z" % (i // 60 % 60, i % 60)


# Each kind of rollout line as a function of its index `i` (its timestamp and the running
# token totals grow with it) and that timestamp; hypothesis draws which kinds, in order.
CODEX_KINDS = st.one_of(
    st.just(codex_tc),
    st.sampled_from(["gpt-5", "gpt-5-codex"]).map(lambda model: lambda i, ts: {
        "timestamp": ts, "type": "turn_context", "payload": {"model": model, "cwd": "/x", "pad": CBIG}}),
    st.just(lambda i, ts: {"timestamp": ts, "type": "session_meta",
                           "payload": {"id": "sid%d" % i, "cwd": "/y", "git": {"branch": "b"}, "pad": CBIG}}),
    st.sampled_from(["function_call", "custom_tool_call", "message"]).map(lambda kind: lambda i, ts: {
        "timestamp": ts, "type": "response_item", "payload": {"type": kind, "name": "shell", "arguments": CBIG}}),
    st.sampled_from(["message", "reasoning", "function_call_output"]).map(lambda kind: lambda i, ts: {
        "timestamp": ts, "type": "response_item", "payload": {"type": kind, "content": CBIG}}),
    st.just(lambda i, ts: {"timestamp": ts, "type": "event_msg",
                           "payload": {"type": "agent_message", "message": CBIG}}),
    st.just(lambda i, ts: {"timestamp": ts, "type": "compacted",
                           "payload": {"message": CBIG, "replacement_history": [{"type": "response_item"}]}}),
    st.sampled_from(["garbage", ""]).map(lambda text: lambda i, ts: text),  # not JSON at all
)


def codex_rollout() -> st.SearchStrategy[list[str]]:
    def lines(kinds: list) -> list[str]:
        out = []
        for i, kind in enumerate(kinds):
            o = kind(i, stamp(i))
            out.append(o if isinstance(o, str) else dumps(o))
        return out
    return st.lists(CODEX_KINDS, min_size=1, max_size=30).map(lines)


@FAST
@given(codex_rollout())
def test_codex_feed_chunk_equals_feeding_line_by_line(lines: list[str]) -> None:
    a, b = CodexRollout("f"), CodexRollout("f")
    ra = [r for r in map(a.feed, [x.encode() for x in lines]) if r]
    data = "\n".join(lines).encode()
    rb = b.feed_chunk(data)
    assert ra == rb
    assert (a.activity, a.model, a.session_id, a._prev_total) == \
        (b.activity, b.model, b.session_id, b._prev_total)
    assert (a.stats.lines, a.stats.bad_lines, a.stats.skipped_types) == \
        (b.stats.lines, b.stats.bad_lines, b.stats.skipped_types)
