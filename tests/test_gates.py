"""Gates (loomtui/store/gates.py) and `loomtui gates|approve|reject`: created,
ranked, decided exactly once, expired and cancelled gates closed for good, void
approvals of other content, waiting across processes, and the race of 30 waiting
hooks against 4 supervisors."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loomtui.store import audit
from loomtui.store.agents import upsert_agent
from loomtui.store.db import DB_NAME, connect
from loomtui.store.gates import (
    Gate,
    GateConflict,
    GateNotFound,
    approval_matches,
    cancel,
    claim,
    content_hash,
    create_gate,
    decide,
    expire_due,
    get_gate,
    list_gates,
    wait_for_decision,
)
from loomtui.supervisors import account_name
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
NOW = 1_750_000_000.0  # 2025-06-15T15:06:40Z


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / DB_NAME


@pytest.fixture
def conn(path: Path):
    c = connect(path)
    yield c
    c.close()


def make(conn, command: str = "git push origin auth", *, risk: str = "high", now: float = NOW,
         ttl: float = 600, agent_id: int | None = None, tool: str = "Bash") -> Gate:
    return create_gate(conn, agent_id=agent_id, tool=tool, action={"command": command},
                       summary=command, rule="git-push", risk=risk, now=now, expires_at=now + ttl)


def actions(conn) -> list[tuple[str, str, str]]:
    return [(e["action"], e["subject"], e["actor"]) for e in audit.export(conn)]


def child_env() -> dict[str, str]:
    pythonpath = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, pythonpath))}


# -- creating and listing ---------------------------------------------------------------


def test_create_stores_the_gate_and_audits_it(conn):
    agent = upsert_agent(conn, kind="claude", session_id="s-1", name="auth-agent", now=NOW)
    action = {"command": "git   push origin auth", "description": "push"}
    gate = create_gate(conn, agent_id=agent, tool="Bash", action=action,
                       summary="git   push\norigin auth", rule="git-push", risk="high",
                       now=NOW, expires_at=NOW + 600, waiter_pid=4242)
    assert gate == get_gate(conn, gate.id)
    assert (gate.status, gate.agent_id, gate.agent_name) == ("pending", agent, "auth-agent")
    assert gate.action == action and gate.tool == "Bash"
    assert gate.summary == "git push origin auth"  # one line
    assert (gate.created_at, gate.expires_at, gate.waiter_pid) == (NOW, NOW + 600, 4242)
    assert gate.content_hash == content_hash("Bash", action)
    assert gate.approved_hash is gate.decided_by is gate.claimed_by is None
    assert actions(conn) == [("gate.created", f"gate:{gate.id}", "hook")]
    assert audit.export(conn)[0]["detail"]["content_hash"] == gate.content_hash


def test_create_refuses_an_unknown_risk(conn):
    with pytest.raises(ValueError, match="risk"):
        make(conn, risk="spicy")
    assert list_gates(conn, include_all=True) == [] and audit.export(conn) == []


def test_content_hash_is_canonical():
    a = content_hash("Bash", {"command": "ls", "timeout": 5})
    assert a == content_hash("Bash", {"timeout": 5, "command": "ls"})
    assert len(a) == 64 and int(a, 16) >= 0
    assert a != content_hash("Bash", {"command": "ls ", "timeout": 5})
    assert a != content_hash("Shell", {"command": "ls", "timeout": 5})


def test_list_ranks_by_risk_then_age(conn):
    low = make(conn, "a", risk="low", now=NOW - 50)
    med_new = make(conn, "b", risk="medium", now=NOW - 10)
    crit = make(conn, "c", risk="critical", now=NOW - 1)
    med_old = make(conn, "d", risk="medium", now=NOW - 40)
    budget = make(conn, "e", risk="budget", now=NOW - 5)
    high = make(conn, "f", risk="high", now=NOW - 20)
    done = make(conn, "g", risk="critical", now=NOW - 60)
    decide(conn, done.id, approve=True, actor="ana", reason="", now=NOW)
    stale = make(conn, "h", risk="critical", now=NOW - 700, ttl=600)  # past expiry, not swept

    pending = [g.id for g in list_gates(conn, now=NOW)]
    assert pending == [crit.id, high.id, budget.id, med_old.id, med_new.id, low.id]
    everything = [g.id for g in list_gates(conn, include_all=True)]
    assert everything[0] == crit.id and everything[-1] == stale.id  # newest first
    assert sorted(everything) == sorted(pending + [done.id, stale.id])
    assert len(list_gates(conn, include_all=True, limit=3)) == 3


def test_to_json(conn):
    agent = upsert_agent(conn, kind="claude", session_id="s-1", name="auth-agent", now=NOW)
    gate = make(conn, agent_id=agent)
    data = decide(conn, gate.id, approve=False, actor="bob", reason="not on Friday",
                  now=NOW + 3).to_json()
    for key in ("id", "status", "agent", "tool", "summary", "risk", "rule", "created_at",
                "expires_at", "decided_by", "reason"):
        assert key in data
    assert data["status"] == "rejected" and data["agent"] == "auth-agent"
    assert data["created_at"] == "2025-06-15T15:06:40Z"
    assert data["expires_at"] == "2025-06-15T15:16:40Z"
    assert data["decided_at"] == "2025-06-15T15:06:43Z"
    assert (data["decided_by"], data["reason"]) == ("bob", "not on Friday")
    json.dumps(data)


# -- deciding ----------------------------------------------------------------------------


def test_approve(conn):
    gate = make(conn)
    approved = decide(conn, gate.id, approve=True, actor="ana", reason="", now=NOW + 5)
    assert (approved.status, approved.decided_by, approved.decided_at) == ("approved", "ana", NOW + 5)
    assert approved.reason is None
    assert approved.approved_hash == gate.content_hash
    assert approval_matches(approved)
    assert actions(conn)[-1] == ("gate.approved", f"gate:{gate.id}", "ana")


def test_reject_needs_a_reason(conn):
    gate = make(conn)
    for reason in ("", "   "):
        with pytest.raises(ValueError, match="reason"):
            decide(conn, gate.id, approve=False, actor="ana", reason=reason, now=NOW + 1)
    assert get_gate(conn, gate.id).status == "pending"
    rejected = decide(conn, gate.id, approve=False, actor="ana", reason=" use a PR ", now=NOW + 2)
    assert (rejected.status, rejected.reason, rejected.approved_hash) == ("rejected", "use a PR", None)
    assert not approval_matches(rejected)
    assert audit.export(conn)[-1]["detail"]["reason"] == "use a PR"


def test_second_decision_is_told_who_won(conn):
    gate = make(conn)
    decide(conn, gate.id, approve=True, actor="bob", reason="ok", now=NOW + 3)
    with pytest.raises(GateConflict, match=r"already approved by bob at 15:06:43Z") as info:
        decide(conn, gate.id, approve=False, actor="carol", reason="no", now=NOW + 4)
    assert info.value.gate.decided_by == "bob"
    with pytest.raises(GateConflict, match="already approved by bob"):
        decide(conn, gate.id, approve=True, actor="bob", reason="", now=NOW + 4)
    after = get_gate(conn, gate.id)
    assert (after.status, after.decided_by, after.reason) == ("approved", "bob", "ok")
    assert [a for a, *_ in actions(conn)].count("gate.approved") == 1
    assert "gate.rejected" not in [a for a, *_ in actions(conn)]


def test_conflict_on_another_day_names_the_date(conn):
    gate = make(conn, ttl=10 * 86400)
    decide(conn, gate.id, approve=False, actor="bob", reason="no", now=NOW)
    with pytest.raises(GateConflict, match=r"rejected by bob at 2025-06-15 15:06:40Z \(no\)"):
        decide(conn, gate.id, approve=True, actor="ana", reason="", now=NOW + 2 * 86400)


def test_expired_gate_cannot_be_decided(conn):
    gate = make(conn, ttl=10)
    with pytest.raises(GateConflict, match=r"expired at 15:06:50Z"):
        decide(conn, gate.id, approve=True, actor="ana", reason="", now=NOW + 10)
    assert get_gate(conn, gate.id).status == "expired"  # marked on the way
    assert actions(conn)[-1] == ("gate.expired", f"gate:{gate.id}", "system")

    other = make(conn, "git push --force", ttl=10)
    assert expire_due(conn, now=NOW + 9) == []
    assert expire_due(conn, now=NOW + 11) == [other.id]
    assert expire_due(conn, now=NOW + 12) == []
    with pytest.raises(GateConflict, match="expired"):
        decide(conn, other.id, approve=False, actor="ana", reason="late", now=NOW + 12)
    with pytest.raises(GateConflict, match="expired"):
        claim(conn, other.id, actor="ana", now=NOW + 12)
    assert [a for a, *_ in actions(conn)].count("gate.expired") == 2


def test_cancelled_gate_cannot_be_decided(conn):
    gate = make(conn)
    assert cancel(conn, gate.id, actor="hook", reason="the waiting hook was killed", now=NOW + 1)
    assert not cancel(conn, gate.id, actor="hook", reason="again", now=NOW + 2)
    with pytest.raises(GateConflict, match="cancelled at 15:06:41Z by hook: the waiting hook was killed"):
        decide(conn, gate.id, approve=True, actor="ana", reason="", now=NOW + 3)
    assert get_gate(conn, gate.id).status == "cancelled"
    decided = make(conn, "x")
    decide(conn, decided.id, approve=True, actor="ana", reason="", now=NOW)
    assert not cancel(conn, decided.id, actor="hook", reason="late", now=NOW + 1)
    assert get_gate(conn, decided.id).status == "approved"
    assert [a for a, *_ in actions(conn)].count("gate.cancelled") == 1


def test_missing_gate(conn):
    with pytest.raises(GateNotFound, match="no gate 7"):
        get_gate(conn, 7)
    with pytest.raises(GateNotFound):
        decide(conn, 7, approve=True, actor="ana", reason="", now=NOW)
    with pytest.raises(GateNotFound):
        claim(conn, 7, actor="ana", now=NOW)
    assert not cancel(conn, 7, actor="hook", reason="x", now=NOW)
    assert audit.export(conn) == []


def test_claim_is_a_hint_others_may_take_over(conn):
    gate = make(conn)
    assert claim(conn, gate.id, actor="ana", now=NOW + 1).claimed_by == "ana"
    again = claim(conn, gate.id, actor="bob", now=NOW + 2)
    assert (again.claimed_by, again.claimed_at, again.status) == ("bob", NOW + 2, "pending")
    claims = [e for e in audit.export(conn) if e["action"] == "gate.claimed"]
    assert [(e["actor"], e["detail"]["previous"]) for e in claims] == [("ana", None), ("bob", "ana")]
    decide(conn, gate.id, approve=True, actor="ana", reason="", now=NOW + 3)
    with pytest.raises(GateConflict, match="already approved by ana"):
        claim(conn, gate.id, actor="bob", now=NOW + 4)


def test_approval_of_other_content_is_void(conn, path):
    gate = make(conn)
    seen_other = decide(conn, gate.id, approve=True, actor="ana", reason="", now=NOW,
                        seen_hash=content_hash("Bash", {"command": "git push origin main"}))
    assert seen_other.status == "approved" and not approval_matches(seen_other)

    fine = make(conn, "git push origin docs")
    fine = decide(conn, fine.id, approve=True, actor="ana", reason="", now=NOW,
                  seen_hash=fine.content_hash)
    assert approval_matches(fine)
    # The stored action changed after the approval: the approval no longer covers it.
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("UPDATE gates SET action = ? WHERE id = ?",
                    (json.dumps({"command": "git push --force origin docs"}), fine.id))
    raw.close()
    assert not approval_matches(get_gate(conn, fine.id))


# -- waiting ---------------------------------------------------------------------------

WAIT_SCRIPT = r"""
import json, pathlib, sys, time
from loomtui.store.db import connect
from loomtui.store.gates import wait_for_decision
conn = connect(pathlib.Path(sys.argv[1]))
print("ready", flush=True)
gate = wait_for_decision(conn, int(sys.argv[2]), deadline=time.time() + float(sys.argv[3]))
print(json.dumps({"status": gate.status, "by": gate.decided_by, "reason": gate.reason,
                  "t": time.time()}))
"""


def asleep(pid: int) -> bool:
    """Is process `pid` sleeping (state S in /proc/PID/stat)? Where there is no /proc,
    True: the decision may then come before the wait begins, which the test accepts too."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return not Path("/proc/self/stat").exists()
    return stat.rsplit(")", 1)[1].split()[0] == "S"


def test_wait_returns_a_decision_made_by_another_process(conn, path):
    gate = make(conn, now=time.time())
    waiter = subprocess.Popen([sys.executable, "-c", WAIT_SCRIPT, str(path), str(gate.id), "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=child_env())
    try:
        assert waiter.stdout.readline().strip() == "ready", waiter.stderr.read()
        # decide while it waits: after "ready" the only sleep is the one between polls
        wait_for(lambda: asleep(waiter.pid) or waiter.poll() is not None, "the waiter to sleep in its wait",
                 interval=0.005)
        decided_at = time.time()
        decide(conn, gate.id, approve=False, actor="bob", reason="use a PR", now=decided_at)
        out, err = waiter.communicate(timeout=10)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 0, err
    result = json.loads(out)
    assert (result["status"], result["by"], result["reason"]) == ("rejected", "bob", "use a PR")
    assert result["t"] - decided_at < 2.0  # woken promptly (the benchmark measures p95)


def test_wait_expires_the_gate_at_the_deadline(conn):
    start = time.time()
    gate = make(conn, now=start, ttl=600)
    final = wait_for_decision(conn, gate.id, deadline=start + 0.3, interval=0.02)
    elapsed = time.time() - start
    assert final.status == "expired" and final.decided_by == "system"
    assert 0.3 <= elapsed < 3.0
    assert actions(conn)[-1] == ("gate.expired", f"gate:{gate.id}", "system")
    with pytest.raises(GateConflict, match="expired"):
        decide(conn, gate.id, approve=True, actor="ana", reason="", now=time.time())


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


class Spy:
    """A connection that counts reads of the gate row and can fail on cue."""

    def __init__(self, conn, fail_with: list[str] | None = None) -> None:
        self.conn = conn
        self.row_reads = 0
        self.fail_with = list(fail_with or [])

    def execute(self, sql, *args):
        if "data_version" in sql and self.fail_with:
            raise sqlite3.OperationalError(self.fail_with.pop(0))
        if "FROM gates g" in sql:
            self.row_reads += 1
        return self.conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.conn, name)


def test_wait_rereads_the_row_only_when_the_store_changed(conn, path):
    gate = make(conn)
    clock = Clock(NOW)
    spy = Spy(conn)
    other = connect(path)
    try:
        def sleep(seconds: float) -> None:
            clock.sleep(seconds)
            if len(clock.sleeps) == 10:  # another process commits something unrelated
                make(other, "unrelated")
            if len(clock.sleeps) == 20:
                decide(other, gate.id, approve=True, actor="bob", reason="", now=clock.t)

        final = wait_for_decision(spy, gate.id, deadline=NOW + 60, interval=0.05,
                                  clock=clock, sleep=sleep)
    finally:
        other.close()
    assert final.status == "approved" and final.decided_by == "bob"
    assert spy.row_reads == 3  # the first look, the unrelated commit, the decision
    assert all(s == 0.05 for s in clock.sleeps) and len(clock.sleeps) == 20


def test_wait_at_the_deadline_returns_a_decision_that_raced_in(conn, path):
    gate = make(conn)
    other = connect(path)
    try:
        class RacingClock(Clock):
            def __call__(self) -> float:
                if self.t >= NOW + 1 and get_gate(other, gate.id).status == "pending":
                    decide(other, gate.id, approve=True, actor="bob", reason="just in time",
                           now=self.t)
                return self.t

        clock = RacingClock(NOW)
        final = wait_for_decision(conn, gate.id, deadline=NOW + 1, interval=0.25, clock=clock,
                                  sleep=clock.sleep)
    finally:
        other.close()
    assert (final.status, final.reason) == ("approved", "just in time")
    assert "gate.expired" not in [a for a, *_ in actions(conn)]


def test_wait_rides_out_a_locked_store_but_not_other_errors(conn):
    gate = make(conn)
    decide(conn, gate.id, approve=True, actor="bob", reason="", now=NOW)
    clock = Clock(NOW)
    spy = Spy(conn, fail_with=["database is locked"] * 3)
    final = wait_for_decision(spy, gate.id, deadline=NOW + 60, clock=clock, sleep=clock.sleep)
    assert final.status == "approved" and len(clock.sleeps) == 3

    spy = Spy(conn, fail_with=["disk I/O error"])
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        wait_for_decision(spy, gate.id, deadline=NOW + 60, clock=clock, sleep=clock.sleep)

    # A store locked for good: give up (the hook denies) a little after the deadline.
    pending = make(conn, "other")
    clock = Clock(NOW)
    spy = Spy(conn, fail_with=["database is locked"] * 10_000)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        wait_for_decision(spy, pending.id, deadline=NOW + 1, clock=clock, sleep=clock.sleep)
    assert NOW + 1 < clock.t < NOW + 10


def test_wait_for_a_missing_gate(conn):
    with pytest.raises(GateNotFound):
        wait_for_decision(conn, 99, deadline=time.time() + 1)


# -- the race: 30 waiting hooks, 4 supervisors -----------------------------------------

WAITERS = 30
DECIDERS = 4

WAITER_SCRIPT = r"""
import json, os, pathlib, sys, time
from loomtui.store.db import connect
from loomtui.store.gates import create_gate, wait_for_decision
path, index = pathlib.Path(sys.argv[1]), int(sys.argv[2])
conn = connect(path)
print("ready", flush=True)
sys.stdin.readline()
now = time.time()
gate = create_gate(conn, agent_id=None, tool="Bash", action={"command": f"git push origin b{index}"},
                   summary=f"git push origin b{index}", rule="git-push",
                   risk=("low", "medium", "high", "critical")[index % 4], now=now,
                   expires_at=now + 120, waiter_pid=os.getpid())
final = wait_for_decision(conn, gate.id, deadline=now + 40)
print(json.dumps({"index": index, "id": gate.id, "status": final.status, "by": final.decided_by,
                  "reason": final.reason, "approved_hash": final.approved_hash}))
"""

DECIDER_SCRIPT = r"""
import json, pathlib, random, sys, time
from loomtui.store.db import connect
from loomtui.store.gates import GateConflict, GateNotFound, decide
path, name, count, seed = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
conn = connect(path)
print("ready", flush=True)
sys.stdin.readline()
outcomes, remaining, give_up = {}, set(range(1, count + 1)), time.time() + 40
while remaining and time.time() < give_up:
    for gate_id in rng.sample(sorted(remaining), len(remaining)):
        approve = rng.random() < 0.5
        reason = f"{name} {'approves' if approve else 'rejects'} {gate_id}"
        try:
            gate = decide(conn, gate_id, approve=approve, actor=name, reason=reason, now=time.time())
            outcomes[gate_id] = {"won": True, "status": gate.status, "reason": gate.reason}
        except GateConflict as exc:
            outcomes[gate_id] = {"won": False, "message": str(exc)}
        except GateNotFound:
            continue
        remaining.discard(gate_id)
    time.sleep(0.01)
print(json.dumps({"name": name, "outcomes": outcomes}))
"""


def test_thirty_waiting_hooks_four_racing_supervisors(path):
    connect(path).close()
    env = child_env()
    procs = [
        subprocess.Popen([sys.executable, "-c", WAITER_SCRIPT, str(path), str(i)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
        for i in range(WAITERS)
    ] + [
        subprocess.Popen([sys.executable, "-c", DECIDER_SCRIPT, str(path), f"sup{d}", str(WAITERS),
                          str(d)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
        for d in range(DECIDERS)
    ]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                pytest.fail(f"a process failed before the start:\n{p.communicate(timeout=10)[1]}")
        for p in procs:  # release everyone at once
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    waiters, deciders = reports[:WAITERS], reports[WAITERS:]

    conn = connect(path)
    try:
        gates = {g.id: g for g in list_gates(conn, include_all=True)}
        entries = audit.export(conn)
        problems = audit.verify(conn)
    finally:
        conn.close()

    assert sorted(gates) == list(range(1, WAITERS + 1))
    assert sorted(w["id"] for w in waiters) == sorted(gates)
    for gate_id, gate in gates.items():
        assert gate.status in ("approved", "rejected"), gate
        winners = [d["name"] for d in deciders if d["outcomes"][str(gate_id)]["won"]]
        assert winners == [gate.decided_by], (gate_id, winners)  # exactly one, the recorded one
        won = next(d for d in deciders if d["name"] == gate.decided_by)["outcomes"][str(gate_id)]
        assert (won["status"], won["reason"]) == (gate.status, gate.reason)
        for d in deciders:
            outcome = d["outcomes"][str(gate_id)]
            if not outcome["won"]:
                assert f"already {gate.status} by {gate.decided_by} at " in outcome["message"]
        if gate.status == "approved":
            assert approval_matches(gate)
    for w in waiters:  # every hook got exactly the recorded decision
        gate = gates[w["id"]]
        assert (w["status"], w["by"], w["reason"], w["approved_hash"]) == (
            gate.status, gate.decided_by, gate.reason, gate.approved_hash)
        assert gate.action == {"command": f"git push origin b{w['index']}"}

    assert problems == []
    kinds = [e["action"] for e in entries]
    assert kinds.count("gate.created") == WAITERS
    assert kinds.count("gate.approved") + kinds.count("gate.rejected") == WAITERS
    assert len(entries) == 2 * WAITERS
    decided_subjects = [e["subject"] for e in entries if e["action"] != "gate.created"]
    assert sorted(decided_subjects) == sorted(f"gate:{i}" for i in gates)


# -- the command line ----------------------------------------------------------------------


def loom(*args: str, pod: Path, user: str = "ana") -> subprocess.CompletedProcess[str]:
    env = {**child_env(), "LOOM_HOME": str(pod), "LOOM_USER": user, "PYTHONIOENCODING": "utf-8",
           "COLUMNS": "120"}
    env.pop("LOOM_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "loomtui", *args], env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=60, cwd=pod.parent)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


@pytest.fixture
def pod(tmp_path: Path):
    pod = tmp_path / "pod"
    c = connect(pod / DB_NAME)
    now = time.time()
    agent = upsert_agent(c, kind="claude", session_id="s-1", name="auth-agent", now=now)
    make(c, "git push origin auth", risk="high", now=now - 125, agent_id=agent)
    make(c, "git push --force origin main", risk="critical", now=now - 5, agent_id=agent)
    make(c, "npm publish", risk="medium", now=now - 700, ttl=600)  # due: swept by `gates`
    claim(c, 1, actor="bob", now=now)
    c.close()
    return pod


def test_cli_gates_lists_pending_ranked(pod):
    done = loom("gates", pod=pod)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["ID", "RISK", "AGENT", "TOOL", "SUMMARY", "AGE",
                                             "EXPIRES IN", "CLAIMED BY"]
    assert len(lines) == 3
    assert re.split(r"\s{2,}", lines[1])[:5] == ["2", "critical", "auth-agent", "Bash",
                                                 "git push --force origin main"]
    first = re.split(r"\s{2,}", lines[2])
    assert first[:5] == ["1", "high", "auth-agent", "Bash", "git push origin auth"]
    assert re.fullmatch(r"2m0\ds", first[5]) and re.fullmatch(r"\d+m\d\ds", first[6])
    assert first[7] == "bob"


def test_cli_gates_json_and_all(pod):
    data = json.loads(loom("gates", "--json", pod=pod).stdout)
    assert [g["id"] for g in data["gates"]] == [2, 1]
    assert data["gates"][1]["claimed_by"] == "bob" and data["gates"][1]["agent"] == "auth-agent"
    assert data["gates"][0]["created_at"].endswith("Z")

    everything = json.loads(loom("gates", "--json", "--all", pod=pod).stdout)["gates"]
    assert {g["id"]: g["status"] for g in everything} == {1: "pending", 2: "pending", 3: "expired"}
    plain = loom("gates", "--all", pod=pod).stdout
    assert "STATUS" in plain and "expired" in plain


def test_cli_approve_and_reject(pod):
    done = loom("approve", "2", pod=pod)
    assert (done.returncode, done.stdout.strip()) == (0, "approved gate 2 (git push --force origin main)")
    done = loom("reject", "1", "--reason", "open a PR instead", pod=pod, user="bob")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rejected gate 1 (git push origin auth): open a PR instead"
    assert loom("gates", pod=pod).stdout.strip() == "no pending gates"

    c = connect(pod / DB_NAME)
    try:
        # The decider is the OS account running the command; LOOM_USER only names it.
        me = account_name(os.geteuid())
        assert (get_gate(c, 2).decided_by, get_gate(c, 2).decided_name) == (me, "ana")
        assert (get_gate(c, 1).decided_by, get_gate(c, 1).decided_name) == (me, "bob")
        assert approval_matches(get_gate(c, 2))
        assert audit.verify(c) == []
    finally:
        c.close()


def test_cli_decision_conflicts_and_errors(pod):
    assert loom("approve", "1", "--reason", "fine", pod=pod, user="bob").returncode == 0
    done = loom("reject", "1", "--reason", "no", pod=pod)
    assert done.returncode == 1
    me = re.escape(account_name(os.geteuid()))
    assert re.fullmatch(rf"loomtui reject: gate 1 was already approved by {me} \(bob\) at "
                        r"\d\d:\d\d:\d\dZ \(fine\)\n", done.stderr)
    done = loom("approve", "3", pod=pod)  # past its expiry
    assert done.returncode == 1 and "gate 3 expired at" in done.stderr
    done = loom("approve", "42", pod=pod)
    assert (done.returncode, done.stderr) == (1, "loomtui approve: there is no gate 42\n")
    done = loom("reject", "2", "--reason", "  ", pod=pod)
    assert done.returncode == 1 and "reason is required" in done.stderr
    assert loom("reject", "2", pod=pod).returncode == 2  # argparse: --reason is required


def test_cli_without_a_pod(tmp_path):
    done = loom("gates", pod=tmp_path / "nowhere")
    assert done.returncode == 1 and "no pod store" in done.stderr
    assert not (tmp_path / "nowhere").exists()
