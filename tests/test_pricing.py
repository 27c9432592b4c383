"""Prices: the bundled LiteLLM-shaped table, model-name lookup, tiers above 200k,
1-hour cache writes, fast mode, the pod's override file, the reported/unpriced fallbacks, and
costs equal to the real ccusage --offline on generated Claude and Codex corpora (skipped with
the reason when ccusage cannot be installed)."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from loomtui.ingest import pricing
from loomtui.ingest.claude import ClaudeSession, dedupe
from loomtui.ingest.codex import CodexRollout
from loomtui.ingest.pricing import PriceError, PriceTable
from loomtui.ingest.records import UsageRecord
from tests.ccusage import run_ccusage
from tests.test_ingest_parsers import (
    META,
    TURN,
    _claude_corpus,
    _codex_corpus,
    assistant,
    token_count,
    usage,
)

ROOT = Path(__file__).resolve().parents[1]
K = 1000


def rec(model: str, i: int = 0, o: int = 0, w: int = 0, r: int = 0, w1h: int = 0,
        speed: str = "", reported: float | None = None) -> UsageRecord:
    """A record: i input, o output, w cache writes (w1h of them 1-hour), r cache reads."""
    return UsageRecord(session_id="s", ts=0.0, model=model, input_tokens=i, output_tokens=o,
                       cache_write_tokens=w, cache_read_tokens=r, dedupe_key="k", speed=speed,
                       reported_cost_usd=reported, cache_write_1h_tokens=w1h)


def approx(value: float):
    return pytest.approx(value, rel=1e-12, abs=1e-15)


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


# ---------------------------------------------------------------------------- the bundled table

def test_bundled_table_is_litellm_shaped_and_ignores_underscore_keys(table):
    raw = json.loads((ROOT / "loomtui" / "ingest" / "prices.json").read_text())
    assert "ccusage 20.0.24" in raw["_source"]
    models = {k for k in raw if not k.startswith("_")}
    assert set(table.models()) == models and len(table) == len(models)
    assert table.lookup("_source") is None and "_source" not in table
    for name in models:
        entry = raw[name]
        assert entry["litellm_provider"] in ("anthropic", "openai", "gemini"), name
        assert isinstance(entry["max_input_tokens"], int), name
        for field in ("input_cost_per_token", "output_cost_per_token",
                      "cache_creation_input_token_cost", "cache_read_input_token_cost",
                      "cache_creation_input_token_cost_above_1hr"):
            assert isinstance(entry[field], float) and 0 <= entry[field] < 1e-3, (name, field)


@pytest.mark.parametrize("model", [
    "claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6", "claude-opus-4-5-20251101",
    "claude-opus-4-1-20250805", "claude-opus-4-20250514", "claude-sonnet-4-6",
    "claude-sonnet-4-5-20250929", "claude-sonnet-4-20250514", "claude-haiku-4-5-20251001",
    "claude-3-7-sonnet-20250219", "claude-3-5-haiku-20241022",
    "gpt-5", "gpt-5-codex", "gpt-5-mini", "gpt-5.1-codex", "gpt-5.1-codex-max",
    "gpt-5.1-codex-mini", "gpt-5.2-codex", "gpt-5.3-codex", "gpt-5.4", "gpt-5.5",
    "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-3-pro-preview"])
def test_current_models_are_in_the_table(table, model):
    assert table.lookup(model) is not None


def test_the_bundled_table_is_parsed_once_per_process(tmp_path):
    assert pricing._bundled() is pricing._bundled()
    (tmp_path / "prices.json").write_text(json.dumps(
        {"claude-sonnet-4-5": {"input_cost_per_token": 1.0, "output_cost_per_token": 1.0}}))
    PriceTable.load(tmp_path)
    assert pricing._bundled()["claude-sonnet-4-5"]["input_cost_per_token"] == 3e-06
    assert PriceTable.load().cost(rec("claude-sonnet-4-5", i=1)) == approx(3e-06)


def test_pricing_loads_neither_textual_nor_rich():
    code = ("import sys, loomtui.ingest.pricing as p; p.PriceTable.load(); "
            "print([m for m in ('textual', 'rich') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- costs by hand

def test_base_cost(table):
    # Sonnet 4.5: $3 in, $15 out, $3.75 5-minute writes, $0.30 reads per million
    r = rec("claude-sonnet-4-5-20250929", i=1000, o=500, w=2000, r=10000)
    assert table.cost(r) == approx(1000 * 3e-6 + 500 * 15e-6 + 2000 * 3.75e-6 + 10000 * 0.3e-6)
    assert table.cost(r) == approx(0.021)
    assert table.cost(rec("claude-haiku-4-5-20251001", i=1_000_000)) == approx(1.0)
    assert table.cost(rec("claude-opus-4-1-20250805", o=1_000_000)) == approx(75.0)
    assert table.cost(rec("gpt-5", i=1_000_000, o=1_000_000)) == approx(1.25 + 10)


def test_codex_record_prices_cached_input_as_cache_reads(table):
    # gpt-5-codex: $1.25 in, $0.125 cached, $10 out per million
    r = rec("gpt-5-codex", i=600, r=2000, o=150)
    assert table.cost(r) == approx(600 * 1.25e-6 + 2000 * 0.125e-6 + 150 * 10e-6)
    assert table.cost(r) == approx(0.0025)


def test_tiers_above_200k_apply_per_token_type_per_record(table):
    m = "claude-sonnet-4-5-20250929"  # above 200k: $6 in, $22.50 out, $7.50 writes, $0.60 reads
    assert table.cost(rec(m, i=200_000)) == approx(0.6)
    assert table.cost(rec(m, i=300_000)) == approx(200_000 * 3e-6 + 100_000 * 6e-6)  # 1.2
    assert table.cost(rec(m, o=250_000)) == approx(200_000 * 15e-6 + 50_000 * 22.5e-6)
    assert table.cost(rec(m, r=300_000)) == approx(200_000 * 0.3e-6 + 100_000 * 0.6e-6)
    assert table.cost(rec(m, w=250_000)) == approx(200_000 * 3.75e-6 + 50_000 * 7.5e-6)
    # 150k input + 150k cache reads: 300k of context, but neither type passes 200k
    assert table.cost(rec(m, i=150_000, r=150_000)) == approx(0.45 + 0.045)
    # a model without above-200k rates is flat
    assert table.cost(rec("claude-opus-4-6", i=1_000_000)) == approx(5.0)


def test_context_tiers_price_the_whole_record(table):
    # GPT-5.4 above 272k of context (input + cached): $5 in, $0.50 cached, $22.50 out
    assert table.cost(rec("gpt-5.4", i=272_000)) == approx(272_000 * 2.5e-6)
    assert table.cost(rec("gpt-5.4", i=272_001)) == approx(272_001 * 5e-6)
    assert table.cost(rec("gpt-5.4", i=100_000, r=200_000, o=1000)) == approx(
        100_000 * 5e-6 + 200_000 * 0.5e-6 + 1000 * 22.5e-6)
    assert table.cost(rec("gpt-5.4", o=1_000_000)) == approx(15.0)  # output is not context
    # Gemini 2.5 Pro above 200k: $2.50 in, $0.25 cached
    assert table.cost(rec("gemini-2.5-pro", i=100_000, r=150_000)) == approx(
        100_000 * 2.5e-6 + 150_000 * 0.25e-6)
    assert table.cost(rec("gemini-2.5-pro", i=100_000, r=100_000)) == approx(
        100_000 * 1.25e-6 + 100_000 * 0.125e-6)


def test_one_hour_cache_writes(table):
    # Haiku 4.5: 5-minute writes $1.25, 1-hour writes $2 per million
    assert table.cost(rec("claude-haiku-4-5-20251001", w=1000, w1h=400)) == approx(
        600 * 1.25e-6 + 400 * 2e-6)
    assert table.cost(rec("claude-opus-4-6", w=100_000, w1h=100_000)) == approx(1.0)
    # 1-hour writes have their own 200k tier on Sonnet 4.5 ($6, then $12)
    assert table.cost(rec("claude-sonnet-4-5", w=250_000, w1h=250_000)) == approx(
        200_000 * 6e-6 + 50_000 * 12e-6)
    assert table.cost(rec("claude-sonnet-4-5", w=300_000, w1h=150_000)) == approx(
        150_000 * 3.75e-6 + 150_000 * 6e-6)


def test_fast_mode_multiplies_the_record(table):
    base = rec("claude-opus-4-6", i=1000, o=1000, w=1000, w1h=500)
    standard = table.cost(base)
    assert standard == approx(1000 * 5e-6 + 1000 * 25e-6 + 500 * 6.25e-6 + 500 * 10e-6)
    assert table.cost(base._replace(speed="fast")) == approx(6 * standard)
    assert table.cost(rec("claude-opus-4-8", i=1000, speed="fast")) == approx(2 * 1000 * 5e-6)
    assert table.cost(rec("gpt-5.5", i=1000, speed="fast")) == approx(2.5 * 1000 * 5e-6)
    # no multiplier known: fast costs what standard does (as in ccusage)
    sonnet = rec("claude-sonnet-4-5", i=1000)
    assert table.cost(sonnet._replace(speed="fast")) == table.cost(sonnet)


# ---------------------------------------------------------------------------- names

@pytest.mark.parametrize("name, key", [
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929"),
    ("anthropic/claude-opus-4-6", "claude-opus-4-6"),
    ("openrouter/anthropic/claude-opus-4-6", "claude-opus-4-6"),
    ("us.anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),
    ("claude-opus-4-6@20260205", "claude-opus-4-6-20260205"),
    ("claude-opus-4.6", "claude-opus-4-6"),
    ("claude-sonnet-4-5-20250929[1m]", "claude-sonnet-4-5-20250929"),
    ("claude-sonnet-4-5-20991231", "claude-sonnet-4-5"),  # a date suffix ccusage also drops
    ("openai/gpt-5-codex", "gpt-5-codex"),
    ("gpt-5-codex-2025-09-15", "gpt-5-codex"),
    ("gemini/gemini-2.5-pro", "gemini-2.5-pro"),
])
def test_names_as_agents_write_them(table, name, key):
    assert table.lookup(name) is table.lookup(key) is not None
    assert table.cost(rec(name, i=1000, o=10)) == table.cost(rec(key, i=1000, o=10))


def test_prefixed_names_keep_fast_and_tiers(table):
    assert table.cost(rec("anthropic/claude-opus-4-6", i=1000, speed="fast")) == approx(0.03)
    assert table.cost(rec("anthropic/claude-sonnet-4-5", i=300_000)) == approx(1.2)


@pytest.mark.parametrize("name", [
    "", "  ", "<synthetic>", "opus", "sonnet", "claude", "claude-sonnet", "claude-opus-4-9",
    "claude-sonnet-4-7-20991231", "gpt-5.9", "gpt-5-9", "gpt-7", "gemini-9-pro", "o3",
    "claude-opus-4-0", "codex-mini-latest", "llama-3.3-70b"])
def test_unknown_models_are_never_guessed(table, name):
    assert table.lookup(name) is None
    assert table.cost(rec(name, i=1000)) is None
    assert table.context_window(name) is None


def test_context_window(table):
    assert table.context_window("claude-haiku-4-5-20251001") == 200_000
    assert table.context_window("anthropic/claude-opus-4-6") == 1_000_000
    assert table.context_window("gpt-5-codex") == 272_000
    assert table.context_window("gpt-5.4") == 1_050_000
    assert table.context_window("gemini-2.5-pro") == 1_048_576


@pytest.mark.parametrize(("model", "used", "window"), [
    # Sonnet 4.5 is listed at 1M, but 1M is a beta a session opts into (its prices rise
    # above 200k): a context up to 200k is in the standard window, a longer one in the 1M
    ("claude-sonnet-4-5-20250929", 150_000, 200_000),
    ("claude-sonnet-4-5-20250929", 200_000, 200_000),
    ("claude-sonnet-4-5-20250929", 248_000, 1_000_000),
    ("claude-sonnet-4-20250514", 90_000, 200_000),
    ("gpt-5.4", 100_000, 272_000),  # a tiered_pricing range from 272k: the same shape
    ("gpt-5.4", 300_000, 1_050_000),
    ("claude-opus-4-5-20251101", 150_000, 200_000),  # one window: as listed
    ("claude-opus-4-6", 150_000, 1_000_000),
    ("gpt-5-codex", 100_000, 272_000),
])
def test_the_window_a_context_sits_in(table, model, used, window):
    assert table.context_window(model, used) == window


# ---------------------------------------------------------------------------- price sources

def test_price_sources(table):
    known = rec("claude-haiku-4-5", i=1_000_000, reported=9.99)
    assert table.price(known) == (approx(1.0), "table")  # the table wins over the agent
    assert table.price(rec("claude-opus-9", i=10, reported=0.42)) == (0.42, "reported")
    assert table.price(rec("claude-opus-9", i=10, reported=0.0)) == (0.0, "reported")
    assert table.price(rec("claude-opus-9", i=10)) == (None, "unpriced")
    assert table.price(rec("", i=10)) == (None, "unpriced")


# ---------------------------------------------------------------------------- the pod override

def write_override(pod: Path, content) -> Path:
    path = pod / "prices.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_override_replaces_whole_entries_and_adds_models(tmp_path):
    write_override(tmp_path, {
        "_comment": "ours, 2026-11", "_more": [1, 2, 3],
        "claude-sonnet-4-5": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                              "cache_read_input_token_cost": 1e-07,
                              "max_input_tokens": 500000},
        "acme-coder-1": {"input_cost_per_token": 4e-06, "output_cost_per_token": 8e-06,
                         "cache_creation_input_token_cost": 5e-06,
                         "provider_specific_entry": {"fast": 3}},
    })
    t = PriceTable.load(tmp_path)
    assert t.lookup("_comment") is None and "_more" not in t
    # the whole entry is replaced: no above-200k tier any more, LiteLLM defaults for the rest
    assert t.cost(rec("claude-sonnet-4-5", i=300_000)) == approx(0.3)
    assert t.cost(rec("claude-sonnet-4-5", w=1000)) == approx(1000 * 1.25e-6)
    assert t.cost(rec("claude-sonnet-4-5", w=1000, w1h=1000)) == approx(1000 * 2e-6)
    assert t.cost(rec("claude-sonnet-4-5", r=1000)) == approx(1000 * 1e-7)
    assert t.context_window("claude-sonnet-4-5") == 500_000
    # other bundled entries (also the dated Sonnet 4.5) are untouched
    assert t.cost(rec("claude-sonnet-4-5-20250929", i=1000)) == approx(0.003)
    assert t.cost(rec("acme-coder-1", i=1000, o=1000, speed="fast")) == approx(3 * 0.012)
    assert t.price(rec("acme-coder-1", r=1000)) == (approx(1000 * 4e-7), "table")
    assert PriceTable.load(tmp_path / "missing-pod").lookup("acme-coder-1") is None
    assert PriceTable.load(None).lookup("acme-coder-1") is None


def test_override_can_add_a_context_tier(tmp_path):
    write_override(tmp_path, {"acme-long": {
        "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
        "tiered_pricing": [{"range": [0, 100000], "input_cost_per_token": 1e-06},
                           {"range": [100000, None], "input_cost_per_token": 3e-06,
                            "output_cost_per_token": 4e-06}]}})
    t = PriceTable.load(tmp_path)
    assert t.cost(rec("acme-long", i=100_000, o=10)) == approx(0.1 + 10 * 2e-6)
    assert t.cost(rec("acme-long", i=60_000, r=50_000, o=10)) == approx(
        60_000 * 3e-6 + 50_000 * 1e-7 + 10 * 4e-6)


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ({"m": 5}, "model 'm': expected an object"),
    ({"m": {"output_cost_per_token": 1e-6}}, "input_cost_per_token"),
    ({"m": {"input_cost_per_token": "3e-6", "output_cost_per_token": 1e-6}},
     "input_cost_per_token"),
    ({"m": {"input_cost_per_token": True, "output_cost_per_token": 1e-6}},
     "input_cost_per_token"),
    ({"m": {"input_cost_per_token": -1, "output_cost_per_token": 1e-6}}, "non-negative"),
    ({"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6,
            "cache_read_input_token_cost": "cheap"}}, "cache_read_input_token_cost"),
    ({"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6,
            "tiered_pricing": [{"input_cost_per_token": 1e-6}]}}, "range"),
    ({"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6,
            "provider_specific_entry": {"fast": "6x"}}}, "fast"),
    ({"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6,
            "max_input_tokens": 1.5}}, "max_input_tokens"),
])
def test_bad_override_names_the_file_and_the_problem(tmp_path, content, problem):
    path = write_override(tmp_path, content)
    with pytest.raises(PriceError) as err:
        PriceTable.load(tmp_path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_unreadable_override(tmp_path):
    (tmp_path / "prices.json").mkdir()
    with pytest.raises(PriceError, match="cannot read") as err:
        PriceTable.load(tmp_path)
    assert str(tmp_path / "prices.json") in str(err.value)
    other = tmp_path / "other"
    other.mkdir()
    (other / "prices.json").symlink_to(other / "nowhere.json")
    with pytest.raises(PriceError, match="cannot read"):
        PriceTable.load(other)


def test_a_table_of_given_entries():
    t = PriceTable({"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}})
    assert t.cost(rec("m", i=1, o=1)) == approx(3e-6) and t.lookup("claude-opus-4-6") is None
    with pytest.raises(PriceError, match="<prices>"):
        PriceTable({"m": {}})


# ---------------------------------------------------------------------------- against ccusage

def _same(ours: dict[str, float], theirs: dict[str, float]) -> None:
    assert ours.keys() == theirs.keys()
    for key, cost in ours.items():
        assert math.isclose(cost, theirs[key], rel_tol=1e-9, abs_tol=1e-12), (
            key, cost, theirs[key])


def _session_costs(table: PriceTable, records) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in records:
        cost = table.cost(r)
        out[r.session_id] = out.get(r.session_id, 0.0) + (cost or 0.0)  # ccusage: unknown = $0
    return out


def _claude_tier_session(projects: Path) -> dict[str, list[str]]:
    """A session with everything the ordinary corpus lacks: tokens above 200k per type,
    1-hour writes above 200k, fast Opus (x6 and x2), and a model no table knows."""
    sid = "0000000f-aaaa-bbbb-cccc-dddddddddddd"

    def cache(m5: int, h1: int) -> dict:
        return {"cache_creation_input_tokens": m5 + h1,
                "cache_creation": {"ephemeral_5m_input_tokens": m5, "ephemeral_1h_input_tokens": h1}}
    usages = [
        ("claude-sonnet-4-5-20250929", {"input_tokens": 250_000, "output_tokens": 210_000,
                                        "cache_read_input_tokens": 300_000,
                                        **cache(220_000, 230_000)}),
        ("claude-sonnet-4-5-20250929", {"input_tokens": 150_000, "output_tokens": 90,
                                        "cache_read_input_tokens": 150_000, **cache(10, 20)}),
        ("claude-opus-4-6", {"input_tokens": 40, "output_tokens": 900, "speed": "fast",
                             "cache_read_input_tokens": 50_000, **cache(3000, 7000)}),
        ("claude-opus-4-8", {"input_tokens": 12, "output_tokens": 345, "speed": "fast",
                             **cache(0, 4000)}),
        ("claude-haiku-4-5-20251001", {"input_tokens": 201_000, "output_tokens": 5,
                                       **cache(999, 1)}),
        ("claude-unknown-9", {"input_tokens": 1000, "output_tokens": 1000}),
    ]
    lines = [assistant(mid=f"msg_t{n}", rid=f"req_t{n}", sid=sid, model=model, usage=u,
                       ts=f"2026-11-21T10:00:{n:02d}.000Z") for n, (model, u) in enumerate(usages)]
    rel = f"-srv-app-wt-tiers/{sid}.jsonl"
    (projects / rel).parent.mkdir(parents=True, exist_ok=True)
    (projects / rel).write_text("\n".join(lines) + "\n")
    return {rel: lines}


def test_claude_session_costs_equal_ccusage(ccusage, tmp_path, table):
    config = tmp_path / "claude"
    files = _claude_corpus(config / "projects")
    files.update(_claude_tier_session(config / "projects"))
    records = []
    for rel, lines in files.items():
        session = ClaudeSession(Path(rel).stem)
        records += [r for r in map(session.feed, lines) if r is not None]
    records = dedupe(records)
    assert any(r.input_tokens > 200_000 for r in records)
    assert any(r.speed == "fast" and r.model == "claude-opus-4-6" for r in records)
    assert [r.model for r in records if table.cost(r) is None] == ["claude-unknown-9"]
    report = run_ccusage(ccusage, tmp_path, "claude", {"CLAUDE_CONFIG_DIR": str(config)})
    theirs = {row["sessionId"]: row["totalCost"] for row in report["sessions"]}
    _same(_session_costs(table, records), theirs)


def _codex_tier_rollout(day: Path) -> dict[str, list[str]]:
    sid = "0199aaaa-0000-7000-8000-00000000000f"
    lines = [META.replace("0199-s", sid), TURN.replace("gpt-5-codex", "gpt-5.4")]
    for n, (i, c, o) in enumerate([(300_000, 250_000, 900), (272_000, 0, 10),
                                   (272_001, 100, 20), (100_000, 90_000, 5)]):
        lines.append(token_count(f"2026-11-20T09:30:{n:02d}.000Z", last=usage(i, c, o)))
    lines.append(TURN.replace("gpt-5-codex", "gpt-5.1-codex-max"))
    lines.append(token_count("2026-11-20T09:31:00.000Z", last=usage(400_000, 300_000, 3000)))
    name = f"rollout-2026-11-20T09-30-00-{sid}.jsonl"
    (day / name).write_text("\n".join(lines) + "\n")
    return {name: lines}


def test_codex_session_costs_equal_ccusage(ccusage, tmp_path, table):
    home = tmp_path / "codex"
    files = _codex_corpus(home / "sessions")
    files.update(_codex_tier_rollout(home / "sessions" / "2026" / "11" / "20"))
    records = []
    for name, lines in files.items():
        rollout = CodexRollout(name)
        records += [x for x in map(rollout.feed, lines) if x is not None]
    assert {r.model for r in records} == {"gpt-5-codex", "gpt-5", "gpt-5.4", "gpt-5.1-codex-max"}
    assert all(table.cost(r) is not None for r in records)
    ours = _session_costs(table, records)
    report = run_ccusage(ccusage, tmp_path, "codex", {"CODEX_HOME": str(home)})
    theirs = {}
    for row in report["sessions"]:
        key = next(sid for sid in ours if sid in json.dumps(row))
        theirs[key] = row["costUSD"]
    _same(ours, theirs)


def test_every_bundled_model_costs_what_ccusage_says(ccusage, tmp_path, table):
    """Random records (small, around each threshold, far above it; 1-hour writes; fast mode)
    for every model in the table, one session per model."""
    rng = random.Random(4)
    projects = tmp_path / "claude" / "projects" / "-srv-all"
    projects.mkdir(parents=True)
    sizes = [0, 0, 7, 1500, 150_000, 199_999, 200_000, 200_001, 271_999, 272_001, 450_000]
    records = []
    for n, model in enumerate(table.models()):
        sid = f"{n:08d}-0000-4000-8000-000000000000"
        lines = []
        for k in range(6):
            m5, h1 = rng.choice(sizes), rng.choice(sizes)
            u = {"input_tokens": rng.choice(sizes), "output_tokens": rng.choice(sizes),
                 "cache_read_input_tokens": rng.choice(sizes),
                 "cache_creation_input_tokens": m5 + h1,
                 "cache_creation": {"ephemeral_5m_input_tokens": m5,
                                    "ephemeral_1h_input_tokens": h1}}
            if k % 2:
                u["speed"] = "fast"
            lines.append(assistant(mid=f"m{n}_{k}", rid=f"r{n}_{k}", sid=sid, model=model,
                                   usage=u, ts=f"2026-11-22T10:{k:02d}:00.000Z"))
        (projects / f"{sid}.jsonl").write_text("\n".join(lines) + "\n")
        session = ClaudeSession(sid)
        records += [r for r in map(session.feed, lines) if r is not None]
    assert len(records) == 6 * len(table)
    report = run_ccusage(ccusage, tmp_path, "claude",
                         {"CLAUDE_CONFIG_DIR": str(tmp_path / "claude")})
    theirs = {row["sessionId"]: row["totalCost"] for row in report["sessions"]}
    _same(_session_costs(table, records), theirs)
