"""The pod store on real SQLite files: migrations, clear errors, concurrent writers,
and the agents/events API every writer shares. No mocks: each test gets its own
database under `tmp_path`."""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loomtui.store import db as store_db
from loomtui.store.agents import (
    SUMMARY_MAX,
    Agent,
    fetch_agents,
    fetch_events,
    find_agent,
    record_event,
    upsert_agent,
)
from loomtui.store.db import (
    BUSY_TIMEOUT_MS,
    DB_NAME,
    StoreError,
    StoreVersionError,
    connect,
    ensure_pod_dir,
    migrate,
    schema_version,
    split_statements,
)
from loomtui.store.schema import MIGRATIONS, SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]

TABLES = (
    "agents", "events", "usage", "budgets", "gates", "memory", "memory_history",
    "memory_fts", "audit", "ingest_offsets", "leases", "worktrees", "worktree_files",
)


# --- helpers -------------------------------------------------------------------------


@pytest.fixture
def conn(tmp_path):
    c = connect(tmp_path / DB_NAME)
    yield c
    c.close()


def table_names(c: sqlite3.Connection) -> set[str]:
    return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def schema_objects(c: sqlite3.Connection) -> set[tuple[str, str, str]]:
    """Every schema object with its SQL, to compare two databases' schemas."""
    return set(c.execute(
        "SELECT type, name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    ))


def build_at_version(path: Path, version: int) -> None:
    """A database as LoomTUI `version` would have left it, built by hand."""
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("BEGIN")
        for script in MIGRATIONS[:version]:
            for statement in split_statements(script):
                raw.execute(statement)
        raw.execute(f"PRAGMA user_version = {version}")
        raw.execute("COMMIT")
    finally:
        raw.close()


def seed_v1_rows(path: Path) -> dict[str, int]:
    """Insert rows using only columns that exist since version 1, so the data
    check stays valid whatever later migrations add. Returns row counts."""
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute(
            "INSERT INTO agents (id, kind, name, session_id, started_at, last_activity_at) "
            "VALUES (7, 'claude', 'keeper', 'sess-keep', 10.0, 20.0)"
        )
        raw.execute(
            "INSERT INTO events (agent_id, ts, kind, tool, summary) "
            "VALUES (7, 20.0, 'tool', 'Bash', 'kept event')"
        )
        raw.execute(
            "INSERT INTO memory (kind, title, author, author_kind, created_at, updated_at) "
            "VALUES ('fact', 'zeppelin survives', 'ann', 'supervisor', 1.0, 1.0)"
        )
        raw.execute(
            "INSERT INTO audit (ts, actor, action, prev_hash, hash) VALUES (1.0, 'ann', 'init', '', 'h1')"
        )
        return {t: raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("agents", "events", "memory", "audit")}
    finally:
        raw.close()


def message_without_path(exc: BaseException, path: Path) -> str:
    text = str(exc)
    assert str(path) in text, f"the message should name {path}: {text!r}"
    return text.replace(str(path), "<path>")


# --- opening and migrating -----------------------------------------------------------


def test_connect_creates_current_schema_with_pragmas(tmp_path):
    """A fresh pod gets the whole schema and the pragmas concurrency relies on."""
    path = tmp_path / "pod" / DB_NAME  # the pod directory does not exist yet
    c = connect(path)
    try:
        assert path.is_file()
        assert schema_version(c) == SCHEMA_VERSION
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert c.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS > 0
        assert set(TABLES) <= table_names(c)
        assert c.isolation_level is None  # autocommit: writers group with transaction()
    finally:
        c.close()


def test_connect_twice_is_idempotent(tmp_path):
    """Opening an up-to-date store again must not re-run migrations."""
    path = tmp_path / DB_NAME
    connect(path).close()
    c = connect(path)
    try:
        assert schema_version(c) == SCHEMA_VERSION
    finally:
        c.close()


@pytest.mark.parametrize("start", range(SCHEMA_VERSION))
def test_migrates_from_every_earlier_version(tmp_path, start):
    """Every shipped version upgrades to the current one, keeping its data and
    ending with exactly the schema a fresh pod gets."""
    path = tmp_path / DB_NAME
    build_at_version(path, start)
    counts = seed_v1_rows(path) if start >= 1 else {}

    c = connect(path)
    try:
        assert schema_version(c) == SCHEMA_VERSION
        assert set(TABLES) <= table_names(c)
        for table, n in counts.items():
            assert c.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == n, table
        if start >= 1:
            assert find_agent(c, "sess-keep").name == "keeper"
            assert c.execute(
                "SELECT rowid FROM memory_fts WHERE memory_fts MATCH 'zeppelin'"
            ).fetchall() == [(1,)]
        fresh = connect(tmp_path / "fresh.db")
        try:
            assert schema_objects(c) == schema_objects(fresh)
        finally:
            fresh.close()
    finally:
        c.close()


def test_failed_migration_rolls_back_whole_upgrade(tmp_path, monkeypatch):
    """A migration that fails halfway leaves the store at its old version with no
    half-built tables, so the next (fixed) LoomTUI can try again."""
    path = tmp_path / DB_NAME
    connect(path).close()
    broken = "CREATE TABLE half_built (x INTEGER);\nTHIS IS NOT SQL;\n"
    monkeypatch.setattr(store_db, "MIGRATIONS", MIGRATIONS + (broken,))
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", SCHEMA_VERSION + 1)

    raw = sqlite3.connect(path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError):
            migrate(raw, path, target=SCHEMA_VERSION + 1)
        assert schema_version(raw) == SCHEMA_VERSION
        assert "half_built" not in table_names(raw)
        assert not raw.in_transaction
    finally:
        raw.close()


def test_newer_schema_is_refused(tmp_path):
    """A store written by a newer LoomTUI is never silently used."""
    path = tmp_path / DB_NAME
    connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()

    with pytest.raises(StoreVersionError) as info:
        connect(path)
    text = message_without_path(info.value, path)
    assert re.search(rf"\b{SCHEMA_VERSION + 1}\b", text), text
    assert re.search(rf"\b{SCHEMA_VERSION}\b", text), text
    assert isinstance(info.value, StoreError)

    raw = sqlite3.connect(path)
    try:
        assert schema_version(raw) == SCHEMA_VERSION + 1  # left untouched
    finally:
        raw.close()


def test_corrupt_database_gives_store_error(tmp_path):
    """A file that is not SQLite is reported by name, and left as it was."""
    path = tmp_path / DB_NAME
    junk = random.Random(1234).randbytes(8192)
    assert not junk.startswith(b"SQLite format 3\0")
    path.write_bytes(junk)

    with pytest.raises(StoreError) as info:
        connect(path)
    assert type(info.value) is StoreError
    message_without_path(info.value, path)
    assert path.read_bytes() == junk


def test_missing_database_without_create(tmp_path):
    """Read-only commands point the user at `loomtui init` and create nothing."""
    path = tmp_path / "nowhere" / DB_NAME
    with pytest.raises(StoreError) as info:
        connect(path, create=False)
    assert "loomtui init" in str(info.value)
    message_without_path(info.value, path)
    assert not path.parent.exists()


def test_pod_dir_under_a_regular_file(tmp_path):
    """A pod path whose parent is a file fails clearly, even for root."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("I am a file")
    pod = blocker / "pod"

    with pytest.raises(StoreError) as info:
        ensure_pod_dir(pod)
    message_without_path(info.value, pod)

    with pytest.raises(StoreError) as info:
        connect(pod / DB_NAME)
    message_without_path(info.value, pod)


def test_pod_dir_that_is_a_file(tmp_path):
    """A pod "directory" that is actually a file is reported, not crashed on."""
    pod = tmp_path / "pod"
    pod.write_text("")
    with pytest.raises(StoreError) as info:
        ensure_pod_dir(pod)
    message_without_path(info.value, pod)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_unwritable_pod_directory(tmp_path):
    """A pod directory the user cannot write gives a StoreError, not a traceback."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(StoreError) as info:
            ensure_pod_dir(locked)
        message_without_path(info.value, locked)

        with pytest.raises(StoreError) as info:
            connect(locked / "pod" / DB_NAME)
        message_without_path(info.value, locked / "pod")
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores directory permissions")
@pytest.mark.parametrize("create", [True, False])
def test_unsearchable_pod_directory(tmp_path, create):
    """A pod directory without search permission (a shared pod the user is not
    in the group of) gives a StoreError, not a raw PermissionError."""
    shut = tmp_path / "shut"
    shut.mkdir()
    shut.chmod(0o000)
    try:
        with pytest.raises(StoreError) as info:
            connect(shut / DB_NAME, create=create)
        message_without_path(info.value, shut)
    finally:
        shut.chmod(0o700)


def test_split_statements_keeps_triggers_whole():
    """Migrations run statement by statement in one transaction, so a trigger
    body (with its inner semicolons) and comments must stay in one piece."""
    script = """
    -- a comment; with a semicolon
    CREATE TABLE a (x INTEGER);
    CREATE TRIGGER a_log AFTER INSERT ON a BEGIN
        INSERT INTO a (x) SELECT 0 WHERE 0;
        SELECT RAISE(IGNORE) WHERE 0;
    END;
    """
    parts = list(split_statements(script))
    assert len(parts) == 2
    assert parts[0].endswith("CREATE TABLE a (x INTEGER);")
    assert parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")
    assert all(sqlite3.complete_statement(p) for p in parts)


def test_split_statements_two_on_one_line():
    """A future migration written as `ALTER ...; UPDATE ...;` on one line must still apply."""
    assert list(split_statements("CREATE TABLE a (x); CREATE TABLE b (y);")) == [
        "CREATE TABLE a (x);",
        "CREATE TABLE b (y);",
    ]


# --- concurrency ---------------------------------------------------------------------

WRITERS = 8
EVENTS_EACH = 200

# Each process prepares, prints "ready", then blocks on stdin; the test releases
# all of them at once by writing a line to each, so the writes really overlap.
WRITER_SCRIPT = r"""
import json, pathlib, sys, time
from loomtui.store.db import connect
from loomtui.store.agents import upsert_agent, record_event

path, index, count = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
conn = connect(path)
agent = upsert_agent(conn, kind="script", session_id=f"writer-{index}", now=time.time())
print("ready", flush=True)
sys.stdin.readline()
ids = [record_event(conn, agent, kind="tool", now=time.time(), tool="Bash",
                    summary=f"{index}:{n}", payload={"n": n}) for n in range(count)]
conn.close()
print(json.dumps({"agent": agent, "ids": ids}))
"""


def start_together(script: str, args: list[list[str]]) -> list[dict]:
    """Run one copy of `script` per argument list, released at the same moment;
    return what each printed last (JSON)."""
    pythonpath = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, pythonpath))}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, *a], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for a in args
    ]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":  # "" if it died while preparing
                pytest.fail(f"a process failed before the start:\n{p.communicate(timeout=10)[1]}")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = []
        for p in procs:
            out, err = p.communicate(timeout=25)
            assert p.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_concurrent_writers_lose_no_events(tmp_path):
    """Eight hook processes appending at once: every event lands, once, with the
    id its writer was given, and each writer's events keep their order."""
    path = tmp_path / DB_NAME
    connect(path).close()

    reports = start_together(
        WRITER_SCRIPT, [[str(path), str(i), str(EVENTS_EACH)] for i in range(WRITERS)]
    )

    c = connect(path)
    try:
        assert c.execute("SELECT count(*) FROM events").fetchone()[0] == WRITERS * EVENTS_EACH
        assert c.execute("SELECT count(DISTINCT id) FROM events").fetchone()[0] == WRITERS * EVENTS_EACH
        assert len({r["agent"] for r in reports}) == WRITERS
        returned = [i for r in reports for i in r["ids"]]
        assert len(set(returned)) == WRITERS * EVENTS_EACH

        for index, report in enumerate(reports):
            rows = c.execute(
                "SELECT id, summary, payload FROM events WHERE agent_id = ? ORDER BY id",
                (report["agent"],),
            ).fetchall()
            assert len(rows) == EVENTS_EACH
            assert [r[0] for r in rows] == report["ids"]
            assert [r[1] for r in rows] == [f"{index}:{n}" for n in range(EVENTS_EACH)]
            assert [json.loads(r[2])["n"] for r in rows] == list(range(EVENTS_EACH))
            agent = find_agent(c, f"writer-{index}")
            assert agent.last_summary == f"{index}:{EVENTS_EACH - 1}"
    finally:
        c.close()


def test_connect_waits_for_a_writer_on_a_fresh_pod(tmp_path):
    """While another process holds the write lock on a store that is not yet in WAL
    mode (a fresh pod being created), connect() waits within busy_timeout instead
    of failing at once with "locked"."""
    path = tmp_path / DB_NAME
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, holder.execute, ("COMMIT",))
    release.start()
    started = time.monotonic()
    try:
        c = connect(path)
    finally:
        release.cancel()
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        release.join()
        holder.close()
    try:
        assert time.monotonic() - started < BUSY_TIMEOUT_MS / 1000
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert schema_version(c) == SCHEMA_VERSION
    finally:
        c.close()


# --- agents --------------------------------------------------------------------------


def get_agent(c: sqlite3.Connection, agent_id: int) -> Agent:
    agent = find_agent(c, str(agent_id))
    assert agent is not None and agent.id == agent_id
    return agent


def test_upsert_agent_same_session_same_id(conn):
    """Every hook call of one session must land on one agent row."""
    first = upsert_agent(conn, kind="claude", now=1.0, session_id="abc123", cwd="/src/app")
    again = upsert_agent(conn, kind="claude", now=2.0, session_id="abc123")
    other = upsert_agent(conn, kind="claude", now=3.0, session_id="zzz999")
    assert first == again != other
    assert conn.execute("SELECT count(*) FROM agents").fetchone()[0] == 2


def test_upsert_agent_none_keeps_and_value_replaces(conn):
    """Writers that know less never erase what others recorded; new facts win."""
    aid = upsert_agent(conn, kind="claude", now=1.0, session_id="s-1", name="alpha",
                       cwd="/src/app", branch="main", model="opus")
    upsert_agent(conn, kind="claude", now=2.0, session_id="s-1", branch="feature/x")
    agent = get_agent(conn, aid)
    assert (agent.name, agent.cwd, agent.model) == ("alpha", "/src/app", "opus")
    assert agent.branch == "feature/x"

    upsert_agent(conn, kind="claude", now=3.0, session_id="s-1", name="beta", cwd="/src/other")
    agent = get_agent(conn, aid)
    assert (agent.name, agent.cwd, agent.branch) == ("beta", "/src/other", "feature/x")
    assert agent.started_at == 1.0


def test_upsert_agent_unknown_kind(conn):
    """A typo in a kind is an error, not a new kind of agent."""
    with pytest.raises(ValueError, match="robot"):
        upsert_agent(conn, kind="robot", now=1.0, session_id="s")
    assert conn.execute("SELECT count(*) FROM agents").fetchone()[0] == 0


def test_record_event_moves_agent_now_fields(conn):
    """The fleet row shows the latest tool, summary and activity time."""
    aid = upsert_agent(conn, kind="script", now=100.0, session_id="s")
    eid = record_event(conn, aid, kind="tool", now=105.0, tool="Bash", summary="ls -la")
    agent = get_agent(conn, aid)
    assert (agent.last_tool, agent.last_summary, agent.last_activity_at) == ("Bash", "ls -la", 105.0)
    assert agent.status == "working"
    assert fetch_events(conn, aid)[0].id == eid

    # An event without a tool or summary keeps the last ones but moves the clock.
    record_event(conn, aid, kind="heartbeat", now=110.0)
    agent = get_agent(conn, aid)
    assert (agent.last_tool, agent.last_summary, agent.last_activity_at) == ("Bash", "ls -la", 110.0)


def test_record_event_status_and_ended_at(conn):
    """Status changes carry a reason; `done` stamps ended_at and resuming clears it."""
    aid = upsert_agent(conn, kind="script", now=1.0, session_id="s")
    record_event(conn, aid, kind="notify", now=2.0, status="waiting", status_reason="needs approval")
    agent = get_agent(conn, aid)
    assert (agent.status, agent.status_reason, agent.ended_at) == ("waiting", "needs approval", None)

    record_event(conn, aid, kind="stop", now=3.0, status="done", status_reason="finished")
    agent = get_agent(conn, aid)
    assert (agent.status, agent.status_reason, agent.ended_at) == ("done", "finished", 3.0)

    record_event(conn, aid, kind="tool", now=4.0, status="working")
    agent = get_agent(conn, aid)
    assert (agent.status, agent.status_reason, agent.ended_at) == ("working", "", None)


def test_record_event_unknown_status_writes_nothing(conn):
    """A bad status is refused before anything is written."""
    aid = upsert_agent(conn, kind="script", now=1.0, session_id="s")
    with pytest.raises(ValueError):
        record_event(conn, aid, kind="x", now=2.0, status="sleeping")
    assert fetch_events(conn, aid) == []
    assert not conn.in_transaction


def test_record_event_summary_is_one_short_line(conn):
    """Summaries fit one table row: whitespace collapsed, cut with an ellipsis."""
    aid = upsert_agent(conn, kind="script", now=1.0, session_id="s")
    record_event(conn, aid, kind="tool", now=2.0, summary="echo  one\n\ttwo\r\nthree ")
    assert get_agent(conn, aid).last_summary == "echo one two three"

    record_event(conn, aid, kind="tool", now=3.0, summary="word\n" * 100)
    stored = fetch_events(conn, aid)[0].summary
    assert len(stored) == SUMMARY_MAX
    assert stored.endswith("…")
    assert "\n" not in stored
    assert stored[:-1] == ("word " * 100)[: SUMMARY_MAX - 1]
    assert get_agent(conn, aid).last_summary == stored

    exact = "x" * SUMMARY_MAX
    record_event(conn, aid, kind="tool", now=4.0, summary=exact)
    assert fetch_events(conn, aid)[0].summary == exact


def test_fetch_events_newest_first(conn):
    """The activity pane reads newest first, and the limit keeps the newest."""
    aid = upsert_agent(conn, kind="script", now=1.0, session_id="s")
    other = upsert_agent(conn, kind="script", now=1.0, session_id="t")
    ids = [record_event(conn, aid, kind="tool", now=10.0 + n, summary=f"e{n}",
                        payload={"n": n}) for n in range(5)]
    record_event(conn, other, kind="tool", now=20.0, summary="not mine")

    events = fetch_events(conn, aid)
    assert [e.id for e in events] == ids[::-1]
    assert [e.summary for e in events] == ["e4", "e3", "e2", "e1", "e0"]
    assert json.loads(events[0].payload) == {"n": 4}
    assert [e.id for e in fetch_events(conn, aid, limit=2)] == ids[:-3:-1]


@pytest.mark.parametrize(
    ("status", "idle_for", "expected"),
    [
        ("working", 301.0, "stalled"),
        ("working", 299.0, "working"),
        ("waiting", 10_000.0, "waiting"),
        ("idle", 10_000.0, "idle"),
        ("done", 10_000.0, "done"),
        ("error", 10_000.0, "error"),
    ],
)
def test_effective_status(status, idle_for, expected):
    """Only a working agent that went quiet reads as stalled."""
    agent = Agent(
        id=1, kind="claude", name="a", session_id="s", cwd=None, repo=None, worktree=None,
        branch=None, model=None, status=status, status_reason="", last_tool="",
        last_summary="", started_at=0.0, last_activity_at=1000.0,
        ended_at=1000.0 if status == "done" else None,
    )
    assert agent.effective_status(now=1000.0 + idle_for, stall_after=300.0) == expected


def test_find_agent_by_id_session_and_name(conn):
    """`loomtui status REF` accepts an id, a session id or a name."""
    first = upsert_agent(conn, kind="claude", now=1.0, session_id="sess-a", name="builder")
    second = upsert_agent(conn, kind="codex", now=2.0, session_id="sess-b", name="tester")
    again = upsert_agent(conn, kind="claude", now=3.0, session_id="sess-c", name="builder")

    assert find_agent(conn, str(second)).session_id == "sess-b"
    assert find_agent(conn, "sess-a").id == first
    assert find_agent(conn, "tester").id == second
    assert find_agent(conn, "builder").id == again  # the most recent of that name
    assert find_agent(conn, "nobody") is None
    assert find_agent(conn, "999") is None
    assert [a.id for a in fetch_agents(conn)] == [first, second, again]


@pytest.mark.parametrize("ref", ["²", "9" * 20])
def test_find_agent_odd_numeric_refs(conn, ref):
    """A user-typed reference that merely looks numeric finds nothing, without crashing."""
    upsert_agent(conn, kind="claude", now=1.0, session_id="sess-a", name="builder")
    assert find_agent(conn, ref) is None


# --- audit and memory ----------------------------------------------------------------


def test_audit_is_append_only(conn):
    """The store itself refuses edits and deletes of the audit log."""
    conn.execute(
        "INSERT INTO audit (ts, actor, action, subject, prev_hash, hash) "
        "VALUES (1.0, 'ann', 'gate.approve', 'gate:1', '', 'hash-1')"
    )
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET actor = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit")
    assert conn.execute("SELECT actor, action FROM audit").fetchall() == [("ann", "gate.approve")]
    # Appending still works.
    conn.execute(
        "INSERT INTO audit (ts, actor, action, prev_hash, hash) VALUES (2.0, 'ann', 'x', 'hash-1', 'hash-2')"
    )
    assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 2


def fts_ids(c: sqlite3.Connection, query: str) -> list[int]:
    return [r[0] for r in c.execute(
        "SELECT rowid FROM memory_fts WHERE memory_fts MATCH ? ORDER BY rowid", (query,)
    )]


def test_memory_fts_follows_inserts_updates_and_deletes(conn):
    """Memory search must never return stale words or miss new ones."""
    conn.execute(
        "INSERT INTO memory (kind, title, body, tags, author, author_kind, created_at, updated_at) "
        "VALUES ('convention', 'use ruff formatter', 'never black', 'lint', 'ann', 'supervisor', 1.0, 1.0)"
    )
    mid = conn.execute("SELECT id FROM memory").fetchone()[0]
    assert fts_ids(conn, "ruff") == [mid]
    assert fts_ids(conn, "black") == [mid]
    assert fts_ids(conn, "lint") == [mid]

    conn.execute("UPDATE memory SET title = 'use yapf formatter', updated_at = 2.0 WHERE id = ?", (mid,))
    assert fts_ids(conn, "ruff") == []
    assert fts_ids(conn, "yapf") == [mid]
    assert fts_ids(conn, "black") == [mid]  # untouched columns are still indexed

    # Updating other columns leaves the index alone and consistent.
    conn.execute("UPDATE memory SET pinned = 1 WHERE id = ?", (mid,))
    assert fts_ids(conn, "yapf") == [mid]

    conn.execute("DELETE FROM memory WHERE id = ?", (mid,))
    assert fts_ids(conn, "yapf") == []
    conn.execute("INSERT INTO memory_fts(memory_fts) VALUES ('integrity-check')")
