"""The audit trail detects the whole attack: the witness kept
outside the pod, `audit verify`'s checks beyond the chain, and decision_recorded().

Each attack is made as an agent with write access to loom.db would: a raw sqlite3
connection to the real pod file, going around LoomTUI. `audit verify` runs as the
real command in a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from loomtui.store import audit, witness
from loomtui.store.budgets import set_limit
from loomtui.store.db import connect, db_path, transaction
from loomtui.store.gates import cancel, create_gate, decide, expire_due, get_gate

NOW = 1_750_000_000.0
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This user's witness directory, inside the test's tmp dir."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture
def pod(tmp_path: Path) -> Path:
    """A pod whose gates were decided the normal way: one approved, one rejected,
    one cancelled, one expired, one pending; a budget limit set and then raised;
    then a few more ordinary entries (the tail an attacker would cut)."""
    pod = tmp_path / "pod"
    conn = connect(db_path(pod))
    try:
        gates = [create_gate(conn, agent_id=None, tool="Bash", action={"command": f"step {i}"},
                             summary=f"step {i}", rule="r", risk="high", now=NOW,
                             expires_at=NOW + (5 if i == 4 else 600)) for i in range(1, 6)]
        decide(conn, gates[0].id, approve=True, actor="ana", reason="", now=NOW + 1)
        decide(conn, gates[1].id, approve=False, actor="ana", reason="no", now=NOW + 2)
        cancel(conn, gates[2].id, actor="hook", reason="hook killed", now=NOW + 3)
        expire_due(conn, now=NOW + 6)
        set_limit(conn, scope="agent", scope_ref="1", period="session", max_tokens=None,
                  max_usd=5.0, actor="ana", now=NOW + 7)
        set_limit(conn, scope="agent", scope_ref="1", period="session", max_tokens=None,
                  max_usd=8.0, actor="ana", now=NOW + 8)
        set_limit(conn, scope="pod", scope_ref="", period="day", max_tokens=1_000_000,
                  max_usd=None, actor="ana", now=NOW + 9)
        steps(conn, 4)
    finally:
        conn.close()
    return pod


def steps(conn: sqlite3.Connection, n: int) -> None:
    for i in range(n):
        with transaction(conn):
            audit.append(conn, actor="hook", action="test.step", subject=f"step:{i}",
                         detail={"i": i}, now=NOW + 100 + i)


def raw(pod: Path) -> sqlite3.Connection:
    """The attacker's handle: plain sqlite3 on the pod's file, no LoomTUI."""
    return sqlite3.connect(db_path(pod), isolation_level=None)


def attack(pod: Path, *statements: str, restore_triggers: bool = True) -> None:
    """Drop the append-only triggers, run `statements`, and (by default) put the
    triggers back exactly as they were, so the store looks protected again."""
    conn = raw(pod)
    try:
        # The two append-only triggers (others on audit, such as the record's count of
        # grant.used entries, stay as they are).
        saved = [sql for (sql,) in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit' "
            "AND name IN ('audit_no_update', 'audit_no_delete')")]
        assert len(saved) == 2
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("DROP TRIGGER audit_no_delete")
        for statement in statements:
            conn.execute(statement)
        if restore_triggers:
            for sql in saved:
                conn.execute(sql)
    finally:
        conn.close()


def recipe(prev: str, ts: float, actor: str, action: str, subject: str, detail: str) -> str:
    """The documented hash recipe, as an attacker would reimplement it."""
    material = json.dumps([prev, float(ts), actor, action, subject, detail],
                          ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(material.encode("ascii")).hexdigest()


def rechain(pod: Path, edit_id: int, *, actor: str) -> None:
    """Edit entry `edit_id` and recompute its hash and every later one's, so the
    chain is consistent again; triggers restored afterwards."""
    conn = raw(pod)
    try:
        saved = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'audit_no_update'").fetchone()[0]
        conn.execute("DROP TRIGGER audit_no_update")
        prev = conn.execute("SELECT hash FROM audit WHERE id = ?", (edit_id - 1,)).fetchone()[0]
        rows = conn.execute("SELECT id, ts, actor, action, subject, detail FROM audit "
                            "WHERE id >= ? ORDER BY id", (edit_id,)).fetchall()
        conn.execute("BEGIN")
        for entry_id, ts, old_actor, action, subject, detail in rows:
            who = actor if entry_id == edit_id else old_actor
            digest = recipe(prev, ts, who, action, subject, detail)
            conn.execute("UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE id = ?",
                         (who, prev, digest, entry_id))
            prev = digest
        conn.execute("COMMIT")
        conn.execute(saved)
    finally:
        conn.close()


def verify(pod: Path, *args: str) -> tuple[int, dict, str]:
    """`loomtui audit verify --json` as a person would run it: (exit, document, stderr)."""
    env = {**os.environ, "LOOM_HOME": str(pod), "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run([sys.executable, "-m", "loomtui", "audit", "verify", "--json", *args],
                          env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "Traceback" not in done.stderr, done.stderr
    document = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, document, done.stderr


def head_of(pod: Path) -> tuple[int, str]:
    conn = connect(db_path(pod))
    try:
        return audit.last(conn)
    finally:
        conn.close()


def chain_alone(pod: Path) -> list[str]:
    conn = connect(db_path(pod))
    try:
        return audit.verify(conn)
    finally:
        conn.close()


# -- the untouched pod ----------------------------------------------------------------------


def test_an_untouched_pod_is_intact_and_its_witness_is_outside_the_pod(pod, state):
    head_id, head_hash = head_of(pod)
    code, doc, _ = verify(pod)
    assert code == 0, doc
    assert doc["intact"] is True and doc["problems"] == []
    assert doc["head"] == {"id": head_id, "hash": head_hash}
    path = Path(doc["witness"]["path"])
    assert path.parent == state / "loomtui" and not path.is_relative_to(pod)
    assert doc["witness"]["status"] == "checked"
    assert (doc["witness"]["id"], doc["witness"]["hash"]) == (head_id, head_hash)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert witness.read(path)["pod"] == os.path.realpath(pod)

    conn = connect(db_path(pod))
    try:
        approved = get_gate(conn, 1)
        assert approved.status == "approved" and audit.decision_recorded(conn, approved)
    finally:
        conn.close()

    # The text form names the head and says to keep a copy of it elsewhere.
    env = {**os.environ, "LOOM_HOME": str(pod)}
    text = subprocess.run([sys.executable, "-m", "loomtui", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert text.returncode == 0
    assert f"head: {head_id}:{head_hash}" in text.stdout
    assert str(path) in text.stdout and f"--expect {head_id}:{head_hash}" in text.stdout


# -- the tail: cut, re-chained ------------------------------------------------------------------


def test_a_cut_tail_is_reported(pod):
    head_id, _ = head_of(pod)
    attack(pod, f"DELETE FROM audit WHERE id > {head_id - 3}")
    assert chain_alone(pod) == []  # the chain alone cannot see it
    code, doc, _ = verify(pod)
    assert code == 1 and doc["intact"] is False
    assert len(doc["problems"]) == 1, doc["problems"]
    assert doc["problems"][0].startswith("the log was cut: this user's witness")
    assert f"records entry {head_id}" in doc["problems"][0]
    assert f"entries {head_id - 2}–{head_id} were deleted" in doc["problems"][0]
    env = {**os.environ, "LOOM_HOME": str(pod)}
    text = subprocess.run([sys.executable, "-m", "loomtui", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert text.returncode == 1 and text.stdout.startswith("audit log damaged: 1 problem in ")
    assert f"re-created this pod on purpose, remove {witness.witness_path(pod)}" in text.stdout


def test_a_cut_tail_with_triggers_left_dropped_reports_both(pod):
    head_id, _ = head_of(pod)
    attack(pod, f"DELETE FROM audit WHERE id = {head_id}", restore_triggers=False)
    code, doc, _ = verify(pod)
    assert code == 1
    problems = doc["problems"]
    assert any("trigger audit_no_update is missing" in p for p in problems)
    assert any("trigger audit_no_delete is missing" in p for p in problems)
    assert any(p.startswith("the log was cut") and f"entry {head_id} was deleted" in p
               for p in problems)


def test_a_log_emptied_entirely_is_reported(pod):
    head_id, _ = head_of(pod)
    attack(pod, "DELETE FROM audit")
    code, doc, _ = verify(pod)
    assert code == 1
    assert any("the log is empty" in p and f"entries 1–{head_id} were deleted" in p
               for p in doc["problems"]), doc["problems"]


def test_an_edit_rechained_to_the_end_is_reported(pod):
    head_id, head_hash = head_of(pod)
    rechain(pod, head_id - 2, actor="mallory")
    assert chain_alone(pod) == []  # every hash recomputes and links
    code, doc, _ = verify(pod)
    assert code == 1
    assert len(doc["problems"]) == 1, doc["problems"]
    assert doc["problems"][0].startswith("the log was rewritten")
    assert f"entry {head_id} has hash" in doc["problems"][0]
    assert head_hash[:16] in doc["problems"][0]


def test_a_rewritten_witness_is_still_caught_by_a_head_copied_elsewhere(pod, state):
    """An unsandboxed agent running as the same user can rewrite the store and its own
    witness; a head copied elsewhere before the attack still catches it."""
    head_id, head_hash = head_of(pod)
    rechain(pod, head_id - 2, actor="mallory")
    forged_id, forged_hash = head_of(pod)
    path = witness.witness_path(pod)
    document = witness.read(path)
    document.update(id=forged_id, hash=forged_hash)
    path.write_text(json.dumps(document))

    code, doc, _ = verify(pod)
    assert code == 0 and doc["intact"], "the same user can fool their own witness"
    code, doc, _ = verify(pod, "--expect", f"{head_id}:{head_hash}")
    assert code == 1
    assert len(doc["problems"]) == 1, doc["problems"]
    assert doc["problems"][0].startswith("the log was rewritten")
    assert f"the expected head {head_id}:{head_hash[:16]}" in doc["problems"][0]


def test_another_witness_file_is_checked_with_witness(pod, state, tmp_path):
    """A copy of a witness (another member's, or one saved earlier) via --witness."""
    head_id, _ = head_of(pod)
    saved = tmp_path / "saved-witness.json"
    saved.write_text(witness.witness_path(pod).read_text())
    witness.witness_path(pod).unlink()  # as if this user had none
    attack(pod, f"DELETE FROM audit WHERE id = {head_id}")
    code, doc, _ = verify(pod)
    assert code == 0 and doc["witness"]["status"] == "none"
    code, doc, _ = verify(pod, "--witness", str(saved))
    assert code == 1
    assert doc["problems"] == [doc["problems"][0]]
    assert doc["problems"][0].startswith(f"the log was cut: the witness {saved}")


# -- the triggers ---------------------------------------------------------------------------


def test_dropped_triggers_alone_are_reported(pod):
    conn = raw(pod)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    conn.close()
    assert chain_alone(pod) == []
    code, doc, _ = verify(pod)
    assert code == 1
    assert len(doc["problems"]) == 2, doc["problems"]
    assert {p.split(" is missing")[0] for p in doc["problems"]} == {
        "the audit log's append-only trigger audit_no_update",
        "the audit log's append-only trigger audit_no_delete"}


def test_a_trigger_replaced_by_a_no_op_or_added_by_hand_is_reported(pod):
    conn = raw(pod)
    conn.execute("DROP TRIGGER audit_no_delete")
    conn.execute("CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT 1; END")
    conn.execute("CREATE TRIGGER approve_all AFTER INSERT ON gates BEGIN UPDATE gates SET "
                 "status = 'approved', approved_hash = new.content_hash WHERE id = new.id; END")
    conn.close()
    code, doc, _ = verify(pod)
    assert code == 1
    assert doc["problems"] == [
        "the audit log's append-only trigger audit_no_delete was replaced by another definition",
        "unexpected trigger approve_all on table gates: not part of LoomTUI's schema, added by hand",
    ]


# -- decisions and limits changed in the store by hand -------------------------------------------


def test_a_gate_approved_by_raw_sql_is_reported_and_not_recorded(pod):
    conn = raw(pod)
    conn.execute("UPDATE gates SET status = 'approved', approved_hash = content_hash, "
                 "decided_by = 'ana', decided_at = ? WHERE id = 5", (NOW + 10,))
    conn.close()
    assert chain_alone(pod) == []
    code, doc, _ = verify(pod)
    assert code == 1
    assert doc["problems"] == ["gate 5 is approved, but the audit log has no gate.approved entry "
                               "for it: it was decided outside LoomTUI (by hand in the store)"]
    store = connect(db_path(pod))
    try:
        gate = get_gate(store, 5)
        assert gate.status == "approved" and gate.approved_hash == gate.content_hash
        assert audit.decision_recorded(store, gate) is False
    finally:
        store.close()


def test_a_rejected_gate_flipped_to_approved_is_reported_and_not_recorded(pod):
    conn = raw(pod)
    conn.execute("UPDATE gates SET status = 'approved', approved_hash = content_hash WHERE id = 2")
    conn.close()
    code, doc, _ = verify(pod)
    assert code == 1
    assert doc["problems"] == ["gate 2 is approved, but the audit log has no gate.approved entry "
                               "for it: it was decided outside LoomTUI (by hand in the store)"]
    store = connect(db_path(pod))
    try:
        assert audit.decision_recorded(store, get_gate(store, 2)) is False
    finally:
        store.close()


def test_an_approval_pointed_at_other_content_is_reported_and_not_recorded(pod):
    conn = raw(pod)
    conn.execute("UPDATE gates SET approved_hash = ? WHERE id = 1", ("f" * 64,))
    conn.close()
    code, doc, _ = verify(pod)
    assert code == 1
    assert len(doc["problems"]) == 1 and doc["problems"][0].startswith(
        "gate 1 is approved for content ffffffffffffffff…, but its audit entry")
    store = connect(db_path(pod))
    try:
        assert audit.decision_recorded(store, get_gate(store, 1)) is False
    finally:
        store.close()


def test_a_decision_undone_to_pending_is_reported(pod):
    conn = raw(pod)
    conn.execute("UPDATE gates SET status = 'pending', reason = NULL WHERE id = 2")
    conn.close()
    code, doc, _ = verify(pod)
    assert code == 1
    assert len(doc["problems"]) == 1
    assert doc["problems"][0].startswith("gate 2 is pending, but audit entry")
    assert "says it was rejected" in doc["problems"][0]


def test_decision_recorded_refuses_a_forged_entry_that_does_not_hash_or_link(pod):
    """A forged gate.approved entry appended by hand: with a made-up hash it is refused;
    only a correctly hashed, correctly linked forgery passes (see the docs: such an
    entry is indistinguishable from a real one, by design of any hash chain)."""
    conn = raw(pod)
    conn.execute("UPDATE gates SET status = 'approved', approved_hash = content_hash WHERE id = 5")
    content = conn.execute("SELECT content_hash FROM gates WHERE id = 5").fetchone()[0]
    last_id, last_hash = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    detail = json.dumps({"approved_hash": content, "content_hash": content, "reason": ""},
                        sort_keys=True, separators=(",", ":"))
    conn.execute("INSERT INTO audit (ts, actor, action, subject, detail, prev_hash, hash) "
                 "VALUES (?, 'ana', 'gate.approved', 'gate:5', ?, ?, ?)",
                 (NOW + 20, detail, last_hash, "e" * 64))
    store = connect(db_path(pod))
    try:
        assert audit.decision_recorded(store, get_gate(store, 5)) is False  # hash does not recompute
        good = recipe("d" * 64, NOW + 20, "ana", "gate.approved", "gate:5", detail)
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?",
                     ("d" * 64, good, last_id + 1))
        assert audit.decision_recorded(store, get_gate(store, 5)) is False  # does not link
        linked = recipe(last_hash, NOW + 20, "ana", "gate.approved", "gate:5", detail)
        conn.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?",
                     (last_hash, linked, last_id + 1))
        assert audit.decision_recorded(store, get_gate(store, 5)) is True  # the documented limit
    finally:
        store.close()
        conn.close()


def test_a_budget_limit_raised_by_raw_sql_is_reported(pod):
    conn = raw(pod)
    conn.execute("UPDATE budgets SET max_usd = 500.0 WHERE scope = 'agent'")
    conn.close()
    code, doc, _ = verify(pod)
    assert code == 1
    assert len(doc["problems"]) == 1, doc["problems"]
    assert doc["problems"][0].startswith("budget limit agent:1:session is $500.0, but its last "
                                         "audited change (entry")
    assert "set $8.0: it was changed outside LoomTUI" in doc["problems"][0]


def test_a_budget_limit_added_or_deleted_by_raw_sql_is_reported(pod):
    conn = raw(pod)
    conn.execute("INSERT INTO budgets (scope, scope_ref, period, max_tokens, max_usd, set_by, set_at) "
                 "VALUES ('repo', '/srv/shop', 'day', NULL, 1.0, 'ana', 0)")
    conn.execute("DELETE FROM budgets WHERE scope = 'pod'")
    conn.close()
    code, doc, _ = verify(pod)
    assert code == 1
    assert len(doc["problems"]) == 2, doc["problems"]
    assert doc["problems"][0].startswith("budget limit repo:/srv/shop:day ($1.0) has no budget.set "
                                         "audit entry")
    assert doc["problems"][1].startswith("budget limit pod::day (1000000 tokens, audit entry")
    assert "is gone from the store" in doc["problems"][1]


def test_a_limit_cleared_the_normal_way_is_intact(pod):
    conn = connect(db_path(pod))
    try:
        set_limit(conn, scope="pod", scope_ref="", period="day", max_tokens=None, max_usd=None,
                  actor="ana", now=NOW + 200)
    finally:
        conn.close()
    code, doc, _ = verify(pod)
    assert code == 0, doc["problems"]


# -- the witness itself -------------------------------------------------------------------


def test_witness_is_monotonic_and_written_only_after_commit(pod, state):
    path = witness.witness_path(pod)
    head_id, head_hash = head_of(pod)
    assert witness.read(path)["id"] == head_id
    assert witness.record(pod, head_id - 1, "a" * 64) is False  # never backwards
    assert witness.record(pod, head_id, "b" * 64) is False  # nor sideways
    assert (witness.read(path)["id"], witness.read(path)["hash"]) == (head_id, head_hash)

    conn = connect(db_path(pod))
    try:
        with pytest.raises(ZeroDivisionError):
            with transaction(conn):
                audit.append(conn, actor="ana", action="test.step", now=NOW + 300)
                raise ZeroDivisionError
        assert witness.read(path)["id"] == head_id  # rolled back: not witnessed
        with transaction(conn):
            conn.execute("UPDATE agents SET name = name")  # a write that appends nothing
        assert witness.read(path)["id"] == head_id
        with transaction(conn):
            new_id = audit.append(conn, actor="ana", action="test.step", now=NOW + 301)
            new_id = audit.append(conn, actor="ana", action="test.step", now=NOW + 302)
            assert witness.read(path)["id"] == head_id  # not before the commit
        assert (witness.read(path)["id"], witness.read(path)["hash"]) == audit.last(conn)
        assert audit.last(conn)[0] == new_id
    finally:
        conn.close()


def test_a_witness_that_cannot_be_written_warns_once_and_the_write_stands(pod, state, tmp_path):
    """The witness directory is a file: each append still commits; one warning."""
    blocked = tmp_path / "blocked"
    blocked.write_text("not a directory")
    script = f"""
import sys
from pathlib import Path
from loomtui.store import audit
from loomtui.store.db import connect, transaction
conn = connect(Path({str(db_path(pod))!r}))
for i in range(3):
    with transaction(conn):
        audit.append(conn, actor="ana", action="test.step", now=float(i))
print(audit.last(conn)[0])
"""
    before, _ = head_of(pod)
    env = {**os.environ, "XDG_STATE_HOME": str(blocked)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == before + 3
    assert done.stderr.count("cannot write the audit witness") == 1, done.stderr
    assert "Traceback" not in done.stderr


WRITER = """
import json, sys
from pathlib import Path
from loomtui.store import audit, witness
from loomtui.store.db import connect, transaction
db, worker, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = connect(db)
path = witness.witness_path(db.parent)
sys.stdin.readline()  # start together
behind = []
for i in range(n):
    with transaction(conn):
        entry_id = audit.append(conn, actor="w" + worker, action="test.step",
                                subject=f"w{worker}:{i}", now=float(i))
    seen = witness.read(path)["id"]
    if seen < entry_id:  # after my commit, the witness must hold my entry or a later one
        behind.append([entry_id, seen])
print(json.dumps(behind))
"""


def test_witness_stays_monotonic_under_concurrent_writers(pod, state):
    workers, each = 4, 25
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db_path(pod)), str(w), str(each)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=ROOT) for w in range(workers)]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=False):
        assert proc.returncode == 0, err
        assert json.loads(out) == [], "the witness went backwards after a commit"
    head_id, head_hash = head_of(pod)
    recorded = witness.read(witness.witness_path(pod))
    assert (recorded["id"], recorded["hash"]) == (head_id, head_hash)
    code, doc, _ = verify(pod)
    assert code == 0 and doc["intact"], doc["problems"]
    assert doc["entries"] >= workers * each


# -- the command line -------------------------------------------------------------------


def test_bad_expect_and_witness_arguments_are_one_line_errors(pod, tmp_path):
    for args, message in [
        (["--expect", "12"], "--expect wants ID:HASH"),
        (["--expect", "x:" + "a" * 64], "--expect wants ID:HASH"),
        (["--expect", "3:" + "g" * 64], "--expect wants ID:HASH"),
        (["--witness", str(tmp_path / "none.json")], "no witness file"),
    ]:
        code, doc, err = verify(pod, *args)
        assert code == 1 and doc == {}
        assert message in err and len(err.strip().splitlines()) == 1, err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"pod": "/elsewhere", "id": 3, "hash": "a" * 64}))
    code, _, err = verify(pod, "--witness", str(other))
    assert code == 1 and "is for the pod /elsewhere" in err
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    code, _, err = verify(pod, "--witness", str(junk))
    assert code == 1 and "is not valid JSON" in err


def test_an_unreadable_own_witness_is_a_problem(pod):
    witness.witness_path(pod).write_text("")
    code, doc, _ = verify(pod)
    assert code == 1 and doc["witness"]["status"] == "unreadable"
    assert "is not valid JSON" in doc["problems"][0]


# -- cost: nothing on a hot path scans the history ------------------------------------------


def vm_steps(conn: sqlite3.Connection, run) -> int:
    """SQLite virtual-machine instructions `run(conn)` executes (a scan of the log
    costs instructions in proportion to its length)."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    conn.set_progress_handler(tick, 1)
    try:
        run(conn)
    finally:
        conn.set_progress_handler(None, 1)
    return count


def bulk(conn: sqlite3.Connection, n: int) -> None:
    with transaction(conn):
        for i in range(n):
            audit.append(conn, actor="hook", action="gate.created", subject=f"gate:{1000 + i}",
                         detail={"i": i}, now=NOW + 500 + i)


def test_decision_recorded_append_and_gate_checks_do_not_grow_with_the_log(pod):
    """The hook's check, an append (with its witness note) and the pass over the
    gates cost the same with 20 times more history: indexed reads, no scans."""
    conn = connect(db_path(pod))
    try:
        gate = get_gate(conn, 1)

        def measure() -> tuple[int, int, int]:
            return (vm_steps(conn, lambda c: audit.decision_recorded(c, gate)),
                    vm_steps(conn, lambda c: steps(c, 1)),
                    vm_steps(conn, audit.check_gates))

        bulk(conn, 200)
        small = measure()
        bulk(conn, 4000)
        conn.execute("ANALYZE")
        large = measure()
        assert audit.decision_recorded(conn, gate)
        # count(*) is one VM instruction that walks the whole table: look for it by name.
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        steps(conn, 1)
        audit.decision_recorded(conn, gate)
        conn.set_trace_callback(None)
        assert statements and not any("count(" in sql.lower() for sql in statements), statements
        for name, before, after in zip(("decision_recorded", "append", "check_gates"), small, large, strict=False):
            assert after < before * 1.5 + 50, (name, before, after)
    finally:
        conn.close()
