"""The hash-chained audit log (loomtui/store/audit.py) and `loomtui audit`:
the chain as documented, append-only in the store, and tampering found by
`verify` when someone goes around the triggers with raw SQLite."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loomtui.store import audit
from loomtui.store.db import DB_NAME, connect, transaction
from loomtui.store.gates import cancel, claim, create_gate, decide, expire_due

NOW = 1_750_000_000.0
ZEROS = "0" * 64


@pytest.fixture(autouse=True)
def witness_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The audit witness (written on every append) goes into the test's own directory."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture
def conn(tmp_path: Path):
    c = connect(tmp_path / DB_NAME)
    yield c
    c.close()


def add(conn, n: int, *, start: int = 0) -> list[int]:
    ids = []
    for i in range(start, start + n):
        with transaction(conn):
            ids.append(audit.append(conn, actor=f"user{i % 3}", action="test.step",
                                    subject=f"thing:{i}", detail={"i": i, "note": "ünïcode"},
                                    now=NOW + i))
    return ids


def tamper(path: Path, *statements: str) -> None:
    """Edit the log the way an attacker with the file would: drop the
    append-only triggers, change rows, commit."""
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("DROP TRIGGER IF EXISTS audit_no_update")
        raw.execute("DROP TRIGGER IF EXISTS audit_no_delete")
        for statement in statements:
            raw.execute(statement)
    finally:
        raw.close()


def swap(path: Path, a: int, b: int) -> None:
    """Exchange the contents of entries a and b, keeping their ids."""
    cols = "ts, actor, action, subject, detail, prev_hash, hash"
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("DROP TRIGGER IF EXISTS audit_no_update")
        ra = raw.execute(f"SELECT {cols} FROM audit WHERE id = ?", (a,)).fetchone()
        rb = raw.execute(f"SELECT {cols} FROM audit WHERE id = ?", (b,)).fetchone()
        raw.execute("BEGIN")
        # hash is UNIQUE: park one row's hash first.
        raw.execute("UPDATE audit SET hash = 'parked' WHERE id = ?", (a,))
        sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
        raw.execute(f"UPDATE audit SET {sets} WHERE id = ?", (*ra, b))
        raw.execute(f"UPDATE audit SET {sets} WHERE id = ?", (*rb, a))
        raw.execute("COMMIT")
    finally:
        raw.close()


# -- the chain ---------------------------------------------------------------------


def test_chain_follows_the_documented_recipe(conn):
    """Anyone can recompute the chain from an export: first link 64 zeros, each
    hash sha256 over [prev_hash, ts, actor, action, subject, canonical detail]."""
    add(conn, 5)
    entries = audit.export(conn)
    assert [e["id"] for e in entries] == [1, 2, 3, 4, 5]
    prev = ZEROS
    for e in entries:
        assert e["prev_hash"] == prev
        detail = json.dumps(e["detail"], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        material = json.dumps([prev, e["ts"], e["actor"], e["action"], e["subject"], detail],
                              separators=(",", ":"), ensure_ascii=True)
        assert e["hash"] == hashlib.sha256(material.encode()).hexdigest()
        prev = e["hash"]
    assert entries[2]["detail"] == {"i": 2, "note": "ünïcode"}
    assert entries[2]["actor"] == "user2" and entries[2]["subject"] == "thing:2"
    assert audit.verify(conn) == []
    assert audit.head(conn) == (5, entries[-1]["hash"])


def test_append_needs_the_callers_transaction(conn):
    with pytest.raises(RuntimeError, match="transaction"):
        audit.append(conn, actor="ana", action="x", now=NOW)
    assert audit.export(conn) == []


def test_entry_rolls_back_with_the_change_it_records(conn):
    with pytest.raises(ZeroDivisionError):
        with transaction(conn):
            audit.append(conn, actor="ana", action="x", now=NOW)
            raise ZeroDivisionError
    assert audit.export(conn) == []
    add(conn, 1)
    assert audit.export(conn)[0]["prev_hash"] == ZEROS


def test_store_refuses_edits_and_deletes(conn):
    add(conn, 2)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE id = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE id = 2")
    assert audit.verify(conn) == []


def test_gate_lifecycle_is_audited_and_intact(conn):
    g1 = create_gate(conn, agent_id=None, tool="Bash", action={"command": "git push"},
                     summary="git push", rule="git-push", risk="high", now=NOW, expires_at=NOW + 60)
    g2 = create_gate(conn, agent_id=None, tool="Bash", action={"command": "rm -rf build"},
                     summary="rm -rf build", rule="rm", risk="medium", now=NOW, expires_at=NOW + 60)
    g3 = create_gate(conn, agent_id=None, tool="Bash", action={"command": "terraform apply"},
                     summary="terraform apply", rule="tf", risk="critical", now=NOW, expires_at=NOW + 5)
    claim(conn, g1.id, actor="ana", now=NOW + 1)
    decide(conn, g1.id, approve=True, actor="ana", reason="", now=NOW + 2)
    cancel(conn, g2.id, actor="hook", reason="hook killed", now=NOW + 3)
    expire_due(conn, now=NOW + 6)
    actions = [(e["action"], e["subject"], e["actor"]) for e in audit.export(conn)]
    assert actions == [
        ("gate.created", "gate:1", "hook"), ("gate.created", "gate:2", "hook"),
        ("gate.created", "gate:3", "hook"), ("gate.claimed", "gate:1", "ana"),
        ("gate.approved", "gate:1", "ana"), ("gate.cancelled", "gate:2", "hook"),
        ("gate.expired", f"gate:{g3.id}", "system"),
    ]
    assert audit.verify(conn) == []


# -- tampering -----------------------------------------------------------------------


def test_verify_finds_an_edited_entry(conn, tmp_path):
    add(conn, 6)
    tamper(tmp_path / DB_NAME, "UPDATE audit SET actor = 'mallory' WHERE id = 3")
    problems = audit.verify(conn)
    assert len(problems) == 1, problems
    assert "entry 3 was edited" in problems[0]


def test_verify_finds_an_edited_detail(conn, tmp_path):
    add(conn, 4)
    tamper(tmp_path / DB_NAME,
           """UPDATE audit SET detail = '{"i":9,"note":"x"}' WHERE id = 4""")
    assert audit.verify(conn) == ["entry 4 was edited: its content no longer matches its hash"]


def test_verify_finds_an_edit_with_a_recomputed_hash(conn, tmp_path):
    """Rewriting an entry and its own hash breaks the next entry's link."""
    add(conn, 5)
    row = conn.execute("SELECT prev_hash, ts, subject, detail FROM audit WHERE id = 2").fetchone()
    forged = audit.entry_hash(row[0], row[1], "mallory", "test.step", row[2], row[3])
    tamper(tmp_path / DB_NAME,
           f"UPDATE audit SET actor = 'mallory', hash = '{forged}' WHERE id = 2")
    problems = audit.verify(conn)
    assert len(problems) == 1, problems
    assert "entry 3 does not link to entry 2" in problems[0]


def test_verify_finds_a_deleted_entry(conn, tmp_path):
    add(conn, 6)
    tamper(tmp_path / DB_NAME, "DELETE FROM audit WHERE id = 4")
    problems = audit.verify(conn)
    assert len(problems) == 1, problems
    assert "entry 4 is missing (deleted)" in problems[0]
    assert "from entry 3 to entry 5" in problems[0]


def test_verify_finds_entries_deleted_from_the_start(conn, tmp_path):
    add(conn, 5)
    tamper(tmp_path / DB_NAME, "DELETE FROM audit WHERE id <= 2")
    problems = audit.verify(conn)
    assert problems == ["entries 1–2 are missing (deleted from the start of the log)"]


def test_verify_finds_a_deletion_hidden_by_renumbering(conn, tmp_path):
    add(conn, 6)
    tamper(tmp_path / DB_NAME, "DELETE FROM audit WHERE id = 3",
           "UPDATE audit SET id = id - 1 WHERE id > 3")
    problems = audit.verify(conn)
    assert len(problems) == 1, problems
    assert "entry 3 does not link to entry 2" in problems[0]


def test_verify_finds_two_swapped_entries(conn, tmp_path):
    add(conn, 7)
    swap(tmp_path / DB_NAME, 3, 4)
    problems = audit.verify(conn)
    assert len(problems) == 1, problems
    assert "entries 3 and 4 are out of order" in problems[0]
    assert "2 → 4 → 3 → 5" in problems[0]


def test_verify_reports_each_kind_of_damage_at_once(conn, tmp_path):
    add(conn, 12)
    swap(tmp_path / DB_NAME, 9, 10)
    tamper(tmp_path / DB_NAME, "UPDATE audit SET subject = 'thing:x' WHERE id = 2",
           "DELETE FROM audit WHERE id = 6")
    problems = audit.verify(conn)
    assert len(problems) == 3, problems
    assert any("entry 2 was edited" in p for p in problems)
    assert any("entry 6 is missing" in p for p in problems)
    assert any("entries 9 and 10 are out of order" in p for p in problems)


def test_export_of_an_entry_whose_detail_is_no_json(conn, tmp_path):
    add(conn, 2)
    tamper(tmp_path / DB_NAME, "UPDATE audit SET detail = 'not json' WHERE id = 1")
    assert audit.export(conn)[0]["detail"] == "not json"
    assert audit.verify(conn) == ["entry 1 was edited: its content no longer matches its hash"]


# -- policy -------------------------------------------------------------------------


def test_record_policy_appends_only_on_change(conn):
    assert audit.record_policy(conn, policy_hash="a" * 64, source="/pod/policy.toml",
                               actor="hook", now=NOW)
    assert not audit.record_policy(conn, policy_hash="a" * 64, source="/pod/policy.toml",
                                   actor="hook", now=NOW + 1)
    add(conn, 2)  # other entries in between do not hide the last policy
    assert not audit.record_policy(conn, policy_hash="a" * 64, source="/pod/policy.toml",
                                   actor="hook", now=NOW + 2)
    assert audit.record_policy(conn, policy_hash="b" * 64, source="/pod/policy.toml",
                               actor="ana", now=NOW + 3)
    assert audit.record_policy(conn, policy_hash="a" * 64, source="/pod/policy.toml",
                               actor="hook", now=NOW + 4)
    loaded = [e for e in audit.export(conn) if e["action"] == "policy.loaded"]
    assert [e["detail"]["policy_hash"][0] for e in loaded] == ["a", "b", "a"]
    assert loaded[1]["actor"] == "ana" and loaded[1]["subject"] == "/pod/policy.toml"
    assert not conn.in_transaction
    assert audit.verify(conn) == []


# -- the command line --------------------------------------------------------------------


def loom(*args: str, pod: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOM_HOME": str(pod), "LOOM_USER": "ana", "PYTHONIOENCODING": "utf-8"}
    env.pop("LOOM_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "loomtui", *args], env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=60, cwd=pod.parent)


def test_cli_verify_and_export(tmp_path):
    pod = tmp_path / "pod"
    c = connect(pod / DB_NAME)
    try:
        empty = loom("audit", "verify", pod=pod).stdout.splitlines()
        assert empty[0] == "audit log intact: 0 entries"
        assert empty[1].startswith("witness: none yet at ")
        add(c, 4)
        head_id, head_hash = audit.last(c)
    finally:
        c.close()

    done = loom("audit", "verify", pod=pod)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "audit log intact: 4 entries"
    assert lines[1] == f"head: 4:{head_hash}" and head_id == 4
    assert lines[2].startswith("witness: ") and "(entry 4, written " in lines[2]
    assert f"--expect 4:{head_hash}" in lines[3]

    done = loom("audit", "export", "--json", pod=pod)
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)["entries"]
    assert [e["id"] for e in entries] == [1, 2, 3, 4]
    assert entries[0]["prev_hash"] == ZEROS and entries[1]["prev_hash"] == entries[0]["hash"]
    assert entries[0]["detail"] == {"i": 0, "note": "ünïcode"}
    assert entries[0]["time"].endswith("Z")

    done = loom("audit", "export", pod=pod)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 4 and "test.step thing:3" in lines[3] and "user0" in lines[3]


def test_cli_verify_names_the_damage(tmp_path):
    pod = tmp_path / "pod"
    c = connect(pod / DB_NAME)
    try:
        add(c, 6)
    finally:
        c.close()
    tamper(pod / DB_NAME, "UPDATE audit SET actor = 'mallory' WHERE id = 2",
           "DELETE FROM audit WHERE id = 5")
    done = loom("audit", "verify", pod=pod)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    # tamper() dropped both append-only triggers: two more problems than the chain's.
    assert "4 problems in 5 entries" in done.stdout
    assert "entry 2 was edited" in done.stdout and "entry 5 is missing" in done.stdout
    assert "trigger audit_no_update is missing" in done.stdout
    assert "trigger audit_no_delete is missing" in done.stdout


def test_cli_without_a_pod(tmp_path):
    done = loom("audit", "verify", pod=tmp_path / "nowhere")
    assert done.returncode == 1
    assert "no pod store" in done.stderr and "Traceback" not in done.stderr
