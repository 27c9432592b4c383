"""The demo's shared memory: with `memory=True` the pod starts with the
supervisors' notes (two pinned conventions, a few decisions and facts), every simulated
agent reads what the real SessionStart hook injects, and while working the agents write
decisions (which wait for review), facts, warnings and, at session end, handoffs, as
themselves with their provenance. Sam reviews some proposals; the others wait for the
person at the console. None of it touches the simulation's main random generator: the
event stream is the same with memory on or off, and memory off writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from loomtui.hooks.protocol import Answer
from loomtui.memory.entries import Entry, counts, history, list_entries
from loomtui.sim.engine import Simulation
from loomtui.sim.memory_notes import context_entries
from loomtui.sim.pod import DEMO_STALL_SECONDS, DemoPod, create_demo_pod
from loomtui.sim.scenario import SAM, SEED_MEMORY
from loomtui.store.db import connect, db_path
from tests.gitrepos import isolate
from tests.waiting import wait_for

SEED = 5
AGENTS = 8
START = 1_700_000_000.0
STEP = 0.5
MINUTES = 5


@dataclass
class Run:
    demo: DemoPod
    sim: Simulation
    conn: object
    joined: int  # agents registered by start(); the later ones joined while the pod ran

    def entries(self) -> list[Entry]:
        return list_entries(self.conn, statuses=None, limit=10_000)


def simulate(root: Path, *, memory: bool, minutes: float = MINUTES) -> Run:
    demo = create_demo_pod(AGENTS, root=root)
    now = [START]
    conn = connect(db_path(demo.pod))
    sim = Simulation(conn, demo.repo, demo.worktrees, seed=SEED, clock=lambda: now[0],
                     stall_seconds=DEMO_STALL_SECONDS, edits=True, memory=memory)
    sim.start(AGENTS)
    joined = len(sim.agents)
    for i in range(1, int(minutes * 60 / STEP) + 1):
        now[0] = START + i * STEP
        sim.step()
    sim.close()
    return Run(demo, sim, conn, joined)


def events(run: Run) -> list[tuple]:
    """Every event: who, what kind, which tool, when (the gates close() cancels at the
    end, in no particular order, sorted); then every agent's status and every gate's."""
    rows = run.conn.execute("""SELECT a.session_id, e.kind, e.tool, e.ts FROM events e
                               JOIN agents a ON a.id = e.agent_id ORDER BY e.id""").fetchall()
    cancelled = sorted(r for r in rows if r[1] == "gate_cancelled")
    agents = run.conn.execute("SELECT session_id, name, status, status_reason FROM agents ORDER BY id")
    gates = run.conn.execute("SELECT id, agent_id, tool, rule, status, decided_by FROM gates ORDER BY id")
    return [r for r in rows if r[1] != "gate_cancelled"] + cancelled + agents.fetchall() + gates.fetchall()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("memory")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root / "home")
        mp.delenv("LOOM_CONFIG", raising=False)
        result = simulate(root / "demo", memory=True)
        yield result
    result.conn.close()


def test_the_pod_starts_with_the_supervisors_notes(run: Run) -> None:
    seeded = [e for e in run.entries() if e.author_kind == "supervisor"]
    assert [e.title for e in sorted(seeded, key=lambda e: e.id)] == [s[2] for s in SEED_MEMORY]
    pinned = [e for e in seeded if e.pinned]
    assert len(pinned) == 2 and {e.kind for e in pinned} == {"convention"}
    assert {e.title for e in pinned} == {"Run the tests before pushing", "Migrations go through review"}
    assert all(e.status == "active" for e in seeded)
    assert 3 <= len(seeded) - len(pinned) <= 4
    assert {e.kind for e in seeded if not e.pinned} <= {"decision", "fact", "warning"}
    # written days before the pod ran; repo notes are scoped to the demo repository as the
    # hook records it on the agents, so that SessionStart finds them
    assert all(e.created_at < START - 86400 for e in seeded)
    repos = {r for (r,) in run.conn.execute("SELECT DISTINCT repo FROM agents")}
    assert {e.scope_ref for e in seeded if e.scope == "repo"} == repos


def test_every_agent_read_the_pinned_notes_at_session_start(run: Run) -> None:
    pinned = {e.id for e in run.entries() if e.pinned}
    assert len(run.sim.agents) > run.joined, "nobody joined while the pod ran"
    for agent in run.sim.agents:
        assert agent.memory_read == len(agent.memory_ids) > len(pinned)
        assert pinned <= set(agent.memory_ids[:len(pinned)]), agent.name  # pinned come first
    # agents that joined later also read what the agents before them wrote
    written = set(run.sim.memory_written)
    assert any(written & set(a.memory_ids) for a in run.sim.agents[run.joined:])


def test_agents_write_notes_and_handoffs_with_their_provenance(run: Run) -> None:
    agents = {row[0]: row for row in run.conn.execute("SELECT id, name, session_id, worktree FROM agents")}
    written = [e for e in run.entries() if e.author_kind == "agent"]
    assert [e.id for e in sorted(written, key=lambda e: e.id)] == run.sim.memory_written
    assert len(written) >= 6
    assert {"decision", "fact", "warning", "handoff"} <= {e.kind for e in written}
    for e in written:
        agent_id, name, session, worktree = agents[e.agent_id]
        assert (e.author, e.session_id, e.worktree) == (name, session, worktree)
        assert e.commit_sha and len(e.commit_sha) == 40
        assert e.scope in ("repo", "pod") and e.body.count("\n") >= 1
        assert e.tags and e.tags[0] in {"auth", "billing", "search", "api", "db", "docs"}
    assert sum(e.scope == "repo" for e in written) > sum(e.scope == "pod" for e in written)
    assert len({e.title for e in written if e.kind != "handoff"}) == sum(e.kind != "handoff" for e in written)
    # decisions wait for review; the other kinds are active at once
    assert all(e.status != "active" or e.kind != "decision" or history(run.conn, e.id)[-1].change == "accepted"
               for e in written)
    assert any(e.kind == "decision" and e.status == "proposed" for e in written)
    handoffs = [e for e in written if e.kind == "handoff"]
    assert handoffs and all(e.title.startswith("Handoff: ") and "**Left**" in e.body for e in handoffs)
    assert all(e.status in ("active", "superseded") for e in handoffs)


def test_sam_reviews_some_proposals_and_leaves_the_rest(run: Run) -> None:
    assert run.sim.sam_reviewed
    for entry_id in run.sim.sam_reviewed:
        last = history(run.conn, entry_id)[-1]
        assert last.actor == SAM and last.change in ("accepted", "rejected")
        if last.change == "rejected":
            assert last.snapshot["change_detail"]["reason"]
    reviewed = set(run.sim.sam_reviewed)
    waiting = [e for e in run.entries() if e.status == "proposed"]
    assert waiting and not reviewed & {e.id for e in waiting}
    assert counts(run.conn)["proposed"] == len(waiting)


def test_memory_off_changes_nothing(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory off writes no entry and reads nothing; memory on leaves every event of
    the run as it was (the notes come from generators of the agents' own)."""
    isolate(monkeypatch, tmp_path / "home")
    monkeypatch.delenv("LOOM_CONFIG", raising=False)
    off = simulate(tmp_path / "demo", memory=False)
    try:
        assert off.entries() == [] and off.sim.memory_written == [] and off.sim.sam_reviewed == []
        assert all(a.memory_ids == () and a.memory_rng is None for a in off.sim.agents)
        assert events(off) == events(run)
        assert off.sim.sent == run.sim.sent and off.sim.commits == run.sim.commits
    finally:
        off.conn.close()


def test_context_entries_reads_the_ids_of_the_injected_entries() -> None:
    text = ("# Pod memory\n\n## Pinned\n\n### Run the tests\n[convention #4 v2 · pinned] by sam\nbody\n\n"
            "## Relevant here\n\n### Orders\n[decision #17 v1] tags db · repo shop · by db-1\n"
            "[not an entry #3 v1]")
    answer = Answer(0, '{"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": '
                       + __import__("json").dumps(text) + "}}")
    assert context_entries(answer) == (4, 17)
    assert context_entries(Answer()) == ()
    assert context_entries(Answer(0, "not json")) == ()


def test_the_demo_pod_uses_memory_on_the_real_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`DemoPod.start` turns memory on: the notes are there and the agents read them."""
    isolate(monkeypatch, tmp_path / "home")
    monkeypatch.delenv("LOOM_CONFIG", raising=False)
    demo = create_demo_pod(4, root=tmp_path / "demo")
    demo.start(4, seed=3, speed=4)
    try:
        wait_for(lambda: demo.error is not None or all(a.memory_read >= 2 for a in demo.sim.agents),
                 "every demo agent to read the pod's memory at its session start")
    finally:
        demo.stop()
    assert demo.error is None
    conn = connect(db_path(demo.pod))
    try:
        assert demo.sim is not None and demo.sim.memory
        assert counts(conn)["pinned"] == 2
        assert all(a.memory_read >= 2 for a in demo.sim.agents)
    finally:
        conn.close()
        demo.remove()
