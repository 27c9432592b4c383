"""The ingester's fast path (`feed_chunk`: long tool-result lines set aside unless the
activity needs them) gives exactly what feeding the same lines one by one gives: records,
activity, reported costs and line counts, on thousands of random transcripts that mix
every kind of line, valid and not."""

from __future__ import annotations

import json
import random

from loomtui.ingest.claude import ClaudeSession
from loomtui.ingest.codex import CodexRollout

rng = random.Random(20261125)
adv = [0]  # 1: adversarial lines (a nested "type":"user" inside other line types)

BIG = "x\n" * 700

def user(sid=True, ts=True, cwd=True, branch=True, big=True, tool=False, extra=None):
    o = {"parentUuid": None, "type": "user"}
    if sid: o["sessionId"] = rng.choice(["s1", "s2", ""]) if sid == "maybe" else "s%d" % rng.randint(1, 3)
    if cwd: o["cwd"] = rng.choice(["/a", "/b", ""])
    if branch: o["gitBranch"] = rng.choice(["main", "", "dev"])
    content = [{"type": "tool_result", "tool_use_id": "t", "content": BIG if big else "small"}]
    if tool: content.append({"type": "tool_use", "name": rng.choice(["Bash", "Read"])})
    o["message"] = {"role": "user", "content": content}
    if ts: o["timestamp"] = rng.choice(["2026-11-20T09:14:%02d.000Z" % rng.randint(0, 59), "bad", ""])
    if extra: o.update(extra)
    return json.dumps(o, separators=(",", ":"))

def assistant(i):
    o = {"type": "assistant", "sessionId": rng.choice(["s1", "", "s9"]), "cwd": rng.choice(["/c", ""]),
         "gitBranch": rng.choice(["x", ""]), "timestamp": rng.choice(["2026-11-21T01:00:%02dZ" % rng.randint(0, 59), "nope"]),
         "requestId": "r%d" % (i // 2), "message": {"id": "m%d" % (i // 2), "model": "claude-sonnet-4-5",
         "content": [{"type": "tool_use", "name": "Grep"}] if rng.random() < .5 else [],
         "usage": {"input_tokens": rng.randint(0, 9), "output_tokens": rng.randint(0, 9)}}}
    for k in ("sessionId", "cwd", "gitBranch", "timestamp"):
        if rng.random() < 0.2: del o[k]
    return json.dumps(o, separators=(",", ":"))

def line():
    r = rng.random()
    if r < 0.45: return user(**{k: rng.random() < 0.85 for k in ("sid", "ts", "cwd", "branch", "big")}, tool=rng.random() < 0.05)
    if r < 0.7: return assistant(rng.randint(0, 40))
    if r < 0.75: return json.dumps({"type": "system", "nested": {"type": "user" if adv[0] else "x"}, "pad": BIG}, separators=(",", ":"))
    if r < 0.78: return json.dumps({"type": "cost-state", "modelUsage": {"m": {"costUSD": rng.random()}}})
    if r < 0.8: return '{"type":"summary"}'
    if r < 0.82: return ""
    if r < 0.84: return '{"type":"user","bad' + BIG.replace("\n", " ")  # malformed (never deferred: no closing })
    if r < 0.86: return user(extra={"x": "\\u0041"})  # \u escapes: parsed
    return user(big=False)

def compare(kind, lines, mk):
    a, b = mk(), mk()
    ra = [r for r in map(a.feed, [l.encode() for l in lines]) if r is not None]
    data = "\n".join(lines).encode()
    rb = b.feed_chunk(data + b"\npartial", len(data))
    assert ra == rb, (kind, ra, rb)
    assert a.activity == b.activity, (a.activity, b.activity)
    assert a.stats.lines == b.stats.lines, (a.stats, b.stats)
    assert a.stats.bad_lines == b.stats.bad_lines, (a.stats, b.stats)
    if kind == "claude":
        assert a.reported_costs == b.reported_costs
        assert adv[0] or a.stats.skipped_types == b.stats.skipped_types, (a.stats, b.stats)


def test_claude_feed_chunk_equals_feeding_line_by_line() -> None:
    for trial in range(1500):
        adv[0] = trial % 2
        lines = [line() for _ in range(rng.randint(1, 30))]
        compare("claude", lines, lambda: ClaudeSession("dflt"))


CBIG = "y" * 1500
def codex_tc(i, ts):
    return {"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": {"total_token_usage": {"input_tokens": i*100, "cached_input_tokens": i*10, "output_tokens": i, "total_tokens": i*101}, "last_token_usage": {"input_tokens": 100, "cached_input_tokens": 10, "output_tokens": 1, "total_tokens": 101}}}}
def codex_line(i):
    ts = "2026-11-20T09:%02d:%02d.000Z" % (i // 60 % 60, i % 60)
    r = rng.random()
    if r < 0.2: o = codex_tc(i, ts)
    elif r < 0.3: o = {"timestamp": ts, "type": "turn_context", "payload": {"model": rng.choice(["gpt-5", "gpt-5-codex"]), "cwd": "/x", "pad": CBIG}}
    elif r < 0.35: o = {"timestamp": ts, "type": "session_meta", "payload": {"id": "sid%d" % i, "cwd": "/y", "git": {"branch": "b"}, "pad": CBIG}}
    elif r < 0.5: o = {"timestamp": ts, "type": "response_item", "payload": {"type": rng.choice(["function_call", "custom_tool_call", "message"]), "name": "shell", "arguments": CBIG}}
    elif r < 0.8: o = {"timestamp": ts, "type": "response_item", "payload": {"type": rng.choice(["message", "reasoning", "function_call_output"]), "content": CBIG}}
    elif r < 0.9: o = {"timestamp": ts, "type": "event_msg", "payload": {"type": "agent_message", "message": CBIG}}
    elif r < 0.95: o = {"timestamp": ts, "type": "compacted", "payload": {"message": CBIG, "replacement_history": [{"type": "response_item"}]}}
    else: return "garbage" if rng.random() < .5 else ""
    return json.dumps(o, separators=(",", ":"))

def test_codex_feed_chunk_equals_feeding_line_by_line() -> None:
    for _trial in range(800):
        lines = [codex_line(i) for i in range(rng.randint(1, 30))]
        a, b = CodexRollout("f"), CodexRollout("f")
        ra = [r for r in map(a.feed, [x.encode() for x in lines]) if r]
        data = "\n".join(lines).encode()
        rb = b.feed_chunk(data)
        assert ra == rb
        assert (a.activity, a.model, a.session_id, a._prev_total) == \
            (b.activity, b.model, b.session_id, b._prev_total)
        assert (a.stats.lines, a.stats.bad_lines, a.stats.skipped_types) == \
            (b.stats.lines, b.stats.bad_lines, b.stats.skipped_types)
