"""`loomtui usage` end to end: generated transcripts, `loomtui ingest
--once`, then the report, compared with ccusage itself on the same files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ccusage import run_ccusage
from tests.test_ingest_parsers import _claude_corpus, _codex_corpus

ROW_KEYS = {"key", "agent", "kind", "input_tokens", "output_tokens", "cache_write_tokens",
            "cache_read_tokens", "total_tokens", "cost_usd", "priced"}


def loom(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM", "CLAUDE", "CODEX"))}
    env.update(LOOM_HOME=str(tmp_path / "pod"), CLAUDE_CONFIG_DIR=str(tmp_path / "claude"),
               CODEX_HOME=str(tmp_path / "codex"), HOME=str(tmp_path), PYTHONIOENCODING="utf-8",
               TZ="UTC")
    return subprocess.run([sys.executable, "-m", "loomtui", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("usage")
    _claude_corpus(tmp / "claude" / "projects")
    _codex_corpus(tmp / "codex" / "sessions")
    done = loom(tmp, "ingest", "--once")
    assert done.returncode == 0, done.stderr
    return tmp


def report(tmp: Path, *args: str) -> dict:
    done = loom(tmp, "usage", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_json_shape_and_totals(ingested: Path) -> None:
    data = report(ingested, "--by", "session")
    assert data["by"] == "session"
    assert data["rows"] and all(set(r) == ROW_KEYS for r in data["rows"])
    for r in data["rows"]:
        assert r["total_tokens"] == (r["input_tokens"] + r["output_tokens"] + r["cache_write_tokens"]
                                     + r["cache_read_tokens"])
    for field in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens",
                  "total_tokens"):
        assert data["totals"][field] == sum(r[field] for r in data["rows"])
    # every grouping splits the same usage
    for by in ("agent", "model", "day", "block", "repo"):
        assert report(ingested, "--by", by)["totals"]["total_tokens"] == data["totals"]["total_tokens"], by
    kinds = {r["key"]: r["kind"] for r in data["rows"]}
    assert sorted(set(kinds.values())) == ["claude", "codex"]


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_per_session_tokens_and_cost_equal_ccusage(ccusage, ingested: Path, agent: str) -> None:
    ours = {r["key"]: r for r in report(ingested, "--by", "session")["rows"] if r["kind"] == agent}
    env = {"CLAUDE_CONFIG_DIR": str(ingested / "claude")} if agent == "claude" else \
        {"CODEX_HOME": str(ingested / "codex")}
    theirs = run_ccusage(ccusage, ingested / agent, agent, env)["sessions"]
    assert len(theirs) == len(ours) > 0
    for row in theirs:
        key = row["sessionId"] if agent == "claude" else next(k for k in ours if k in json.dumps(row))
        mine = ours[key]
        assert [mine["input_tokens"], mine["output_tokens"], mine["cache_write_tokens"],
                mine["cache_read_tokens"]] == [row["inputTokens"], row["outputTokens"],
                                               row.get("cacheCreationTokens", 0), row["cacheReadTokens"]]
        assert mine["priced"] == "table"
        assert mine["cost_usd"] == pytest.approx(row.get("totalCost", row.get("costUSD")), rel=1e-9)


def test_blocks_start_where_ccusage_starts_them(ccusage, tmp_path: Path) -> None:
    """Blocks start on the hour of their first entry; a new one starts 5 h after the
    start, or after a gap of more than 5 h."""
    from tests.test_ingest_parsers import assistant

    times = ["2026-11-20T09:14:00.000Z", "2026-11-20T12:59:00.000Z", "2026-11-20T14:20:00.000Z",
             "2026-11-20T15:10:00.000Z", "2026-11-20T23:30:00.000Z", "2026-11-21T00:05:00.000Z"]
    folder = tmp_path / "claude" / "projects" / "-srv-app"
    folder.mkdir(parents=True)
    (folder / "s1.jsonl").write_text("\n".join(
        assistant(mid=f"m{i}", rid=f"r{i}", sid="s1", ts=ts, usage={"input_tokens": 10 * (i + 1),
                                                                     "output_tokens": i})
        for i, ts in enumerate(times)) + "\n")
    assert loom(tmp_path, "ingest", "--once").returncode == 0
    ours = {r["key"]: r["total_tokens"] for r in report(tmp_path, "--by", "block")["rows"]}
    theirs = run_ccusage(ccusage, tmp_path, "claude", {"CLAUDE_CONFIG_DIR": str(tmp_path / "claude")},
                         report="blocks")
    starts = {b["startTime"].replace(".000Z", "Z"): b["totalTokens"] for b in theirs["blocks"]
              if not b.get("isGap")}
    assert len(ours) == 3
    assert ours == starts


def test_since_keeps_only_later_days(ingested: Path) -> None:
    everything = report(ingested, "--by", "day")
    assert [r["key"] for r in everything["rows"]] == ["2026-11-20"]
    assert report(ingested, "--since", "2026-11-21")["rows"] == []
    assert report(ingested, "--since", "2026-11-20")["totals"] == everything["totals"]


def test_text_table_and_bad_since(ingested: Path) -> None:
    done = loom(ingested, "usage", "--by", "model")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["MODEL", "INPUT", "OUTPUT"]
    assert any(line.startswith("gpt-5-codex") for line in lines)
    assert lines[-1].startswith("TOTAL")
    bad = loom(ingested, "usage", "--since", "last tuesday")
    assert bad.returncode == 1 and "YYYY-MM-DD" in bad.stderr and "Traceback" not in bad.stderr


def test_an_empty_pod_says_how_usage_arrives(tmp_path: Path) -> None:
    assert loom(tmp_path, "init").returncode == 0
    done = loom(tmp_path, "usage")
    assert done.returncode == 0 and "no usage recorded yet" in done.stdout
    assert report(tmp_path)["rows"] == []
