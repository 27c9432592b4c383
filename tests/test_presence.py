"""Presence and claims in the store (loomtui/store/presence.py, gates.claim/unclaim):
consoles announce themselves, go stale after three heartbeats or leave, and the
claims made from them lapse with them; claiming and unclaiming are audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from loomtui.store import audit, presence
from loomtui.store.agents import upsert_agent
from loomtui.store.db import DB_NAME, connect
from loomtui.store.gates import GateConflict, claim, create_gate, decide, get_gate, unclaim

NOW = 1_750_000_000.0


@pytest.fixture
def conn(tmp_path: Path):
    c = connect(tmp_path / DB_NAME)
    yield c
    c.close()


def gate(conn, summary: str = "git push origin main") -> int:
    agent_id = upsert_agent(conn, kind="claude", now=NOW, session_id=f"s-{summary}", name="auth-1")
    return create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": summary},
                       summary=summary, rule="push", risk="high", now=NOW, expires_at=NOW + 600).id


def here(conn, pid: str, who: str, *, now: float = NOW, screen: str = "inbox", subject: str = "") -> None:
    presence.announce(conn, pid, account="ops", display=who, screen=screen, subject=subject, now=now,
                      host="box")


def actions(conn, subject: str) -> list[tuple[str, str, dict]]:
    return [(e["actor"], e["action"], e["detail"]) for e in audit.export(conn) if e["subject"] == subject]


def test_announce_lists_live_consoles_with_what_they_look_at(conn) -> None:
    here(conn, "c1", "alice", screen="agent", subject="auth-1")
    here(conn, "c2", "bob", screen="gate", subject="12")
    here(conn, "c1", "alice", now=NOW + 2, screen="inbox")  # a heartbeat: the same row, moved on
    rows = presence.live(conn, now=NOW + 3)
    assert [(p.id, p.display, p.looking_at, p.seen_at) for p in rows] == [
        ("c1", "alice", "inbox", NOW + 2), ("c2", "bob", "gate 12", NOW)]
    assert [p.id for p in presence.others(rows, "c1")] == ["c2"]


def test_a_console_silent_for_three_heartbeats_is_gone_and_swept(conn) -> None:
    here(conn, "c1", "alice")
    here(conn, "c2", "bob", now=NOW + presence.STALE_AFTER)
    edge = NOW + presence.STALE_AFTER  # alice's last heartbeat is exactly STALE_AFTER old: still live
    assert {p.id for p in presence.live(conn, now=edge)} == {"c1", "c2"}
    later = edge + 0.5
    assert {p.id for p in presence.live(conn, now=later)} == {"c2"}
    assert presence.sweep(conn, now=later) == []  # no claims to release, but the row goes
    assert conn.execute("SELECT id FROM presence").fetchall() == [("c2",)]


def test_claim_and_unclaim_are_audited_with_who_and_from_where(conn) -> None:
    gate_id = gate(conn)
    here(conn, "c1", "alice")
    claimed = claim(conn, gate_id, actor="ops", display="alice", now=NOW + 1, presence="c1")
    assert (claimed.claimed_by, claimed.claimed_name, claimed.claimed_presence, claimed.claimed_at) == \
        ("ops", "alice", "c1", NOW + 1)
    held = presence.live_claim(claimed, {"c1"})
    assert held == presence.Claim("ops", "alice", NOW + 1, "c1")
    assert presence.held_by(held, "c1", "x", "y") and presence.held_by(held, "c9", "ops", "alice")
    assert not presence.held_by(held, "c2", "ops", "bob")
    freed = unclaim(conn, gate_id, actor="ops", display="alice", now=NOW + 2)
    assert (freed.claimed_by, freed.claimed_name, freed.claimed_presence) == (None, None, None)
    assert unclaim(conn, gate_id, actor="ops", now=NOW + 3).claimed_by is None  # nothing to give up
    assert actions(conn, f"gate:{gate_id}")[1:] == [
        ("ops", "gate.claimed", {"previous": None, "as": "alice"}),
        ("ops", "gate.unclaimed", {"previous": "ops", "previous_as": "alice", "as": "alice"}),
    ]
    assert audit.verify(conn) == []


def test_a_claim_lapses_with_its_console_and_a_sweep_clears_it(conn) -> None:
    gate_id = gate(conn)
    here(conn, "c1", "alice")
    claim(conn, gate_id, actor="ops", display="alice", now=NOW, presence="c1")
    later = NOW + presence.STALE_AFTER + 1
    here(conn, "c2", "bob", now=later)
    # Before any sweep, the claim already reads as unclaimed: its console is not live.
    live_ids = {p.id for p in presence.live(conn, now=later)}
    assert presence.live_claim(get_gate(conn, gate_id), live_ids) is None
    assert presence.sweep(conn, now=later) == [gate_id]
    assert get_gate(conn, gate_id).claimed_by is None
    assert actions(conn, f"gate:{gate_id}")[-1] == (
        "system", "gate.unclaimed", {"previous": "ops", "previous_as": "alice",
                                     "lapsed": "its console went away"})
    assert presence.sweep(conn, now=later) == []  # nothing left to do: no write
    assert audit.verify(conn) == []


def test_leaving_removes_the_row_and_releases_its_claims_only(conn) -> None:
    mine, theirs = gate(conn, "git push a"), gate(conn, "git push b")
    here(conn, "c1", "alice")
    here(conn, "c2", "bob")
    claim(conn, mine, actor="ops", display="alice", now=NOW, presence="c1")
    claim(conn, theirs, actor="ops", display="bob", now=NOW, presence="c2")
    assert presence.leave(conn, "c1", now=NOW + 1) == [mine]
    assert [p.id for p in presence.live(conn, now=NOW + 1)] == ["c2"]
    assert get_gate(conn, mine).claimed_by is None
    assert get_gate(conn, theirs).claimed_name == "bob"


def test_a_claim_from_before_presence_holds_and_a_new_claim_replaces_a_lapsed_one(conn) -> None:
    gate_id = gate(conn)
    old = claim(conn, gate_id, actor="ops", display="ana", now=NOW)  # no console named
    assert presence.live_claim(old, set()) == presence.Claim("ops", "ana", NOW, None)
    claim(conn, gate_id, actor="ops", display="alice", now=NOW + 1, presence="gone")
    assert presence.live_claim(get_gate(conn, gate_id), set()) is None  # its console is not live
    taken = claim(conn, gate_id, actor="ops", display="bob", now=NOW + 2, presence="c2")
    assert presence.live_claim(taken, {"c2"}).who == "bob"


def test_unclaiming_a_decided_gate_says_who_decided(conn) -> None:
    gate_id = gate(conn)
    decide(conn, gate_id, approve=True, actor="sam", display="sam (simulated)", reason="", now=NOW + 1)
    with pytest.raises(GateConflict, match="already approved by sam"):
        unclaim(conn, gate_id, actor="ops", now=NOW + 2)


def test_ago_reads_as_a_sentence() -> None:
    assert [presence.ago(s) for s in (5, 61, 180, 7300)] == ["just now", "1 min ago", "3 min ago", "2 h ago"]


def test_who_is_online_reads_richest_first_in_the_room_there_is() -> None:
    from loomtui.tui.online import claim_label, names_room, online

    rows = [presence.Presence("c1", "ops", "alice", "inbox", "", "box", 1, NOW, NOW),
            presence.Presence("c2", "ops", "bob", "gate", "12", "box", 2, NOW, NOW),
            presence.Presence("c3", "ops", "alice", "agent", "auth-1", "box", 3, NOW, NOW)]
    full = "online: alice (inbox, agent auth-1), bob (gate 12)"
    assert online(rows, 80) == full
    assert online(rows, len(full) - 1) == "online: alice, bob"
    assert online(rows, 12) == "+2 online"
    assert online(rows, 5) == "" and online([], 80) == ""
    assert names_room(rows) == len("  online: alice, bob")
    claim = presence.Claim("ops", "alice", NOW - 180, "c1")
    assert claim_label(claim, NOW, mine=False) == "alice 3m"
    assert claim_label(claim, NOW, mine=True) == "you 3m"
    assert claim_label(None, NOW, mine=False) == ""


def test_pod_actions_refuse_someone_elses_claim_unless_confirmed(tmp_path: Path) -> None:
    """The console's store commands check the claim as it is now, not as the screen last
    saw it: a gate claimed meanwhile is not decided, nor taken over, unless confirmed."""
    import os

    from loomtui.actions import PodActions
    from loomtui.config import Config
    from loomtui.store.db import db_path
    from loomtui.supervisors import Decider, account_name
    from tests.pods import NOW as POD_NOW
    from tests.pods import make_pod

    pod = make_pod(tmp_path)
    me = account_name(os.geteuid())
    alice = PodActions(pod, Config(), Decider(me, "alice"), clock=lambda: POD_NOW)
    conn = connect(db_path(pod))
    try:
        agent_id = conn.execute("SELECT id FROM agents WHERE name = 'auth-api'").fetchone()[0]
        made = [create_gate(conn, agent_id=agent_id, tool="Bash", action={"command": f"git push {n}"},
                            summary=f"git push {n}", rule="push", risk="high", now=POD_NOW,
                            expires_at=POD_NOW + 600) for n in (1, 2)]
        presence.announce(conn, "bobs", account=me, display="bob", screen="inbox", subject="",
                          now=POD_NOW, host="box")
        for gate_ in made:
            claim(conn, gate_.id, actor=me, display="bob", now=POD_NOW - 120, presence="bobs")
    finally:
        conn.close()
    first, second = made
    [refused] = alice.decide_gates([first], approve=True, reason="")
    assert (refused.ok, refused.message) == (False, f"gate {first.id} was not decided: bob claimed it 2 min ago")
    [done] = alice.decide_gates([first], approve=True, reason="", override_claims=True)
    assert done.ok and first.id in alice.decided_here
    assert alice.toggle_claim(second.id)[:2] == (False, f"gate {second.id} is claimed by bob 2 min ago")
    assert alice.toggle_claim(second.id, take_over=True)[:2] == (True, f"Claimed gate {second.id} from bob")
    assert alice.toggle_claim(second.id)[:2] == (True, f"Unclaimed gate {second.id}")
    conn = connect(db_path(pod))
    try:
        assert get_gate(conn, second.id).claimed_by is None
        trail = [(e["action"], e["detail"].get("as")) for e in audit.export(conn)
                 if e["subject"] == f"gate:{second.id}"]
        assert trail == [("gate.created", None), ("gate.claimed", "bob"), ("gate.claimed", "alice"),
                         ("gate.unclaimed", "alice")]
    finally:
        conn.close()
