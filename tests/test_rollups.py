"""The usage rollups (store/rollups.py): kept by triggers through every way the store
writes usage rows, equal to a from-scratch GROUP BY over the raw rows, recomputed the
same by `rebuild`, unchanged when raw rows are deleted, and read by reports, budgets and
the Usage tab with the same answers a scan of the raw rows gives."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loomtui.ingest.ingester import INSERT_USAGE
from loomtui.ingest.report import GROUPS, usage_rows
from loomtui.store import rollups
from loomtui.store.budgets import BLOCK_SECONDS, billing_blocks, compute, day_start, week_start
from loomtui.store.db import DB_NAME, connect, split_statements, transaction
from loomtui.store.schema import MIGRATIONS, SCHEMA_VERSION
from loomtui.store.usage import usage_by_model, usage_minutes

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a whole hour
TOKENS = "input_tokens + output_tokens + cache_write_tokens + cache_read_tokens"
SUMS = ("sum(input_tokens), sum(output_tokens), sum(cache_write_tokens), sum(cache_read_tokens), "
        "total(cost_usd), count(cost_usd), sum(cost_source = 'table'), sum(cost_source = 'reported'), "
        "sum(cost_source = 'unpriced'), count(*)")
FIGS = ", ".join(rollups.FIGURES)


# -- from scratch, over the raw rows ------------------------------------------------------

def scratch(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    """What each rollup table must hold: a GROUP BY over the raw rows."""
    q = rollups.quarter_sql("ts")
    return {
        "usage_totals": conn.execute(
            f"SELECT coalesce(agent_id, 0), session_id, model, kind, {SUMS} FROM usage "
            "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4").fetchall(),
        "usage_quarters": conn.execute(
            f"SELECT {q}, coalesce(agent_id, 0), session_id, model, kind, {SUMS} FROM usage "
            "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5").fetchall(),
        "usage_pod_quarters": conn.execute(
            f"SELECT {q}, {rollups.edge_sql('ts')}, kind, {SUMS}, min(ts), max(ts) FROM usage "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3").fetchall(),
        "usage_minutes": conn.execute(
            f"SELECT agent_id, CAST(ts / 60 AS INTEGER) * 60.0, sum({TOKENS}), count(*) FROM usage "
            "WHERE agent_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2").fetchall(),
        "usage_agent_quarters": conn.execute(
            f"SELECT {q}, agent_id, sum({TOKENS}), total(cost_usd), count(*) FROM usage "
            "WHERE agent_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2").fetchall(),
    }


def stored(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    """The rollup tables, without groups whose rows all moved elsewhere."""
    keys = {"usage_totals": "agent_id, session_id, model, kind",
            "usage_quarters": "bucket, agent_id, session_id, model, kind",
            "usage_pod_quarters": "bucket, edge, kind"}
    out = {t: conn.execute(f"SELECT {k}, {FIGS}{', min_ts, max_ts' if 'pod' in t else ''} FROM {t} "
                           f"WHERE n_rows > 0 ORDER BY {k}").fetchall() for t, k in keys.items()}
    out["usage_minutes"] = conn.execute("SELECT agent_id, minute, tokens, n_rows FROM usage_minutes "
                                        "WHERE n_rows > 0 ORDER BY 1, 2").fetchall()
    out["usage_agent_quarters"] = conn.execute("SELECT bucket, agent_id, tokens, cost_usd, n_rows "
                                               "FROM usage_agent_quarters WHERE n_rows > 0 "
                                               "ORDER BY 1, 2").fetchall()
    return out


def same(a, b) -> bool:
    """Equal, with floats (costs) to 1e-9: a running sum adds in another order."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return a == b


def raw_report(conn: sqlite3.Connection, by: str, since: float | None = None) -> dict:
    """`usage_rows` as a scan of the raw rows computes it (what it did before rollups),
    entries assigned to blocks one by one as ccusage assigns them."""
    key_sql = {
        "agent": "coalesce(a.name, 'session ' || u.session_id)", "session": "u.session_id",
        "model": "CASE WHEN u.model = '' THEN '(unknown)' ELSE u.model END",
        "day": "date(u.ts, 'unixepoch', 'localtime')", "repo": "coalesce(a.repo, '(no repository)')",
    }
    agent_sql = {"agent": "coalesce(a.name, '')", "session": "coalesce(max(a.name), '')"}
    sums = ("sum(u.input_tokens), sum(u.output_tokens), sum(u.cache_write_tokens), "
            "sum(u.cache_read_tokens), sum(u.cost_source = 'table'), sum(u.cost_source = 'reported'), "
            "sum(u.cost_source = 'unpriced'), sum(u.cost_usd)")
    where, args = ("WHERE u.ts >= ?", (since,)) if since is not None else ("", ())
    if by == "block":
        entries = conn.execute("SELECT u.ts, u.kind, u.input_tokens, u.output_tokens, "
                               "u.cache_write_tokens, u.cache_read_tokens, u.cost_source, u.cost_usd "
                               "FROM usage u ORDER BY u.ts").fetchall()
        blocks: list[tuple[float, list]] = []
        start = last = None
        for e in entries:
            ts = e[0]
            if start is None or ts - start > BLOCK_SECONDS or ts - last > BLOCK_SECONDS:
                start = ts - ts % 3600
                blocks.append((start, []))
            last = ts
            if since is None or ts >= since:
                blocks[-1][1].append(e)
        raw = []
        for start, members in blocks:
            if not members:
                continue
            costs = [m[7] for m in members if m[7] is not None]
            raw.append((datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "",
                        ",".join({m[1] for m in members}), *(sum(m[i] for m in members) for i in range(2, 6)),
                        *(sum(m[6] == s for m in members) for s in ("table", "reported", "unpriced")),
                        sum(costs) if costs else None))
    else:
        agent = agent_sql.get(by, "''")
        raw = conn.execute(
            f"SELECT {key_sql[by]} AS k, {agent}, group_concat(DISTINCT u.kind), {sums} "
            f"FROM usage u LEFT JOIN agents a ON a.id = u.agent_id {where} GROUP BY k ORDER BY k", args).fetchall()
    from loomtui.ingest.report import _row

    rows = [_row(r) for r in raw]
    totals = {f: sum(r[f] for r in rows) for f in (*rollups.TOKEN_FIELDS, "total_tokens")}
    costs = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
    totals["cost_usd"] = round(sum(costs), 10) if costs else (0.0 if not rows else None)
    return {"by": by, "rows": rows, "totals": totals}


# -- a store, and the ways usage rows are written -------------------------------------------

def fresh_store(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    with transaction(conn):
        for i, repo in ((1, "/srv/shop"), (2, "/srv/shop"), (3, "/srv/api"), (4, None)):
            conn.execute("INSERT INTO agents (id, kind, name, session_id, repo, started_at, last_activity_at) "
                         "VALUES (?, 'claude', ?, ?, ?, ?, ?)", (i, f"agent-{i}", f"s{i}", repo, T0, T0))
    return conn


def upsert(conn, agent_id, session, ts, model, tokens, cost, source, key, kind="claude") -> None:
    """The ingester's own statement: a key seen again keeps the larger total."""
    conn.execute(INSERT_USAGE, (agent_id, session, ts, model, *tokens, cost, source, key, "f", kind, 0, ""))


times = st.builds(lambda k, off: T0 + k * 300 + off, st.integers(0, 300),
                  st.sampled_from([0.0, 0.0, 0.001, 1.5, 299.999]))
tokens = st.tuples(*[st.integers(0, 5000)] * 4)
row = st.tuples(st.sampled_from([1, 2, 3, 4, None]), st.sampled_from(["s1", "s2", "s3", "x9"]), times,
                st.sampled_from(["opus", "sonnet", ""]), tokens,
                st.one_of(st.none(), st.floats(0, 5, allow_nan=False)),
                st.sampled_from(["table", "reported", "unpriced"]), st.integers(0, 40),
                st.sampled_from(["claude", "codex"]))
ops = st.lists(st.one_of(
    st.tuples(st.just("upsert"), row),
    st.tuples(st.just("reprice"), st.sampled_from(["opus", "sonnet", ""]), st.floats(0.01, 3)),
    st.tuples(st.just("reassign"), st.integers(0, 40), st.sampled_from([1, 2, 3, 4, None])),
    st.tuples(st.just("drop_agent"), st.sampled_from([1, 2, 3, 4])),
), min_size=1, max_size=60)


def apply(conn, op) -> None:
    alive = {r[0] for r in conn.execute("SELECT id FROM agents")}
    with transaction(conn):
        if op[0] == "upsert":
            agent, session, ts, model, toks, cost, source, key, kind = op[1]
            cost = None if source == "unpriced" else cost
            upsert(conn, agent if agent in alive else None, session, ts, model, toks, cost, source,
                   f"k{key}", kind)
        elif op[0] == "reprice":  # as the ingester's _apply_reported does
            conn.execute(f"UPDATE usage SET cost_source = 'reported', cost_usd = ? * ({TOKENS}) / 1000.0 "
                         "WHERE model = ? AND cost_source = 'unpriced'", (op[2], op[1]))
        elif op[0] == "reassign":  # a session joined to another agent
            conn.execute("UPDATE usage SET agent_id = ? WHERE dedupe_key = ?",
                         (op[2] if op[2] in alive else None, f"k{op[1]}"))
        else:  # an agent deleted: its rows' agent_id becomes NULL (ON DELETE SET NULL)
            conn.execute("DELETE FROM agents WHERE id = ?", (op[1],))


def check_reports(conn, tz_note: str = "") -> None:
    day0 = datetime(2027, 1, 15).timestamp()  # local midnight, as --since makes it
    for by in GROUPS:
        for since in (None, day0, T0 + 3600, T0 + 7 * 3600 + 12.5):  # the last off any bucket edge
            assert same(usage_rows(conn, by, since), raw_report(conn, by, since)), (by, since, tz_note)


# -- the properties ---------------------------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_rollups_equal_a_group_by_over_raw_rows_after_any_writes(script) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        conn = fresh_store(Path(tmp) / DB_NAME)
        try:
            for op in script:
                apply(conn, op)
            want = scratch(conn)
            assert same(stored(conn), want)
            check_reports(conn)
            agent_ids = [r[0] for r in conn.execute("SELECT id FROM agents")]
            for a in agent_ids:
                assert usage_minutes(conn, a) == [(float(m), int(t)) for _a, m, t, _n in want["usage_minutes"]
                                                  if _a == a]
                mine = {m.model: m for m in usage_by_model(conn, a)}
                theirs = {r[0]: r[1:] for r in conn.execute(
                    "SELECT model, sum(input_tokens), sum(output_tokens), sum(cache_write_tokens), "
                    "sum(cache_read_tokens), sum(cost_usd), sum(cost_source = 'unpriced') FROM usage "
                    "WHERE agent_id = ? GROUP BY model", (a,))}
                assert same({k: tuple(v[1:]) for k, v in mine.items()}, theirs)
            # rebuild recomputes exactly what the triggers kept
            before = stored(conn)
            rollups.rebuild(conn)
            assert same(stored(conn), before)
            rollups.rebuild(conn, everything=True)
            assert same(stored(conn), before)
            # retention deletes old raw rows: the rollups and every report stay as they were
            reports = {(by, s): usage_rows(conn, by, s) for by in GROUPS for s in (None, T0 + 3600)}
            conn.execute("DELETE FROM usage WHERE ts < ?", (T0 + 12 * 3600 + 7,))
            assert stored(conn) == before
            assert {(by, s): usage_rows(conn, by, s) for by, s in reports} == reports
            rollups.rebuild(conn)  # and a rebuild keeps what is older than the raw rows
            assert same({k: usage_rows(conn, *k) for k in reports}, reports)
        finally:
            conn.close()


def test_blocks_from_buckets_equal_billing_blocks_at_the_edges(tmp_path: Path) -> None:
    """Entries exactly at start + 5 h stay in the block; the next one after starts a new
    block on that same hour; a gap of exactly 5 h does not end a block, a hair more does."""
    conn = fresh_store(tmp_path / DB_NAME)
    five = BLOCK_SECONDS
    cases = [
        T0 + 600, T0 + five, T0 + five,  # two entries exactly at start + 5 h: still the first block
        T0 + five + 0.001, T0 + five + 60,  # just after: a second block, starting at T0 + 5 h
        T0 + five + 60 + five,  # a gap of exactly 5 h, but past the block's end: a third block
        T0 + 3 * five + 1800,  # within 5 h of nothing: a fourth block on its own hour
        T0 + 3 * five + 1800 + five + 0.5,  # a gap of 5 h + 0.5 s: a fifth
        T0 + 8 * five, T0 + 9 * five,  # on the hour, then a gap of exactly 5 h at exactly
        # start + 5 h: one block (neither rule is strictly over 5 h)
        T0 + 9 * five + 0.001,  # and the next entry after that starts a new block
    ]
    with transaction(conn):
        for i, ts in enumerate(cases):
            upsert(conn, 1, "s1", ts, "opus", (10 + i, 1, 0, 0), 0.1, "table", f"e{i}")
    want = billing_blocks(sorted(cases))
    got = list(rollups.blocks(rollups.parts(conn)))
    assert [(b.start, b.end, b.first, b.last) for b in got] == [tuple(b) for b in want]
    # and the tokens of each block are its own entries', each entry counted once
    assert same(usage_rows(conn, "block"), raw_report(conn, "block"))
    assert sum(r["total_tokens"] for r in usage_rows(conn, "block")["rows"]) == sum(
        11 + i for i in range(len(cases)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.builds(lambda k, off: T0 + k * 900 + off, st.integers(0, 200),
                          st.sampled_from([0.0, 0.0, 0.001, 450.0, 899.999])), min_size=1, max_size=40))
def test_blocks_from_parts_equal_billing_blocks(stamps) -> None:
    stamps = sorted(stamps)
    parts: dict[tuple[int, int], list[float]] = {}
    for ts in stamps:
        bucket = int(ts - ts % 900)
        parts.setdefault((bucket, int(ts == bucket)), []).append(ts)
    ordered = [rollups.Part(b, e, min(v), max(v), frozenset(), ()) for (b, e), v in
               sorted(parts.items(), key=lambda kv: (kv[0][0], -kv[0][1]))]
    got = [(b.start, b.end, b.first, b.last) for b in rollups.blocks(ordered)]
    assert got == [tuple(b) for b in billing_blocks(stamps)]


@pytest.fixture
def kolkata(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_days_in_a_half_hour_time_zone_equal_the_raw_computation(tmp_path: Path, kolkata) -> None:
    conn = fresh_store(tmp_path / DB_NAME)
    midnight = datetime(2027, 1, 16).timestamp()  # local (IST, UTC+5:30)
    assert midnight % 1800 == 0 and midnight % 3600 == 1800
    stamps = [midnight - 0.001, midnight - 1, midnight, midnight + 0.001, midnight + 899.999,
              midnight - 86400, midnight + 86400 - 0.5, midnight + 86400, midnight + 3 * 3600]
    with transaction(conn):
        for i, ts in enumerate(stamps):
            upsert(conn, 1 + i % 3, f"s{i % 2}", ts, "opus", (100 * (i + 1), 1, 2, 3), 0.25, "table", f"d{i}")
    days = usage_rows(conn, "day")
    assert [r["key"] for r in days["rows"]] == ["2027-01-15", "2027-01-16", "2027-01-17"]
    assert same(days, raw_report(conn, "day"))
    check_reports(conn, "Asia/Kolkata")
    # budgets' day and week in the same zone: sums from local midnight
    now = midnight + 3 * 3600 + 60
    tz = datetime.now().astimezone().tzinfo
    states = {(s.scope, s.scope_ref, s.period): s for s in compute(conn, {}, now, None)}
    d0 = day_start(now, None)
    assert d0 == midnight
    for agent in (1, 2, 3):
        want = conn.execute(f"SELECT total({TOKENS}) FROM usage WHERE agent_id = ? AND ts >= ?",
                            (agent, d0)).fetchone()[0]
        assert states[("agent", str(agent), "day")].used_tokens == want
    w0 = week_start(now, None)
    assert states[("pod", "", "week")].used_tokens == conn.execute(
        f"SELECT total({TOKENS}) FROM usage WHERE ts >= ?", (w0,)).fetchone()[0]
    assert tz is not None


def test_budgets_equal_sums_over_raw_rows(tmp_path: Path) -> None:
    """compute() from rollups: sessions, days, repositories' days, the block and the week,
    and burn over the last 10 minutes, as sums over the raw rows give them."""
    conn = fresh_store(tmp_path / DB_NAME)
    now = T0 + 30 * 3600 + 1234.5
    stamps = [now - 3 * 86400, now - 86400 - 60, now - 7 * 3600, now - 4 * 3600 - 17, now - 3600,
              now - 599, now - 300, now - 1]
    with transaction(conn):
        for i, ts in enumerate(stamps):
            for agent in (1, 2, 3, None):
                upsert(conn, agent, f"s{agent}", ts, "opus", (1000 * (i + 1), agent or 7, 0, 5), 0.01 * (i + 1),
                       "table", f"b{i}-{agent}")
    states = {(s.scope, s.scope_ref, s.period): s for s in compute(conn, {}, now, UTC)}
    d0, w0 = day_start(now, UTC), week_start(now, UTC)

    def total(where: str, *args) -> tuple[int, float]:
        tok, usd = conn.execute(f"SELECT total({TOKENS}), total(cost_usd) FROM usage u "
                                f"LEFT JOIN agents a ON a.id = u.agent_id WHERE {where}", args).fetchone()
        return int(tok), usd

    for agent in (1, 2, 3):
        ref = str(agent)
        assert same(states[("agent", ref, "session")][3:5], total("agent_id = ?", agent))
        assert same(states[("agent", ref, "day")][3:5], total("agent_id = ? AND ts >= ?", agent, d0))
        burn_tok, _usd = total("agent_id = ? AND ts >= ?", agent, now - 600)
        assert states[("agent", ref, "day")].burn_tokens_min == pytest.approx(burn_tok / 10)
    for repo in ("/srv/shop", "/srv/api"):
        assert same(states[("repo", repo, "day")][3:5], total("a.repo = ? AND ts >= ?", repo, d0))
    assert same(states[("pod", "", "week")][3:5], total("ts >= ?", w0))
    block = [b for b in billing_blocks(sorted(stamps)) if now - b.last < BLOCK_SECONDS and now < b.end]
    assert len(block) == 1
    assert same(states[("pod", "", "block")][3:5], total("ts >= ? AND ts < ?", block[0].start, block[0].end))
    assert states[("pod", "", "block")].starts_at == block[0].start


def test_the_migration_fills_rollups_from_existing_rows(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("BEGIN")
    for script in MIGRATIONS[:SCHEMA_VERSION - 1]:
        for statement in split_statements(script):
            raw.execute(statement)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    raw.execute("INSERT INTO agents (id, kind, name, session_id, repo, started_at, last_activity_at) "
                "VALUES (1, 'claude', 'old', 's1', '/srv/shop', 0, 0)")
    for i in range(50):
        raw.execute("INSERT INTO usage (agent_id, session_id, ts, model, input_tokens, output_tokens, "
                    "cost_usd, cost_source, dedupe_key, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (1 if i % 3 else None, f"s{i % 4}", T0 + i * 437.5, ("opus", "sonnet")[i % 2], i, 2 * i,
                     None if i % 7 == 0 else i / 100, "unpriced" if i % 7 == 0 else "table", f"m{i}",
                     ("claude", "codex")[i % 5 == 0]))
    raw.execute("COMMIT")
    raw.close()
    conn = connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert stored(conn)["usage_totals"]  # not vacuously equal
        assert same(stored(conn), scratch(conn))
        check_reports(conn)
    finally:
        conn.close()


def test_the_audit_check_knows_the_rollup_triggers(tmp_path: Path) -> None:
    from loomtui.store.audit import check_triggers

    conn = fresh_store(tmp_path / DB_NAME)
    assert check_triggers(conn) == []
    conn.execute("DROP TRIGGER usage_rollup_update")
    assert check_triggers(conn) == ["trigger usage_rollup_update is missing (dropped)"]


def test_store_rebuild_command(tmp_path: Path) -> None:
    pod = tmp_path / "pod"
    conn = fresh_store(pod / DB_NAME)
    with transaction(conn):
        for i in range(20):
            upsert(conn, 1 + i % 4, "s1", T0 + i * 100, "opus", (i, 1, 1, 1), 0.5, "table", f"r{i}")
    want = stored(conn)
    conn.execute("UPDATE usage_totals SET input_tokens = input_tokens + 1000")  # a damaged rollup
    conn.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM")}
    env["LOOM_HOME"] = str(pod)

    def loom(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "loomtui", "store", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    done = loom("rebuild", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["rebuilt"]
    assert report["raw_rows"] == 20 and report["rollup_rows"]["usage_totals"] == 4
    conn = connect(pod / DB_NAME)
    assert same(stored(conn), want)
    conn.close()
    text = loom("rebuild")
    assert text.returncode == 0 and "20 raw rows" in text.stdout, text.stdout + text.stderr
    missing = subprocess.run([sys.executable, "-m", "loomtui", "store", "rebuild"], capture_output=True,
                             text=True, timeout=60, env={**env, "LOOM_HOME": str(tmp_path / "none")})
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
