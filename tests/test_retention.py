"""Retention and compaction (loomtui/store/retention.py, `loomtui store compact`) on real
pods: a current fleet (tests/pods.py) on top of two months of history, compacted in this
process and by the command, killed halfway, and switched by a full VACUUM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomtui import cli
from loomtui.config import RetentionConfig, parse_config
from loomtui.memory import entries
from loomtui.store import audit, db, retention
from loomtui.store.agents import record_event, upsert_agent
from loomtui.store.db import connect, db_path, transaction
from loomtui.store.gates import create_gate, decide
from loomtui.store.schema import SCHEMA_VERSION
from tests.pods import make_pod
from tests.waiting import wait_for

DAY = 86400.0
NOW = float(int(time.time()))  # the command runs on the real clock: the pods are built around it
OLD_EVENTS = 240  # over the 60 days before NOW: 3/4 older than 14 days
OLD_USAGE = 360  # over the 120 days before NOW: 1/4 older than 90 days
DEFAULTS = RetentionConfig()


def loom(pod: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM", "CLAUDE", "CODEX"))}
    env.update(LOOM_HOME=str(pod), HOME=str(pod.parent), PYTHONIOENCODING="utf-8", TZ="UTC")
    return subprocess.run([sys.executable, "-m", "loomtui", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=pod.parent)


def payload_text(i: int) -> dict:
    return {"hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": f"pytest -q tests/test_{i}.py", "description": "run one test " * 30}}


def history_pod(root: Path, now: float = NOW, *, events: int = OLD_EVENTS, usage: int = OLD_USAGE) -> Path:
    """Two months of one agent's events and four of usage, old gates and decisions, memory
    with its history, then today's fleet (tests/pods.py) with its budgets and diffs. Rows
    sit half a step off whole days: none is on a cutoff while the test's clock runs on."""
    pod = root / "pod"
    conn = connect(db_path(pod))
    try:
        agent = upsert_agent(conn, kind="claude", now=now - 120 * DAY, session_id="veteran-session",
                             name="veteran", cwd="/srv/shop/wt/veteran", repo="/srv/shop")
        with transaction(conn):
            conn.executemany(
                "INSERT INTO events (agent_id, ts, kind, tool, summary, payload) VALUES (?, ?, 'tool', 'Bash', ?, ?)",
                [(agent, now - 60 * DAY + (i + 0.5) * 60 * DAY / events, f"pytest -q tests/test_{i}.py",
                  json.dumps(payload_text(i))) for i in range(events)])
            conn.executemany(
                "INSERT INTO usage (agent_id, session_id, ts, model, input_tokens, output_tokens, cost_usd, "
                "dedupe_key, kind) VALUES (?, 'veteran-session', ?, 'claude-sonnet-4-5', 10, 400, 0.01, ?, 'claude')",
                [(agent, now - 120 * DAY + (i + 0.5) * 120 * DAY / usage, f"old-{i}") for i in range(usage)])
        approved = create_gate(conn, agent_id=agent, tool="Bash", action={"command": "git push"},
                               summary="git push", rule="git-push", risk="high", now=now - 50 * DAY,
                               expires_at=now - 50 * DAY + 600)
        decide(conn, approved.id, approve=True, actor="ana", reason="", now=now - 50 * DAY + 60)
        rejected = create_gate(conn, agent_id=agent, tool="Bash", action={"command": "rm -rf /srv"},
                               summary="rm -rf /srv", rule="rm", risk="critical", now=now - 40 * DAY,
                               expires_at=now - 40 * DAY + 600)
        decide(conn, rejected.id, approve=False, actor="ana", reason="never", now=now - 40 * DAY + 60)
        ana = entries.supervisor("ana")
        entry = entries.add(conn, kind="decision", title="Payments go through the queue", body="Always.",
                            author=ana, now=now - 45 * DAY)
        entries.edit(conn, entry.id, author=ana, expected_version=1, body="Always, since March.",
                     now=now - 30 * DAY)
    finally:
        conn.close()
    make_pod(root, now=now)  # the current fleet: recent events and usage, budgets, diffs
    return pod


@pytest.fixture
def pod(tmp_path: Path) -> Path:
    return history_pod(tmp_path)


def open_store(pod: Path) -> sqlite3.Connection:
    return connect(db_path(pod), create=False)


def kept_tables(conn: sqlite3.Connection) -> dict[str, list]:
    """Every row of every table retention must never touch (all but events, usage and
    its own bookkeeping), and the events' columns other than the payload."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT IN ('events', 'usage', 'store_meta') ORDER BY name")]
    dump = {name: sorted(conn.execute(f'SELECT * FROM "{name}"'), key=repr) for name in names}
    dump["events (all but payload)"] = conn.execute(
        "SELECT id, agent_id, ts, kind, tool, summary FROM events ORDER BY id").fetchall()
    return dump


def all_rows(conn: sqlite3.Connection) -> dict[str, list]:
    return {**kept_tables(conn),
            "events": conn.execute("SELECT * FROM events ORDER BY id").fetchall(),
            "usage": conn.execute("SELECT * FROM usage ORDER BY id").fetchall()}


def test_a_new_store_vacuums_incrementally(tmp_path: Path) -> None:
    conn = connect(db_path(tmp_path / "pod"))
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_old_payloads_are_reduced_new_ones_kept_and_old_usage_deleted(pod: Path) -> None:
    conn = open_store(pod)
    try:
        before = all_rows(conn)
        report = retention.run(conn, DEFAULTS, NOW)
        assert (pod / "loom.db-wal").stat().st_size == 0  # checkpointed and truncated
        after = all_rows(conn)
    finally:
        conn.close()
    event_cutoff, usage_cutoff = NOW - 14 * DAY, NOW - 90 * DAY
    old = [e for e in before["events"] if e[2] < event_cutoff]
    assert len(old) == OLD_EVENTS * 46 // 60  # days 60..15 of 60 before now
    assert all(e[6] != "{}" for e in old)
    assert report.events_reduced == len(old)
    by_id = {e[0]: e for e in after["events"]}
    for e in before["events"]:
        if e[2] < event_cutoff:
            assert by_id[e[0]] == (*e[:6], "{}", *e[7:])  # the summary, time, kind, tool stay
        else:
            assert by_id[e[0]] == e  # younger events keep their whole payload
    assert report.event_payload_bytes == sum(len(e[6].encode()) - 2 for e in old)

    kept_usage = [u for u in before["usage"] if u[3] >= usage_cutoff]
    assert after["usage"] == kept_usage
    assert report.usage_deleted == len(before["usage"]) - len(kept_usage) == OLD_USAGE // 4
    assert report.checkpoint == "truncate"


def test_gates_decisions_memory_and_the_audit_log_are_never_dropped(pod: Path) -> None:
    conn = open_store(pod)
    try:
        before = kept_tables(conn)
        assert before["gates"] and before["audit"] and before["memory"] and before["memory_history"]
        retention.run(conn, RetentionConfig(event_payload_days=1, usage_days=8), NOW + 365 * DAY)
        assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 0  # everything aged out
        assert conn.execute("SELECT count(*) FROM events WHERE payload != '{}'").fetchone()[0] == 0
        assert kept_tables(conn) == before
        assert audit.verify(conn) == []
    finally:
        conn.close()
    done = loom(pod, "audit", "verify")
    assert done.returncode == 0, done.stderr


def test_a_second_run_changes_nothing_and_writes_nothing(pod: Path) -> None:
    conn = open_store(pod)
    watcher = open_store(pod)
    try:
        first = retention.run(conn, DEFAULTS, NOW)
        assert first.changed
        rows = all_rows(conn)
        version = watcher.execute("PRAGMA data_version").fetchone()[0]
        again = retention.run(conn, DEFAULTS, NOW + 60)
        assert (again.events_reduced, again.usage_deleted, again.pages_vacuumed, again.batches) == (0, 0, 0, 0)
        assert all_rows(conn) == rows
        # nothing committed: consoles' store watchers are not woken by an idle service
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
    finally:
        conn.close()
        watcher.close()


def test_runs_start_where_the_last_one_stopped(pod: Path) -> None:
    """The high-water mark: events already dealt with are not read again, and events that
    age out later are reduced by a later run."""
    conn = open_store(pod)
    try:
        retention.run(conn, DEFAULTS, NOW)
        mark = conn.execute("SELECT value FROM store_meta WHERE name = ?", (retention.EVENTS_MARK,)).fetchone()
        through = int(mark[0])
        assert through == max(i for i, ts in conn.execute("SELECT id, ts FROM events") if ts < NOW - 14 * DAY)
        later = retention.run(conn, DEFAULTS, NOW + 7 * DAY)  # a week on: a week more of events ages out
        assert later.events_reduced == OLD_EVENTS * 7 // 60
        assert later.events_through > through
    finally:
        conn.close()


def test_the_plan_says_what_a_run_does(pod: Path) -> None:
    conn = open_store(pod)
    try:
        rows = all_rows(conn)
        plan = retention.plan(conn, DEFAULTS, NOW)
        assert all_rows(conn) == rows
        report = retention.run(conn, DEFAULTS, NOW)
    finally:
        conn.close()
    assert plan["events"]["rows"] == report.events_reduced  # ids are dense: exact here
    assert abs(plan["events"]["bytes"] - report.event_payload_bytes) <= 0.05 * report.event_payload_bytes
    assert plan["usage"]["rows"] == report.usage_deleted and not plan["usage"]["at_least"]
    assert plan["usage"]["bytes"] == report.usage_bytes > 0


def test_compact_command_reports_and_dry_run_changes_nothing(pod: Path) -> None:
    conn = open_store(pod)
    rows = all_rows(conn)
    conn.close()
    dry = loom(pod, "store", "compact", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] and planned["plan"]["events"]["rows"] > 0
    conn = open_store(pod)
    assert all_rows(conn) == rows
    conn.close()

    text = loom(pod, "store", "compact", "--dry-run")
    assert text.returncode == 0 and "would be reduced to their summary" in text.stdout
    assert "nothing was changed" in text.stdout

    done = loom(pod, "store", "compact", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["events_reduced"] == planned["plan"]["events"]["rows"]
    assert result["usage_deleted"] == planned["plan"]["usage"]["rows"]
    assert result["bytes_after"]["total"] < result["bytes_before"]["total"]
    assert result["bytes_freed"] == result["bytes_before"]["total"] - result["bytes_after"]["total"]
    assert result["auto_vacuum"] == "incremental" and result["pages_vacuumed"] > 0

    again = loom(pod, "store", "compact")
    assert again.returncode == 0, again.stderr
    assert "0 payload(s)" in again.stdout and "0 raw row(s)" in again.stdout and "took" in again.stdout


def test_status_shows_the_size_and_what_retention_would_free(pod: Path) -> None:
    done = loom(pod, "status", "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    files = [pod / "loom.db", pod / "loom.db-wal"]
    assert status["store_db_bytes"] == files[0].stat().st_size
    assert status["store_bytes"] == status["store_db_bytes"] + status["store_wal_bytes"]
    kept = status["retention"]
    assert kept["events"]["rows"] == OLD_EVENTS * 46 // 60 and kept["usage"]["rows"] == OLD_USAGE // 4
    assert kept["bytes"] > 0 and kept["last_run"] is None
    text = loom(pod, "status")
    assert "retention would free about" in text.stdout and "store compact" in text.stdout

    assert loom(pod, "store", "compact").returncode == 0
    status = json.loads(loom(pod, "status", "--json").stdout)
    assert status["retention"]["events"]["rows"] == status["retention"]["usage"]["rows"] == 0
    assert status["retention"]["last_run"]["events_reduced"] == OLD_EVENTS * 46 // 60
    assert "retention would free nothing now" in loom(pod, "status").stdout


KILL_EVENTS = 6000


def test_killed_mid_compaction_leaves_a_consistent_store(tmp_path: Path) -> None:
    """kill -9 between (or inside) batches: every batch committed whole, with the mark, or
    not at all; the next run finishes the work; the result is that of one whole run."""
    pod = history_pod(tmp_path, events=KILL_EVENTS, usage=0)
    conn = open_store(pod)
    before = all_rows(conn)
    conn.close()
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from loomtui.store import retention; from loomtui.config import RetentionConfig; "
         "retention.run(__import__('pathlib').Path(sys.argv[1]), RetentionConfig(), float(sys.argv[2]), "
         "batch=3, max_seconds=None)", str(pod), str(NOW)],
        stderr=subprocess.PIPE)
    watcher = open_store(pod)
    try:
        def mark() -> int:
            row = watcher.execute("SELECT value FROM store_meta WHERE name = ?",
                                  (retention.EVENTS_MARK,)).fetchone()
            return int(row[0]) if row else 0

        wait_for(lambda: mark() > 30, "the compaction to reduce its first batches")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
        through = mark()
        assert watcher.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = {e[0]: e for e in watcher.execute("SELECT * FROM events")}
        old = [e for e in before["events"] if e[2] < NOW - 14 * DAY]
        assert through < old[-1][0], "the compaction finished before it was killed: nothing was tested"
        for e in before["events"]:
            expected = (*e[:6], "{}", *e[7:]) if e[0] <= through else e
            assert rows[e[0]] == expected  # reduced up to the mark, untouched after it
        assert audit.verify(watcher) == []
    finally:
        watcher.close()
        if child.poll() is None:
            child.kill()
            child.wait()

    conn = open_store(pod)
    try:
        finish = retention.run(conn, DEFAULTS, NOW)
        assert finish.events_reduced == len([e for e in old if e[0] > through])
        after = all_rows(conn)
    finally:
        conn.close()
    whole = history_pod(tmp_path / "whole", events=KILL_EVENTS, usage=0)
    conn = open_store(whole)
    try:
        retention.run(conn, DEFAULTS, NOW)
        assert after == all_rows(conn)
    finally:
        conn.close()


def test_hooks_keep_writing_while_it_compacts(tmp_path: Path) -> None:
    """Batches are short transactions with a pause after each: a hook's write waits at most
    about one batch, never its whole busy timeout (which would fail it closed)."""
    pod = history_pod(tmp_path, events=KILL_EVENTS, usage=0)
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from loomtui.store import retention; from loomtui.config import RetentionConfig; "
         "retention.run(__import__('pathlib').Path(sys.argv[1]), RetentionConfig(), float(sys.argv[2]), "
         "batch=100, max_seconds=None)", str(pod), str(NOW)])
    conn = open_store(pod)
    try:
        agent = conn.execute("SELECT id FROM agents WHERE name = 'veteran'").fetchone()[0]
        waits, during = [], 0
        wait_for(lambda: conn.execute("SELECT count(*) FROM store_meta").fetchone()[0],
                 "the compaction's first batch")
        while child.poll() is None:
            began = time.monotonic()
            record_event(conn, agent, kind="tool", now=time.time(), tool="Bash", summary="ls",
                         payload={"tool_input": {"command": "ls"}})
            waits.append(time.monotonic() - began)
            during += child.poll() is None
        assert child.returncode == 0
        assert during >= 3, "the compaction ended before hooks could write beside it: nothing was tested"
        assert max(waits) < 2.5, f"a write waited {max(waits):.2f} s (half the busy timeout)"
        old = conn.execute("SELECT count(*), sum(payload = '{}') FROM events WHERE ts < ?",
                           (NOW - 14 * DAY,)).fetchone()
        assert old == (KILL_EVENTS * 46 // 60,) * 2
    finally:
        conn.close()
        if child.poll() is None:
            child.kill()
            child.wait()


def test_full_switches_an_older_store_to_incremental_vacuum_and_it_shrinks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store made before schema version 6 has auto_vacuum NONE: a plain compaction frees
    pages inside the file but cannot shrink it; --full runs one VACUUM and switches it."""
    with monkeypatch.context() as patch:
        patch.setattr(db, "_new_database", lambda conn: None)  # as stores were created before
        pod = history_pod(tmp_path, events=2000)
    conn = open_store(pod)
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    conn.close()

    plain = json.loads(loom(pod, "store", "compact", "--json").stdout)
    assert plain["auto_vacuum"] == "none" and plain["pages_vacuumed"] == 0
    assert plain["bytes_after"]["db"] >= plain["bytes_before"]["db"]  # freed inside, not given back
    text = loom(pod, "store", "compact")
    assert "run `loomtui store compact --full` once" in text.stdout

    full = loom(pod, "store", "compact", "--full", "--json")
    assert full.returncode == 0, full.stderr
    result = json.loads(full.stdout)
    assert result["auto_vacuum"] == "incremental"
    assert result["bytes_after"]["db"] < 0.6 * plain["bytes_after"]["db"]
    conn = open_store(pod)
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert audit.verify(conn) == []
    finally:
        conn.close()
    warned = loom(pod, "store", "compact", "--full")
    assert warned.returncode == 0 and "rewrites" in warned.stderr


def test_full_refuses_politely_when_the_disk_is_short(pod: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(retention.shutil, "disk_usage",
                        lambda path: real(path)._replace(free=4096))
    monkeypatch.setenv("LOOM_HOME", str(pod))
    conn = open_store(pod)
    rows = all_rows(conn)
    conn.close()
    assert cli.main(["store", "compact", "--full"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "not enough free disk space for a full VACUUM" in err and "was not started" in err
    assert "Traceback" not in err
    conn = open_store(pod)
    try:
        assert all_rows(conn) == rows  # refused before retention changed anything
    finally:
        conn.close()


@pytest.mark.parametrize("text, wrong", [
    ("event_payload_days = 0", "retention.event_payload_days should be a whole number of days from 1"),
    ('event_payload_days = "14"', "got '14'"),
    ("event_payload_days = 3.5", "got 3.5"),
    ("usage_days = 7", "retention.usage_days should be a whole number of days from 8"),
    ("usage_days = true", "got True"),
    ("usage_days = -90", "got -90"),
])
def test_bad_values_turn_retention_off_with_a_clear_error(pod: Path, text: str, wrong: str) -> None:
    config = parse_config({"retention": dict([_toml_pair(text)])})
    assert config.retention.errors and wrong in config.retention.errors[0]
    assert any("retention is off until it is fixed" in w for w in config.warnings)
    conn = open_store(pod)
    try:
        with pytest.raises(retention.RetentionOff):
            retention.apply(conn, config.retention, NOW)
    finally:
        conn.close()

    (pod / "config.toml").write_text(f"[retention]\n{text}\n")
    conn = open_store(pod)
    rows = all_rows(conn)
    conn.close()
    done = loom(pod, "store", "compact")
    assert done.returncode == 1 and wrong in done.stderr and "nothing was changed" in done.stderr
    assert "Traceback" not in done.stderr
    conn = open_store(pod)
    assert all_rows(conn) == rows
    conn.close()
    status = loom(pod, "status")
    assert status.returncode == 0 and "retention is off" in status.stdout


def _toml_pair(text: str) -> tuple[str, object]:
    import tomllib

    return next(iter(tomllib.loads(text).items()))


def test_good_values_and_unknown_keys() -> None:
    config = parse_config({"retention": {"event_payload_days": 3, "usage_days": 30, "keep_all": True}})
    assert (config.retention.event_payload_days, config.retention.usage_days) == (3, 30)
    assert config.retention.errors == ()
    assert config.warnings == ("config: unknown key retention.keep_all ignored "
                               "(known: event_payload_days, usage_days)",)
    assert parse_config({"retention": 14}).retention.errors == ("config: [retention] must be a table",)


def test_a_locked_or_newer_store_is_a_clear_error(pod: Path) -> None:
    holder = sqlite3.connect(db_path(pod), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer that does not let go (5 s busy timeout)
        done = loom(pod, "store", "compact")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 1 and "is locked by another process" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr

    conn = sqlite3.connect(db_path(pod), isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    done = loom(pod, "store", "compact", "--dry-run")
    assert done.returncode == 1 and "upgrade LoomTUI" in done.stderr and "Traceback" not in done.stderr


def test_events_with_a_trigger_are_updated_in_place_never_deleted(pod: Path) -> None:
    """Reduced events are deleted and inserted again (pages get freed); a trigger on events
    (none in LoomTUI's schema today) would see deletes that are not, so then it UPDATEs."""
    conn = open_store(pod)
    try:
        conn.execute("CREATE TRIGGER no_event_deletes BEFORE DELETE ON events BEGIN "
                     "SELECT RAISE(ABORT, 'events are never deleted'); END")
        before = all_rows(conn)
        report = retention.run(conn, DEFAULTS, NOW)
        assert report.events_reduced == OLD_EVENTS * 46 // 60
        after = {e[0]: e for e in conn.execute("SELECT * FROM events")}
        for e in before["events"]:
            assert after[e[0]] == ((*e[:6], "{}", *e[7:]) if e[2] < NOW - 14 * DAY else e)
    finally:
        conn.close()


def test_a_reader_holding_a_snapshot_keeps_the_wal_but_does_not_block_the_run(pod: Path) -> None:
    """A console in the middle of a read: the checkpoint copies what it can (PASSIVE), the
    TRUNCATE gives up after its short timeout, and the run says so; the next run, with the
    reader gone, truncates the WAL."""
    conn = open_store(pod)
    reader = open_store(pod)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM events").fetchone()  # holds its snapshot
        began = time.monotonic()
        report = retention.run(conn, DEFAULTS, NOW)
        assert report.changed and report.checkpoint in ("busy", "passive")
        assert time.monotonic() - began < db.BUSY_TIMEOUT_MS / 1000  # never waited out a busy timeout
        assert (pod / "loom.db-wal").stat().st_size > 0
        reader.execute("COMMIT")
        later = retention.run(conn, RetentionConfig(event_payload_days=1), NOW)  # something to do
        assert later.changed and later.checkpoint == "truncate"
        assert (pod / "loom.db-wal").stat().st_size == 0
    finally:
        reader.close()
        conn.close()


def test_the_pod_service_runs_retention_on_its_own(pod: Path) -> None:
    """`loomtui serve` compacts every --compact-every seconds (300 by default): old
    payloads are reduced without anyone running `store compact`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM", "CLAUDE", "CODEX"))}
    env.update(LOOM_HOME=str(pod), HOME=str(pod.parent), TZ="UTC")
    service = subprocess.Popen([sys.executable, "-m", "loomtui", "serve", "--no-ingest", "--no-diffs",
                                "--compact-every", "0.5"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def reduced() -> int:
            conn = open_store(pod)
            try:
                return conn.execute("SELECT count(*) FROM events WHERE payload = '{}' AND ts < ?",
                                    (NOW - 14 * DAY,)).fetchone()[0]
            finally:
                conn.close()

        wait_for(lambda: reduced() == OLD_EVENTS * 46 // 60, "the service to reduce the old payloads")
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
    assert f"retention: {OLD_EVENTS * 46 // 60} event payload(s) reduced" in service.stderr.read()
