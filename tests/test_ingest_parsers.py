"""The transcript parsers on hand-written lines for every awkward case of
../shared/reference/agent-formats.md sections 2, 3 and 7-8, and against ccusage itself on a
generated corpus (installed with npm when npm is there; skipped with the reason otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loomtui.ingest.claude import ClaudeSession, dedupe, parse_line
from loomtui.ingest.codex import CodexRollout
from loomtui.ingest.records import ParseStats, UsageRecord, parse_ts
from tests.ccusage import run_ccusage

ROOT = Path(__file__).resolve().parents[1]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------------- Claude lines

def assistant(*, mid="msg_01Ab", rid="req_011C", sid="5b1f0c2e", ts="2026-11-20T09:14:06.902Z",
              model="claude-sonnet-4-5-20250929", usage=None, content=None, **extra) -> str:
    if usage is None:
        usage = {"input_tokens": 12, "cache_creation_input_tokens": 1830,
                 "cache_read_input_tokens": 40211, "output_tokens": 96,
                 "cache_creation": {"ephemeral_5m_input_tokens": 1830,
                                    "ephemeral_1h_input_tokens": 0}}
    message = {"model": model, "type": "message", "role": "assistant",
               "content": content if content is not None else [], "usage": usage}
    if mid is not None:
        message["id"] = mid
    obj = {"parentUuid": "9e0", "isSidechain": False, "cwd": "/srv/app/wt/auth",
           "sessionId": sid, "version": "2.1.40", "gitBranch": "auth", "type": "assistant",
           "message": message, "uuid": "a41", "timestamp": ts}
    if rid is not None:
        obj["requestId"] = rid
    obj.update(extra)
    return json.dumps(obj, separators=(",", ":"))  # compact, as Claude Code writes


REFERENCE_USER = ('{"parentUuid":null,"isSidechain":false,"cwd":"/srv/app/wt/auth",'
                  '"sessionId":"5b1f0c2e-aa","version":"2.1.40","gitBranch":"auth","type":"user",'
                  '"message":{"role":"user","content":"make the login tests pass"},"uuid":"9e0",'
                  '"timestamp":"2026-11-20T09:14:03.120Z"}')
REFERENCE_ASSISTANT = (
    '{"parentUuid":"9e0...","isSidechain":false,"cwd":"/srv/app/wt/auth","sessionId":"5b1f0c2e-aa",'
    '"version":"2.1.40","gitBranch":"auth","type":"assistant","message":{"model":'
    '"claude-sonnet-4-5-20250929","id":"msg_01Ab","type":"message","role":"assistant","content":'
    '[{"type":"tool_use","id":"toolu_01Xy","name":"Bash","input":{"command":"pytest -q tests/'
    'test_login.py"}}],"stop_reason":"tool_use","usage":{"input_tokens":12,'
    '"cache_creation_input_tokens":1830,"cache_read_input_tokens":40211,"output_tokens":96,'
    '"cache_creation":{"ephemeral_5m_input_tokens":1830,"ephemeral_1h_input_tokens":0}}},'
    '"requestId":"req_011C","uuid":"a41","timestamp":"2026-11-20T09:14:06.902Z"}')


def test_reference_assistant_line_counts_as_ccusage_does():
    stats = ParseStats()
    rec = parse_line(REFERENCE_ASSISTANT.encode(), stats)
    assert rec == UsageRecord(session_id="5b1f0c2e-aa", ts=epoch("2026-11-20T09:14:06.902Z"),
                              model="claude-sonnet-4-5-20250929", input_tokens=12,
                              output_tokens=96, cache_write_tokens=1830,
                              cache_read_tokens=40211, dedupe_key="msg_01Ab:req_011C",
                              speed="", reported_cost_usd=None)
    assert rec.ts == 1795166046.902
    assert stats.lines == 1 and stats.bad_lines == 0 and stats.skipped == 0


def test_user_lines_and_tool_results_carry_activity_not_usage():
    s = ClaudeSession("fallback")
    assert s.feed(REFERENCE_USER) is None
    assert s.activity.cwd == "/srv/app/wt/auth" and s.activity.branch == "auth"
    assert s.feed(REFERENCE_ASSISTANT) is not None
    assert s.activity.tool == "Bash"
    result = {"type": "user", "sessionId": "5b1f0c2e-aa", "timestamp": "2026-11-20T09:14:09Z",
              "message": {"role": "user", "content": [{"type": "tool_result",
                                                       "tool_use_id": "toolu_01Xy",
                                                       "is_error": False}]}}
    assert s.feed(json.dumps(result)) is None
    assert s.activity.tool == "Bash" and s.activity.ts == epoch("2026-11-20T09:14:09Z")
    assert s.stats.bad_lines == 0 and s.stats.skipped == 0


def test_cache_write_is_the_sum_of_the_cache_creation_object():
    usage = {"input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": 999,
             "cache_read_input_tokens": 3,
             "cache_creation": {"ephemeral_5m_input_tokens": 100,
                                "ephemeral_1h_input_tokens": 250}}
    assert parse_line(assistant(usage=usage), ParseStats()).cache_write_tokens == 350


def test_cache_write_falls_back_to_cache_creation_input_tokens():
    usage = {"input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": 999}
    rec = parse_line(assistant(usage=usage), ParseStats())
    assert rec.cache_write_tokens == 999 and rec.cache_read_tokens == 0


def test_synthetic_model_is_skipped():
    stats = ParseStats()
    assert parse_line(assistant(model="<synthetic>"), stats) is None
    assert stats.bad_lines == 0


def test_fast_mode_from_usage_speed():
    fast = {"input_tokens": 1, "output_tokens": 2, "speed": "fast"}
    standard = {"input_tokens": 1, "output_tokens": 2, "speed": "standard"}
    assert parse_line(assistant(usage=fast), ParseStats()).speed == "fast"
    assert parse_line(assistant(usage=standard), ParseStats()).speed == ""


def test_2_1_332_extra_fields_are_tolerated():
    usage = {"input_tokens": 120, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
             "output_tokens": 12, "server_tool_use": {"web_search_requests": 0},
             "service_tier": "standard", "cache_creation": {"ephemeral_1h_input_tokens": 0,
                                                           "ephemeral_5m_input_tokens": 0},
             "inference_geo": "", "iterations": [], "speed": "standard",
             "output_tokens_details": {"thinking_tokens": 3}}
    rec = parse_line(assistant(usage=usage, requestRef="x", requestedModel="opus",
                               effort={"level": "medium"}, entrypoint="cli"), ParseStats())
    assert (rec.input_tokens, rec.output_tokens, rec.cache_write_tokens) == (120, 12, 0)


def test_subagent_sidechain_lines_count():
    rec = parse_line(assistant(isSidechain=True, agentId="a1"), ParseStats())
    assert rec is not None and rec.session_id == "5b1f0c2e"


def test_dedupe_keeps_the_larger_total_per_message_and_request():
    small = parse_line(assistant(usage={"input_tokens": 5, "output_tokens": 1}), ParseStats())
    big = parse_line(assistant(usage={"input_tokens": 5, "output_tokens": 90}), ParseStats())
    other = parse_line(assistant(mid="msg_2", usage={"input_tokens": 1, "output_tokens": 1}),
                       ParseStats())
    same_msg_other_req = parse_line(assistant(rid="req_9"), ParseStats())
    assert small.dedupe_key == big.dedupe_key == "msg_01Ab:req_011C"
    assert dedupe([small, other, big]) == [big, other]
    assert dedupe([big, other, small]) == [big, other]
    assert len(dedupe([small, same_msg_other_req])) == 2
    tie = small._replace(model="second")
    assert dedupe([small, tie]) == [small]


def test_lines_without_both_ids_are_never_merged_and_keys_are_stable():
    no_req = assistant(rid=None, uuid="u1")
    no_req2 = assistant(rid=None, uuid="u2")
    a, b = parse_line(no_req, ParseStats()), parse_line(no_req2, ParseStats())
    assert a.dedupe_key != b.dedupe_key and len(dedupe([a, b])) == 2
    no_ids = assistant(mid=None, rid=None, uuid=None)
    key = parse_line(no_ids, ParseStats()).dedupe_key
    # the same line gives the same key in another interpreter (restart-safe store dedupe)
    code = ("import sys; from loomtui.ingest.claude import parse_line; "
            "from loomtui.ingest.records import ParseStats; "
            "print(parse_line(sys.argv[1], ParseStats()).dedupe_key)")
    out = subprocess.run([sys.executable, "-c", code, no_ids], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "random"})
    assert out.stdout.strip() == key


@pytest.mark.parametrize("kind", ["summary", "system", "file-history-snapshot", "attachment",
                                  "ai-title", "custom-title", "queue-operation", "atis-latch",
                                  "api-request-shape", "api-request-blob", "api-request",
                                  "tools-used", "last-prompt", "a-type-from-the-future"])
def test_other_types_are_skipped_and_counted(kind):
    stats = ParseStats()
    line = {"type": kind, "subtype": "compact_boundary", "timestamp": "2026-11-20T09:14:06Z",
            "message": {"usage": {"input_tokens": 5, "output_tokens": 5}}}
    assert parse_line(json.dumps(line), stats) is None
    assert stats.skipped_types == {kind: 1} and stats.bad_lines == 0


@pytest.mark.parametrize("line", [
    b'{"type":"assistant","message":{"usage":{"input_tokens":1',  # truncated mid-write
    b'not json at all',
    b'{"type":"assistant",}',
    b'\xff\xfe{"type":"assistant"}',  # invalid UTF-8
    REFERENCE_ASSISTANT.encode()[:-1],
    b'[1, 2, 3]',
    b'"a string"',
    b'{"type":"assistant","message":"not an object","timestamp":"2026-11-20T09:14:06Z"}',
    assistant(ts="yesterday").encode(),
    b'{"type":"assistant","message":{"usage":{"input_tokens":1,"output_tokens":1}}}',  # no ts
    b'{"a":' * 50000 + b'1' + b'}' * 50000,  # deep nesting
])
def test_bad_lines_are_counted_never_raised(line):
    stats = ParseStats()
    assert parse_line(line, stats) is None
    assert stats.bad_lines == 1 and stats.lines == 1


def test_invalid_utf8_inside_a_string_does_not_stop_the_file():
    s = ClaudeSession()
    bad = REFERENCE_ASSISTANT.encode().replace(b"make", b"m\xc3ke").replace(b"Bash", b"B\xffsh")
    assert s.feed(bad) is None
    assert s.feed(REFERENCE_ASSISTANT.encode()) is not None
    assert (s.stats.lines, s.stats.bad_lines) == (2, 1)


def test_blank_lines_and_weird_token_values():
    stats = ParseStats()
    assert parse_line(b"\n", stats) is None and stats.bad_lines == 0
    usage = {"input_tokens": None, "output_tokens": 7.0, "cache_read_input_tokens": "12",
             "cache_creation_input_tokens": True}
    rec = parse_line(assistant(usage=usage), stats)
    assert (rec.input_tokens, rec.output_tokens, rec.cache_read_tokens,
            rec.cache_write_tokens) == (0, 7, 0, 0)


def test_assistant_lines_without_usage_count_nothing():
    stats = ParseStats()
    line = {"type": "assistant", "timestamp": "2026-11-20T09:14:06Z",
            "message": {"model": "m", "content": []}}
    assert parse_line(json.dumps(line), stats) is None
    assert stats.bad_lines == 0


def test_cost_state_records_the_agent_reported_cost_per_model():
    s = ClaudeSession("sid")
    line = {"type": "cost-state", "timestamp": "2026-11-25T10:00:00Z", "totalCostUSD": 0.42,
            "modelUsage": {"claude-opus-5-5": {"costUSD": 0.4, "inputTokens": 10},
                           "claude-haiku-4-5": {"costUSD": 0.02}}}
    assert s.feed(json.dumps(line)) is None
    assert s.reported_costs == {"claude-opus-5-5": 0.4, "claude-haiku-4-5": 0.02}
    assert s.reported_total_usd == 0.42
    nested = {"type": "cost-state", "state": {"modelUsage": {"claude-opus-5-5": {"costUSD": 0.9}}}}
    s.feed(json.dumps(nested))
    assert s.reported_costs["claude-opus-5-5"] == 0.9
    assert s.stats.skipped == 0 and s.stats.bad_lines == 0
    assert parse_line(json.dumps(line), ParseStats()) is None  # no session: nothing kept


def test_legacy_cost_usd_on_the_line_is_reported():
    assert parse_line(assistant(costUSD=0.0123), ParseStats()).reported_cost_usd == 0.0123


def test_session_id_falls_back_to_the_file():
    line = json.loads(assistant())
    del line["sessionId"]
    assert ClaudeSession("from-file").feed(json.dumps(line)).session_id == "from-file"


def test_timestamps():
    assert parse_ts("2026-11-20T09:14:06.902Z") == epoch("2026-11-20T09:14:06.902Z")
    assert parse_ts("2026-11-20T10:14:06+01:00") == parse_ts("2026-11-20T09:14:06Z")
    assert parse_ts("2026-11-20T09:14:06") == parse_ts("2026-11-20T09:14:06Z")
    assert parse_ts("nope") is None and parse_ts(None) is None and parse_ts(12) is None


# ---------------------------------------------------------------------------- Codex lines

META = ('{"timestamp":"2026-11-20T09:20:00.000Z","type":"session_meta","payload":{"id":"0199-s",'
        '"cwd":"/srv/app/wt/billing","originator":"codex_cli_rs","cli_version":"0.160.0",'
        '"git":{"branch":"billing"}}}')
TURN = ('{"timestamp":"2026-11-20T09:20:01.000Z","type":"turn_context","payload":{"cwd":'
        '"/srv/app/wt/billing","approval_policy":"on-request","model":"gpt-5-codex"}}')
CALL = ('{"timestamp":"2026-11-20T09:20:09.000Z","type":"response_item","payload":{"type":'
        '"function_call","name":"shell","arguments":"{}","call_id":"call_1"}}')
TOKENS = ('{"timestamp":"2026-11-20T09:20:15.000Z","type":"event_msg","payload":{"type":'
          '"token_count","info":{"total_token_usage":{"input_tokens":5200,"cached_input_tokens":'
          '4100,"output_tokens":310,"reasoning_output_tokens":64,"total_tokens":5510},'
          '"last_token_usage":{"input_tokens":2600,"cached_input_tokens":2000,"output_tokens":150,'
          '"reasoning_output_tokens":0,"total_tokens":2750},"model_context_window":272000}}}')


def usage(i, c, o, r=0):
    return {"input_tokens": i, "cached_input_tokens": c, "output_tokens": o,
            "reasoning_output_tokens": r, "total_tokens": i + o}


def _compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def token_count(ts, total=None, last=None, info=True, **more):
    payload = {"type": "token_count", **more}
    if info:
        inf = {"model_context_window": 272000}
        if total is not None:
            inf["total_token_usage"] = total
        if last is not None:
            inf["last_token_usage"] = last
        payload["info"] = inf
    else:
        payload["info"] = None
    return _compact({"timestamp": ts, "type": "event_msg", "payload": payload})


def feed_all(rollout, lines):
    return [r for r in map(rollout.feed, lines) if r is not None]


def test_codex_reference_rollout():
    r = CodexRollout("from-file")
    recs = feed_all(r, [META, TURN, CALL, TOKENS])
    assert recs == [UsageRecord(session_id="0199-s", ts=epoch("2026-11-20T09:20:15Z"),
                                model="gpt-5-codex", input_tokens=600, output_tokens=150,
                                cache_write_tokens=0, cache_read_tokens=2000,
                                dedupe_key=recs[0].dedupe_key)]
    assert r.activity.cwd == "/srv/app/wt/billing" and r.activity.branch == "billing"
    assert r.activity.tool == "shell"
    assert r.stats.bad_lines == 0 and r.stats.skipped == 0


def test_codex_reasoning_is_inside_output():
    r = CodexRollout("s")
    rec = r.feed(token_count("2026-11-20T09:20:15Z", last=usage(100, 0, 80, r=60)))
    assert rec.output_tokens == 80 and rec.input_tokens == 100


def test_codex_null_info_counts_nothing():
    r = CodexRollout("s")
    assert r.feed(token_count("2026-11-20T09:20:15Z", info=False, rate_limits={})) is None
    assert r.stats.bad_lines == 0


def test_codex_deltas_derived_from_totals():
    r = CodexRollout("s")
    recs = feed_all(r, [TURN,
                        token_count("2026-11-20T09:20:10Z", total=usage(1000, 200, 50)),
                        token_count("2026-11-20T09:20:20Z", total=usage(2500, 1200, 80)),
                        token_count("2026-11-20T09:20:30Z", total=usage(2600, 1250, 100, r=5))])
    assert [(x.input_tokens, x.cache_read_tokens, x.output_tokens) for x in recs] == [
        (800, 200, 50), (500, 1000, 30), (50, 50, 20)]
    assert len({x.dedupe_key for x in recs}) == 3


def test_codex_totals_and_last_mixed():
    r = CodexRollout("s")
    recs = feed_all(r, [
        token_count("2026-11-20T09:20:10Z", total=usage(1000, 0, 50), last=usage(1000, 0, 50)),
        token_count("2026-11-20T09:20:20Z", total=usage(1500, 400, 70)),  # no last: derived
        token_count("2026-11-20T09:20:30Z", total=usage(1600, 400, 71), last=usage(100, 0, 1))])
    assert [(x.input_tokens, x.cache_read_tokens, x.output_tokens) for x in recs] == [
        (1000, 0, 50), (100, 400, 20), (100, 0, 1)]


def test_codex_repeated_event_for_the_same_response_counts_once():
    r = CodexRollout("s")
    same = dict(total=usage(1000, 0, 50), last=usage(1000, 0, 50))
    recs = feed_all(r, [token_count("2026-11-20T09:20:10Z", **same),
                        token_count("2026-11-20T09:20:11Z", **same),
                        token_count("2026-11-20T09:20:10Z", **same)])
    assert len(recs) == 1


def test_codex_model_is_the_latest_turn_context():
    r = CodexRollout("s")
    turn2 = TURN.replace("gpt-5-codex", "gpt-5.1-codex-max")
    recs = feed_all(r, [TURN, token_count("2026-11-20T09:20:10Z", last=usage(10, 0, 1)),
                        turn2, token_count("2026-11-20T09:20:20Z", last=usage(20, 0, 1)),
                        token_count("2026-11-20T09:20:30Z", last=usage(30, 0, 1), model="o3")])
    assert [x.model for x in recs] == ["gpt-5-codex", "gpt-5.1-codex-max", "o3"]
    assert CodexRollout("s").feed(token_count("2026-11-20T09:20:10Z",
                                              last=usage(1, 0, 1))).model == ""


def test_codex_subagent_replay_of_parent_events_is_deduped():
    parent_events = [token_count("2026-11-20T09:20:10Z", total=usage(1000, 0, 50),
                                 last=usage(1000, 0, 50)),
                     token_count("2026-11-20T09:20:20Z", total=usage(3000, 900, 90),
                                 last=usage(2000, 900, 40))]
    child_own = token_count("2026-11-20T09:21:00Z", total=usage(3500, 900, 100),
                            last=usage(500, 0, 10))
    seen: set[str] = set()
    parent = CodexRollout("p", seen=seen)
    child = CodexRollout("c", seen=seen)
    p = feed_all(parent, [META, TURN, *parent_events])
    child_meta = META.replace("0199-s", "0199-child")
    c = feed_all(child, [child_meta, TURN, *parent_events, child_own])
    assert len(p) == 2 and len(c) == 1
    assert c[0].session_id == "0199-child" and c[0].input_tokens == 500
    # without a shared set, the keys still match, so the store's UNIQUE key drops the replay
    alone = feed_all(CodexRollout("c"), [child_meta, TURN, *parent_events, child_own])
    assert [x.dedupe_key for x in alone[:2]] == [x.dedupe_key for x in p]


def test_codex_0_169_token_usage_record_is_not_double_counted():
    lines = [
        '{"timestamp":"2026-11-25T13:04:14.843Z","ordinal":0,"type":"session_meta","payload":'
        '{"session_id":"01a2","id":"01a2","cwd":"/repo","originator":"codex_exec",'
        '"cli_version":"0.169.0"}}',
        '{"timestamp":"2026-11-25T13:04:14.881Z","ordinal":5,"type":"turn_context","payload":'
        '{"turn_id":"t1","cwd":"/repo","approval_policy":"never","model":"gpt-5-codex"}}',
        '{"timestamp":"2026-11-25T13:04:14.900Z","ordinal":6,"type":"world_state","payload":{}}',
    ]
    u = {"input_tokens": 200, "cached_input_tokens": 0, "cache_write_input_tokens": 0,
         "output_tokens": 20, "reasoning_output_tokens": 0, "total_tokens": 220}
    two = {k: v * 2 for k, v in u.items()}
    for n, (ts, turn, thread) in enumerate([("2026-11-25T13:04:15.027Z", u, u),
                                            ("2026-11-25T13:04:15.639Z", two, two)]):
        lines.append(json.dumps({"timestamp": ts, "ordinal": 10 + n, "type": "token_usage_record",
                                 "payload": {"response_id": f"resp_{n}", "usage": u,
                                             "turn_token_usage": turn,
                                             "thread_token_usage": thread}}))
        lines.append(json.dumps({"timestamp": ts, "ordinal": 11 + n, "type": "event_msg",
                                 "payload": {"type": "token_count", "info": {
                                     "total_token_usage": thread, "last_token_usage": u,
                                     "last_usage_includes_reasoning": False,
                                     "model_context_window": 258400},
                                     "rate_limits": {"primary": None}}}))
    r = CodexRollout("f")
    recs = feed_all(r, lines)
    assert [(x.session_id, x.input_tokens, x.output_tokens) for x in recs] == [
        ("01a2", 200, 20), ("01a2", 200, 20)]
    assert r.stats.skipped_types == {"token_usage_record": 2, "world_state": 1}


def test_codex_other_lines_and_bad_lines():
    r = CodexRollout("s")
    lines = [b'{"timestamp":"2026-11-20T09:20:00Z","type":"compacted","payload":{"message":""}}',
             b'{"timestamp":"2026-11-20T09:20:00Z","type":"event_msg","payload":'
             b'{"type":"agent_message","message":"hi"}}',
             b'{"timestamp":"2026-11-20T09:20:00Z","type":"response_item","payload":'
             b'{"type":"message","role":"assistant","content":[]}}',
             b'{"timestamp":"2026-11-20T09:20:00Z","type":"something_new","payload":{}}',
             b'{"timestamp":"2026-11-20T09:20:00Z","type":"event_msg","payload":{"type":"tok',
             b'\xc3\x28{"type":"event_msg"}',
             b'{"timestamp":"2026-11-20T09:20:00Z","type":"event_msg","payload":null}',
             token_count("garbage", last=usage(1, 0, 1)).encode(),
             b'',
             b'42']
    assert feed_all(r, lines) == []
    assert r.stats.lines == len(lines)
    assert r.stats.bad_lines == 5
    assert r.stats.skipped_types == {"something_new": 1}


def test_codex_cached_never_exceeds_input():
    rec = CodexRollout("s").feed(token_count("2026-11-20T09:20:10Z", last=usage(10, 50, 1)))
    assert (rec.input_tokens, rec.cache_read_tokens) == (0, 10)


# ---------------------------------------------------------------------------- import hygiene

def test_ingest_modules_load_neither_textual_nor_rich():
    code = ("import sys, loomtui.ingest.records, loomtui.ingest.claude, loomtui.ingest.codex; "
            "print([m for m in ('textual', 'rich') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- against ccusage

def _claude_corpus(projects: Path) -> dict[str, list[str]]:
    """A few sessions: repeated responses (smaller and larger), synthetic messages, cache
    objects and plain cache counts, fast mode, a subagent file, junk lines."""
    files: dict[str, list[str]] = {}
    base = datetime(2026, 11, 20, 9, 0, tzinfo=UTC).timestamp()
    for s in range(3):
        sid = f"0000000{s}-aaaa-bbbb-cccc-dddddddddddd"
        lines = [REFERENCE_USER.replace("5b1f0c2e-aa", sid)]
        for i in range(12):
            ts = datetime.fromtimestamp(base + s * 3600 + i * 60, UTC)
            tstr = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{i:03d}Z"
            u = {"input_tokens": 10 + i + s, "output_tokens": 100 * i + 7,
                 "cache_read_input_tokens": 1000 * i}
            if i % 3 == 0:
                u["cache_creation"] = {"ephemeral_5m_input_tokens": 50 + i,
                                       "ephemeral_1h_input_tokens": 7 * i}
                u["cache_creation_input_tokens"] = 50 + i + 7 * i
            else:
                u["cache_creation_input_tokens"] = 30 * i
            if i == 5:
                u["speed"] = "fast"
            model = "claude-sonnet-4-5-20250929" if i % 2 else "claude-haiku-4-5-20251001"
            line = assistant(mid=f"msg_{s}_{i}", rid=f"req_{s}_{i}", sid=sid, ts=tstr,
                             model=model, usage=u)
            if i % 4 == 1:  # the same response written first with partial output
                partial = dict(u, output_tokens=3)
                lines.append(assistant(mid=f"msg_{s}_{i}", rid=f"req_{s}_{i}", sid=sid, ts=tstr,
                                       model=model, usage=partial))
            lines.append(line)
            if i % 4 == 2:  # and sometimes written twice, identically
                lines.append(line)
        lines.append(assistant(mid=f"syn_{s}", rid=f"syn_{s}", sid=sid,
                               ts="2026-11-20T12:00:00.000Z", model="<synthetic>",
                               usage={"input_tokens": 0, "output_tokens": 0}))
        lines.append('{"type":"summary","summary":"x","leafUuid":"a"}')
        files[f"-srv-app-wt-s{s}/{sid}.jsonl"] = lines
    # a subagent transcript of session 0
    sid0 = "00000000-aaaa-bbbb-cccc-dddddddddddd"
    files[f"-srv-app-wt-s0/{sid0}/subagents/agent-a1.jsonl"] = [
        assistant(mid="msg_sub_1", rid="req_sub_1", sid=sid0, isSidechain=True,
                  ts="2026-11-20T09:30:00.000Z",
                  usage={"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": 5,
                         "cache_creation_input_tokens": 6})]
    for rel, lines in files.items():
        path = projects / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    return files


def _totals(records, key):
    out: dict[str, list[int]] = {}
    for r in records:
        t = out.setdefault(key(r), [0, 0, 0, 0])
        t[0] += r.input_tokens
        t[1] += r.output_tokens
        t[2] += r.cache_write_tokens
        t[3] += r.cache_read_tokens
    return out


def test_claude_per_session_totals_equal_ccusage(ccusage, tmp_path):
    config = tmp_path / "claude"
    files = _claude_corpus(config / "projects")
    records = []
    for rel, lines in files.items():
        session = ClaudeSession(Path(rel).stem)
        records += [r for r in map(session.feed, lines) if r is not None]
        assert session.stats.bad_lines == 0
    ours = _totals(dedupe(records), lambda r: r.session_id)
    report = run_ccusage(ccusage, tmp_path, "claude", {"CLAUDE_CONFIG_DIR": str(config)})
    # ccusage 20 reads only compact JSON lines (`"type":"assistant"`, no spaces), as Claude
    # Code writes them; the subagent transcript joins its parent's session there and here
    rows = report.get("sessions", report.get("session", []))
    theirs = {row.get("sessionId", row.get("period")): [
        row["inputTokens"], row["outputTokens"], row["cacheCreationTokens"],
        row["cacheReadTokens"]] for row in rows}
    assert ours == theirs


def _codex_corpus(sessions: Path) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {}
    day = sessions / "2026" / "11" / "20"
    for s in range(2):
        sid = f"0199aaaa-0000-7000-8000-00000000000{s}"
        meta = META.replace("0199-s", sid)
        lines = [meta, TURN]
        total = [0, 0, 0, 0]
        for i in range(8):
            last = usage(1000 + 100 * i + s, 300 * i, 40 + i, r=i)
            total = [total[0] + last["input_tokens"], total[1] + last["cached_input_tokens"],
                     total[2] + last["output_tokens"], total[3] + last["reasoning_output_tokens"]]
            tot = usage(total[0], total[1], total[2], r=total[3])
            ts = f"2026-11-20T09:2{s}:{10 + i:02d}.000Z"
            if i == 4:
                lines.append(TURN.replace("gpt-5-codex", "gpt-5"))
            if i % 3 == 2:  # totals only: derived delta
                lines.append(token_count(ts, total=tot))
            else:
                lines.append(token_count(ts, total=tot, last=last))
            if i % 4 == 1:  # the same response reported again
                lines.append(token_count(ts, total=tot, last=last))
            lines.append(token_count(ts, info=False))
        files[f"rollout-2026-11-20T09-2{s}-00-{sid}.jsonl"] = lines
    for name, lines in files.items():
        day.mkdir(parents=True, exist_ok=True)
        (day / name).write_text("\n".join(lines) + "\n")
    return files


def test_codex_per_session_totals_equal_ccusage(ccusage, tmp_path):
    home = tmp_path / "codex"
    files = _codex_corpus(home / "sessions")
    records = []
    for name, lines in files.items():
        r = CodexRollout(name)
        records += [x for x in map(r.feed, lines) if x is not None]
        assert r.stats.bad_lines == 0
    ours = _totals(records, lambda r: r.session_id)
    report = run_ccusage(ccusage, tmp_path, "codex", {"CODEX_HOME": str(home)})
    theirs = {}
    for row in report.get("sessions", report.get("session", [])):
        key = next(sid for sid in ours if sid in json.dumps(row))
        theirs[key] = [row["inputTokens"], row["outputTokens"],
                       row.get("cacheCreationTokens", 0), row["cacheReadTokens"]]
    assert ours == theirs, json.dumps(report)[:2000]


@pytest.mark.parametrize("usage", [
    {"input_tokens": 10**30, "output_tokens": 1},
    {"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": 1e999},
    {"input_tokens": 1, "output_tokens": 1, "cache_creation": {"ephemeral_5m_input_tokens": 2**64}},
])
def test_absurd_token_counts_are_bad_lines_not_records(usage):
    """A count no response carries (it would overflow the store and stop the ingester)."""
    stats = ParseStats()
    assert parse_line(assistant(usage=usage), stats) is None
    assert stats.bad_lines == 1


def test_non_finite_costs_are_bad_lines():
    stats = ParseStats()
    assert parse_line(assistant().replace('"type":"assistant"', '"costUSD":1e999,"type":"assistant"'),
                      stats) is None
    assert stats.bad_lines == 1
    session = ClaudeSession("s")
    session.feed('{"type":"cost-state","modelUsage":{"m":{"costUSD":1e999}}}')
    assert session.reported_costs == {} and session.stats.bad_lines == 1


def test_codex_absurd_counts_are_bad_lines():
    r = CodexRollout("s")
    assert r.feed(token_count("2026-11-20T09:20:10Z", total=usage(10**30, 0, 1))) is None
    assert r.stats.bad_lines == 1
